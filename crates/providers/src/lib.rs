//! Outbound messaging providers, in the style of hyperswitch connectors: the rest of Recaudo talks to the
//! [`MessagingProvider`] trait (SMS, WhatsApp and email alike), and each provider module translates to and from
//! that provider's own wire format, with its wire types beside it.
//!
//! Nothing in this crate logs phone numbers, email addresses or message bodies: they are personal data and stay in
//! the payloads.

pub mod meta;
pub mod sendgrid;
pub mod smtp;
mod status;
mod transport;
pub mod twilio;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;

pub use status::Normalized;

/// What a message says, in the form its channel and provider need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An SMS, or a free-form WhatsApp text (only inside the 24-hour customer-service window).
    Text {
        body: String,
    },
    /// A WhatsApp template approved by Meta: the only business-initiated message outside the window.
    WhatsappTemplate(WhatsappTemplate),
    /// A WhatsApp message with reply buttons, only inside the window.
    WhatsappButtons {
        body: String,
        buttons: Vec<ReplyButton>,
    },
    Email(EmailContent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappTemplate {
    /// The template's name as approved by Meta (lowercase letters, digits and underscores).
    pub name: String,
    /// Its language code as approved (`es_CO`, `es_MX`, `en_US`, ...).
    pub language: String,
    /// Values of `{{1}}`, `{{2}}`, ... of the body, in order.
    pub body_params: Vec<String>,
    /// Payloads of the template's quick-reply buttons, in order; each comes back on the tap's webhook.
    pub quick_reply_payloads: Vec<String>,
    /// The provider's own id of the template where it has one (Twilio's Content SID, `HX...`).
    pub content_sid: Option<String>,
    /// The text as the debtor reads it, for the attempt's record.
    pub rendered: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyButton {
    /// Comes back in the tap's webhook.
    pub id: String,
    /// What the button says (Meta allows 20 characters).
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `List-Unsubscribe` target: an https URL that also takes the one-click POST of RFC 8058.
    pub unsubscribe_url: Option<String>,
}

impl Content {
    /// The text of the message as the debtor reads it.
    pub fn readable(&self) -> &str {
        match self {
            Content::Text { body } | Content::WhatsappButtons { body, .. } => body,
            Content::WhatsappTemplate(t) => &t.rendered,
            Content::Email(e) => &e.text,
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Recipient: E.164 for SMS and WhatsApp, an address for email.
    pub to: String,
    pub content: Content,
    /// Where the provider should post delivery-status callbacks, for providers that take one per message.
    pub status_callback: Option<String>,
    /// Our attempt id: the provider's idempotency key where it has one, and echoed back on its webhooks where
    /// the provider allows (Meta's `biz_opaque_callback_data`, SendGrid's `custom_args`), so that a status can be
    /// matched to an attempt whose send was cut off before the provider's answer reached us.
    pub idempotency_key: String,
}

/// The provider accepted the message; `status` is the provider's own word for where it stands (e.g. "queued").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReceipt {
    pub provider_message_id: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered and refused the message: permanent, do not retry. `code` is the provider's error code,
    /// e.g. "21211", or Meta's "131047" for a message outside the customer-service window.
    // The message is left out of Display on purpose: providers quote the phone number in it, and errors get logged.
    #[error("provider rejected the message (code {})", code.as_deref().unwrap_or("none"))]
    Rejected { code: Option<String>, message: String },
    /// Nothing was sent, for certain (a refused connection, a 429, a 5xx the provider documents as not having
    /// sent): the request may be tried again later. `retry_after` is the provider's `Retry-After`, if it gave one.
    #[error("provider did not take the request: {reason}")]
    NotSent { reason: String, retry_after: Option<std::time::Duration> },
    /// A timeout after the request left, or an answer we cannot read: whether the message went out is unknown. It
    /// is never resent blindly; the attempt is reconciled from the provider's own record.
    #[error("provider outcome unknown: {0}")]
    Unavailable(String),
}

/// A delivery-status report, in the provider's vocabulary and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub provider_message_id: String,
    /// The provider's own word (`delivered`, `bounce`, `dropped`, ...).
    pub status: String,
    pub normalized: Normalized,
    pub error_code: Option<String>,
    /// Our attempt id as the provider echoed it back, where it does.
    pub attempt_ref: Option<String>,
    /// When the provider took the message, by its own record (Twilio's `date_created`), where the report says.
    pub taken_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A message a debtor sent us, or a button they tapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub provider_message_id: String,
    /// The debtor's address: E.164 (without `whatsapp:`) or an email address.
    pub from: String,
    pub to: String,
    pub body: String,
    /// The payload of a tapped button, when the message is a tap.
    pub button: Option<String>,
    /// The provider message this one answers, where the provider says (WhatsApp's `context.id`).
    pub in_reply_to: Option<String>,
}

/// What a webhook request carried: a provider may batch several of each in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookItem {
    Status(StatusUpdate),
    Inbound(InboundMessage),
    /// The provider reports that the recipient opted out (SendGrid's `unsubscribe` and `spamreport` events).
    OptOut(ProviderOptOut),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOptOut {
    /// The recipient's address.
    pub address: String,
    pub provider_message_id: Option<String>,
    pub attempt_ref: Option<String>,
    /// The provider's word for it (`unsubscribe`, `spamreport`, ...).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Forged, tampered with, signed for another URL, or not signed at all: never act on it.
    #[error("webhook signature is missing or does not match the request")]
    BadSignature,
    /// Correctly signed, but not a request we can use (a field missing, or meant for another account).
    #[error("malformed webhook: {0}")]
    Malformed(String),
}

/// A webhook request as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The full public URL the provider called (scheme, host, path and query). Behind a proxy this is the URL the
    /// provider saw, not the one the server sees, because providers sign what they called.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
}

/// Which of a provider's webhooks a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    Status,
    Inbound,
    /// One endpoint for both (Meta's).
    Combined,
}

/// A webhook route a provider needs, relative to the public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRoute {
    pub path: String,
    pub kind: WebhookKind,
}

/// A subscription handshake (Meta's `GET ...?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// Answer 200 with this body.
    Accept(String),
    /// Wrong token or mode: 403.
    Refuse,
}

/// What a search of the provider's records for a cut-off send found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Found(StatusUpdate),
    /// The provider took no message to the recipient in the window at all, every page read. Proof that it never
    /// took ours once the search starts after the request could no longer arrive
    /// ([`MessagingProvider::in_flight_for`]).
    Absent,
    /// The provider keeps no record we can search (Meta, SendGrid, an SMTP relay): finding nothing proves nothing.
    Unsearchable,
    /// Messages to the recipient were taken in the window, none with our text: the provider may have changed it
    /// (a content template filled from its own copy, link shortening, an added opt-out line), so nothing is proven.
    Unclear,
}

pub trait MessagingProvider: Send + Sync {
    /// A stable short name for logs, metrics and the attempt's record, e.g. "twilio", "meta", "sendgrid".
    fn name(&self) -> &'static str;

    /// Where an accepted message stands: `queued` for providers that report later; `sent` for SMTP, whose relay
    /// taking the message is all it ever says.
    fn accepted_status(&self) -> status::Normalized {
        status::Normalized::Queued
    }

    /// Calls the provider once. Never retries on its own: whether a retry is safe is in the error's variant.
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>>;

    /// The provider's own record of a message, to reconcile an attempt whose callbacks were lost. `Ok(None)` when
    /// the provider has no such lookup (Meta, SendGrid: they retry their webhooks instead).
    fn fetch_status<'a>(
        &'a self,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StatusUpdate>, ProviderError>> {
        let _ = provider_message_id;
        Box::pin(async { Ok(None) })
    }

    /// The message a send cut off before its answer created, found by our attempt's details (recipient, text,
    /// time), for providers whose records can be searched.
    fn find_message<'a>(
        &'a self,
        msg: &'a OutboundMessage,
        created_after: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<Search, ProviderError>> {
        let _ = (msg, created_after);
        Box::pin(async { Ok(Search::Unsearchable) })
    }

    /// How long after a send starts its request can still reach the provider (the client's connect and request
    /// timeouts): a search that finds nothing proves the provider never took the message only once this has passed.
    fn in_flight_for(&self) -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }

    /// The webhook routes this provider calls, for the dispatcher to serve.
    fn webhook_routes(&self) -> Vec<WebhookRoute>;

    /// Answers a subscription handshake (a `GET` on a webhook route); `None` for providers without one.
    fn handshake(&self, query: &[(String, String)]) -> Option<Handshake> {
        let _ = query;
        None
    }

    /// Verifies the provider's signature before reading anything, then parses the request.
    fn parse_webhook(&self, kind: WebhookKind, req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError>;
}

/// Compares two byte strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `Retry-After` given in seconds (the form Twilio, Meta and SendGrid use).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    let seconds: u64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(std::time::Duration::from_secs(seconds.min(3600)))
}

/// Providers send error codes as JSON numbers (Twilio's 30008, Meta's 131047); accept strings too, and keep them as
/// text since they are identifiers.
pub(crate) fn optional_code<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<Code>::deserialize(deserializer)? {
        Some(Code::Number(n)) => Some(n.to_string()),
        Some(Code::Text(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}
