//! The SendGrid client against the SendGrid simulator, over real HTTP on loopback: every Mail Send request, signed
//! event post and Inbound Parse post below crosses a socket in SendGrid's wire format.

mod common;

use common::{bind, serve, WAIT};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use recaudo_providers::sendgrid::{SendGrid, SendGridConfig};
use recaudo_providers::{
    Content, EmailContent, InboundMessage, MessagingProvider, Normalized, OutboundMessage, ProviderError, StatusUpdate,
    WebhookError, WebhookItem, WebhookKind, WebhookRequest,
};
use recaudo_simulators::sendgrid::{Fault, InboundError, SendGridSimConfig, SendGridSimulator};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const DEBTOR: &str = "deudor@example.com";
const FROM: &str = "cobranza@recaudo.example";

/// One request as the webhook receiver saw it.
struct Received {
    url: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn as_webhook(&self) -> WebhookRequest<'_> {
        WebhookRequest { url: &self.url, headers: &self.headers, body: &self.body }
    }
}

#[derive(Clone)]
struct Receiver {
    origin: String,
    seen: mpsc::UnboundedSender<Received>,
}

/// A small app stand-in on its own port that records every webhook and answers 200.
async fn start_receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    async fn record(State(receiver): State<Receiver>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
        let url = format!("{}{uri}", receiver.origin);
        let _ = receiver.seen.send(Received { url, headers, body });
        StatusCode::OK
    }
    let (listener, origin) = bind().await;
    let (seen, requests) = mpsc::unbounded_channel();
    serve(listener, Router::new().fallback(record).with_state(Receiver { origin: origin.clone(), seen }));
    (origin, requests)
}

async fn next(requests: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, requests.recv()).await.expect("a webhook arrives in time").expect("receiver open")
}

struct Simulated {
    sim: SendGridSimulator,
    /// Where the simulator's API is mounted: the client's `base_url`.
    base_url: String,
    /// Where its control routes are mounted.
    control_url: String,
    webhooks: mpsc::UnboundedReceiver<Received>,
}

/// The simulator mounted under a prefix, as the app mounts it, posting to a receiver of its own.
async fn start() -> Simulated {
    let (receiver, webhooks) = start_receiver().await;
    let sim = SendGridSimulator::new(SendGridSimConfig {
        events_url: Some(format!("{receiver}/webhooks/sendgrid/events")),
        inbound_url: Some(format!("{receiver}/webhooks/sendgrid/inbound")),
        event_delay: Duration::from_millis(10),
        ..SendGridSimConfig::demo()
    });
    let (listener, origin) = bind().await;
    serve(listener, Router::new().nest("/sim/sendgrid", sim.router()).nest("/control/sendgrid", sim.control_router()));
    Simulated {
        sim,
        base_url: format!("{origin}/sim/sendgrid"),
        control_url: format!("{origin}/control/sendgrid"),
        webhooks,
    }
}

impl Simulated {
    fn client_config(&self) -> SendGridConfig {
        let config = self.sim.config();
        SendGridConfig {
            base_url: self.base_url.clone(),
            api_key: config.api_key.clone(),
            from_email: FROM.into(),
            from_name: Some("Recaudo".into()),
            webhook_public_key: self.sim.public_key_base64(),
            inbound_user: config.inbound_user.clone(),
            inbound_password: config.inbound_password.clone(),
        }
    }

    fn client(&self) -> SendGrid {
        SendGrid::new(self.client_config()).expect("valid client config")
    }

    async fn next_webhook(&mut self) -> Received {
        next(&mut self.webhooks).await
    }

    /// The status reports of the next event post, which must verify.
    async fn next_statuses(&mut self, client: &SendGrid) -> Vec<StatusUpdate> {
        let post = self.next_webhook().await;
        assert!(post.url.ends_with("/webhooks/sendgrid/events"), "{}", post.url);
        let items = client.parse_webhook(WebhookKind::Status, &post.as_webhook()).expect("a signed event post");
        items
            .into_iter()
            .map(|item| match item {
                WebhookItem::Status(update) => update,
                other => panic!("not a status: {other:?}"),
            })
            .collect()
    }
}

fn email(to: &str, attempt: &str, unsubscribe_url: Option<&str>) -> OutboundMessage {
    OutboundMessage {
        to: to.into(),
        content: Content::Email(EmailContent {
            subject: "Su cuota vence mañana".into(),
            text: "Hola Ana, su cuota de $ 250.000 vence mañana.".into(),
            html: "<p>Hola Ana, su cuota de <b>$ 250.000</b> vence mañana.</p>".into(),
            unsubscribe_url: unsubscribe_url.map(str::to_string),
        }),
        status_callback: None,
        idempotency_key: attempt.into(),
    }
}

#[tokio::test]
async fn a_send_is_answered_with_its_message_id_then_signed_events_tie_back_to_the_attempt() {
    let mut simulated = start().await;
    let client = simulated.client();
    let unsubscribe = "https://recaudo.example/unsubscribe/abc";
    let receipt = client.send(&email(DEBTOR, "attempt-1", Some(unsubscribe))).await.expect("accepted");
    assert_eq!(receipt.status, "accepted");

    let held = simulated.sim.messages();
    assert_eq!(held.len(), 1);
    let mail = &held[0];
    assert_eq!(mail.message_id, receipt.provider_message_id);
    assert_eq!((mail.to.as_slice(), mail.from.as_str()), ([DEBTOR.to_string()].as_slice(), FROM));
    assert_eq!(mail.from_name.as_deref(), Some("Recaudo"));
    assert_eq!(mail.subject, "Su cuota vence mañana");
    assert_eq!(mail.text.as_deref(), Some("Hola Ana, su cuota de $ 250.000 vence mañana."));
    assert!(mail.html.as_deref().is_some_and(|h| h.contains("<b>$ 250.000</b>")));
    assert_eq!(mail.headers.get("List-Unsubscribe").map(String::as_str), Some(format!("<{unsubscribe}>").as_str()));
    assert_eq!(mail.headers.get("List-Unsubscribe-Post").map(String::as_str), Some("List-Unsubscribe=One-Click"));
    assert_eq!(mail.custom_args.get("attempt_id").map(String::as_str), Some("attempt-1"));

    let processed = simulated.next_statuses(&client).await;
    assert_eq!(processed.len(), 1);
    assert_eq!(processed[0].provider_message_id, receipt.provider_message_id);
    assert_eq!((processed[0].status.as_str(), processed[0].normalized), ("processed", Normalized::Queued));
    assert_eq!(processed[0].attempt_ref.as_deref(), Some("attempt-1"));

    let post = simulated.next_webhook().await;
    let delivered = client.parse_webhook(WebhookKind::Status, &post.as_webhook()).expect("signed");
    assert_eq!(
        delivered,
        vec![WebhookItem::Status(StatusUpdate {
            provider_message_id: receipt.provider_message_id.clone(),
            status: "delivered".into(),
            normalized: Normalized::Delivered,
            error_code: None,
            attempt_ref: Some("attempt-1".into()),
            taken_at: None,
        })]
    );

    // The same post with its body changed, or re-timestamped, no longer verifies.
    let tampered_body = String::from_utf8_lossy(&post.body).replace("delivered", "bounce");
    let tampered = WebhookRequest { body: tampered_body.as_bytes(), ..post.as_webhook() };
    assert_eq!(client.parse_webhook(WebhookKind::Status, &tampered), Err(WebhookError::BadSignature));
    let mut moved = post.headers.clone();
    moved.insert("X-Twilio-Email-Event-Webhook-Timestamp", "1".parse().expect("header value"));
    let re_timestamped = WebhookRequest { headers: &moved, ..post.as_webhook() };
    assert_eq!(client.parse_webhook(WebhookKind::Status, &re_timestamped), Err(WebhookError::BadSignature));

    // Another simulator's key does not verify this one's events.
    let other = SendGridConfig {
        webhook_public_key: SendGridSimulator::new(SendGridSimConfig::demo()).public_key_base64(),
        ..simulated.client_config()
    };
    let other = SendGrid::new(other).expect("valid config");
    assert_eq!(other.parse_webhook(WebhookKind::Status, &post.as_webhook()), Err(WebhookError::BadSignature));
}

#[tokio::test]
async fn the_magic_domains_bounce_and_drop() {
    let mut simulated = start().await;
    let client = simulated.client();
    let bounced = client.send(&email("nadie@bounce.example", "attempt-b", None)).await.expect("accepted");
    simulated.next_statuses(&client).await;
    let outcome = simulated.next_statuses(&client).await;
    assert_eq!(outcome[0].provider_message_id, bounced.provider_message_id);
    assert_eq!((outcome[0].status.as_str(), outcome[0].normalized), ("bounce", Normalized::Undelivered));
    assert_eq!(outcome[0].error_code.as_deref(), Some("5.1.1"));
    assert_eq!(outcome[0].attempt_ref.as_deref(), Some("attempt-b"));

    client.send(&email("nadie@dropped.example", "attempt-d", None)).await.expect("accepted");
    simulated.next_statuses(&client).await;
    let outcome = simulated.next_statuses(&client).await;
    assert_eq!((outcome[0].status.as_str(), outcome[0].normalized), ("dropped", Normalized::Failed));
    assert_eq!(outcome[0].attempt_ref.as_deref(), Some("attempt-d"));
}

#[tokio::test]
async fn throttling_is_not_sent_with_its_wait_and_a_server_error_is_unknown() {
    let simulated = start().await;
    let client = simulated.client();
    simulated.sim.fail_next(1, Fault::RateLimited { retry_after: Duration::from_secs(5) });
    simulated.sim.fail_next(1, Fault::ServerError);

    let throttled = client.send(&email(DEBTOR, "attempt-1", None)).await;
    assert!(
        matches!(throttled, Err(ProviderError::NotSent { retry_after: Some(wait), .. }) if wait == Duration::from_secs(5)),
        "{throttled:?}"
    );
    let failed = client.send(&email(DEBTOR, "attempt-1", None)).await;
    assert!(matches!(failed, Err(ProviderError::Unavailable(_))), "{failed:?}");
    assert!(simulated.sim.messages().is_empty(), "failed requests are not kept");

    client.send(&email(DEBTOR, "attempt-1", None)).await.expect("faults are used up");
    assert_eq!(simulated.sim.messages().len(), 1);
}

#[tokio::test]
async fn a_wrong_key_and_an_invalid_address_are_rejected_with_sendgrids_errors() {
    let simulated = start().await;
    let wrong_key = SendGridConfig { api_key: "SG.not-the-key".into(), ..simulated.client_config() };
    let result = SendGrid::new(wrong_key).expect("valid config").send(&email(DEBTOR, "a", None)).await;
    assert!(
        matches!(&result, Err(ProviderError::Rejected { code: Some(c), message }) if c == "401" && message.contains("authorization grant")),
        "{result:?}"
    );

    let result = simulated.client().send(&email("no-es-una-direccion", "a", None)).await;
    assert!(
        matches!(&result, Err(ProviderError::Rejected { code: Some(c), message }) if c == "400" && message.contains("personalizations.0.to.0.email")),
        "{result:?}"
    );
}

#[tokio::test]
async fn duplicate_and_out_of_order_events_still_verify() {
    let mut simulated = start().await;
    let client = simulated.client();
    simulated.sim.fail_next(1, Fault::OutOfOrderEvents);
    client.send(&email(DEBTOR, "attempt-o", None)).await.expect("accepted");
    assert_eq!(simulated.next_statuses(&client).await[0].status, "delivered");
    assert_eq!(simulated.next_statuses(&client).await[0].status, "processed");

    simulated.sim.fail_next(1, Fault::DuplicateEvents);
    client.send(&email(DEBTOR, "attempt-2", None)).await.expect("accepted");
    let statuses: Vec<String> = [
        simulated.next_statuses(&client).await,
        simulated.next_statuses(&client).await,
        simulated.next_statuses(&client).await,
        simulated.next_statuses(&client).await,
    ]
    .into_iter()
    .map(|batch| batch[0].status.clone())
    .collect();
    assert_eq!(statuses, ["processed", "processed", "delivered", "delivered"]);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let simulated = start().await;
    simulated.sim.fail_next(1, Fault::Latency(Duration::from_millis(300)));
    let started = Instant::now();
    simulated.client().send(&email(DEBTOR, "a", None)).await.expect("accepted after the delay");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn an_inbound_reply_is_parsed_with_its_basic_credentials_and_refused_without() {
    let mut simulated = start().await;
    let client = simulated.client();
    let receipt = client.send(&email(DEBTOR, "attempt-1", None)).await.expect("accepted");
    simulated.next_webhook().await;
    simulated.next_webhook().await;

    let response = reqwest::Client::new()
        .post(format!("{}/inbound", simulated.control_url))
        .json(&json!({
            "from": format!("Ana Pérez <{DEBTOR}>"), "to": "respuestas@parse.recaudo.example",
            "subject": "Re: Su cuota vence mañana", "text": "Ya pagué, gracias", "in_reply_to": receipt.provider_message_id,
        }))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer: Value = response.json().await.expect("JSON body");
    let reply_id = answer["message_id"].as_str().expect("message_id").to_string();

    let post = simulated.next_webhook().await;
    assert!(post.url.ends_with("/webhooks/sendgrid/inbound"));
    let items = client.parse_webhook(WebhookKind::Inbound, &post.as_webhook()).expect("authorised");
    assert_eq!(
        items,
        vec![WebhookItem::Inbound(InboundMessage {
            provider_message_id: reply_id,
            from: DEBTOR.into(),
            to: "respuestas@parse.recaudo.example".into(),
            body: "Ya pagué, gracias".into(),
            button: None,
            in_reply_to: Some(receipt.provider_message_id.clone()),
        })]
    );

    let mut without = post.headers.clone();
    without.remove("authorization");
    let unauthorised = WebhookRequest { headers: &without, ..post.as_webhook() };
    assert_eq!(client.parse_webhook(WebhookKind::Inbound, &unauthorised), Err(WebhookError::BadSignature));
    let other_password = SendGridConfig { inbound_password: "another".into(), ..simulated.client_config() };
    let other = SendGrid::new(other_password).expect("valid config");
    assert_eq!(other.parse_webhook(WebhookKind::Inbound, &post.as_webhook()), Err(WebhookError::BadSignature));

    // The method form, without a reply-to, against a simulator with nowhere to post.
    let lone = SendGridSimulator::new(SendGridSimConfig::demo());
    assert_eq!(lone.inbound(DEBTOR, "r@parse.example", "hola", "hola", None).await, Err(InboundError::NoInboundUrl));
}
