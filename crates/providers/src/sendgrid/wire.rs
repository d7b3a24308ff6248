//! SendGrid's wire format: the v3 Mail Send request, its error body, and the events of the Event Webhook, as
//! SendGrid documents them. Field names are SendGrid's.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Body of `POST /v3/mail/send`.
#[derive(Debug, Serialize)]
pub struct MailSend<'a> {
    pub personalizations: Vec<Personalization<'a>>,
    pub from: Address<'a>,
    pub subject: &'a str,
    /// `text/plain` first: SendGrid refuses other orders.
    pub content: Vec<ContentPart<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<&'static str, String>,
    /// Echoed as top-level fields of every event about the message. Values must be strings.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_args: BTreeMap<&'static str, &'a str>,
}

#[derive(Debug, Serialize)]
pub struct Personalization<'a> {
    pub to: Vec<Address<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_args: BTreeMap<&'static str, &'a str>,
}

#[derive(Debug, Serialize)]
pub struct Address<'a> {
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ContentPart<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: &'a str,
}

/// SendGrid's error body: `{"errors":[{"message":"…","field":"personalizations.0.to","help":"http://…"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorItem {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
}

/// One event of an Event Webhook post (a JSON array of these). SendGrid adds fields over time and per event type;
/// only what we use is read, and every field but `event` may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Event {
    pub event: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// `{X-Message-Id}.{SendGrid's own suffix}`, e.g. `W86EgYT6SQKk0lRflfLRsA.filterdrecv-5645d9c87f-abcde-1-5E9…-2.0`.
    #[serde(default)]
    pub sg_message_id: Option<String>,
    #[serde(default)]
    pub sg_event_id: Option<String>,
    /// Our custom argument, echoed back.
    #[serde(default, deserialize_with = "text")]
    pub attempt_id: Option<String>,
    /// Free text from the receiving server on a bounce (may quote the address); a category on a drop
    /// ("Bounced Address", "Invalid", ...).
    #[serde(default, deserialize_with = "text")]
    pub reason: Option<String>,
    /// The SMTP enhanced status code of a bounce or drop, e.g. "5.1.1".
    #[serde(default, deserialize_with = "text")]
    pub status: Option<String>,
    /// On a bounce: "bounce" or "blocked".
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub bounce_classification: Option<String>,
}

/// A custom arg or status written as a number by whoever set it is still text to us.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Number(serde_json::Number),
        Text(String),
    }
    Ok(match Option::<Text>::deserialize(deserializer)? {
        Some(Text::Number(n)) => Some(n.to_string()),
        Some(Text::Text(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sendgrids_documented_bounce_event() {
        let json = br#"{"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event":"bounce","category":"cat facts","sg_event_id":"6g4ZI7SA-xmRDv57GoPIPw==",
            "sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "reason":"500 unknown recipient","status":"5.0.0","type":"bounce","bounce_classification":"Invalid Address"}"#;
        let event: Event = serde_json::from_slice(json).expect("valid event");
        assert_eq!(event.event, "bounce");
        assert_eq!(event.status.as_deref(), Some("5.0.0"));
        assert_eq!(event.kind.as_deref(), Some("bounce"));
        assert_eq!(event.attempt_id, None);
    }

    #[test]
    fn parses_sendgrids_error_body_with_null_fields() {
        let json = br#"{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}"#;
        let body: ErrorBody = serde_json::from_slice(json).expect("valid error body");
        assert_eq!(body.errors.len(), 1);
        assert_eq!(body.errors[0].field, None);
    }
}
