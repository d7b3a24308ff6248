//! SendGrid (Twilio SendGrid) email, speaking SendGrid's own wire format: the v3 Mail Send API (JSON with a bearer
//! API key), the signed Event Webhook (ECDSA P-256 over the timestamp and the raw body), and Inbound Parse
//! (multipart form posts, which SendGrid does not sign, so we put HTTP Basic credentials in its URL).

mod client;
mod config;
mod events;
mod inbound;
mod response;
pub mod signature;
pub mod wire;

pub use client::SendGrid;
pub use config::{SendGridConfig, SendGridConfigError, DEFAULT_BASE_URL};

/// The custom argument that carries our attempt id: SendGrid echoes custom args as top-level fields of every event.
pub const ATTEMPT_ARG: &str = "attempt_id";

/// Path of the Mail Send endpoint, relative to the base URL.
pub const MAIL_SEND_PATH: &str = "/v3/mail/send";

/// The id SendGrid gives an accepted request: its `sg_message_id` on events starts with it, followed by a ".".
pub const MESSAGE_ID_HEADER: &str = "X-Message-Id";
