//! Outbound channel providers, in the style of hyperswitch connectors: the rest of Recaudo talks to the
//! [`SmsProvider`] trait, and each provider module translates to and from that provider's own wire format.
//!
//! Nothing in this crate logs phone numbers or message bodies: they are personal data and stay in the payloads.

pub mod twilio;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Recipient in E.164.
    pub to: String,
    pub body: String,
    /// Where the provider should post delivery-status callbacks, if anywhere.
    pub status_callback: Option<String>,
    /// Our attempt id, used as idempotency key where a provider supports one.
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
    /// e.g. "21211".
    // The message is left out of Display on purpose: providers quote the phone number in it, and errors get logged.
    #[error("provider rejected the message (code {})", code.as_deref().unwrap_or("none"))]
    Rejected { code: Option<String>, message: String },
    /// Network error, timeout or 5xx: unknown whether the message went out.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

/// A delivery-status callback, in the provider's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub provider_message_id: String,
    pub status: String,
    pub error_code: Option<String>,
}

/// A message a debtor sent to one of our numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub provider_message_id: String,
    pub from: String,
    pub to: String,
    pub body: String,
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

pub trait SmsProvider: Send + Sync {
    /// A stable short name for logs and metrics, e.g. "twilio".
    fn name(&self) -> &'static str;

    fn send<'a>(&'a self, msg: &'a OutboundSms) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>>;

    /// Verifies the provider signature, then parses a delivery-status callback.
    fn parse_status_webhook(&self, req: &WebhookRequest<'_>) -> Result<StatusUpdate, WebhookError>;

    /// Verifies the provider signature, then parses an inbound message webhook.
    fn parse_inbound_webhook(&self, req: &WebhookRequest<'_>) -> Result<InboundMessage, WebhookError>;
}
