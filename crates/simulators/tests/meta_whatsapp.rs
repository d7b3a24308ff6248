//! The Meta WhatsApp client against the Meta simulator, over real HTTP on loopback: every send, status webhook and
//! inbound webhook below crosses a socket in Meta's wire format, and every webhook is verified by the client.

mod common;

use common::{bind, serve, WAIT};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use recaudo_providers::meta::{MetaConfig, MetaWhatsapp};
use recaudo_providers::{
    Content, InboundMessage, MessagingProvider, Normalized, OutboundMessage, ProviderError, ReplyButton, StatusUpdate,
    WebhookError, WebhookItem, WebhookKind, WebhookRequest, WhatsappTemplate,
};
use recaudo_simulators::meta::{Direction, Fault, MetaSimConfig, MetaSimulator};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const DEBTOR: &str = "+573001234567";
const WEBHOOK_PATH: &str = "/webhooks/meta/whatsapp";

/// One webhook as the receiver saw it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

struct Harness {
    sim: MetaSimulator,
    /// Where the simulator's API is mounted: the client's `base_url`.
    base_url: String,
    /// Where its control routes are mounted.
    control_url: String,
    webhook_url: String,
    webhooks: mpsc::UnboundedReceiver<Received>,
    client: MetaWhatsapp,
}

/// A webhook receiver, then the simulator (API and control routes under prefixes, as the app mounts them) posting
/// to it, then the real client pointed at the simulator.
async fn start() -> Harness {
    async fn record(
        State(seen): State<mpsc::UnboundedSender<Received>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let _ = seen.send(Received { headers, body });
        StatusCode::OK
    }
    let (listener, receiver) = bind().await;
    let (seen, webhooks) = mpsc::unbounded_channel();
    serve(listener, Router::new().route(WEBHOOK_PATH, axum::routing::post(record)).with_state(seen));
    let webhook_url = format!("{receiver}{WEBHOOK_PATH}");

    let sim = MetaSimulator::new(MetaSimConfig {
        webhook_url: Some(webhook_url.clone()),
        status_delay: Duration::from_millis(20),
        ..MetaSimConfig::demo()
    });
    let (listener, origin) = bind().await;
    serve(listener, Router::new().nest("/sim/meta", sim.router()).nest("/sim/meta-control", sim.control_router()));
    let base_url = format!("{origin}/sim/meta");
    let client = MetaWhatsapp::new(client_config(&sim, &base_url)).expect("valid client config");
    Harness { sim, control_url: format!("{origin}/sim/meta-control"), base_url, webhook_url, webhooks, client }
}

fn client_config(sim: &MetaSimulator, base_url: &str) -> MetaConfig {
    let config = sim.config();
    MetaConfig {
        base_url: base_url.to_string(),
        phone_number_id: config.phone_number_id.clone(),
        access_token: config.access_token.clone(),
        app_secret: config.app_secret.clone(),
        verify_token: "verify-token".to_string(),
        ..MetaConfig::default()
    }
}

impl Harness {
    /// The next webhook, verified and parsed by the client.
    async fn next_items(&mut self) -> Vec<WebhookItem> {
        let received = self.next_raw().await;
        let request = WebhookRequest { url: &self.webhook_url, headers: &received.headers, body: &received.body };
        self.client.parse_webhook(WebhookKind::Combined, &request).expect("the client accepts the simulator's webhook")
    }

    async fn next_raw(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.webhooks.recv()).await.expect("a webhook arrives in time").expect("open")
    }

    async fn next_status(&mut self) -> StatusUpdate {
        match self.next_items().await.as_slice() {
            [WebhookItem::Status(update)] => update.clone(),
            other => panic!("not one status: {other:?}"),
        }
    }

    async fn next_inbound(&mut self) -> InboundMessage {
        match self.next_items().await.as_slice() {
            [WebhookItem::Inbound(message)] => message.clone(),
            other => panic!("not one inbound message: {other:?}"),
        }
    }

    /// Nothing more arrives for a while.
    async fn assert_quiet(&mut self) {
        let more = tokio::time::timeout(Duration::from_millis(150), self.webhooks.recv()).await;
        assert!(more.is_err(), "unexpected webhook");
    }
}

fn outbound(content: Content, attempt: &str) -> OutboundMessage {
    OutboundMessage { to: DEBTOR.into(), content, status_callback: None, idempotency_key: attempt.into() }
}

fn template(name: &str) -> Content {
    Content::WhatsappTemplate(WhatsappTemplate {
        name: name.into(),
        language: "es_CO".into(),
        body_params: vec!["Ana".into(), "$ 250.000".into()],
        quick_reply_payloads: vec!["PAY_TODAY".into()],
        content_sid: None,
        rendered: "Hola Ana, su cuota de $ 250.000 vence mañana".into(),
    })
}

fn text(body: &str) -> Content {
    Content::Text { body: body.into() }
}

#[tokio::test]
async fn a_template_is_accepted_then_reported_sent_and_delivered_for_its_attempt() {
    let mut h = start().await;
    let receipt = h.client.send(&outbound(template("recordatorio_pago"), "attempt-41")).await.expect("accepted");
    assert!(receipt.provider_message_id.starts_with("wamid."), "{receipt:?}");
    assert_eq!(receipt.status, "accepted");

    let sent = h.next_status().await;
    let delivered = h.next_status().await;
    for (update, word, normalized) in
        [(&sent, "sent", Normalized::Sent), (&delivered, "delivered", Normalized::Delivered)]
    {
        assert_eq!(update.provider_message_id, receipt.provider_message_id);
        assert_eq!((update.status.as_str(), update.normalized), (word, normalized));
        assert_eq!(update.attempt_ref.as_deref(), Some("attempt-41"), "biz_opaque_callback_data is echoed");
        assert_eq!(update.error_code, None);
    }

    let held = h.sim.messages();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].kind.as_str(), held[0].body.as_str()), ("template", "recordatorio_pago"));
    assert_eq!((held[0].wa_id.as_str(), held[0].status.as_str()), ("573001234567", "delivered"));
}

#[tokio::test]
async fn free_form_outside_the_window_is_accepted_then_fails_with_131047() {
    let mut h = start().await;
    let receipt = h.client.send(&outbound(text("¿Podemos hablar de su deuda?"), "attempt-42")).await.expect("accepted");
    let failed = h.next_status().await;
    assert_eq!(failed.provider_message_id, receipt.provider_message_id);
    assert_eq!((failed.status.as_str(), failed.normalized), ("failed", Normalized::Failed));
    assert_eq!(failed.error_code.as_deref(), Some("131047"));
    assert_eq!(failed.attempt_ref.as_deref(), Some("attempt-42"));
    h.assert_quiet().await;

    let buttons = Content::WhatsappButtons {
        body: "¿Cómo desea seguir?".into(),
        buttons: vec![ReplyButton { id: "pay".into(), title: "Pagar hoy".into() }],
    };
    h.client.send(&outbound(buttons, "attempt-43")).await.expect("accepted");
    assert_eq!(h.next_status().await.error_code.as_deref(), Some("131047"), "interactive is free-form too");
}

#[tokio::test]
async fn an_inbound_message_opens_the_window_for_free_form_messages() {
    let mut h = start().await;
    let id = h.sim.inbound(DEBTOR, "Hola, ¿cuánto debo?").await.expect("webhook taken");
    let inbound = h.next_inbound().await;
    assert_eq!(inbound.provider_message_id, id);
    assert_eq!((inbound.from.as_str(), inbound.body.as_str()), (DEBTOR, "Hola, ¿cuánto debo?"));
    assert_eq!(inbound.to, format!("+{}", h.sim.config().display_phone_number));
    assert_eq!(inbound.button, None);

    let receipt = h.client.send(&outbound(text("Debe $ 250.000"), "attempt-44")).await.expect("accepted");
    let sent = h.next_status().await;
    let delivered = h.next_status().await;
    assert_eq!((sent.status.as_str(), delivered.status.as_str()), ("sent", "delivered"));
    assert_eq!(delivered.provider_message_id, receipt.provider_message_id);
    assert_eq!(delivered.error_code, None);
}

#[tokio::test]
async fn the_control_route_plays_a_quick_reply_tap_on_the_last_message() {
    let mut h = start().await;
    let receipt = h.client.send(&outbound(template("recordatorio_pago"), "attempt-45")).await.expect("accepted");
    h.next_status().await;
    h.next_status().await;

    let response = reqwest::Client::new()
        .post(format!("{}/inbound", h.control_url))
        .json(&json!({ "from": DEBTOR, "body": "Pagar hoy", "button": "PAY_TODAY" }))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer: Value = response.json().await.expect("JSON");
    let tap = h.next_inbound().await;
    assert_eq!(answer["message_id"], tap.provider_message_id.as_str());
    assert_eq!((tap.body.as_str(), tap.button.as_deref()), ("Pagar hoy", Some("PAY_TODAY")));
    assert_eq!(tap.in_reply_to.as_deref(), Some(receipt.provider_message_id.as_str()));
    assert!(h.sim.messages().iter().any(|m| m.direction == Direction::Inbound && m.kind == "button"));

    let bad = reqwest::Client::new()
        .post(format!("{}/inbound", h.control_url))
        .json(&json!({ "from": "not a number", "body": "x" }))
        .send()
        .await
        .expect("simulator answers");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn throttling_is_not_sent_with_retry_after_and_a_500_is_unknown() {
    let h = start().await;
    h.sim.fail_next(1, Fault::RateLimited { retry_after: Duration::from_secs(3) });
    h.sim.fail_next(1, Fault::ServerError);

    let throttled = h.client.send(&outbound(template("recordatorio_pago"), "a-1")).await;
    assert!(
        matches!(&throttled, Err(ProviderError::NotSent { reason, retry_after: Some(wait) })
            if reason.contains("130429") && *wait == Duration::from_secs(3)),
        "{throttled:?}"
    );
    let failed = h.client.send(&outbound(template("recordatorio_pago"), "a-1")).await;
    assert!(matches!(&failed, Err(ProviderError::Unavailable(reason)) if reason.contains("500")), "{failed:?}");
    assert!(h.sim.messages().is_empty(), "refused sends are not kept");

    h.client.send(&outbound(template("recordatorio_pago"), "a-1")).await.expect("faults are used up");
}

#[tokio::test]
async fn latency_duplicates_and_out_of_order_callbacks() {
    let mut h = start().await;
    h.sim.fail_next(1, Fault::Latency(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    h.client.send(&outbound(template("recordatorio_pago"), "a-2")).await.expect("accepted, late");
    assert!(started.elapsed() >= Duration::from_millis(300));
    h.next_status().await;
    h.next_status().await;

    h.sim.fail_next(1, Fault::DuplicateCallbacks);
    h.client.send(&outbound(template("recordatorio_pago"), "a-3")).await.expect("accepted");
    let mut words = Vec::new();
    for _ in 0..4 {
        words.push(h.next_status().await.status);
    }
    assert_eq!(words, ["sent", "sent", "delivered", "delivered"]);

    h.sim.fail_next(1, Fault::OutOfOrderCallbacks);
    let receipt = h.client.send(&outbound(template("recordatorio_pago"), "a-4")).await.expect("accepted");
    let first = h.next_status().await;
    let second = h.next_status().await;
    assert_eq!((first.status.as_str(), second.status.as_str()), ("delivered", "sent"));
    let held = h.sim.messages().into_iter().find(|m| m.id == receipt.provider_message_id).expect("kept");
    assert_eq!(held.status, "delivered", "a late sent does not take a delivery back");
}

#[tokio::test]
async fn a_tampered_webhook_is_a_bad_signature() {
    let mut h = start().await;
    h.client.send(&outbound(template("recordatorio_pago"), "a-5")).await.expect("accepted");
    let received = h.next_raw().await;
    let tampered = String::from_utf8_lossy(&received.body).replace("\"sent\"", "\"read\"");
    let request = WebhookRequest { url: &h.webhook_url, headers: &received.headers, body: tampered.as_bytes() };
    assert_eq!(h.client.parse_webhook(WebhookKind::Combined, &request), Err(WebhookError::BadSignature));

    let unsigned = WebhookRequest { url: &h.webhook_url, headers: &HeaderMap::new(), body: &received.body };
    assert_eq!(h.client.parse_webhook(WebhookKind::Combined, &unsigned), Err(WebhookError::BadSignature));
}

#[tokio::test]
async fn a_wrong_token_is_rejected_with_190_and_a_bad_template_with_100() {
    let h = start().await;
    let wrong = MetaConfig { access_token: "EAAwrong".into(), ..client_config(&h.sim, &h.base_url) };
    let result =
        MetaWhatsapp::new(wrong).expect("valid config").send(&outbound(template("recordatorio_pago"), "a")).await;
    assert!(matches!(&result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "190"), "{result:?}");

    let result = h.client.send(&outbound(template("Recordatorio Pago"), "a")).await;
    assert!(
        matches!(&result, Err(ProviderError::Rejected { code: Some(c), message }) if c == "100" && message.contains("template['name']")),
        "{result:?}"
    );

    let other_number = MetaConfig { phone_number_id: "123".into(), ..client_config(&h.sim, &h.base_url) };
    let result = MetaWhatsapp::new(other_number)
        .expect("valid config")
        .send(&outbound(template("recordatorio_pago"), "a"))
        .await;
    assert!(matches!(&result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "100"), "{result:?}");
    assert!(h.sim.messages().is_empty());
}
