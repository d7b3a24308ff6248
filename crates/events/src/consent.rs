//! Consent: a debtor opted out of a channel (a STOP/BAJA reply, an unsubscribe link or header). The policy engine
//! honours it from then on.

use chrono::{DateTime, Utc};
use recaudo_domain::DebtorId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Channel, Event};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConsentWithdrawn {
    pub consent_event_id: Uuid,
    pub debtor_id: DebtorId,
    pub channel: Channel,
    pub via: ConsentVia,
    /// The attempt the debtor answered, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<Uuid>,
    pub withdrawn_at: DateTime<Utc>,
}

/// How the debtor said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentVia {
    /// An opt-out keyword in a reply (STOP, BAJA, ALTO, CANCELAR, ...).
    Keyword,
    UnsubscribeLink,
    /// The one-click `List-Unsubscribe-Post` of RFC 8058.
    ListUnsubscribe,
    /// Recorded by a person on the debtor's behalf.
    Advisor,
}

impl Event for ConsentWithdrawn {
    const TYPE: &'static str = "recaudo.consent.withdrawn.v1";
    fn subject_suffix(&self) -> String {
        "consent.withdrawn".into()
    }
    fn entity(&self) -> String {
        self.debtor_id.to_string()
    }
}
