//! Case outcomes: how an advisor closed a piece of work with a debtor (DESIGN.md, "Cases, outcomes and promises").
//! Other services act on them: portfolio turns promises into `promise.*`, the scheduler pauses or stops contacts.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_domain::{AdvisorId, CreditId, DebtorId, SupervisorId};
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
    /// Every kind, in the order an advisor is offered them (a promise first).
    pub const KINDS: [&'static str; 10] = [
        "promise",
        "claimed_payment",
        "dispute",
        "call_back",
        "cant_pay",
        "wont_pay",
        "wrong_number",
        "refinancing_request",
        "legal_representation",
        "deceased",
    ];

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

/// Where a case waits: with its advisor, with the advisor's supervisor, or in the supervisor's team pool, where any
/// advisor of that supervisor may claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseQueue {
    Advisor,
    Supervisor,
    Pool,
}

impl CaseQueue {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseQueue::Advisor => "advisor",
            CaseQueue::Supervisor => "supervisor",
            CaseQueue::Pool => "pool",
        }
    }
}

/// Which of a case's timers ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseTimer {
    /// Nobody claimed the case in time.
    Pickup,
    /// The debtor wrote and nobody answered in time.
    Response,
}

/// A case's timer ran out: the case moved to the advisor's supervisor (`to: supervisor`, the first miss) or to the
/// supervisor's team pool (`to: pool`, the second). Published on `case.escalated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseEscalated {
    /// The case, which is the queue item of `queue.item.opened`.
    pub case_id: Uuid,
    pub debtor_id: DebtorId,
    pub advisor_id: AdvisorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_id: Option<SupervisorId>,
    pub timer: CaseTimer,
    pub to: CaseQueue,
    /// The instant the timer was due, in the advisor's working hours.
    pub due_at: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
}

impl Event for CaseEscalated {
    const TYPE: &'static str = "recaudo.case.escalated.v1";
    fn subject_suffix(&self) -> String {
        "case.escalated".into()
    }
    fn entity(&self) -> String {
        self.case_id.to_string()
    }
}

/// An advisor claimed a case: it is theirs to work, and its pick-up timer stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseClaimed {
    pub case_id: Uuid,
    pub debtor_id: DebtorId,
    /// The advisor who holds the case now (the claimant, when an advisor claims from the team pool).
    pub advisor_id: AdvisorId,
    /// The principal that claimed it: an opaque subject, never a name.
    pub claimed_by: String,
    pub claimed_at: DateTime<Utc>,
}

impl Event for CaseClaimed {
    const TYPE: &'static str = "recaudo.case.claimed.v1";
    fn subject_suffix(&self) -> String {
        "case.claimed".into()
    }
    fn entity(&self) -> String {
        self.case_id.to_string()
    }
}

/// A case changed hands: a supervisor transferred it, or a new client file reassigned the debtor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseTransferred {
    pub case_id: Uuid,
    pub debtor_id: DebtorId,
    pub from_advisor_id: AdvisorId,
    pub to_advisor_id: AdvisorId,
    /// `transfer` (a supervisor's decision) or `reassignment` (the client file's).
    pub reason: String,
    /// The principal that transferred it, or `service:portfolio` for a reassignment.
    pub transferred_by: String,
    pub transferred_at: DateTime<Utc>,
}

impl Event for CaseTransferred {
    const TYPE: &'static str = "recaudo.case.transferred.v1";
    fn subject_suffix(&self) -> String {
        "case.transferred".into()
    }
    fn entity(&self) -> String {
        self.case_id.to_string()
    }
}

/// A case was closed, with the outcome that closed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaseClosed {
    pub case_id: Uuid,
    pub debtor_id: DebtorId,
    pub advisor_id: AdvisorId,
    /// The outcome's `kind` (`promise`, `dispute`, ...), whose `case.outcome.recorded` went out with it.
    pub outcome: String,
    pub outcome_id: Uuid,
    pub closed_by: String,
    pub closed_at: DateTime<Utc>,
}

impl Event for CaseClosed {
    const TYPE: &'static str = "recaudo.case.closed.v1";
    fn subject_suffix(&self) -> String {
        "case.closed".into()
    }
    fn entity(&self) -> String {
        self.case_id.to_string()
    }
}
