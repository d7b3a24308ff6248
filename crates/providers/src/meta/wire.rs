//! The WhatsApp Cloud API's wire format, as Meta documents it for `POST /{version}/{phone-number-id}/messages`, its
//! answers, Graph API errors, and the `whatsapp_business_account` webhook. Deserialised types take only what we
//! use, with defaults, because Meta adds fields over time.

use serde::{Deserialize, Serialize};

/// The body of a send. `to` is the recipient's number as digits, without `+`.
#[derive(Debug, Serialize)]
pub struct SendMessage<'a> {
    pub messaging_product: &'static str,
    pub recipient_type: &'static str,
    pub to: &'a str,
    /// Up to 512 characters Meta keeps with the message and echoes on its status webhooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<&'a str>,
    #[serde(flatten)]
    pub payload: Payload<'a>,
}

/// The message itself, tagged by `type` with an object of the same name beside it.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Payload<'a> {
    Text { text: TextObject<'a> },
    Template { template: TemplateObject<'a> },
    Interactive { interactive: InteractiveObject<'a> },
}

#[derive(Debug, Serialize)]
pub struct TextObject<'a> {
    pub body: &'a str,
    /// Lets WhatsApp render the payment link we send as a preview.
    pub preview_url: bool,
}

#[derive(Debug, Serialize)]
pub struct TemplateObject<'a> {
    pub name: &'a str,
    pub language: Language<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Language<'a> {
    pub code: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Component<'a> {
    Body {
        parameters: Vec<Parameter<'a>>,
    },
    Button {
        sub_type: &'static str,
        /// The button's position in the template, as a string ("0", "1", ...).
        index: String,
        parameters: Vec<Parameter<'a>>,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Parameter<'a> {
    Text { text: &'a str },
    Payload { payload: &'a str },
}

#[derive(Debug, Serialize)]
pub struct InteractiveObject<'a> {
    /// Always "button" here: reply buttons.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub body: InteractiveBody<'a>,
    pub action: Action<'a>,
}

#[derive(Debug, Serialize)]
pub struct InteractiveBody<'a> {
    pub text: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Action<'a> {
    pub buttons: Vec<Button<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Button<'a> {
    /// Always "reply".
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reply: Reply<'a>,
}

#[derive(Debug, Serialize)]
pub struct Reply<'a> {
    pub id: &'a str,
    pub title: &'a str,
}

/// Meta's answer to a send:
/// `{"messaging_product":"whatsapp","contacts":[{"input":"+57...","wa_id":"57..."}],"messages":[{"id":"wamid...","message_status":"accepted"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessagesResponse {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub contacts: Vec<ResponseContact>,
    pub messages: Vec<ResponseMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResponseContact {
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub wa_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResponseMessage {
    pub id: String,
    /// "accepted", or "held_for_quality_assessment" for some marketing templates; absent in older versions.
    #[serde(default)]
    pub message_status: Option<String>,
}

/// A Graph API error: `{"error":{"message":..,"type":..,"code":..,"error_subcode":..,"error_data":{..},"fbtrace_id":..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorEnvelope {
    pub error: GraphError,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::optional_code")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "crate::optional_code")]
    pub error_subcode: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
}

/// A webhook notification. `value` is kept raw because its shape depends on `field`; only `messages` is read.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// The WhatsApp Business Account id.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    pub field: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// The `value` of a `messages` change.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessagesValue {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<WebhookContact>,
    #[serde(default)]
    pub messages: Vec<WebhookMessage>,
    #[serde(default)]
    pub statuses: Vec<WebhookStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: String,
    pub phone_number_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookContact {
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookStatus {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub recipient_id: Option<String>,
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pub errors: Vec<StatusError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatusError {
    #[serde(default, deserialize_with = "crate::optional_code")]
    pub code: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookMessage {
    pub from: String,
    pub id: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: Option<InboundText>,
    #[serde(default)]
    pub button: Option<InboundButton>,
    #[serde(default)]
    pub interactive: Option<InboundInteractive>,
    #[serde(default)]
    pub context: Option<MessageContext>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InboundText {
    #[serde(default)]
    pub body: String,
}

/// A tap on a template's quick-reply button.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundButton {
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// A tap on an interactive message's reply button (or a list row).
#[derive(Debug, Clone, Deserialize)]
pub struct InboundInteractive {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub button_reply: Option<ReplyTap>,
    #[serde(default)]
    pub list_reply: Option<ReplyTap>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReplyTap {
    pub id: String,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageContext {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metas_error_envelope() {
        let json = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
            "error_subcode":2494010,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
            "fbtrace_id":"AbCdEf"}}"#;
        let envelope: ErrorEnvelope = serde_json::from_slice(json).expect("valid error");
        assert_eq!(envelope.error.code.as_deref(), Some("131047"));
        assert_eq!(envelope.error.error_subcode.as_deref(), Some("2494010"));
        assert_eq!(envelope.error.kind.as_deref(), Some("OAuthException"));
        assert!(envelope.error.error_data.and_then(|d| d.details).is_some_and(|d| d.contains("24 hours")));
    }

    #[test]
    fn parses_a_send_answer() {
        let json = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+573001234567","wa_id":"573001234567"}],
            "messages":[{"id":"wamid.HBgMNTczMDAxMjM0NTY3FQIAERgSMA==","message_status":"accepted"}]}"#;
        let answer: MessagesResponse = serde_json::from_slice(json).expect("valid answer");
        assert_eq!(answer.messages[0].id, "wamid.HBgMNTczMDAxMjM0NTY3FQIAERgSMA==");
        assert_eq!(answer.contacts[0].wa_id.as_deref(), Some("573001234567"));
    }
}
