//! Events of the portfolio service: the state of accounts (credits with their debtor and assigned advisor) and
//! of the advisor hierarchy, as other services need it for their own projections.

use chrono::NaiveDate;
use recaudo_domain::{AdvisorId, Country, CreditId, Currency, DebtorId, PhoneNumber, SupervisorId};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// An advisor was created or changed (name, phone, supervisor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdvisorUpserted {
    pub advisor_id: AdvisorId,
    pub first_name: String,
    pub last_name: String,
    pub phone: PhoneNumber,
    /// The advisor's WhatsApp number; the client file gives one phone, used for both.
    pub whatsapp: Option<PhoneNumber>,
    pub supervisor: Option<SupervisorRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SupervisorRef {
    pub supervisor_id: SupervisorId,
    pub first_name: String,
    pub last_name: String,
}

impl Event for AdvisorUpserted {
    const TYPE: &'static str = "recaudo.portfolio.advisor.upserted.v1";
    fn subject_suffix(&self) -> String {
        "portfolio.advisor.upserted".into()
    }
    fn entity(&self) -> String {
        self.advisor_id.to_string()
    }
}

/// Accounts whose state changed, as full snapshots (a consumer replaces what it had). Sent in batches because
/// one import can change millions of accounts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AccountsUpserted {
    /// The import that caused the change, if any.
    pub import_id: Option<Uuid>,
    pub accounts: Vec<AccountSnapshot>,
}

impl Event for AccountsUpserted {
    const TYPE: &'static str = "recaudo.portfolio.accounts.upserted.v1";
    fn subject_suffix(&self) -> String {
        "portfolio.accounts.upserted".into()
    }
    fn entity(&self) -> String {
        self.accounts.first().map(|a| a.credit_id.to_string()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Open,
    Closed,
}

/// A credit with what is needed to contact its debtor about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountSnapshot {
    pub credit_id: CreditId,
    pub debtor_id: DebtorId,
    pub status: AccountStatus,
    pub debtor_first_name: String,
    pub debtor_last_name: String,
    pub phone: Option<PhoneNumber>,
    pub email: Option<String>,
    pub country: Country,
    /// The debtor's city as the client file gave it: it picks the time zone where the country has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The client file's extra columns for the debtor (what strategy segments read), as text.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
    pub product: String,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_total: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_overdue: Decimal,
    pub due_date: NaiveDate,
    pub days_past_due: u32,
    pub advisor_id: Option<AdvisorId>,
    /// Grows with every change of the account (its credit or its debtor). A consumer keeps the snapshot with the
    /// highest version: the order snapshots arrive in, or the time they were taken, can disagree with the order of
    /// the changes (a payment committed while an import's page was being read). 0 in snapshots from before versions.
    #[serde(default)]
    pub version: u64,
}

/// Every row of an import is now in the portfolio (or, for a failed import, none is).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImportApplied {
    pub import_id: Uuid,
    pub debtors: u64,
    pub credits: u64,
    pub advisors: u64,
    /// Credits whose state changed because of this import.
    pub credits_changed: u64,
}

impl Event for ImportApplied {
    const TYPE: &'static str = "recaudo.portfolio.import.applied.v1";
    fn subject_suffix(&self) -> String {
        "portfolio.import.applied".into()
    }
    fn entity(&self) -> String {
        self.import_id.to_string()
    }
}

/// A debtor's credits moved from one advisor to another. Imports never unassign (a row without an advisor keeps
/// the credit's), so `to_advisor_id` is set by every import; null is kept for an unassignment by other means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssignmentChanged {
    pub debtor_id: DebtorId,
    pub credit_ids: Vec<CreditId>,
    pub from_advisor_id: AdvisorId,
    pub to_advisor_id: Option<AdvisorId>,
    /// The import that made the change, if any.
    pub import_id: Option<Uuid>,
}

impl Event for AssignmentChanged {
    const TYPE: &'static str = "recaudo.portfolio.assignment.changed.v1";
    fn subject_suffix(&self) -> String {
        "portfolio.assignment.changed".into()
    }
    fn entity(&self) -> String {
        self.debtor_id.to_string()
    }
}
