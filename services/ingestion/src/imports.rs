//! Reading import jobs for the API, and completing them when portfolio reports them applied.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::ImportApplied;
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::{Importer, SCHEMA};

/// An import as `GET /api/imports/{id}` shows it.
#[derive(Debug, Serialize, FromRow)]
pub struct ImportView {
    pub id: Uuid,
    pub file_name: Option<String>,
    pub state: String,
    pub stage: String,
    pub mode: String,
    pub as_of: NaiveDate,
    pub profile: Option<String>,
    pub content_sha256: String,
    pub size_bytes: i64,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub rows_total: i64,
    pub rows_valid: i64,
    pub rows_rejected: i64,
    /// Rows in the portfolio because of this import: `rows_valid` once completed, 0 when it failed (an import is
    /// applied whole or not at all), null while it is processing.
    pub rows_applied: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, FromRow)]
pub struct RowErrorView {
    pub line: i64,
    pub column: String,
    pub reason: String,
}

const COLUMNS: &str =
    "id, file_name, state, stage, mode, as_of, profile, content_sha256, size_bytes, encoding, delimiter,
                       rows_total, rows_valid, rows_rejected,
                       CASE state WHEN 'completed' THEN rows_valid WHEN 'failed' THEN 0 END AS rows_applied,
                       error, created_at, completed_at";

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<ImportView>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM ingestion.imports WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<ImportView>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM ingestion.imports ORDER BY created_at DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Whether a row was rejected (`Error`) or imported with a remark (`Warning`).
#[derive(Debug, Clone, Copy)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

pub async fn errors(
    pool: &PgPool,
    id: Uuid,
    severity: Severity,
    offset: i64,
    limit: i64,
) -> Result<Vec<RowErrorView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT line, column_name AS column, reason FROM ingestion.row_errors WHERE import_id = $1 AND severity = $4
         ORDER BY line, seq OFFSET $2 LIMIT $3",
    )
    .bind(id)
    .bind(offset)
    .bind(limit)
    .bind(severity.as_str())
    .fetch_all(pool)
    .await
}

pub async fn error_count(pool: &PgPool, id: Uuid, severity: Severity) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM ingestion.row_errors WHERE import_id = $1 AND severity = $2")
        .bind(id)
        .bind(severity.as_str())
        .fetch_one(pool)
        .await
}

/// Consumes `portfolio.import.applied`: the import is complete once portfolio holds its rows.
pub struct AppliedHandler {
    pub importer: Importer,
}

impl Handler for AppliedHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let event = msg.envelope.decode::<ImportApplied>()?;
        let mut tx = self.importer.pool().begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, "ingestion-applied", event.id).await? {
            return Ok(());
        }
        self.importer.mark_applied(&mut tx, event.data.import_id).await?;
        tx.commit().await?;
        Ok(())
    }
}
