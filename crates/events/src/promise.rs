//! Promises to pay (DESIGN.md, "Cases, outcomes and promises"): portfolio owns them. A promise outcome becomes
//! `promise.made`; payments covering its amount by its date make it `promise.kept`; otherwise, after the grace days,
//! `promise.broken`.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_domain::{CreditId, DebtorId};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromiseMade {
    /// The id of the outcome that recorded it.
    pub promise_id: Uuid,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub due_on: NaiveDate,
    pub made_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromiseSettled {
    pub promise_id: Uuid,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: Decimal,
    /// Paid on the credit from the day the promise was made to its due date.
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub paid: Decimal,
    pub due_on: NaiveDate,
    pub settled_at: DateTime<Utc>,
}

/// Payments covered the promised amount by its date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromiseKept(pub PromiseSettled);

/// The due date and its grace days passed without the promised amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromiseBroken(pub PromiseSettled);

impl Event for PromiseMade {
    const TYPE: &'static str = "recaudo.promise.made.v1";
    fn subject_suffix(&self) -> String {
        "promise.made".into()
    }
    fn entity(&self) -> String {
        self.promise_id.to_string()
    }
}

impl Event for PromiseKept {
    const TYPE: &'static str = "recaudo.promise.kept.v1";
    fn subject_suffix(&self) -> String {
        "promise.kept".into()
    }
    fn entity(&self) -> String {
        self.0.promise_id.to_string()
    }
}

impl Event for PromiseBroken {
    const TYPE: &'static str = "recaudo.promise.broken.v1";
    fn subject_suffix(&self) -> String {
        "promise.broken".into()
    }
    fn entity(&self) -> String {
        self.0.promise_id.to_string()
    }
}
