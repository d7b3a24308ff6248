//! The contact policy engine (DESIGN.md, "Contact policy"): whether a contact may be made, on which channel and
//! when, within the law of the debtor's country, in the debtor's local time (DST-correct, via the IANA time-zone
//! database). Pure: no I/O, no clock; callers pass the instant, the debtor's state and what was sent before.
//!
//! - [`preset`]: the law of each jurisdiction as data, every rule with its legal source.
//! - [`holidays`]: public holidays 2025–2060, generated from the `holidays` package.
//! - [`engine`]: "may I contact now?" and "when next?", with the rule and a reason for every no.
//! - [`tighten`]: a lender's settings, which may only make a preset stricter.
//! - [`settings`]: the lender's settings file, read by every process that asks the engine.
//! - [`zone`]: the debtor's time zone from the country and, where it has several, the city.

pub mod engine;
pub mod holidays;
pub mod preset;
pub mod settings;
pub mod tighten;
pub mod zone;

pub use engine::{Channel, Debtor, Hold, HoldKind, Past, Policy, Suppression};
pub use preset::{Medium, Preset};
pub use settings::{Policies, SettingsError};
