//! Payment events: ingestion receives payments (file or signed API call), portfolio applies them to credits.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_domain::{CreditId, Currency, DebtorId};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentSource {
    File,
    Api,
}

/// A payment reported by the lender, not yet applied. The amount is in the credit's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentReceived {
    pub payment_id: Uuid,
    pub credit_id: CreditId,
    pub paid_on: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub method: String,
    /// The lender's payment reference; a payment whose reference was already applied changes nothing.
    pub reference: String,
    pub source: PaymentSource,
    pub received_at: DateTime<Utc>,
}

impl Event for PaymentReceived {
    const TYPE: &'static str = "recaudo.payment.received.v1";
    fn subject_suffix(&self) -> String {
        "payment.received".into()
    }
    fn entity(&self) -> String {
        self.payment_id.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentOutcome {
    /// Part of the balance remains.
    Partial,
    /// The balance is paid exactly.
    Full,
    /// More than the balance was paid; `excess` says how much.
    Excess,
}

/// A payment was applied to its credit; the credit's new balances follow (and its new state is published as an
/// account snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentApplied {
    pub payment_id: Uuid,
    pub reference: String,
    pub credit_id: CreditId,
    pub debtor_id: DebtorId,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub outcome: PaymentOutcome,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub applied_to_overdue: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub excess: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_total_after: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_overdue_after: Decimal,
    pub paid_on: NaiveDate,
}

impl Event for PaymentApplied {
    const TYPE: &'static str = "recaudo.payment.applied.v1";
    fn subject_suffix(&self) -> String {
        "payment.applied".into()
    }
    fn entity(&self) -> String {
        self.payment_id.to_string()
    }
}

/// A payment that cannot be applied (its credit is unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRejected {
    pub payment_id: Uuid,
    pub reference: String,
    pub credit_id: CreditId,
    pub reason: String,
}

impl Event for PaymentRejected {
    const TYPE: &'static str = "recaudo.payment.rejected.v1";
    fn subject_suffix(&self) -> String {
        "payment.rejected".into()
    }
    fn entity(&self) -> String {
        self.payment_id.to_string()
    }
}

/// The longest payment reference and method accepted. Longer ones, or ones with control characters, are refused
/// where they enter (file or API), so that what is accepted can always be applied or rejected with a reason.
pub const REFERENCE_MAX_CHARS: usize = 128;
pub const METHOD_MAX_CHARS: usize = 64;

/// What is wrong with a payment's method and reference, by field.
pub fn text_problems(method: &str, reference: &str) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if let Err(e) = recaudo_domain::text::check_text(method, METHOD_MAX_CHARS) {
        problems.push(("method", e.to_string()));
    }
    if reference.trim().is_empty() {
        problems.push(("reference", "is empty; every payment needs the lender's reference".into()));
    } else if let Err(e) = recaudo_domain::text::check_text(reference, REFERENCE_MAX_CHARS) {
        problems.push(("reference", e.to_string()));
    }
    problems
}
