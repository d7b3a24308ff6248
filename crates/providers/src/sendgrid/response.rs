//! Turns SendGrid's answer to a Mail Send request into a receipt or a [`ProviderError`], deciding which failures
//! are permanent (the request was refused) and which leave us not knowing.

use std::time::Duration;

use crate::sendgrid::wire::ErrorBody;
use crate::{ProviderError, ProviderReceipt};

/// What of the answer matters, read off the response before its body.
pub(crate) struct Answer<'a> {
    pub http_status: u16,
    /// The `X-Message-Id` header.
    pub message_id: Option<&'a str>,
    /// From `Retry-After`, else `X-RateLimit-Reset`.
    pub retry_after: Option<Duration>,
    pub body: &'a [u8],
}

pub(crate) fn interpret(answer: Answer<'_>) -> Result<ProviderReceipt, ProviderError> {
    let http_status = answer.http_status;
    match http_status {
        // 202 in production; 200 in sandbox mode, where nothing is delivered but the request was valid.
        200..=299 => match answer.message_id.map(str::trim).filter(|id| !id.is_empty()) {
            Some(id) => Ok(ProviderReceipt { provider_message_id: id.to_string(), status: "accepted".into() }),
            // Accepted, but without the id the events cannot be tied to the attempt by message: treat as not knowing
            // (the events still carry our attempt id, which is how such an attempt gets reconciled).
            None => {
                Err(ProviderError::Unavailable(format!("SendGrid answered HTTP {http_status} without X-Message-Id")))
            }
        },
        // Throttled: nothing was sent, a later retry is fine.
        429 => Err(ProviderError::NotSent {
            reason: "SendGrid is rate limiting (HTTP 429)".into(),
            retry_after: answer.retry_after,
        }),
        // 400 invalid request, 401/403 key or permission, 413 too large; any other 4xx (a wrong path) is ours too.
        400..=499 => {
            Err(ProviderError::Rejected { code: Some(http_status.to_string()), message: describe(answer.body) })
        }
        // SendGrid may have queued the message before a 5xx: unknown.
        _ => Err(ProviderError::Unavailable(format!("SendGrid answered HTTP {http_status}"))),
    }
}

/// SendGrid's error messages joined, each with the field it names.
fn describe(body: &[u8]) -> String {
    let Ok(ErrorBody { errors }) = serde_json::from_slice::<ErrorBody>(body) else {
        return "no SendGrid error body".into();
    };
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let message = e.message.as_deref().unwrap_or("(no message)");
            match e.field.as_deref().filter(|f| !f.is_empty()) {
                Some(field) => format!("{message} (field {field})"),
                None => message.to_string(),
            }
        })
        .collect();
    if parts.is_empty() {
        "no SendGrid error body".into()
    } else {
        parts.join("; ")
    }
}

/// `X-RateLimit-Reset` is the Unix time the window reopens; the wait is from `now` (also Unix seconds).
pub(crate) fn until_reset(reset: &str, now: i64) -> Option<Duration> {
    let reset: i64 = reset.trim().parse().ok()?;
    Some(Duration::from_secs(reset.saturating_sub(now).clamp(0, 3600) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(http_status: u16, message_id: Option<&'static str>, body: &'static [u8]) -> Answer<'static> {
        Answer { http_status, message_id, retry_after: None, body }
    }

    #[test]
    fn an_accepted_request_with_its_message_id_is_a_receipt() {
        assert_eq!(
            interpret(answer(202, Some("W86EgYT6SQKk0lRflfLRsA"), b"")),
            Ok(ProviderReceipt { provider_message_id: "W86EgYT6SQKk0lRflfLRsA".into(), status: "accepted".into() })
        );
        assert!(matches!(interpret(answer(202, None, b"")), Err(ProviderError::Unavailable(_))));
        assert!(matches!(interpret(answer(202, Some(" "), b"")), Err(ProviderError::Unavailable(_))));
    }

    #[test]
    fn client_errors_are_rejections_with_the_status_and_the_messages() {
        let body = br#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs/"},{"message":"The subject is required.","field":"subject","help":null}]}"#;
        assert_eq!(
            interpret(answer(400, None, body)),
            Err(ProviderError::Rejected {
                code: Some("400".into()),
                message: "Does not contain a valid address. (field personalizations.0.to.0.email); The subject is required. (field subject)".into()
            })
        );
        let auth = br#"{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}"#;
        assert!(matches!(interpret(answer(401, None, auth)),
            Err(ProviderError::Rejected { code: Some(c), message }) if c == "401" && message.contains("authorization grant")));
        for status in [403, 413] {
            assert!(matches!(interpret(answer(status, None, b"<html>")),
                Err(ProviderError::Rejected { code: Some(c), .. }) if c == status.to_string()));
        }
    }

    #[test]
    fn throttling_is_not_sent_and_server_errors_are_unknown() {
        let wait = Some(Duration::from_secs(7));
        let throttled = Answer { http_status: 429, message_id: None, retry_after: wait, body: b"" };
        assert!(matches!(interpret(throttled), Err(ProviderError::NotSent { retry_after, .. }) if retry_after == wait));
        for status in [500, 502, 503] {
            assert!(matches!(interpret(answer(status, None, b"")), Err(ProviderError::Unavailable(_))));
        }
    }

    #[test]
    fn the_rate_limit_reset_is_a_wait_from_now() {
        assert_eq!(until_reset("1700000030", 1_700_000_000), Some(Duration::from_secs(30)));
        assert_eq!(until_reset("1600000000", 1_700_000_000), Some(Duration::ZERO));
        assert_eq!(until_reset("soon", 1_700_000_000), None);
    }
}
