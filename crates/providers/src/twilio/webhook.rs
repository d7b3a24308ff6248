//! Twilio's webhooks: status callbacks and inbound messages. Both arrive as signed form posts; the signature is
//! checked before any field is read, and a request for another account is refused even when correctly signed.

use crate::twilio::signature::{self, SIGNATURE_HEADER};
use crate::twilio::TwilioConfig;
use crate::{InboundMessage, Normalized, StatusUpdate, WebhookError, WebhookRequest};

/// Parameters of a status callback, e.g. `MessageSid`, `MessageStatus`, `ErrorCode` (only on failure).
/// `None` for a status that says nothing of delivery (`receiving`, `received` on an inbound message).
pub(crate) fn parse_status(
    config: &TwilioConfig,
    req: &WebhookRequest<'_>,
) -> Result<Option<StatusUpdate>, WebhookError> {
    let params = VerifiedParams::from_request(config, req)?;
    let provider_message_id = params.required("MessageSid")?.to_string();
    let status = params.required("MessageStatus")?.to_string();
    Ok(normalize(&status).map(|normalized| StatusUpdate {
        provider_message_id,
        status,
        normalized,
        error_code: params.get("ErrorCode").filter(|code| !code.is_empty()).map(str::to_string),
        attempt_ref: None,
        taken_at: None,
    }))
}

/// Twilio's message statuses, normalised.
pub(crate) fn normalize(status: &str) -> Option<Normalized> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => Normalized::Queued,
        "sending" | "sent" => Normalized::Sent,
        "delivered" => Normalized::Delivered,
        "read" => Normalized::Read,
        "failed" | "canceled" => Normalized::Failed,
        "undelivered" => Normalized::Undelivered,
        _ => return None,
    })
}

/// Parameters of an inbound message, e.g. `MessageSid`, `From`, `To`, `Body`, `NumMedia`.
pub(crate) fn parse_inbound(config: &TwilioConfig, req: &WebhookRequest<'_>) -> Result<InboundMessage, WebhookError> {
    let params = VerifiedParams::from_request(config, req)?;
    Ok(InboundMessage {
        provider_message_id: params.required("MessageSid")?.to_string(),
        from: without_channel(params.required("From")?),
        to: without_channel(params.required("To")?),
        // A picture with no caption arrives with an empty Body, which is still a message.
        body: params.get("Body").unwrap_or_default().to_string(),
        // A WhatsApp quick-reply tap carries the button's payload.
        button: params.get("ButtonPayload").filter(|p| !p.is_empty()).map(str::to_string),
        in_reply_to: params.get("OriginalRepliedMessageSid").filter(|p| !p.is_empty()).map(str::to_string),
    })
}

/// `whatsapp:+57...` is `+57...` on the WhatsApp channel.
fn without_channel(address: &str) -> String {
    address.strip_prefix("whatsapp:").unwrap_or(address).to_string()
}

/// Form parameters whose signature has been checked and whose AccountSid is ours.
struct VerifiedParams(Vec<(String, String)>);

impl VerifiedParams {
    fn from_request(config: &TwilioConfig, req: &WebhookRequest<'_>) -> Result<Self, WebhookError> {
        let claimed = req
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or(WebhookError::BadSignature)?;
        // A JSON body is signed another way (the URL carries its hash); its signature is checked as Twilio's
        // libraries check it, but these routes take Twilio's form-encoded callbacks only.
        if signature::body_sha256(req.url).is_some() {
            if !signature::verify_body(&config.auth_token, req.url, req.body, claimed) {
                return Err(WebhookError::BadSignature);
            }
            return Err(WebhookError::Malformed("a JSON callback; this route takes form-encoded callbacks".into()));
        }
        // A body that does not decode cannot have been signed by Twilio, so it is reported as such.
        let params: Vec<(String, String)> =
            serde_urlencoded::from_bytes(req.body).map_err(|_| WebhookError::BadSignature)?;
        if !signature::verify_any_port_form(&config.auth_token, req.url, &params, claimed) {
            return Err(WebhookError::BadSignature);
        }
        let params = Self(params);
        if params.required("AccountSid")? != config.account_sid {
            return Err(WebhookError::Malformed("AccountSid is not this client's account".into()));
        }
        Ok(params)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, WebhookError> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| WebhookError::Malformed(format!("{name} is missing")))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    const URL: &str = "https://recaudo.example/webhooks/twilio/status?attempt=42";

    fn config() -> TwilioConfig {
        TwilioConfig {
            account_sid: "AC11111111111111111111111111111111".into(),
            auth_token: "22222222222222222222222222222222".into(),
            from: Some("+15005550006".into()),
            ..TwilioConfig::default()
        }
    }

    fn signed(params: &[(&str, &str)], token: &str, url: &str) -> (HeaderMap, Vec<u8>) {
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut headers = HeaderMap::new();
        let signature = signature::sign(token, url, &params);
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).expect("base64 is a valid header"));
        let body = serde_urlencoded::to_string(&params).expect("form encodes").into_bytes();
        (headers, body)
    }

    fn status_params<'a>(account: &'a str, status: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
            ("AccountSid", account),
            ("From", "+15005550006"),
            ("To", "+573001234567"),
            ("MessageStatus", status),
            ("SmsStatus", status),
            ("ApiVersion", "2010-04-01"),
        ]
    }

    #[test]
    fn accepts_a_signed_status_callback() {
        let config = config();
        let (headers, body) = signed(&status_params(&config.account_sid, "delivered"), &config.auth_token, URL);
        let update = parse_status(&config, &WebhookRequest { url: URL, headers: &headers, body: &body });
        assert_eq!(
            update,
            Ok(Some(StatusUpdate {
                provider_message_id: "SM0123456789abcdef0123456789abcdef".into(),
                status: "delivered".into(),
                normalized: Normalized::Delivered,
                error_code: None,
                attempt_ref: None,
                taken_at: None,
            }))
        );
    }

    #[test]
    fn carries_the_error_code_of_a_failed_message() {
        let config = config();
        let mut params = status_params(&config.account_sid, "undelivered");
        params.push(("ErrorCode", "30003"));
        let (headers, body) = signed(&params, &config.auth_token, URL);
        let update = parse_status(&config, &WebhookRequest { url: URL, headers: &headers, body: &body });
        let update = update.expect("signed").expect("a delivery status");
        assert_eq!((update.normalized, update.error_code), (Normalized::Undelivered, Some("30003".into())));
    }

    #[test]
    fn refuses_unsigned_wrongly_signed_or_redirected_requests() {
        let config = config();
        let params = status_params(&config.account_sid, "sent");
        let (headers, body) = signed(&params, &config.auth_token, URL);

        let other_url = "https://recaudo.example/webhooks/twilio/status?attempt=43";
        let moved = parse_status(&config, &WebhookRequest { url: other_url, headers: &headers, body: &body });
        assert_eq!(moved, Err(WebhookError::BadSignature));

        let unsigned = parse_status(&config, &WebhookRequest { url: URL, headers: &HeaderMap::new(), body: &body });
        assert_eq!(unsigned, Err(WebhookError::BadSignature));

        let (forged_headers, _) = signed(&params, "not-the-token", URL);
        let forged = parse_status(&config, &WebhookRequest { url: URL, headers: &forged_headers, body: &body });
        assert_eq!(forged, Err(WebhookError::BadSignature));
    }

    #[test]
    fn refuses_another_accounts_callback_even_when_signed() {
        let config = config();
        let params = status_params("AC99999999999999999999999999999999", "sent");
        let (headers, body) = signed(&params, &config.auth_token, URL);
        let result = parse_status(&config, &WebhookRequest { url: URL, headers: &headers, body: &body });
        assert!(matches!(result, Err(WebhookError::Malformed(_))));
    }

    #[test]
    fn parses_an_inbound_message_and_reports_missing_fields() {
        let config = config();
        let params = [
            ("MessageSid", "SMfedcba9876543210fedcba9876543210"),
            ("AccountSid", config.account_sid.as_str()),
            ("From", "+573001234567"),
            ("To", "+15005550006"),
            ("Body", "Ya pagué, gracias"),
            ("NumMedia", "0"),
        ];
        let (headers, body) = signed(&params, &config.auth_token, URL);
        let inbound = parse_inbound(&config, &WebhookRequest { url: URL, headers: &headers, body: &body });
        assert_eq!(inbound.map(|m| m.body), Ok("Ya pagué, gracias".to_string()));

        let (headers, body) = signed(&params[1..], &config.auth_token, URL);
        let missing = parse_inbound(&config, &WebhookRequest { url: URL, headers: &headers, body: &body });
        assert_eq!(missing, Err(WebhookError::Malformed("MessageSid is missing".into())));
    }
}
