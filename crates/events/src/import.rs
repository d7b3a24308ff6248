//! Events of the ingestion service: an import is announced, its valid rows follow in batches, then it
//! completes (or fails, in which case nothing of it may be applied).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use recaudo_domain::{Country, CreditId, Currency, DebtorId, PhoneNumber};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// A full import is a snapshot of the open portfolio (credits missing from it are closed); a delta import only
/// adds and updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    Full,
    Delta,
}

impl ImportMode {
    /// Its name as in events and as stored: `full` or `delta`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Full => "full",
            ImportMode::Delta => "delta",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImportStarted {
    pub import_id: Uuid,
    pub mode: ImportMode,
    /// The date the file describes; days past due are relative to it.
    pub as_of: NaiveDate,
}

impl Event for ImportStarted {
    const TYPE: &'static str = "recaudo.import.started.v1";
    fn subject_suffix(&self) -> String {
        "import.started".into()
    }
    fn entity(&self) -> String {
        self.import_id.to_string()
    }
}

/// A batch of valid rows of an import, in file order. Batches are numbered from 0.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImportRows {
    pub import_id: Uuid,
    pub batch: u32,
    pub rows: Vec<PortfolioRow>,
}

impl Event for ImportRows {
    const TYPE: &'static str = "recaudo.import.rows.v1";
    fn subject_suffix(&self) -> String {
        format!("import.rows.{}", self.import_id)
    }
    fn entity(&self) -> String {
        format!("{}/{}", self.import_id, self.batch)
    }
}

/// One valid row of the client file: one credit of one debtor, with the debtor's assigned advisor if the file has
/// the advisor columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PortfolioRow {
    /// Line in the file (1 = header).
    pub line: u64,
    pub debtor: DebtorRecord,
    pub credit: CreditRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisor: Option<AdvisorRecord>,
    /// Columns the file carries beyond the known ones, by header name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DebtorRecord {
    pub id: DebtorId,
    pub document_type: String,
    pub document_number: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<PhoneNumber>,
    pub email: Option<String>,
    pub country: Country,
    pub city: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreditRecord {
    pub id: CreditId,
    pub product: String,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_total: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub balance_overdue: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub installment: Decimal,
    pub due_date: NaiveDate,
    pub days_past_due: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdvisorRecord {
    pub first_name: String,
    pub last_name: String,
    pub phone: PhoneNumber,
    pub supervisor_first_name: String,
    pub supervisor_last_name: String,
    /// The lender's own advisor id, when the file has one; otherwise advisors are identified by phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisor_ref: Option<String>,
    /// The lender's own supervisor id, when the file has one; otherwise supervisors are identified by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_ref: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImportCompleted {
    pub import_id: Uuid,
    /// How many `import.rows` batches were published; the consumer applies the import once it has them all.
    pub batches: u32,
    pub rows_total: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
}

impl Event for ImportCompleted {
    const TYPE: &'static str = "recaudo.import.completed.v1";
    fn subject_suffix(&self) -> String {
        "import.completed".into()
    }
    fn entity(&self) -> String {
        self.import_id.to_string()
    }
}

/// The import was abandoned; consumers discard whatever rows of it they staged.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImportFailed {
    pub import_id: Uuid,
    pub reason: String,
}

impl Event for ImportFailed {
    const TYPE: &'static str = "recaudo.import.failed.v1";
    fn subject_suffix(&self) -> String {
        "import.failed".into()
    }
    fn entity(&self) -> String {
        self.import_id.to_string()
    }
}
