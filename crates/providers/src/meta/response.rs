//! Turns Meta's answer to a send into a receipt or a [`ProviderError`], deciding which failures are permanent (the
//! message was refused), which are throttling (nothing sent, try later) and which leave us not knowing.

use std::time::Duration;

use crate::meta::wire::{ErrorEnvelope, GraphError, MessagesResponse};
use crate::{ProviderError, ProviderReceipt};

/// Graph API and WhatsApp codes that mean "too many requests": 4 (app call limit), 80007 (WABA rate limit), 130429
/// (Cloud API throughput), 131048 (spam rate limit), 131056 (too many messages to one recipient). Meta refused the
/// request, so nothing was sent and a later retry is fine.
const THROTTLING_CODES: &[&str] = &["4", "80007", "130429", "131048", "131056"];

pub(crate) fn interpret(
    http_status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<ProviderReceipt, ProviderError> {
    if (200..=299).contains(&http_status) {
        return match serde_json::from_slice::<MessagesResponse>(body).ok().and_then(|r| r.messages.into_iter().next()) {
            Some(message) => Ok(ProviderReceipt {
                provider_message_id: message.id,
                status: message.message_status.unwrap_or_else(|| "accepted".to_string()),
            }),
            // Meta accepted something, but without a wamid we cannot track it: treat it as not knowing.
            None => Err(ProviderError::Unavailable(format!(
                "Meta answered HTTP {http_status} with a body that is not a Messages response"
            ))),
        };
    }
    let error = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.code.clone());
    if http_status == 429 || code.as_deref().is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        return Err(ProviderError::NotSent {
            reason: format!("Meta is rate limiting (HTTP {http_status}, code {})", code.as_deref().unwrap_or("none")),
            retry_after,
        });
    }
    match http_status {
        400..=499 => Err(match error {
            Some(error) => ProviderError::Rejected { message: describe(&error), code: error.code },
            None => ProviderError::Rejected {
                code: None,
                message: format!("HTTP {http_status} without a Graph API error body"),
            },
        }),
        // A 5xx may come after the message was queued: unknown.
        _ => Err(ProviderError::Unavailable(format!(
            "Meta answered HTTP {http_status} (code {})",
            code.as_deref().unwrap_or("none")
        ))),
    }
}

/// Meta's message with its details, which say what to fix ("Parameter value is not valid" alone does not).
fn describe(error: &GraphError) -> String {
    match error.error_data.as_ref().and_then(|d| d.details.as_deref()) {
        Some(details) if !details.is_empty() => format!("{}: {details}", error.message),
        _ => error.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_json(code: u32, message: &str) -> Vec<u8> {
        serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "details here"}, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_accepted_message_becomes_a_receipt() {
        let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+573001234567","wa_id":"573001234567"}],"messages":[{"id":"wamid.ABC=","message_status":"accepted"}]}"#;
        assert_eq!(
            interpret(200, body, None),
            Ok(ProviderReceipt { provider_message_id: "wamid.ABC=".into(), status: "accepted".into() })
        );
        let older = br#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.DEF="}]}"#;
        assert_eq!(interpret(200, older, None).map(|r| r.status), Ok("accepted".to_string()));
    }

    #[test]
    fn client_errors_are_rejections_with_metas_code() {
        for code in [131047, 131026, 132001, 100, 190] {
            let result = interpret(400, &error_json(code, "(#n) something"), None);
            assert!(
                matches!(&result, Err(ProviderError::Rejected { code: Some(c), message })
                    if *c == code.to_string() && message.contains("details here")),
                "{code}: {result:?}"
            );
        }
        assert!(matches!(interpret(401, &error_json(190, "Invalid OAuth access token"), None),
            Err(ProviderError::Rejected { code: Some(c), .. }) if c == "190"));
        assert!(matches!(interpret(404, b"<html/>", None), Err(ProviderError::Rejected { code: None, .. })));
    }

    #[test]
    fn throttling_is_not_sent_whatever_the_http_status() {
        let wait = Some(Duration::from_secs(7));
        assert!(matches!(interpret(429, &error_json(130429, "Rate limit hit"), wait),
            Err(ProviderError::NotSent { reason, retry_after }) if reason.contains("130429") && retry_after == wait));
        for code in [4, 80007, 130429, 131048, 131056] {
            assert!(matches!(interpret(400, &error_json(code, "slow down"), None), Err(ProviderError::NotSent { .. })));
        }
        assert!(matches!(interpret(429, b"", None), Err(ProviderError::NotSent { retry_after: None, .. })));
    }

    #[test]
    fn server_errors_and_unreadable_successes_are_unknown() {
        assert!(matches!(interpret(500, &error_json(131000, "Something went wrong"), None),
            Err(ProviderError::Unavailable(reason)) if reason.contains("131000")));
        assert!(matches!(interpret(502, b"", None), Err(ProviderError::Unavailable(_))));
        assert!(matches!(interpret(200, b"not json", None), Err(ProviderError::Unavailable(_))));
        assert!(matches!(interpret(200, br#"{"messages":[]}"#, None), Err(ProviderError::Unavailable(_))));
    }
}
