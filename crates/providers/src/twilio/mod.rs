//! Twilio Programmable Messaging, speaking Twilio's own wire format: form-encoded requests with HTTP basic auth to
//! the 2010-04-01 REST API, JSON answers, and webhooks signed with `X-Twilio-Signature`.

mod client;
mod config;
mod response;
pub mod signature;
mod webhook;
pub mod wire;

pub use client::{TwilioChannel, TwilioSms};
pub use config::{TwilioConfig, TwilioConfigError, DEFAULT_BASE_URL};

/// The REST API version every path and callback carries.
pub const API_VERSION: &str = "2010-04-01";
