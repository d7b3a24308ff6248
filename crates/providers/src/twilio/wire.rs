//! Twilio's REST wire format for Programmable Messaging (API version 2010-04-01), as documented for the Message
//! resource and for Twilio's error responses. Field names are Twilio's, hence the renames.

use serde::{Deserialize, Serialize};

/// Form body of `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (sent as application/x-www-form-urlencoded).
#[derive(Debug, Serialize)]
pub struct CreateMessageForm<'a> {
    #[serde(rename = "To")]
    pub to: &'a str,
    #[serde(rename = "From", skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(rename = "MessagingServiceSid", skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<&'a str>,
    #[serde(rename = "Body", skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
    /// A Content API template (`HX...`): how Twilio sends an approved WhatsApp template.
    #[serde(rename = "ContentSid", skip_serializing_if = "Option::is_none")]
    pub content_sid: Option<&'a str>,
    /// The template's variables as a JSON object, `{"1": "Ana", "2": "$ 250.000"}`.
    #[serde(rename = "ContentVariables", skip_serializing_if = "Option::is_none")]
    pub content_variables: Option<&'a str>,
    #[serde(rename = "StatusCallback", skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<&'a str>,
}

/// The Message resource Twilio answers with (201 on create, 200 on fetch). Only `sid`, `account_sid` and `status`
/// are required here: Twilio adds fields over time and a receipt needs no more.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageResource {
    pub sid: String,
    pub account_sid: String,
    pub status: String,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    /// A string of digits in Twilio's JSON, e.g. "1".
    #[serde(default)]
    pub num_segments: Option<String>,
    /// An integer in Twilio's JSON (e.g. 30008), null while there is no error.
    #[serde(default, deserialize_with = "crate::optional_code")]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// RFC 2822, e.g. "Thu, 30 Jul 2015 20:12:31 +0000".
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
}

/// A page of `GET .../Messages.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageList {
    pub messages: Vec<MessageResource>,
    /// The next page's path and query, relative to the API's host; null on the last page.
    #[serde(default)]
    pub next_page_uri: Option<String>,
}

/// Twilio's error body, e.g.
/// `{"code":21211,"message":"Invalid 'To' Phone Number: ...","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    #[serde(default, deserialize_with = "crate::optional_code")]
    pub code: Option<String>,
    pub message: String,
    #[serde(default)]
    pub more_info: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twilios_error_body_with_a_numeric_code() {
        let json = br#"{"code": 21211, "message": "Invalid 'To' Phone Number: +1500555000X", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
        let error: ErrorBody = serde_json::from_slice(json).expect("valid error body");
        assert_eq!(error.code.as_deref(), Some("21211"));
        assert_eq!(error.status, Some(400));
        assert_eq!(error.more_info.as_deref(), Some("https://www.twilio.com/docs/errors/21211"));
    }

    #[test]
    fn parses_a_message_resource_and_its_null_error_code() {
        let json = br#"{
            "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "api_version": "2010-04-01", "body": "Hello",
            "date_created": "Thu, 30 Jul 2015 20:12:31 +0000", "date_sent": null,
            "date_updated": "Thu, 30 Jul 2015 20:12:31 +0000", "direction": "outbound-api", "error_code": null,
            "error_message": null, "from": "+15005550006", "messaging_service_sid": null, "num_media": "0",
            "num_segments": "1", "price": null, "price_unit": "USD", "sid": "SM0123456789abcdef0123456789abcdef",
            "status": "queued", "subresource_uris": {"media": "/2010-04-01/Accounts/AC/Messages/SM/Media.json"},
            "to": "+573001234567", "uri": "/2010-04-01/Accounts/AC/Messages/SM.json"
        }"#;
        let message: MessageResource = serde_json::from_slice(json).expect("valid message resource");
        assert_eq!(message.sid, "SM0123456789abcdef0123456789abcdef");
        assert_eq!(message.status, "queued");
        assert_eq!(message.error_code, None);
        assert_eq!(message.num_segments.as_deref(), Some("1"));
    }

    #[test]
    fn create_form_leaves_out_what_is_not_set() {
        let form = CreateMessageForm {
            to: "+573001234567",
            from: None,
            messaging_service_sid: Some("MG0123"),
            body: Some("Pago & saldo"),
            content_sid: None,
            content_variables: None,
            status_callback: None,
        };
        let encoded = serde_urlencoded::to_string(&form).expect("form encodes");
        assert_eq!(encoded, "To=%2B573001234567&MessagingServiceSid=MG0123&Body=Pago+%26+saldo");
    }
}
