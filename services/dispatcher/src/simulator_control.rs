//! `POST /api/simulators/{provider}/inbound`: plays a debtor writing back through a provider simulator this
//! process serves (demos and tests). Behind access control (`simulators:control`, admins), and the simulator
//! posts only to this process's own webhook: the route cannot be used to forge signed requests for anyone else.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Json;
use recaudo_access::{Permission, Principal};
use recaudo_runtime::{ApiError, Routes};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::providers::Simulators;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inbound {
    /// The debtor's address: E.164, or an email address.
    from: String,
    body: String,
    /// Our number or address; the simulator's own when absent.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    /// A tapped quick-reply button's payload (WhatsApp); `body` is then the button's title.
    #[serde(default)]
    button: Option<String>,
    /// The provider message id the reply quotes, when it does (an email's `In-Reply-To`).
    #[serde(default)]
    in_reply_to: Option<String>,
}

pub fn routes(sims: Simulators) -> Routes {
    Routes::new().protected("/api/simulators/{provider}/inbound", post(inbound)).with_state(Arc::new(sims))
}

async fn inbound(
    State(sims): State<Arc<Simulators>>,
    who: Principal,
    Path(provider): Path<String>,
    body: Result<Json<Inbound>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::SimulatorsControl)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    if req.from.trim().is_empty() || req.from.len() > 320 || req.from.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_body", "from: the sender's address (1 to 320 visible characters)"));
    }
    let not_running = || ApiError::NotFound(format!("no {provider} simulator runs in this process"));
    // The simulator and the webhook it calls are both in this process: a refusal is about what was asked.
    let refused = |e: String| ApiError::Unprocessable {
        code: "webhook_refused",
        message: format!("this process's webhook did not take the message: {e}"),
        details: json!({}),
    };
    let id = match provider.as_str() {
        "twilio" => {
            let sim = sims.twilio.as_ref().ok_or_else(not_running)?;
            let to = req.to.unwrap_or_else(|| recaudo_simulators::twilio::SimConfig::DEMO_FROM.to_string());
            sim.inbound(&req.from, &to, &req.body).await.map_err(|e| refused(format!("{e:?}")))?
        }
        "meta" => {
            let sim = sims.meta.as_ref().ok_or_else(not_running)?;
            match &req.button {
                Some(payload) => sim.tap(&req.from, payload, &req.body).await,
                None => sim.inbound(&req.from, &req.body).await,
            }
            .map_err(|e| refused(e.to_string()))?
        }
        "sendgrid" => {
            let sim = sims.sendgrid.as_ref().ok_or_else(not_running)?;
            let to = req.to.unwrap_or_else(|| "cobranza@recaudo.invalid".to_string());
            let subject = req.subject.unwrap_or_else(|| "Re:".to_string());
            let sent = sim
                .inbound(&req.from, &to, &subject, &req.body, req.in_reply_to.as_deref())
                .await
                .map_err(|e| refused(e.to_string()))?;
            sent.message_id
        }
        _ => return Err(not_running()),
    };
    Ok((StatusCode::ACCEPTED, Json(json!({ "provider": provider, "message": id }))))
}
