//! The simulator's control endpoint, which is not part of Twilio's API: `POST /inbound` (on
//! [`TwilioSimulator::control_router`]) plays a debtor replying by SMS or WhatsApp, so demos and tests can drive the
//! inbound path.
//!
//! Request: `{"from": "+57…", "to": "+1…", "body": "…"}`, with `"channel": "whatsapp"` for a WhatsApp reply (the
//! numbers then get Twilio's `whatsapp:` prefix, and the reply opens that debtor's 24-hour window). The simulator
//! records the message, posts a signed Twilio incoming-message webhook to the inbound URL it was configured with for
//! that channel (only ever that one: a control route that posted signed requests wherever it was told would forge
//! webhooks for anyone), and answers 202 `{"message_sid": "SM…"}`, or 502 with `{"error": …, "message_sid": …}`
//! when the webhook did not take it.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::twilio::api::num_segments;
use crate::twilio::channel::Channel;
use crate::twilio::store::{new_message_sid, SimMessage};
use crate::twilio::validation::is_callback_url;
use crate::twilio::{webhooks, TwilioSimulator};

#[derive(Debug, Deserialize)]
pub struct SimulatedInbound {
    pub from: String,
    pub to: String,
    pub body: String,
    #[serde(default)]
    pub channel: Channel,
}

pub(crate) async fn simulate_inbound(
    State(sim): State<TwilioSimulator>,
    request: Result<Json<SimulatedInbound>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return control_error(StatusCode::BAD_REQUEST, rejection.body_text(), None),
    };
    match deliver_inbound(&sim, request.channel, &request.from, &request.to, request.body).await {
        Ok(sid) => (StatusCode::ACCEPTED, Json(json!({ "message_sid": sid }))).into_response(),
        Err(InboundError::NoWebhook) => {
            let error = match request.channel {
                Channel::Sms => "the simulator has no inbound webhook URL",
                Channel::Whatsapp => "the simulator has no WhatsApp inbound webhook URL",
            };
            control_error(StatusCode::CONFLICT, error.to_string(), None)
        }
        Err(InboundError::Refused { message_sid, error }) => {
            control_error(StatusCode::BAD_GATEWAY, error, Some(message_sid))
        }
    }
}

/// Why a simulated inbound message did not reach its webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundError {
    NoWebhook,
    /// The webhook refused it or could not be reached; the message is kept, as Twilio keeps it.
    Refused {
        message_sid: String,
        error: String,
    },
}

impl TwilioSimulator {
    /// A debtor's reply: recorded, then posted signed to the configured inbound webhook. Answers its `MessageSid`.
    pub async fn inbound(&self, from: &str, to: &str, body: &str) -> Result<String, InboundError> {
        deliver_inbound(self, Channel::Sms, from, to, body.to_string()).await
    }

    /// A debtor's WhatsApp message, which also opens their 24-hour customer-service window: `from` and `to` are
    /// numbers (with or without `whatsapp:`), and it is posted to the configured WhatsApp inbound webhook.
    pub async fn inbound_whatsapp(&self, from: &str, to: &str, body: &str) -> Result<String, InboundError> {
        deliver_inbound(self, Channel::Whatsapp, from, to, body.to_string()).await
    }
}

async fn deliver_inbound(
    sim: &TwilioSimulator,
    channel: Channel,
    from: &str,
    to: &str,
    body: String,
) -> Result<String, InboundError> {
    let config = sim.config();
    // Twilio posts to the webhook of the sender the message came in on, and WhatsApp senders have their own.
    let webhook_url = match channel {
        Channel::Sms => &config.inbound_webhook_url,
        Channel::Whatsapp => &config.whatsapp_inbound_webhook_url,
    };
    let Some(webhook_url) = webhook_url.clone().filter(|u| is_callback_url(u)) else {
        return Err(InboundError::NoWebhook);
    };

    let now = Utc::now();
    let message = SimMessage {
        sid: new_message_sid(),
        direction: "inbound".to_string(),
        from: Some(channel.address(from)),
        to: channel.address(to),
        num_segments: num_segments(channel, &body),
        body,
        content_sid: None,
        messaging_service_sid: None,
        status: "received".to_string(),
        error_code: None,
        status_callback: None,
        date_created: now,
        date_updated: now,
        date_sent: Some(now),
    };
    // Twilio keeps an inbound message whether or not the webhook takes it, so the simulator does too.
    sim.shared.store.insert(message.clone());

    let params = webhooks::inbound_message_params(&sim.config().account_sid, &message);
    let sid = message.sid;
    match webhooks::post_signed(sim, &webhook_url, &params).await {
        Ok(status) if status.is_success() => {
            tracing::info!(message_sid = %sid, "simulated inbound message delivered");
            Ok(sid)
        }
        Ok(status) => {
            tracing::warn!(message_sid = %sid, http_status = status.as_u16(), "inbound webhook refused the message");
            Err(InboundError::Refused { message_sid: sid, error: format!("webhook answered HTTP {}", status.as_u16()) })
        }
        Err(error) => {
            let error = error.without_url();
            tracing::warn!(message_sid = %sid, %error, "inbound webhook unreachable");
            Err(InboundError::Refused { message_sid: sid, error: format!("webhook unreachable: {error}") })
        }
    }
}

fn control_error(status: StatusCode, error: String, message_sid: Option<String>) -> Response {
    (status, Json(json!({ "error": error, "message_sid": message_sid }))).into_response()
}
