//! Simulated replies: an Inbound Parse post (multipart form, Basic credentials) to the configured inbound URL, and
//! the control route that triggers one.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::sendgrid::{rfc822_message_id, SendGridSimulator};

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply the inbound webhook took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedInbound {
    /// The reply's own Message-ID, without angle brackets.
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("the simulator has no inbound_url configured")]
    NoInboundUrl,
    #[error("the inbound webhook answered HTTP {0}")]
    Refused(u16),
    #[error("the inbound webhook is unreachable: {0}")]
    Unreachable(String),
}

pub(crate) async fn post(
    sim: &SendGridSimulator,
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    in_reply_to: Option<&str>,
) -> Result<SimulatedInbound, InboundError> {
    let config = sim.config();
    let url = config.inbound_url.as_deref().ok_or(InboundError::NoInboundUrl)?;
    let message_id = format!("{}@sim-mail.example", uuid::Uuid::new_v4().simple());
    let boundary = format!("xYzZY{}", uuid::Uuid::new_v4().simple());
    let body = form(&boundary, &fields(&message_id, from, to, subject, text, in_reply_to));
    let response = sim
        .shared
        .http
        .post(url)
        .basic_auth(&config.inbound_user, Some(&config.inbound_password))
        .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .header(reqwest::header::USER_AGENT, "Sendlib/1.0")
        .body(body)
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await
        .map_err(|e| InboundError::Unreachable(e.without_url().to_string()))?;
    match response.status() {
        status if status.is_success() => Ok(SimulatedInbound { message_id }),
        status => Err(InboundError::Refused(status.as_u16())),
    }
}

/// The fields Inbound Parse posts for a plain-text email, in its order.
fn fields(
    message_id: &str,
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    in_reply_to: Option<&str>,
) -> Vec<(&'static str, String)> {
    // Header values are one line: a CR or LF in what the caller gave must not start a header of its own.
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let (from, to, subject) = (one_line(from), one_line(to), one_line(subject));
    let mut headers = format!(
        "Received: by mx.sim.sendgrid.invalid with SMTP id sim\r\nMIME-Version: 1.0\r\nFrom: {from}\r\n\
         Date: {}\r\nMessage-ID: <{message_id}>\r\nSubject: {subject}\r\nTo: {to}\r\n",
        chrono::Utc::now().to_rfc2822()
    );
    if let Some(id) = in_reply_to {
        let id = rfc822_message_id(&one_line(id));
        headers.push_str(&format!("In-Reply-To: {id}\r\nReferences: {id}\r\n"));
    }
    headers.push_str("Content-Type: text/plain; charset=\"UTF-8\"\r\n");
    let envelope = json!({ "to": [address(&to)], "from": address(&from) }).to_string();
    vec![
        ("headers", headers),
        ("dkim", "{@sim-mail.example : pass}".to_string()),
        ("to", to),
        ("from", from),
        ("text", text.to_string()),
        ("sender_ip", "127.0.0.1".to_string()),
        ("envelope", envelope),
        ("attachments", "0".to_string()),
        ("subject", subject),
        ("charsets", r#"{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}"#.to_string()),
        ("SPF", "pass".to_string()),
    ]
}

/// `Name <addr>` is `addr`.
fn address(text: &str) -> String {
    match (text.rfind('<'), text.rfind('>')) {
        (Some(start), Some(end)) if start < end => text[start + 1..end].trim().to_string(),
        _ => text.trim().to_string(),
    }
}

fn form(boundary: &str, fields: &[(&str, String)]) -> Vec<u8> {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body.into_bytes()
}

#[derive(Debug, Deserialize)]
pub(crate) struct InboundRequest {
    from: String,
    to: String,
    #[serde(default)]
    subject: String,
    text: String,
    #[serde(default)]
    in_reply_to: Option<String>,
}

/// `POST /inbound`: 202 `{"message_id": …}`, or 502 `{"error": …}` when the webhook did not take it.
pub(crate) async fn control_inbound(
    State(sim): State<SendGridSimulator>,
    request: Result<Json<InboundRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match request {
        Ok(request) => request,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": rejection.body_text() }))).into_response()
        }
    };
    let result =
        post(&sim, &request.from, &request.to, &request.subject, &request.text, request.in_reply_to.as_deref()).await;
    match result {
        Ok(inbound) => {
            tracing::info!("simulated SendGrid inbound reply delivered");
            (StatusCode::ACCEPTED, Json(json!({ "message_id": inbound.message_id }))).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "simulated SendGrid inbound reply not delivered");
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": error.to_string() }))).into_response()
        }
    }
}
