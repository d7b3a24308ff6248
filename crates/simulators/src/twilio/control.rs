//! The simulator's control endpoint, which is not part of Twilio's API: `POST /simulator/inbound` plays a debtor
//! replying by SMS, so demos and tests can drive the inbound path.
//!
//! Request: `{"from": "+57…", "to": "+1…", "body": "…", "webhook_url": "http://…"}`. The simulator records the
//! message, posts a signed Twilio incoming-message webhook to `webhook_url`, and answers 202
//! `{"message_sid": "SM…"}`, or 502 with `{"error": …, "message_sid": …}` when the webhook did not take it.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::twilio::segments::count_segments;
use crate::twilio::store::{new_message_sid, SimMessage};
use crate::twilio::validation::is_callback_url;
use crate::twilio::{webhooks, TwilioSimulator};

#[derive(Debug, Deserialize)]
pub struct SimulatedInbound {
    pub from: String,
    pub to: String,
    pub body: String,
    pub webhook_url: String,
}

pub(crate) async fn simulate_inbound(
    State(sim): State<TwilioSimulator>,
    request: Result<Json<SimulatedInbound>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => return control_error(StatusCode::BAD_REQUEST, rejection.body_text(), None),
    };
    if !is_callback_url(&request.webhook_url) {
        return control_error(StatusCode::BAD_REQUEST, "webhook_url must be an http(s) URL".to_string(), None);
    }

    let now = Utc::now();
    let message = SimMessage {
        sid: new_message_sid(),
        direction: "inbound".to_string(),
        from: Some(request.from),
        to: request.to,
        num_segments: count_segments(&request.body),
        body: request.body,
        messaging_service_sid: None,
        status: "received".to_string(),
        status_callback: None,
        date_created: now,
        date_updated: now,
        date_sent: Some(now),
    };
    // Twilio keeps an inbound message whether or not the webhook takes it, so the simulator does too.
    sim.shared.store.insert(message.clone());

    let params = webhooks::inbound_message_params(&sim.config().account_sid, &message);
    let sid = message.sid;
    match webhooks::post_signed(&sim, &request.webhook_url, &params).await {
        Ok(status) if status.is_success() => {
            tracing::info!(message_sid = %sid, "simulated inbound message delivered");
            (StatusCode::ACCEPTED, Json(json!({ "message_sid": sid }))).into_response()
        }
        Ok(status) => {
            tracing::warn!(message_sid = %sid, http_status = status.as_u16(), "inbound webhook refused the message");
            control_error(StatusCode::BAD_GATEWAY, format!("webhook answered HTTP {}", status.as_u16()), Some(sid))
        }
        Err(error) => {
            let error = error.without_url();
            tracing::warn!(message_sid = %sid, %error, "inbound webhook unreachable");
            control_error(StatusCode::BAD_GATEWAY, format!("webhook unreachable: {error}"), Some(sid))
        }
    }
}

fn control_error(status: StatusCode, error: String, message_sid: Option<String>) -> Response {
    (status, Json(json!({ "error": error, "message_sid": message_sid }))).into_response()
}
