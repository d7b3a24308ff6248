//! The public event contracts of Recaudo: the CloudEvents envelope and every event payload.
//!
//! Each payload type names its CloudEvents `type` (versioned: a breaking change is a new `vN` type) and the
//! subject it is published on. The JSON Schemas in `proto-schemas/events/` are generated from these types;
//! `recaudo schemas write` regenerates them and a test fails when the checked-in copies differ.

mod case;
mod consent;
mod contact;
pub mod envelope;
mod import;
pub mod payment;
mod portfolio;
mod promise;
mod reply;
pub mod schema;
mod strategy;

pub use case::*;
pub use consent::*;
pub use contact::*;
pub use envelope::{Envelope, Event, RawEnvelope};
pub use import::*;
pub use payment::*;
pub use portfolio::*;
pub use promise::*;
pub use reply::*;
pub use strategy::*;

/// Delivery channels. The dispatcher runs one deployment per channel; subjects carry the channel as qualifier.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Whatsapp,
    Email,
    Voice,
    Letter,
    /// A task for the debtor's assigned advisor to phone them: reply-router puts it in the advisor's queue.
    Call,
}

impl Channel {
    pub const ALL: [Channel; 6] =
        [Channel::Sms, Channel::Whatsapp, Channel::Email, Channel::Voice, Channel::Letter, Channel::Call];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
            Channel::Voice => "voice",
            Channel::Letter => "letter",
            Channel::Call => "call",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown channel {s:?} (expected one of sms, whatsapp, email, voice, letter, call)"))
    }
}
