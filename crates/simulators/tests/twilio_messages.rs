//! The Twilio client against the Twilio simulator, over real HTTP on loopback: every request, callback and webhook
//! below crosses a socket in Twilio's wire format.

mod common;

use common::{bind, serve, WAIT};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use recaudo_providers::twilio::{TwilioChannel, TwilioConfig, TwilioSms};
use recaudo_providers::{
    Content, InboundMessage, MessagingProvider, Normalized, OutboundMessage, ProviderError, ReplyButton, Search,
    StatusUpdate, WebhookError, WebhookItem, WebhookKind, WebhookRequest, WhatsappTemplate,
};
use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const DEBTOR: &str = "+573001234567";
/// An approved content template's SID: `HX` and 32 hex digits.
const CONTENT_SID: &str = "HXb5b62575e6e4ff6129ad7c8efe1f983e";

struct Simulated {
    sim: TwilioSimulator,
    /// Where the simulator is mounted: the client's `base_url`.
    base_url: String,
    control_url: String,
}

/// Mounted under a prefix, as the app mounts it, which also shows the routes do not assume their mount point.
async fn start_simulator() -> Simulated {
    start_simulator_with_delay(Duration::from_millis(20)).await
}

async fn start_simulator_with_delay(status_delay: Duration) -> Simulated {
    start_simulator_with(SimConfig { status_delay, ..SimConfig::demo() }).await
}

/// The controls are mounted at `/control`, beside the API, as the app mounts them (there, behind access control).
async fn start_simulator_with(config: SimConfig) -> Simulated {
    let sim = TwilioSimulator::new(config);
    let (listener, origin) = bind().await;
    serve(listener, Router::new().nest("/sim/twilio", sim.router()).nest("/control", sim.control_router()));
    Simulated { sim, base_url: format!("{origin}/sim/twilio"), control_url: format!("{origin}/control") }
}

impl Simulated {
    fn client_config(&self) -> TwilioConfig {
        let config = self.sim.config();
        TwilioConfig {
            base_url: self.base_url.clone(),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            from: Some(SimConfig::DEMO_FROM.to_string()),
            messaging_service_sid: None,
        }
    }

    fn client(&self) -> TwilioSms {
        TwilioSms::new(self.client_config()).expect("valid client config")
    }

    /// Our client on Twilio's WhatsApp channel, from the same number: it adds the `whatsapp:` prefixes itself.
    fn whatsapp_client(&self) -> TwilioSms {
        TwilioSms::for_channel(self.client_config(), TwilioChannel::Whatsapp).expect("valid client config")
    }

    /// Plays a debtor's reply through the control endpoint.
    async fn reply(&self, request: Value) -> (StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/inbound", self.control_url))
            .json(&request)
            .send()
            .await
            .expect("simulator answers");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// A GET on the simulator's REST API with the right credentials; `path` is a Twilio path.
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let config = self.sim.config();
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base_url))
            .basic_auth(&config.account_sid, Some(&config.auth_token))
            .send()
            .await
            .expect("simulator answers");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }
}

fn sms(to: &str, body: &str, status_callback: Option<String>) -> OutboundMessage {
    OutboundMessage {
        to: to.into(),
        content: Content::Text { body: body.into() },
        status_callback,
        idempotency_key: "attempt-1".into(),
    }
}

fn whatsapp_template(to: &str, params: &[&str], status_callback: Option<String>) -> OutboundMessage {
    let template = WhatsappTemplate {
        name: "recordatorio_pago".into(),
        language: "es_CO".into(),
        body_params: params.iter().map(|p| p.to_string()).collect(),
        quick_reply_payloads: Vec::new(),
        content_sid: Some(CONTENT_SID.into()),
        rendered: format!("Hola {}, su cuota de {} vence mañana.", params[0], params[1]),
    };
    OutboundMessage {
        to: to.into(),
        content: Content::WhatsappTemplate(template),
        status_callback,
        idempotency_key: "attempt-wa-1".into(),
    }
}

/// A free-form WhatsApp message: what only the customer-service window lets through.
fn whatsapp_buttons(to: &str, body: &str, status_callback: Option<String>) -> OutboundMessage {
    let buttons = vec![ReplyButton { id: "pagar".into(), title: "Pagar hoy".into() }];
    OutboundMessage {
        to: to.into(),
        content: Content::WhatsappButtons { body: body.into(), buttons },
        status_callback,
        idempotency_key: "attempt-wa-2".into(),
    }
}

/// The one status report of a status callback.
fn status(client: &impl MessagingProvider, req: &WebhookRequest<'_>) -> Result<StatusUpdate, WebhookError> {
    match client.parse_webhook(WebhookKind::Status, req)?.pop() {
        Some(WebhookItem::Status(update)) => Ok(update),
        other => panic!("not a status report: {other:?}"),
    }
}

fn inbound(client: &impl MessagingProvider, req: &WebhookRequest<'_>) -> Result<InboundMessage, WebhookError> {
    match client.parse_webhook(WebhookKind::Inbound, req)?.pop() {
        Some(WebhookItem::Inbound(message)) => Ok(message),
        other => panic!("not an inbound message: {other:?}"),
    }
}

/// One request as a webhook receiver saw it, with the full URL it was called on.
struct Received {
    url: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn as_webhook(&self) -> WebhookRequest<'_> {
        WebhookRequest { url: &self.url, headers: &self.headers, body: &self.body }
    }

    /// A form parameter exactly as it went over the wire, before our client's parsing rewrites anything.
    fn param(&self, name: &str) -> Option<String> {
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&self.body).expect("a form body");
        params.into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }
}

#[derive(Clone)]
struct Receiver {
    origin: String,
    answer: StatusCode,
    seen: mpsc::UnboundedSender<Received>,
}

/// A webhook receiver on its own port that records every request and answers `answer`.
async fn start_receiver(answer: StatusCode) -> (String, mpsc::UnboundedReceiver<Received>) {
    async fn record(State(receiver): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
        let url = format!("{}{uri}", receiver.origin);
        let _ = receiver.seen.send(Received { url, headers, body });
        receiver.answer
    }
    let (listener, origin) = bind().await;
    let (seen, requests) = mpsc::unbounded_channel();
    let receiver = Receiver { origin: origin.clone(), answer, seen };
    serve(listener, Router::new().fallback(record).with_state(receiver));
    (origin, requests)
}

async fn next(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, requests.recv()).await.expect("a webhook arrives in time").expect("receiver open")
}

#[tokio::test]
async fn a_sent_message_is_listed_with_the_fields_it_was_sent_with() {
    // Slow enough that the message is still "queued" when listed, so its status can be compared with the receipt's.
    let simulated = start_simulator_with_delay(Duration::from_secs(30)).await;
    let receipt = simulated.client().send(&sms(DEBTOR, "Su cuota vence mañana", None)).await.expect("accepted");

    assert_eq!(receipt.status, "queued");
    assert!(receipt.provider_message_id.starts_with("SM") && receipt.provider_message_id.len() == 34);

    let held = simulated.sim.messages();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].sid.as_str(), held[0].to.as_str()), (receipt.provider_message_id.as_str(), DEBTOR));

    let account = simulated.sim.config().account_sid.clone();
    let (status, page) =
        simulated.get(&format!("/2010-04-01/Accounts/{account}/Messages.json?To=%2B573001234567")).await;
    assert_eq!(status, StatusCode::OK);
    let listed = &page["messages"][0];
    assert_eq!(listed["sid"], receipt.provider_message_id.as_str());
    assert_eq!(listed["to"], DEBTOR);
    assert_eq!(listed["from"], SimConfig::DEMO_FROM);
    assert_eq!(listed["body"], "Su cuota vence mañana");
    assert_eq!(listed["status"], receipt.status.as_str());
    assert_eq!(listed["direction"], "outbound-api");
    assert_eq!(listed["num_segments"], "1");

    let (status, fetched) =
        simulated.get(&format!("/2010-04-01/Accounts/{account}/Messages/{}.json", receipt.provider_message_id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["sid"], receipt.provider_message_id.as_str());
    assert_eq!(fetched["api_version"], "2010-04-01");
    assert_eq!(fetched["uri"], format!("/2010-04-01/Accounts/{account}/Messages/{}.json", receipt.provider_message_id));
}

/// A message found in the provider's records carries the provider's own time of taking it: an attempt adopted from
/// them is dated by that, not by when the reconciler searched.
#[tokio::test]
async fn a_message_found_in_the_list_says_when_twilio_took_it() {
    let simulated = start_simulator_with_delay(Duration::from_secs(30)).await;
    let message = sms(DEBTOR, "Recordatorio de pago", None);
    let receipt = simulated.client().send(&message).await.expect("accepted");
    let taken = simulated.sim.messages()[0].date_created;
    let since = taken - chrono::Duration::days(1);
    let Search::Found(found) = simulated.client().find_message(&message, since).await.expect("searched") else {
        panic!("not found")
    };
    assert_eq!(found.provider_message_id, receipt.provider_message_id);
    // Twilio's record is to the second (RFC 2822).
    assert_eq!(found.taken_at.map(|t| t.timestamp()), Some(taken.timestamp()));
}

/// A cut-off send is settled as not sent only on a complete search: every page of the recipient's list is read
/// (the message may be on the last), a message Twilio holds before its send date counts as found, and any other
/// message to the recipient in the window leaves it unproven.
#[tokio::test]
async fn the_search_reads_every_page_before_it_says_absent() {
    let simulated = start_simulator_with_delay(Duration::from_secs(30)).await;
    let client = simulated.client();
    let oldest = sms(DEBTOR, "El primero de todos", None);
    client.send(&oldest).await.expect("accepted");
    // Twilio's largest page is 1,000 messages: the first message ends up on the second page, newest first.
    for i in 0..1000 {
        client.send(&sms(DEBTOR, &format!("Recordatorio {i}"), None)).await.expect("accepted");
    }
    let since = chrono::Utc::now() - chrono::Duration::minutes(5);
    match client.find_message(&oldest, since).await.expect("searched") {
        Search::Found(found) => assert_eq!(found.normalized, Normalized::Queued, "held, not yet sent"),
        other => panic!("the message on the second page was not found: {other:?}"),
    }
    // Other messages to the recipient in the window, none with our text: Twilio may keep a text other than the one
    // sent (a content template, a shortened link), so absence is not proven.
    let never_sent = sms(DEBTOR, "Nunca enviado", None);
    assert_eq!(client.find_message(&never_sent, since).await.expect("searched"), Search::Unclear);
    // Nothing taken in the window (everything before it), or nothing at all to the recipient: proven absent.
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    assert_eq!(client.find_message(&oldest, later).await.expect("searched"), Search::Absent);
    let nobody = sms("+573009999999", "Nunca enviado", None);
    assert_eq!(client.find_message(&nobody, since).await.expect("searched"), Search::Absent);
}

#[tokio::test]
async fn twilios_magic_numbers_are_rejected_with_their_codes() {
    let simulated = start_simulator().await;
    let client = simulated.client();
    for (number, code) in [
        ("+15005550001", "21211"),
        ("+15005550002", "21612"),
        ("+15005550003", "21408"),
        ("+15005550004", "21610"),
        ("+15005550009", "21614"),
    ] {
        let result = client.send(&sms(number, "Hola", None)).await;
        assert!(
            matches!(&result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == code),
            "{number}: {result:?}"
        );
    }
    assert!(simulated.sim.messages().is_empty(), "refused messages are not kept");
}

#[tokio::test]
async fn an_overlong_body_is_rejected_with_21617() {
    let simulated = start_simulator().await;
    let result = simulated.client().send(&sms(DEBTOR, &"a".repeat(1601), None)).await;
    assert!(matches!(&result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "21617"), "{result:?}");
}

#[tokio::test]
async fn wrong_credentials_are_rejected_with_20003() {
    let simulated = start_simulator().await;
    let wrong_token = TwilioConfig { auth_token: "0".repeat(32), ..simulated.client_config() };
    let result = TwilioSms::new(wrong_token).expect("valid config").send(&sms(DEBTOR, "Hola", None)).await;
    assert!(matches!(&result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "20003"), "{result:?}");

    let wrong_account = TwilioConfig { account_sid: format!("AC{}", "1".repeat(32)), ..simulated.client_config() };
    let result = TwilioSms::new(wrong_account).expect("valid config").send(&sms(DEBTOR, "Hola", None)).await;
    assert!(matches!(&result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "20003"), "{result:?}");
}

#[tokio::test]
async fn status_callbacks_arrive_signed_as_sent_then_delivered() {
    let simulated = start_simulator().await;
    let client = simulated.client();
    let (receiver, mut callbacks) = start_receiver(StatusCode::NO_CONTENT).await;
    // A query string on the callback URL is part of what Twilio signs.
    let callback_url = format!("{receiver}/webhooks/twilio/status?attempt=a-1");
    let receipt =
        client.send(&sms(DEBTOR, "Recordatorio de pago", Some(callback_url.clone()))).await.expect("accepted");

    let sent = next(&mut callbacks).await;
    let delivered = next(&mut callbacks).await;
    assert_eq!(sent.url, callback_url);

    let sent_update = status(&client, &sent.as_webhook()).expect("sent callback verifies");
    assert_eq!(sent_update.provider_message_id, receipt.provider_message_id);
    assert_eq!(sent_update.status, "sent");
    assert_eq!(sent_update.error_code, None);
    let delivered_update = status(&client, &delivered.as_webhook()).expect("delivered callback verifies");
    assert_eq!(delivered_update.status, "delivered");

    let tampered_body = String::from_utf8_lossy(&delivered.body).replace("delivered", "failed");
    let tampered = WebhookRequest { body: tampered_body.as_bytes(), ..delivered.as_webhook() };
    assert_eq!(status(&client, &tampered), Err(WebhookError::BadSignature));
    let other_url =
        WebhookRequest { url: &format!("{receiver}/webhooks/twilio/status?attempt=a-2"), ..delivered.as_webhook() };
    assert_eq!(status(&client, &other_url), Err(WebhookError::BadSignature));

    let held = simulated.sim.messages();
    assert_eq!(held[0].status, "delivered");
    assert!(held[0].date_sent.is_some());
}

#[tokio::test]
async fn the_inbound_control_endpoint_delivers_a_signed_webhook() {
    let (receiver, mut webhooks) = start_receiver(StatusCode::OK).await;
    let webhook_url = format!("{receiver}/webhooks/twilio/inbound");
    let simulated = start_simulator_with(SimConfig {
        inbound_webhook_url: Some(webhook_url),
        status_delay: Duration::from_millis(20),
        ..SimConfig::demo()
    })
    .await;
    let client = simulated.client();

    let response = reqwest::Client::new()
        .post(format!("{}/inbound", simulated.control_url))
        // A URL in the request is not taken: the simulator posts only to the webhook it was configured with.
        .json(&json!({ "from": DEBTOR, "to": SimConfig::DEMO_FROM, "body": "Ya pagué", "webhook_url": "http://elsewhere.example/" }))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer: Value = response.json().await.expect("JSON body");
    let message_sid = answer["message_sid"].as_str().expect("message_sid").to_string();

    let webhook = next(&mut webhooks).await;
    let inbound = inbound(&client, &webhook.as_webhook()).expect("inbound webhook verifies");
    assert_eq!(inbound.provider_message_id, message_sid);
    assert_eq!(inbound.from, DEBTOR);
    assert_eq!(inbound.to, SimConfig::DEMO_FROM);
    assert_eq!(inbound.body, "Ya pagué");

    let held = simulated.sim.messages();
    assert_eq!((held[0].direction.as_str(), held[0].status.as_str()), ("inbound", "received"));
}

#[tokio::test]
async fn an_inbound_webhook_that_refuses_is_reported_as_502() {
    let (receiver, _webhooks) = start_receiver(StatusCode::FORBIDDEN).await;
    let simulated =
        start_simulator_with(SimConfig { inbound_webhook_url: Some(format!("{receiver}/hook")), ..SimConfig::demo() })
            .await;
    let response = reqwest::Client::new()
        .post(format!("{}/inbound", simulated.control_url))
        .json(&json!({ "from": DEBTOR, "to": SimConfig::DEMO_FROM, "body": "Hola" }))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let answer: Value = response.json().await.expect("JSON body");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("403")), "{answer}");
    assert!(answer["message_sid"].is_string());
}

#[tokio::test]
async fn an_unknown_message_is_twilios_20404() {
    let simulated = start_simulator().await;
    let account = simulated.sim.config().account_sid.clone();
    let path = format!("/2010-04-01/Accounts/{account}/Messages/SM{}.json", "0".repeat(32));
    let (status, error) = simulated.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["code"], 20404);
    assert_eq!(error["status"], 404);
    assert_eq!(error["more_info"], "https://www.twilio.com/docs/errors/20404");
}

#[tokio::test]
async fn lists_page_by_page_size_newest_first() {
    let simulated = start_simulator().await;
    let client = simulated.client();
    let mut sids = Vec::new();
    for body in ["uno", "dos", "tres"] {
        sids.push(client.send(&sms(DEBTOR, body, None)).await.expect("accepted").provider_message_id);
    }
    client.send(&sms("+573009999999", "otro", None)).await.expect("accepted");

    let account = simulated.sim.config().account_sid.clone();
    let (_, first) =
        simulated.get(&format!("/2010-04-01/Accounts/{account}/Messages.json?To=%2B573001234567&PageSize=2")).await;
    assert_eq!(first["page_size"], 2);
    assert_eq!(first["messages"][0]["sid"], sids[2].as_str());
    assert_eq!(first["messages"][1]["sid"], sids[1].as_str());
    assert_eq!(first["previous_page_uri"], Value::Null);

    let next_page = first["next_page_uri"].as_str().expect("a second page");
    let (_, second) = simulated.get(next_page).await;
    assert_eq!(second["page"], 1);
    assert_eq!(second["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["messages"][0]["sid"], sids[0].as_str());
    assert_eq!(second["next_page_uri"], Value::Null);
}

#[tokio::test]
async fn a_whatsapp_template_is_delivered_with_signed_callbacks_and_prefixed_addresses() {
    let simulated = start_simulator().await;
    let client = simulated.whatsapp_client();
    let (receiver, mut callbacks) = start_receiver(StatusCode::NO_CONTENT).await;
    let callback_url = format!("{receiver}/webhooks/twilio/whatsapp/status?attempt=wa-1");
    // No inbound message first: a template is what may open a conversation.
    let receipt =
        client.send(&whatsapp_template(DEBTOR, &["Ana", "$ 100"], Some(callback_url.clone()))).await.expect("accepted");
    assert_eq!(receipt.status, "queued");

    let sent = next(&mut callbacks).await;
    let delivered = next(&mut callbacks).await;
    assert_eq!(sent.url, callback_url);
    assert_eq!(sent.param("To").as_deref(), Some("whatsapp:+573001234567"));
    assert_eq!(sent.param("From"), Some(format!("whatsapp:{}", SimConfig::DEMO_FROM)));

    let sent_update = status(&client, &sent.as_webhook()).expect("sent callback verifies");
    assert_eq!(sent_update.provider_message_id, receipt.provider_message_id);
    assert_eq!((sent_update.status.as_str(), sent_update.normalized), ("sent", Normalized::Sent));
    let delivered_update = status(&client, &delivered.as_webhook()).expect("delivered callback verifies");
    assert_eq!((delivered_update.status.as_str(), delivered_update.error_code), ("delivered", None));
    let tampered_body = String::from_utf8_lossy(&delivered.body).replace("delivered", "read");
    let tampered = WebhookRequest { body: tampered_body.as_bytes(), ..delivered.as_webhook() };
    assert_eq!(status(&client, &tampered), Err(WebhookError::BadSignature));

    let held = simulated.sim.messages();
    assert_eq!(held[0].to, "whatsapp:+573001234567");
    assert_eq!(held[0].content_sid.as_deref(), Some(CONTENT_SID));
    let account = simulated.sim.config().account_sid.clone();
    let path = format!("/2010-04-01/Accounts/{account}/Messages/{}.json", receipt.provider_message_id);
    let (_, resource) = simulated.get(&path).await;
    assert_eq!(resource["to"], "whatsapp:+573001234567");
    assert_eq!(resource["from"], format!("whatsapp:{}", SimConfig::DEMO_FROM));
    assert_eq!(resource["body"], "Ana | $ 100");
    assert_eq!(resource["num_segments"], "1");
    assert_eq!(resource["status"], "delivered");
    let fetched = client.fetch_status(&receipt.provider_message_id).await.expect("lookup answers");
    assert_eq!(fetched.map(|update| update.normalized), Some(Normalized::Delivered));
}

#[tokio::test]
async fn a_free_form_whatsapp_message_outside_the_window_is_accepted_then_fails_with_63016() {
    let simulated = start_simulator().await;
    let client = simulated.whatsapp_client();
    let (receiver, mut callbacks) = start_receiver(StatusCode::NO_CONTENT).await;
    let callback_url = format!("{receiver}/webhooks/twilio/whatsapp/status?attempt=wa-2");
    let receipt = client
        .send(&whatsapp_buttons(DEBTOR, "¿Cuándo puede pagar?", Some(callback_url)))
        .await
        .expect("Twilio accepts it and fails it afterwards");
    assert_eq!(receipt.status, "queued");

    let failed = next(&mut callbacks).await;
    assert_eq!(failed.param("To").as_deref(), Some("whatsapp:+573001234567"));
    let update = status(&client, &failed.as_webhook()).expect("failed callback verifies");
    assert_eq!(update.provider_message_id, receipt.provider_message_id);
    assert_eq!((update.status.as_str(), update.normalized), ("failed", Normalized::Failed));
    assert_eq!(update.error_code.as_deref(), Some("63016"));
    let more = tokio::time::timeout(Duration::from_millis(200), callbacks.recv()).await;
    assert!(more.is_err(), "nothing follows a failure");

    let held = simulated.sim.messages();
    assert_eq!((held[0].status.as_str(), held[0].error_code, held[0].date_sent), ("failed", Some(63016), None));
    let fetched = client.fetch_status(&receipt.provider_message_id).await.expect("lookup answers");
    assert_eq!(fetched.and_then(|update| update.error_code).as_deref(), Some("63016"));
}

#[tokio::test]
async fn after_a_whatsapp_reply_a_free_form_message_is_delivered() {
    let (inbound_receiver, mut inbound_webhooks) = start_receiver(StatusCode::OK).await;
    let simulated = start_simulator_with(SimConfig {
        whatsapp_inbound_webhook_url: Some(format!("{inbound_receiver}/webhooks/twilio/whatsapp/inbound")),
        status_delay: Duration::from_millis(20),
        ..SimConfig::demo()
    })
    .await;
    let client = simulated.whatsapp_client();

    let (status_code, answer) = simulated
        .reply(
            json!({ "from": DEBTOR, "to": SimConfig::DEMO_FROM, "body": "Quiero un acuerdo", "channel": "whatsapp" }),
        )
        .await;
    assert_eq!(status_code, StatusCode::ACCEPTED, "{answer}");
    let webhook = next(&mut inbound_webhooks).await;
    assert_eq!(webhook.param("From").as_deref(), Some("whatsapp:+573001234567"));
    assert_eq!(webhook.param("WaId").as_deref(), Some("573001234567"));
    let reply = inbound(&client, &webhook.as_webhook()).expect("inbound webhook verifies");
    assert_eq!(reply.provider_message_id, answer["message_sid"].as_str().expect("message_sid"));
    assert_eq!((reply.from.as_str(), reply.to.as_str()), (DEBTOR, SimConfig::DEMO_FROM));
    assert_eq!(reply.body, "Quiero un acuerdo");

    let (receiver, mut callbacks) = start_receiver(StatusCode::NO_CONTENT).await;
    let callback_url = format!("{receiver}/webhooks/twilio/whatsapp/status?attempt=wa-3");
    let receipt =
        client.send(&whatsapp_buttons(DEBTOR, "Le propongo tres cuotas", Some(callback_url))).await.expect("accepted");
    let sent = status(&client, &next(&mut callbacks).await.as_webhook()).expect("sent callback verifies");
    let delivered = status(&client, &next(&mut callbacks).await.as_webhook()).expect("delivered callback verifies");
    assert_eq!(delivered.provider_message_id, receipt.provider_message_id);
    assert_eq!((sent.status.as_str(), delivered.status.as_str()), ("sent", "delivered"));
    assert_eq!(delivered.error_code, None);
}

#[tokio::test]
async fn only_a_whatsapp_reply_from_that_number_opens_its_window() {
    let (receiver, mut webhooks) = start_receiver(StatusCode::OK).await;
    let simulated = start_simulator_with(SimConfig {
        inbound_webhook_url: Some(format!("{receiver}/webhooks/twilio/sms/inbound")),
        whatsapp_inbound_webhook_url: Some(format!("{receiver}/webhooks/twilio/whatsapp/inbound")),
        status_delay: Duration::from_millis(20),
        ..SimConfig::demo()
    })
    .await;
    let other = "+573009999999";
    simulated.sim.inbound(DEBTOR, SimConfig::DEMO_FROM, "Ya pagué").await.expect("SMS reply delivered");
    simulated.sim.inbound_whatsapp(other, SimConfig::DEMO_FROM, "Hola").await.expect("WhatsApp reply delivered");
    assert!(next(&mut webhooks).await.url.ends_with("/sms/inbound"));
    assert!(next(&mut webhooks).await.url.ends_with("/whatsapp/inbound"));

    let (status_receiver, mut callbacks) = start_receiver(StatusCode::NO_CONTENT).await;
    let client = simulated.whatsapp_client();
    let callback = |attempt: &str| Some(format!("{status_receiver}/status?attempt={attempt}"));
    client.send(&whatsapp_buttons(DEBTOR, "Gracias", callback("debtor"))).await.expect("accepted");
    let debtor = status(&client, &next(&mut callbacks).await.as_webhook()).expect("verifies");
    assert_eq!(debtor.error_code.as_deref(), Some("63016"), "an SMS reply does not open the WhatsApp window");

    client.send(&whatsapp_buttons(other, "Gracias", callback("other"))).await.expect("accepted");
    let other_update = status(&client, &next(&mut callbacks).await.as_webhook()).expect("verifies");
    assert_eq!((other_update.status.as_str(), other_update.error_code), ("sent", None));
}

#[tokio::test]
async fn a_whatsapp_reply_needs_the_whatsapp_webhook_configured() {
    let (receiver, _webhooks) = start_receiver(StatusCode::OK).await;
    let simulated = start_simulator_with(SimConfig {
        inbound_webhook_url: Some(format!("{receiver}/webhooks/twilio/sms/inbound")),
        ..SimConfig::demo()
    })
    .await;
    let (status_code, answer) = simulated
        .reply(json!({ "from": DEBTOR, "to": SimConfig::DEMO_FROM, "body": "Hola", "channel": "whatsapp" }))
        .await;
    assert_eq!(status_code, StatusCode::CONFLICT, "{answer}");
    assert!(simulated.sim.messages().is_empty(), "a reply that went nowhere opens no window");
}
