//! Turns Twilio's answer to a create-message request into a receipt or a [`ProviderError`], deciding which failures
//! are permanent (the message was refused) and which leave us not knowing (retry is a business decision).

use crate::twilio::wire::{ErrorBody, MessageResource};
use crate::{ProviderError, ProviderReceipt};

pub(crate) fn interpret(
    http_status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
) -> Result<ProviderReceipt, ProviderError> {
    match http_status {
        200..=299 => match serde_json::from_slice::<MessageResource>(body) {
            Ok(message) => Ok(ProviderReceipt { provider_message_id: message.sid, status: message.status }),
            // Twilio accepted something, but without a SID we cannot track it: treat it as not knowing.
            Err(_) => Err(ProviderError::Unavailable(format!(
                "Twilio answered HTTP {http_status} with a body that is not a Message resource"
            ))),
        },
        // Throttled: nothing was sent and a later retry is fine, so it must not be reported as permanent.
        429 => Err(ProviderError::NotSent {
            reason: format!(
                "Twilio is rate limiting (HTTP 429, code {})",
                error_body(body).and_then(|e| e.code).as_deref().unwrap_or("none")
            ),
            retry_after,
        }),
        400..=499 => Err(match error_body(body) {
            Some(error) => ProviderError::Rejected { code: error.code, message: error.message },
            None => ProviderError::Rejected {
                code: None,
                message: format!("HTTP {http_status} without a Twilio error body"),
            },
        }),
        // Twilio documents 503 as the API refusing the request (overloaded or down for maintenance): not sent.
        503 => Err(ProviderError::NotSent { reason: "Twilio answered HTTP 503".into(), retry_after }),
        // A 500 or a gateway error may come after the message was created: unknown.
        _ => Err(ProviderError::Unavailable(format!("Twilio answered HTTP {http_status}"))),
    }
}

fn error_body(body: &[u8]) -> Option<ErrorBody> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_message_becomes_a_receipt() {
        let body =
            br#"{"sid":"SM0123456789abcdef0123456789abcdef","account_sid":"AC1","status":"queued","error_code":null}"#;
        assert_eq!(
            interpret(201, body, None),
            Ok(ProviderReceipt {
                provider_message_id: "SM0123456789abcdef0123456789abcdef".into(),
                status: "queued".into()
            })
        );
    }

    #[test]
    fn twilio_error_json_becomes_a_rejection_with_its_code() {
        let body = br#"{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
        assert_eq!(
            interpret(400, body, None),
            Err(ProviderError::Rejected { code: Some("21211".into()), message: "Invalid 'To' Phone Number".into() })
        );
        let auth = br#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
        assert!(
            matches!(interpret(401, auth, None), Err(ProviderError::Rejected { code: Some(c), .. }) if c == "20003")
        );
    }

    #[test]
    fn a_4xx_without_twilio_json_is_still_a_rejection() {
        assert!(matches!(
            interpret(404, b"<html>not found</html>", None),
            Err(ProviderError::Rejected { code: None, .. })
        ));
    }

    #[test]
    fn throttling_is_not_sent_but_server_errors_and_unreadable_successes_are_unknown() {
        let throttled = br#"{"code":20429,"message":"Too Many Requests","status":429}"#;
        let wait = Some(std::time::Duration::from_secs(3));
        assert!(matches!(interpret(429, throttled, wait),
            Err(ProviderError::NotSent { reason, retry_after }) if reason.contains("20429") && retry_after == wait));
        assert!(matches!(interpret(503, b"", None), Err(ProviderError::NotSent { .. })));
        assert!(matches!(interpret(500, b"{}", None), Err(ProviderError::Unavailable(_))));
        assert!(matches!(interpret(201, b"not json", None), Err(ProviderError::Unavailable(_))));
    }

    #[test]
    fn rejection_display_leaves_out_twilios_message_which_may_quote_the_phone_number() {
        let error = ProviderError::Rejected { code: Some("21211".into()), message: "'+573001234567' invalid".into() };
        let shown = error.to_string();
        assert!(shown.contains("21211"));
        assert!(!shown.contains("573001234567"));
    }
}
