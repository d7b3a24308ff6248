//! The simulator's control route, which is not Meta's: `POST /inbound {"from": "+57…", "body": "…", "button"?}`
//! plays a debtor writing (or, with `button`, tapping a quick reply whose payload it is and whose title is `body`).
//! It answers 202 `{"message_id": "wamid…"}`, or 502 `{"error": …, "message_id": …}` when the webhook did not take
//! it. The webhook URL is the simulator's configuration, never the request's.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::meta::webhooks;
use crate::meta::MetaSimulator;

#[derive(Debug, Deserialize)]
pub(crate) struct SimulatedInbound {
    from: String,
    body: String,
    #[serde(default)]
    button: Option<String>,
}

pub(crate) async fn simulate_inbound(
    State(sim): State<MetaSimulator>,
    request: Result<Json<SimulatedInbound>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": rejection.body_text() }))).into_response()
        }
    };
    let (title, payload) = (request.body.as_str(), request.button.as_deref());
    match webhooks::record_and_post(&sim, &request.from, title, payload).await {
        Ok((id, Ok(()))) => (StatusCode::ACCEPTED, Json(json!({ "message_id": id }))).into_response(),
        // The message is kept even so, as Meta keeps it, so its id is reported with the error.
        Ok((id, Err(error))) => {
            tracing::warn!(message_id = %id, %error, "inbound webhook not taken");
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": error.to_string(), "message_id": id }))).into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, Json(json!({ "error": error.to_string() }))).into_response(),
    }
}
