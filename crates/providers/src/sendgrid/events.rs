//! The Event Webhook: a signed JSON array of events. The signature is checked over the raw bytes before anything is
//! parsed; then each event becomes a status report, an opt-out, or nothing.

use p256::ecdsa::VerifyingKey;

use crate::sendgrid::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::sendgrid::wire::Event;
use crate::{Normalized, ProviderOptOut, StatusUpdate, WebhookError, WebhookItem, WebhookRequest};

pub(crate) fn parse(key: &VerifyingKey, req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
    let header = |name: &str| req.headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(claimed), Some(timestamp)) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER)) else {
        return Err(WebhookError::BadSignature);
    };
    if !signature::verify(key, timestamp, req.body, claimed) {
        return Err(WebhookError::BadSignature);
    }
    let events: Vec<serde_json::Value> = serde_json::from_slice(req.body)
        .map_err(|_| WebhookError::Malformed("the body is not a JSON array of events".into()))?;
    let mut items = Vec::with_capacity(events.len());
    for value in events {
        // One odd event must not sink the batch: SendGrid would retry the whole post for days.
        match serde_json::from_value::<Event>(value) {
            Ok(event) => items.extend(item(event)),
            Err(_) => tracing::debug!(provider = "sendgrid", "skipped an event that did not parse"),
        }
    }
    Ok(items)
}

/// What one event tells us; `None` for events that say nothing of delivery or consent.
fn item(event: Event) -> Option<WebhookItem> {
    let provider_message_id = event.sg_message_id.as_deref().and_then(message_id);
    if matches!(event.event.as_str(), "unsubscribe" | "group_unsubscribe" | "spamreport") {
        return Some(WebhookItem::OptOut(ProviderOptOut {
            address: event.email.filter(|e| !e.is_empty())?,
            provider_message_id,
            attempt_ref: event.attempt_id,
            reason: event.event,
        }));
    }
    let normalized = normalize(&event.event)?;
    let error_code = match event.event.as_str() {
        "bounce" | "dropped" => error_code(&event),
        _ => None,
    };
    Some(WebhookItem::Status(StatusUpdate {
        provider_message_id: provider_message_id?,
        status: event.event,
        normalized,
        error_code,
        attempt_ref: event.attempt_id,
        taken_at: None,
    }))
}

/// SendGrid's event types, normalised. `deferred` means a receiving server asked to try later: the message left
/// SendGrid, which is as far as "sent" goes for email.
pub(crate) fn normalize(event: &str) -> Option<Normalized> {
    Some(match event {
        "processed" => Normalized::Queued,
        "deferred" => Normalized::Sent,
        "delivered" => Normalized::Delivered,
        "open" | "click" => Normalized::Read,
        // Both a hard bounce and a block ("type":"blocked") were accepted by SendGrid and not delivered.
        "bounce" => Normalized::Undelivered,
        // SendGrid refused to send (a suppressed or invalid address).
        "dropped" => Normalized::Failed,
        _ => return None,
    })
}

/// The part of `sg_message_id` before its first ".", which is the `X-Message-Id` the send was answered with.
fn message_id(sg_message_id: &str) -> Option<String> {
    let id = sg_message_id.split('.').next().unwrap_or_default().trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The SMTP status ("5.1.1") where there is one. Otherwise the kind of failure rather than the `reason` of a bounce,
/// which is the receiving server's free text and may quote the address: a drop's reason is SendGrid's category
/// ("Bounced Address"), a bounce's kind is its classification or its type.
fn error_code(event: &Event) -> Option<String> {
    let non_empty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    non_empty(&event.status).or_else(|| match event.event.as_str() {
        "dropped" => non_empty(&event.reason),
        _ => non_empty(&event.bounce_classification).or_else(|| non_empty(&event.kind)),
    })
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    const URL: &str = "https://recaudo.example/webhooks/sendgrid/events";

    fn keys() -> (SigningKey, VerifyingKey) {
        let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let verifying = *signing.verifying_key();
        (signing, verifying)
    }

    fn signed(key: &SigningKey, timestamp: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let signature = signature::sign(key, timestamp, body);
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).expect("base64 is a valid header"));
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).expect("digits"));
        headers
    }

    const BATCH: &str = r#"[
        {"email":"deudor@example.com","timestamp":1700000000,"event":"processed","sg_event_id":"e1","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-1-2.0","attempt_id":"att-1","smtp-id":"<W86EgYT6SQKk0lRflfLRsA@ismtpd-1>"},
        {"email":"deudor@example.com","timestamp":1700000001,"event":"deferred","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-1-2.0","attempt_id":"att-1","response":"400 try later","attempt":"1"},
        {"email":"deudor@example.com","timestamp":1700000002,"event":"delivered","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-1-2.0","attempt_id":"att-1","response":"250 OK"},
        {"email":"deudor@example.com","timestamp":1700000003,"event":"open","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-1-2.0","attempt_id":"att-1","sg_machine_open":false},
        {"email":"deudor@example.com","timestamp":1700000004,"event":"click","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-1-2.0","attempt_id":"att-1","url":"https://pagos.example"},
        {"email":"otro@example.com","timestamp":1700000005,"event":"bounce","sg_message_id":"Xx1.filterdrecv-3.0","attempt_id":"att-2","status":"5.1.1","reason":"550 5.1.1 otro@example.com does not exist","type":"bounce"},
        {"email":"otro@example.com","timestamp":1700000006,"event":"bounce","sg_message_id":"Xx2.filterdrecv-3.0","attempt_id":"att-3","reason":"blocked by policy","type":"blocked","bounce_classification":"Reputation"},
        {"email":"otro@example.com","timestamp":1700000007,"event":"dropped","sg_message_id":"Xx3.filterdrecv-3.0","attempt_id":"att-4","reason":"Bounced Address"},
        {"email":"deudor@example.com","timestamp":1700000008,"event":"unsubscribe","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.filterdrecv-1-2.0","attempt_id":"att-1"},
        {"email":"deudor@example.com","timestamp":1700000009,"event":"spamreport","attempt_id":"att-1"},
        {"email":"deudor@example.com","timestamp":1700000010,"event":"group_resubscribe","sg_message_id":"W86EgYT6SQKk0lRflfLRsA.x.0"},
        {"not":"an event"}
    ]"#;

    fn status(item: &WebhookItem) -> (&str, &str, Normalized, Option<&str>, Option<&str>) {
        match item {
            WebhookItem::Status(s) => (
                s.provider_message_id.as_str(),
                s.status.as_str(),
                s.normalized,
                s.error_code.as_deref(),
                s.attempt_ref.as_deref(),
            ),
            other => panic!("not a status: {other:?}"),
        }
    }

    #[test]
    fn parses_a_signed_batch_into_statuses_and_opt_outs() {
        let (signing, key) = keys();
        let headers = signed(&signing, "1700000011", BATCH.as_bytes());
        let items =
            parse(&key, &WebhookRequest { url: URL, headers: &headers, body: BATCH.as_bytes() }).expect("signed");
        assert_eq!(items.len(), 10, "{items:#?}");
        let id = "W86EgYT6SQKk0lRflfLRsA";
        assert_eq!(status(&items[0]), (id, "processed", Normalized::Queued, None, Some("att-1")));
        assert_eq!(status(&items[1]), (id, "deferred", Normalized::Sent, None, Some("att-1")));
        assert_eq!(status(&items[2]), (id, "delivered", Normalized::Delivered, None, Some("att-1")));
        assert_eq!(status(&items[3]).2, Normalized::Read);
        assert_eq!(status(&items[4]).2, Normalized::Read);
        assert_eq!(status(&items[5]), ("Xx1", "bounce", Normalized::Undelivered, Some("5.1.1"), Some("att-2")));
        assert_eq!(status(&items[6]), ("Xx2", "bounce", Normalized::Undelivered, Some("Reputation"), Some("att-3")));
        assert_eq!(status(&items[7]), ("Xx3", "dropped", Normalized::Failed, Some("Bounced Address"), Some("att-4")));
        assert_eq!(
            items[8],
            WebhookItem::OptOut(ProviderOptOut {
                address: "deudor@example.com".into(),
                provider_message_id: Some(id.into()),
                attempt_ref: Some("att-1".into()),
                reason: "unsubscribe".into(),
            })
        );
        assert!(
            matches!(&items[9], WebhookItem::OptOut(o) if o.reason == "spamreport" && o.provider_message_id.is_none())
        );
    }

    #[test]
    fn refuses_unsigned_tampered_or_re_timestamped_posts() {
        let (signing, key) = keys();
        let body = BATCH.as_bytes();
        let headers = signed(&signing, "1700000011", body);

        let unsigned = parse(&key, &WebhookRequest { url: URL, headers: &HeaderMap::new(), body });
        assert_eq!(unsigned, Err(WebhookError::BadSignature));

        let tampered = BATCH.replace("\"bounce\"", "\"delivered\"");
        let result = parse(&key, &WebhookRequest { url: URL, headers: &headers, body: tampered.as_bytes() });
        assert_eq!(result, Err(WebhookError::BadSignature));

        let mut moved = headers.clone();
        moved.insert(TIMESTAMP_HEADER, HeaderValue::from_static("1700000012"));
        assert_eq!(parse(&key, &WebhookRequest { url: URL, headers: &moved, body }), Err(WebhookError::BadSignature));

        let (_, other_key) = keys();
        assert_eq!(
            parse(&other_key, &WebhookRequest { url: URL, headers: &headers, body }),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn a_signed_body_that_is_not_an_array_is_malformed() {
        let (signing, key) = keys();
        let body = br#"{"event":"delivered"}"#;
        let headers = signed(&signing, "1700000011", body);
        let result = parse(&key, &WebhookRequest { url: URL, headers: &headers, body });
        assert!(matches!(result, Err(WebhookError::Malformed(_))));
    }
}
