//! What the simulator sends out on its own: status callbacks after a message is created, and the signed form
//! posts they share with simulated inbound messages, on SMS and WhatsApp alike.

use std::time::Duration;

use chrono::Utc;
use recaudo_providers::twilio::signature::{self, SIGNATURE_HEADER};
use recaudo_providers::twilio::API_VERSION;

use crate::twilio::channel::Channel;
use crate::twilio::errors::OUTSIDE_WINDOW;
use crate::twilio::store::SimMessage;
use crate::twilio::TwilioSimulator;

/// How long a webhook receiver gets to answer, as Twilio gives up on slow endpoints too.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The WhatsApp profile name of every simulated debtor.
const PROFILE_NAME: &str = "Deudor simulado";

/// The statuses a message goes through after it is created, each with the error it fails with, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Deliver,
    /// A free-form WhatsApp message outside the customer-service window: Twilio accepts it, then fails it.
    OutsideWindow,
}

impl Plan {
    fn steps(self) -> &'static [(&'static str, Option<u32>)] {
        match self {
            Plan::Deliver => &[("sent", None), ("delivered", None)],
            Plan::OutsideWindow => &[("failed", Some(OUTSIDE_WINDOW))],
        }
    }
}

/// Plays the rest of a message's life in the background, each status after the configured delay, with a status
/// callback for each when the message asked for them.
pub(crate) fn spawn_delivery(sim: TwilioSimulator, message_sid: String, plan: Plan) {
    tokio::spawn(deliver(sim, message_sid, plan));
}

/// The plan's statuses with their status callbacks; returns when all are done.
pub(crate) async fn deliver(sim: TwilioSimulator, message_sid: String, plan: Plan) {
    for &(status, error_code) in plan.steps() {
        tokio::time::sleep(sim.config().status_delay).await;
        let Some(message) = sim.shared.store.advance(&message_sid, status, error_code, Utc::now()) else {
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
    if let Some(code) = message.error_code {
        params.push(("ErrorCode", code.to_string()));
    }
    // Only SMS has a carrier, and so a carrier's delivery report.
    if message.status == "delivered" && Channel::of(&message.to).0 == Channel::Sms {
        // The carrier's delivery-report time, YYMMDDhhmm.
        params.push(("RawDlrDoneDate", message.date_updated.format("%y%m%d%H%M").to_string()));
    }
    params.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
}

/// The form Twilio posts to a number's incoming-message webhook.
pub(crate) fn inbound_message_params(account_sid: &str, message: &SimMessage) -> Vec<(String, String)> {
    let from = message.from.as_deref().unwrap_or_default();
    let mut params = vec![
        ("MessageSid", message.sid.clone()),
        ("SmsMessageSid", message.sid.clone()),
        ("SmsSid", message.sid.clone()),
        ("AccountSid", account_sid.to_string()),
        ("From", from.to_string()),
        ("To", message.to.clone()),
        ("Body", message.body.clone()),
        ("NumMedia", "0".to_string()),
        ("NumSegments", message.num_segments.to_string()),
        ("SmsStatus", "received".to_string()),
        ("ApiVersion", API_VERSION.to_string()),
    ];
    if let (Channel::Whatsapp, number) = Channel::of(from) {
        // The sender's WhatsApp id is their number without the `+`; the profile name is whatever they set in the app.
        let wa_id = number.trim_start_matches('+').to_string();
        params.extend([("WaId", wa_id), ("ProfileName", PROFILE_NAME.to_string()), ("MessageType", "text".into())]);
    }
    params.into_iter().map(|(name, value)| (name.to_string(), value)).collect()
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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn message(to: &str, from: &str, status: &str, error_code: Option<u32>) -> SimMessage {
        let now = Utc::now();
        SimMessage {
            sid: "SM1".into(),
            direction: "outbound-api".into(),
            from: Some(from.into()),
            to: to.into(),
            body: "Hola".into(),
            content_sid: None,
            messaging_service_sid: None,
            status: status.into(),
            error_code,
            num_segments: 1,
            status_callback: None,
            date_created: now,
            date_updated: now,
            date_sent: None,
        }
    }

    fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    #[test]
    fn a_failed_whatsapp_callback_carries_the_error_code_and_the_prefixed_addresses() {
        let failed = message("whatsapp:+573001234567", "whatsapp:+15005550006", "failed", Some(63016));
        let params = status_callback_params("AC1", &failed);
        assert_eq!(get(&params, "MessageStatus"), Some("failed"));
        assert_eq!(get(&params, "ErrorCode"), Some("63016"));
        assert_eq!(get(&params, "To"), Some("whatsapp:+573001234567"));
        assert_eq!(get(&params, "From"), Some("whatsapp:+15005550006"));
    }

    #[test]
    fn only_an_sms_delivery_has_a_carrier_report() {
        let sms = status_callback_params("AC1", &message("+573001234567", "+15005550006", "delivered", None));
        assert!(get(&sms, "RawDlrDoneDate").is_some());
        assert_eq!(get(&sms, "ErrorCode"), None);
        let whatsapp = message("whatsapp:+573001234567", "whatsapp:+15005550006", "delivered", None);
        assert_eq!(get(&status_callback_params("AC1", &whatsapp), "RawDlrDoneDate"), None);
    }

    #[test]
    fn a_whatsapp_inbound_message_names_the_senders_whatsapp_id() {
        let reply = SimMessage {
            direction: "inbound".into(),
            ..message("whatsapp:+15005550006", "whatsapp:+573001234567", "received", None)
        };
        let params = inbound_message_params("AC1", &reply);
        assert_eq!(get(&params, "From"), Some("whatsapp:+573001234567"));
        assert_eq!(get(&params, "WaId"), Some("573001234567"));
        let sms = inbound_message_params("AC1", &message("+15005550006", "+573001234567", "received", None));
        assert_eq!(get(&sms, "WaId"), None);
    }
}
