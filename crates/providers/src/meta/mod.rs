//! Meta's WhatsApp Cloud API, speaking Meta's own wire format: JSON posted to the Graph API's
//! `/{version}/{phone-number-id}/messages` with a bearer token, Graph API error JSON, one webhook endpoint for
//! statuses and inbound messages signed with `X-Hub-Signature-256`, and the `hub.challenge` subscription handshake.

mod client;
mod config;
mod response;
pub mod signature;
mod webhook;
pub mod wire;

pub use client::MetaWhatsapp;
pub use config::{MetaConfig, MetaConfigError, DEFAULT_API_VERSION, DEFAULT_BASE_URL};

/// The one webhook route Meta calls, for statuses and inbound messages alike.
pub const WEBHOOK_PATH: &str = "/webhooks/meta/whatsapp";
