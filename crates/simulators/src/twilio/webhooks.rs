//! What the simulator sends out on its own: status callbacks after a message is created, and the signed form
//! posts they share with simulated inbound messages.

use std::time::Duration;

use chrono::Utc;
use recaudo_providers::twilio::signature::{self, SIGNATURE_HEADER};
use recaudo_providers::twilio::API_VERSION;

use crate::twilio::store::SimMessage;
use crate::twilio::TwilioSimulator;

/// How long a webhook receiver gets to answer, as Twilio gives up on slow endpoints too.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Plays the rest of a message's life in the background: `sent`, then `delivered`, each after the configured delay,
/// with a status callback for each when the message asked for them.
pub(crate) fn spawn_delivery(sim: TwilioSimulator, message_sid: String) {
    tokio::spawn(deliver(sim, message_sid));
}

/// `sent`, then `delivered`, with their status callbacks; returns when both are done.
pub(crate) async fn deliver(sim: TwilioSimulator, message_sid: String) {
    for status in ["sent", "delivered"] {
        tokio::time::sleep(sim.config().status_delay).await;
        let Some(message) = sim.shared.store.advance(&message_sid, status, Utc::now()) else {
            return;
        };
        if let Some(url) = &message.status_callback {
            let params = status_callback_params(&sim.config().account_sid, &message);
            match post_signed(&sim, url, &params).await {
                Ok(code) if code.is_success() => {}
                // Twilio does not retry status callbacks by default, so the simulator does not either.
                Ok(code) => {
                    tracing::warn!(message_sid, status, http_status = code.as_u16(), "status callback refused")
                }
                Err(error) => {
                    tracing::warn!(message_sid, status, error = %error.without_url(), "status callback failed")
                }
            }
        }
    }
}

/// The form Twilio posts to a message's StatusCallback.
fn status_callback_params(account_sid: &str, message: &SimMessage) -> Vec<(String, String)> {
    let mut params = vec![
        ("MessageSid", message.sid.clone()),
        ("SmsSid", message.sid.clone()),
        ("AccountSid", account_sid.to_string()),
        ("To", message.to.clone()),
        ("MessageStatus", message.status.clone()),
        ("SmsStatus", message.status.clone()),
        ("ApiVersion", API_VERSION.to_string()),
    ];
    if let Some(from) = &message.from {
        params.push(("From", from.clone()));
    }
    if let Some(service) = &message.messaging_service_sid {
        params.push(("MessagingServiceSid", service.clone()));
    }
    if message.status == "delivered" {
        // The carrier's delivery-report time, YYMMDDhhmm.
        params.push(("RawDlrDoneDate", message.date_updated.format("%y%m%d%H%M").to_string()));
    }
    params.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
}

/// The form Twilio posts to a number's incoming-message webhook.
pub(crate) fn inbound_message_params(account_sid: &str, message: &SimMessage) -> Vec<(String, String)> {
    let from = message.from.clone().unwrap_or_default();
    [
        ("MessageSid", message.sid.clone()),
        ("SmsMessageSid", message.sid.clone()),
        ("SmsSid", message.sid.clone()),
        ("AccountSid", account_sid.to_string()),
        ("From", from),
        ("To", message.to.clone()),
        ("Body", message.body.clone()),
        ("NumMedia", "0".to_string()),
        ("NumSegments", message.num_segments.to_string()),
        ("SmsStatus", "received".to_string()),
        ("ApiVersion", API_VERSION.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// Posts `params` form-encoded to `url`, signed over exactly that URL and those parameters as Twilio signs.
pub(crate) async fn post_signed(
    sim: &TwilioSimulator,
    url: &str,
    params: &[(String, String)],
) -> Result<reqwest::StatusCode, reqwest::Error> {
    let signature = signature::sign(&sim.config().auth_token, url, params);
    let response = sim
        .shared
        .http
        .post(url)
        .header(SIGNATURE_HEADER, signature)
        .header(reqwest::header::USER_AGENT, "TwilioProxy/1.1")
        .form(params)
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await?;
    Ok(response.status())
}
