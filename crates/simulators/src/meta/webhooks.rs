//! What the simulator posts on its own to the configured webhook URL: status webhooks after a send, and inbound
//! messages. Every body is signed with the app secret exactly as the client verifies it.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use recaudo_providers::meta::signature::{self, SIGNATURE_HEADER};
use serde_json::{json, Value};

use crate::meta::store::{new_message_id, Direction, SimMessage};
use crate::meta::MetaSimulator;

/// How long a webhook receiver gets to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The statuses a message goes through after it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Normal,
    Duplicated,
    OutOfOrder,
    /// A free-form message outside the customer-service window.
    ReEngagementRequired,
}

impl Plan {
    fn statuses(self) -> &'static [&'static str] {
        match self {
            Plan::Normal => &["sent", "delivered"],
            Plan::Duplicated => &["sent", "sent", "delivered", "delivered"],
            Plan::OutOfOrder => &["delivered", "sent"],
            Plan::ReEngagementRequired => &["failed"],
        }
    }
}

pub(crate) fn spawn_statuses(sim: MetaSimulator, message_id: String, plan: Plan) {
    tokio::spawn(async move {
        for status in plan.statuses() {
            tokio::time::sleep(sim.config().status_delay).await;
            let Some(message) = sim.shared.store.advance(&message_id, status) else { return };
            let error_code = (*status == "failed").then_some(131047);
            if let Some(code) = error_code {
                sim.shared.store.set_error(&message_id, code);
            }
            let value = json!({ "statuses": [status_json(&sim, &message, status, error_code)] });
            // Meta retries refused webhooks for days; the simulator reports it and moves on.
            if let Err(error) = post_signed(&sim, &notification(&sim, value)).await {
                tracing::warn!(message_id, status, %error, "status webhook not taken");
            }
        }
    });
}

fn status_json(sim: &MetaSimulator, message: &SimMessage, status: &str, error_code: Option<u32>) -> Value {
    let mut value = json!({
        "id": message.id,
        "status": status,
        "timestamp": Utc::now().timestamp().to_string(),
        "recipient_id": message.wa_id,
    });
    if let Some(data) = &message.biz_opaque_callback_data {
        value["biz_opaque_callback_data"] = json!(data);
    }
    if error_code.is_some() {
        value["errors"] = json!([{
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": { "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number." },
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }]);
    } else {
        let category = if message.kind == "template" { "utility" } else { "service" };
        value["conversation"] =
            json!({ "id": format!("conv-{}", sim.config().business_account_id), "origin": { "type": category } });
        value["pricing"] = json!({ "billable": category != "service", "pricing_model": "CBP", "category": category });
    }
    value
}

/// Why an inbound message did not reach the app (it is kept by the simulator either way, as Meta keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundError {
    /// `from` is not a phone number.
    InvalidNumber,
    /// The simulator has no webhook URL configured.
    NoWebhookUrl,
    /// The webhook answered this HTTP status.
    Refused(u16),
    Unreachable(String),
}

impl fmt::Display for InboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InboundError::InvalidNumber => f.write_str("from must be an E.164 phone number"),
            InboundError::NoWebhookUrl => f.write_str("the simulator has no webhook URL configured"),
            InboundError::Refused(status) => write!(f, "webhook answered HTTP {status}"),
            InboundError::Unreachable(error) => write!(f, "webhook unreachable: {error}"),
        }
    }
}

impl std::error::Error for InboundError {}

/// Records a message from `from` (a tap when `payload` is given) and posts it as a `messages` webhook.
pub(crate) async fn inbound(
    sim: &MetaSimulator,
    from: &str,
    text: &str,
    payload: Option<&str>,
) -> Result<String, InboundError> {
    let (id, delivered) = record_and_post(sim, from, text, payload).await?;
    delivered.map(|()| id)
}

/// The message's id once recorded, and whether the webhook took it.
pub(crate) async fn record_and_post(
    sim: &MetaSimulator,
    from: &str,
    text: &str,
    payload: Option<&str>,
) -> Result<(String, Result<(), InboundError>), InboundError> {
    let wa_id = from.strip_prefix('+').unwrap_or(from);
    if !(7..=15).contains(&wa_id.len()) || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InboundError::InvalidNumber);
    }
    let replied_to = sim.shared.store.last_outbound_to(wa_id);
    let message = SimMessage {
        id: new_message_id(wa_id),
        direction: Direction::Inbound,
        wa_id: wa_id.to_string(),
        kind: if payload.is_some() { "button" } else { "text" }.to_string(),
        body: text.to_string(),
        button: payload.map(str::to_string),
        status: "received".to_string(),
        error_code: None,
        biz_opaque_callback_data: None,
        created: Utc::now(),
    };
    sim.shared.store.insert(message.clone());

    let mut json_message = json!({
        "from": message.wa_id,
        "id": message.id,
        "timestamp": message.created.timestamp().to_string(),
        "type": message.kind,
    });
    match payload {
        Some(payload) => {
            json_message["button"] = json!({ "payload": payload, "text": text });
            if let Some(id) = replied_to {
                json_message["context"] = json!({ "from": sim.config().display_phone_number, "id": id });
            }
        }
        None => json_message["text"] = json!({ "body": text }),
    }
    let value = json!({
        "contacts": [{ "profile": { "name": "Deudor simulado" }, "wa_id": message.wa_id }],
        "messages": [json_message],
    });
    let delivered = post_signed(sim, &notification(sim, value)).await;
    if delivered.is_ok() {
        tracing::info!(message_id = %message.id, "simulated inbound message delivered");
    }
    Ok((message.id, delivered))
}

/// Wraps a `messages` change's value in Meta's notification envelope, with our number's metadata.
fn notification(sim: &MetaSimulator, mut value: Value) -> Vec<u8> {
    let config = sim.config();
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({ "display_phone_number": config.display_phone_number, "phone_number_id": config.phone_number_id });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": config.business_account_id, "changes": [{ "value": value, "field": "messages" }] }],
    })
    .to_string()
    .into_bytes()
}

/// Posts `body` to the configured webhook URL, signed over exactly those bytes.
async fn post_signed(sim: &MetaSimulator, body: &[u8]) -> Result<(), InboundError> {
    let config = sim.config();
    let url = config.webhook_url.as_deref().ok_or(InboundError::NoWebhookUrl)?;
    let response = sim
        .shared
        .http
        .post(url)
        .header(SIGNATURE_HEADER, signature::sign(&config.app_secret, body))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "facebookexternalua")
        .body(body.to_vec())
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await
        .map_err(|e| InboundError::Unreachable(e.without_url().to_string()))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(InboundError::Refused(status.as_u16())),
    }
}
