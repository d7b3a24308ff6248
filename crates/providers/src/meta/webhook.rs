//! Meta's one webhook endpoint: statuses and inbound messages arrive batched in the same signed JSON, and the
//! subscription handshake is a `GET` on the same URL. The signature is checked before anything is parsed, and
//! changes for another phone number of the business account are ignored even when correctly signed.

use crate::meta::signature::{self, SIGNATURE_HEADER};
use crate::meta::wire::{MessagesValue, Notification, WebhookMessage, WebhookStatus};
use crate::meta::MetaConfig;
use crate::{
    constant_time_eq, Handshake, InboundMessage, Normalized, StatusUpdate, WebhookError, WebhookItem, WebhookRequest,
};

const OBJECT: &str = "whatsapp_business_account";

/// `GET ...?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`: echo the challenge only for our token.
pub(crate) fn handshake(config: &MetaConfig, query: &[(String, String)]) -> Handshake {
    let get = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    match (get("hub.mode"), get("hub.verify_token"), get("hub.challenge")) {
        (Some("subscribe"), Some(token), Some(challenge))
            if constant_time_eq(token.as_bytes(), config.verify_token.as_bytes()) =>
        {
            Handshake::Accept(challenge.to_string())
        }
        _ => Handshake::Refuse,
    }
}

pub(crate) fn parse(config: &MetaConfig, req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
    let claimed =
        req.headers.get(SIGNATURE_HEADER).and_then(|value| value.to_str().ok()).ok_or(WebhookError::BadSignature)?;
    if !signature::verify(&config.app_secret, req.body, claimed) {
        return Err(WebhookError::BadSignature);
    }
    let notification: Notification = serde_json::from_slice(req.body)
        .map_err(|e| WebhookError::Malformed(format!("not a Meta notification: {e}")))?;
    if notification.object != OBJECT {
        return Err(WebhookError::Malformed(format!("object is {:?}, not {OBJECT}", notification.object)));
    }
    let mut items = Vec::new();
    for change in notification.entry.iter().flat_map(|entry| &entry.changes) {
        // Template reviews, quality ratings and the like arrive on other fields; they are not about a message.
        if change.field != "messages" {
            continue;
        }
        let value: MessagesValue = serde_json::from_value(change.value.clone())
            .map_err(|e| WebhookError::Malformed(format!("messages change does not parse: {e}")))?;
        let Some(metadata) = &value.metadata else { continue };
        // One app can serve several numbers; another number's webhook is not ours to act on.
        if metadata.phone_number_id != config.phone_number_id {
            continue;
        }
        items.extend(value.statuses.iter().filter_map(status_update).map(WebhookItem::Status));
        let to = e164(&metadata.display_phone_number);
        items.extend(value.messages.iter().map(|m| WebhookItem::Inbound(inbound(m, &to))));
    }
    Ok(items)
}

/// `None` for a status word that says nothing we track (e.g. `deleted`, `warning`).
fn status_update(status: &WebhookStatus) -> Option<StatusUpdate> {
    Some(StatusUpdate {
        provider_message_id: status.id.clone(),
        normalized: normalize(&status.status)?,
        status: status.status.clone(),
        error_code: status.errors.iter().find_map(|e| e.code.clone()),
        attempt_ref: status.biz_opaque_callback_data.clone().filter(|r| !r.is_empty()),
        taken_at: None,
    })
}

pub(crate) fn normalize(status: &str) -> Option<Normalized> {
    Some(match status {
        "sent" => Normalized::Sent,
        "delivered" => Normalized::Delivered,
        "read" => Normalized::Read,
        "failed" => Normalized::Failed,
        _ => return None,
    })
}

fn inbound(message: &WebhookMessage, to: &str) -> InboundMessage {
    let (body, button) = match message.kind.as_str() {
        "text" => (message.text.as_ref().map(|t| t.body.clone()).unwrap_or_default(), None),
        // A template's quick-reply tap: the payload we put on the button, and the words it showed.
        "button" => match &message.button {
            Some(b) => (b.text.clone().unwrap_or_default(), b.payload.clone().filter(|p| !p.is_empty())),
            None => (String::new(), None),
        },
        "interactive" => {
            match message.interactive.as_ref().and_then(|i| i.button_reply.as_ref().or(i.list_reply.as_ref())) {
                Some(reply) => (reply.title.clone(), Some(reply.id.clone())),
                None => (String::new(), None),
            }
        }
        // Pictures, voice notes, locations, ...: still a message from the debtor, which the reply router may want
        // to hand to a person, but with no text to read.
        _ => (String::new(), None),
    };
    InboundMessage {
        provider_message_id: message.id.clone(),
        from: e164(&message.from),
        to: to.to_string(),
        body,
        button,
        in_reply_to: message.context.as_ref().and_then(|c| c.id.clone()).filter(|id| !id.is_empty()),
    }
}

/// Meta writes numbers as digits (`573001234567`) or, for our own display number, sometimes with spaces and
/// dashes; E.164 is `+` and the digits.
fn e164(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::{json, Value};

    use super::*;

    const PHONE_NUMBER_ID: &str = "106540352242922";
    const URL: &str = "https://recaudo.example/webhooks/meta/whatsapp";

    fn config() -> MetaConfig {
        MetaConfig {
            phone_number_id: PHONE_NUMBER_ID.into(),
            access_token: "token".into(),
            app_secret: "app-secret".into(),
            verify_token: "verify-me".into(),
            ..MetaConfig::default()
        }
    }

    fn notification(phone_number_id: &str, value: Value) -> Value {
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": phone_number_id});
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"field": "messages", "value": value}]}]})
    }

    fn signed(body: &[u8], secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let signature = signature::sign(secret, body);
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).expect("hex is a valid header"));
        headers
    }

    fn parse_signed(value: &Value) -> Result<Vec<WebhookItem>, WebhookError> {
        let body = value.to_string().into_bytes();
        let headers = signed(&body, "app-secret");
        parse(&config(), &WebhookRequest { url: URL, headers: &headers, body: &body })
    }

    fn status(id: &str, word: &str) -> Value {
        json!({"id": id, "status": word, "timestamp": "1750000000", "recipient_id": "573001234567",
            "conversation": {"id": "c1", "origin": {"type": "utility"}},
            "pricing": {"billable": true, "pricing_model": "CBP", "category": "utility"}})
    }

    #[test]
    fn statuses_are_normalised_and_tied_to_the_attempt() {
        let mut delivered = status("wamid.B", "delivered");
        delivered["biz_opaque_callback_data"] = json!("attempt-7");
        let value = json!({"statuses": [status("wamid.A", "sent"), delivered, status("wamid.C", "read"),
            status("wamid.D", "deleted")]});
        let items = parse_signed(&notification(PHONE_NUMBER_ID, value)).expect("signed");
        let updates: Vec<(String, Normalized, Option<String>)> = items
            .into_iter()
            .map(|item| match item {
                WebhookItem::Status(s) => (s.provider_message_id, s.normalized, s.attempt_ref),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            updates,
            vec![
                ("wamid.A".into(), Normalized::Sent, None),
                ("wamid.B".into(), Normalized::Delivered, Some("attempt-7".into())),
                ("wamid.C".into(), Normalized::Read, None),
            ]
        );
    }

    #[test]
    fn a_failed_status_carries_its_error_code_and_attempt() {
        let failed = json!({"id": "wamid.F", "status": "failed", "timestamp": "1750000000",
            "recipient_id": "573001234567", "biz_opaque_callback_data": "attempt-9",
            "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]});
        let items = parse_signed(&notification(PHONE_NUMBER_ID, json!({"statuses": [failed]}))).expect("signed");
        assert_eq!(
            items,
            vec![WebhookItem::Status(StatusUpdate {
                provider_message_id: "wamid.F".into(),
                status: "failed".into(),
                normalized: Normalized::Failed,
                error_code: Some("131047".into()),
                attempt_ref: Some("attempt-9".into()),
                taken_at: None,
            })]
        );
    }

    #[test]
    fn inbound_text_button_and_interactive_replies() {
        let messages = json!([
            {"from": "573001234567", "id": "wamid.T", "timestamp": "1750000000", "type": "text",
                "text": {"body": "Ya pagué"}},
            {"from": "573001234567", "id": "wamid.B", "timestamp": "1750000001", "type": "button",
                "context": {"from": "15550783881", "id": "wamid.SENT"},
                "button": {"payload": "PAY_TODAY", "text": "Pagar hoy"}},
            {"from": "573001234567", "id": "wamid.I", "timestamp": "1750000002", "type": "interactive",
                "context": {"from": "15550783881", "id": "wamid.SENT2"},
                "interactive": {"type": "button_reply", "button_reply": {"id": "promise", "title": "Prometo pagar"}}},
            {"from": "573001234567", "id": "wamid.P", "timestamp": "1750000003", "type": "image",
                "image": {"id": "123", "mime_type": "image/jpeg", "sha256": "abc"}}
        ]);
        let value = json!({"contacts": [{"profile": {"name": "Ana"}, "wa_id": "573001234567"}], "messages": messages});
        let items = parse_signed(&notification(PHONE_NUMBER_ID, value)).expect("signed");
        let inbound: Vec<InboundMessage> = items
            .into_iter()
            .map(|item| match item {
                WebhookItem::Inbound(m) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        let message = |id: &str, body: &str, button: Option<&str>, in_reply_to: Option<&str>| InboundMessage {
            provider_message_id: id.into(),
            from: "+573001234567".into(),
            to: "+15550783881".into(),
            body: body.into(),
            button: button.map(Into::into),
            in_reply_to: in_reply_to.map(Into::into),
        };
        assert_eq!(
            inbound,
            vec![
                message("wamid.T", "Ya pagué", None, None),
                message("wamid.B", "Pagar hoy", Some("PAY_TODAY"), Some("wamid.SENT")),
                message("wamid.I", "Prometo pagar", Some("promise"), Some("wamid.SENT2")),
                message("wamid.P", "", None, None),
            ]
        );
    }

    #[test]
    fn another_numbers_changes_and_other_fields_are_ignored() {
        let other = notification("999999999999999", json!({"statuses": [status("wamid.X", "sent")]}));
        assert_eq!(parse_signed(&other), Ok(vec![]));
        let template_review = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1}}]}]});
        assert_eq!(parse_signed(&template_review), Ok(vec![]));
    }

    #[test]
    fn forged_tampered_or_unsigned_requests_are_bad_signatures() {
        let body = notification(PHONE_NUMBER_ID, json!({"statuses": [status("wamid.A", "sent")]})).to_string();
        let forged = signed(body.as_bytes(), "not-the-secret");
        let result = parse(&config(), &WebhookRequest { url: URL, headers: &forged, body: body.as_bytes() });
        assert_eq!(result, Err(WebhookError::BadSignature));

        let good = signed(body.as_bytes(), "app-secret");
        let tampered = body.replace("\"sent\"", "\"read\"");
        let result = parse(&config(), &WebhookRequest { url: URL, headers: &good, body: tampered.as_bytes() });
        assert_eq!(result, Err(WebhookError::BadSignature));

        let result = parse(&config(), &WebhookRequest { url: URL, headers: &HeaderMap::new(), body: body.as_bytes() });
        assert_eq!(result, Err(WebhookError::BadSignature));
    }

    #[test]
    fn signed_but_not_a_whatsapp_notification_is_malformed() {
        for body in [&b"not json"[..], br#"{"object":"page","entry":[]}"#] {
            let headers = signed(body, "app-secret");
            let result = parse(&config(), &WebhookRequest { url: URL, headers: &headers, body });
            assert!(matches!(result, Err(WebhookError::Malformed(_))), "{result:?}");
        }
    }

    #[test]
    fn handshake_echoes_the_challenge_only_for_our_token() {
        let query = |mode: &str, token: &str| {
            vec![
                ("hub.mode".to_string(), mode.to_string()),
                ("hub.verify_token".to_string(), token.to_string()),
                ("hub.challenge".to_string(), "1158201444".to_string()),
            ]
        };
        assert_eq!(handshake(&config(), &query("subscribe", "verify-me")), Handshake::Accept("1158201444".into()));
        assert_eq!(handshake(&config(), &query("subscribe", "verify-you")), Handshake::Refuse);
        assert_eq!(handshake(&config(), &query("unsubscribe", "verify-me")), Handshake::Refuse);
        assert_eq!(handshake(&config(), &query("subscribe", "verify-me")[..2]), Handshake::Refuse);
        assert_eq!(handshake(&config(), &[]), Handshake::Refuse);
    }
}
