//! Case outcomes: how an advisor closed a piece of work with a debtor (DESIGN.md, "Cases, outcomes and promises").
//! Other services act on them: portfolio turns promises into `promise.*`, the scheduler pauses or stops contacts.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_domain::{AdvisorId, CreditId, DebtorId};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// An outcome from the catalogue, recorded for a debtor (and, where it is about one, a credit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseOutcomeRecorded {
    pub outcome_id: Uuid,
    pub debtor_id: DebtorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_id: Option<CreditId>,
    /// The advisor whose case it closes, if an advisor recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisor_id: Option<AdvisorId>,
    /// The principal that recorded it (a token subject or `service:<id>`): an opaque id, never a name.
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    pub outcome: Outcome,
}

/// The catalogue of outcomes. `kind` names it; the other fields depend on the kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A promise to pay `amount` of `credit_id` by `due_on` (the debtor's local date).
    Promise {
        credit_id: CreditId,
        #[serde(with = "rust_decimal::serde::str")]
        #[schemars(with = "String")]
        amount: Decimal,
        due_on: NaiveDate,
    },
    /// The debtor says they paid; to be verified against the lender's payments.
    ClaimedPayment {
        #[serde(default, with = "rust_decimal::serde::str_option", skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<String>")]
        amount: Option<Decimal>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paid_on: Option<NaiveDate>,
    },
    /// The debtor disputes the debt.
    Dispute {
        reason: String,
    },
    /// The debtor asked to be contacted again at this instant, and not before.
    CallBack {
        at: DateTime<Utc>,
    },
    CantPay,
    WontPay,
    /// The phone number reaches someone else.
    WrongNumber,
    RefinancingRequest,
    /// The debtor is represented by a lawyer: contact them, not the debtor.
    LegalRepresentation,
    Deceased,
}

impl Outcome {
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Promise { .. } => "promise",
            Outcome::ClaimedPayment { .. } => "claimed_payment",
            Outcome::Dispute { .. } => "dispute",
            Outcome::CallBack { .. } => "call_back",
            Outcome::CantPay => "cant_pay",
            Outcome::WontPay => "wont_pay",
            Outcome::WrongNumber => "wrong_number",
            Outcome::RefinancingRequest => "refinancing_request",
            Outcome::LegalRepresentation => "legal_representation",
            Outcome::Deceased => "deceased",
        }
    }
}

impl Event for CaseOutcomeRecorded {
    const TYPE: &'static str = "recaudo.case.outcome.recorded.v1";
    fn subject_suffix(&self) -> String {
        "case.outcome.recorded".into()
    }
    fn entity(&self) -> String {
        self.outcome_id.to_string()
    }
}
