//! Rows of an import wait in `staged_rows` until the import is complete, so that an import is applied all at once
//! or not at all.

use recaudo_domain::{AdvisorId, SupervisorId};
use recaudo_events::ImportRows;
use serde::Serialize;
use sqlx::PgConnection;

/// One staged row, flattened to the columns of `portfolio.staged_rows`.
#[derive(Serialize)]
struct StagedRow<'a> {
    line: i64,
    debtor_id: &'a str,
    document_type: &'a str,
    document_number: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    country: &'a str,
    city: &'a str,
    attributes: &'a std::collections::BTreeMap<String, String>,
    credit_id: &'a str,
    product: &'a str,
    currency: String,
    balance_total: String,
    balance_overdue: String,
    installment: String,
    due_date: chrono::NaiveDate,
    days_past_due: i64,
    advisor_id: Option<AdvisorId>,
    advisor_first_name: Option<&'a str>,
    advisor_last_name: Option<&'a str>,
    advisor_phone: Option<&'a str>,
    supervisor_id: Option<SupervisorId>,
    supervisor_first_name: Option<&'a str>,
    supervisor_last_name: Option<&'a str>,
}

/// Stages one batch. Returns `false` when the batch was already staged (a redelivery).
pub async fn stage(conn: &mut PgConnection, batch: &ImportRows) -> Result<bool, sqlx::Error> {
    let fresh =
        sqlx::query("INSERT INTO portfolio.staged_batches (import_id, batch) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(batch.import_id)
            .bind(batch.batch as i32)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1;
    if !fresh {
        return Ok(false);
    }
    let rows: Vec<StagedRow<'_>> = batch
        .rows
        .iter()
        .map(|r| {
            let advisor = r.advisor.as_ref();
            let has_supervisor = advisor.is_some_and(|a| {
                a.supervisor_ref.is_some() || !a.supervisor_first_name.is_empty() || !a.supervisor_last_name.is_empty()
            });
            StagedRow {
                line: r.line as i64,
                debtor_id: r.debtor.id.as_str(),
                document_type: &r.debtor.document_type,
                document_number: &r.debtor.document_number,
                first_name: &r.debtor.first_name,
                last_name: &r.debtor.last_name,
                phone: r.debtor.phone.as_ref().map(|p| p.e164()),
                email: r.debtor.email.as_deref(),
                country: r.debtor.country.code(),
                city: &r.debtor.city,
                attributes: &r.extra,
                credit_id: r.credit.id.as_str(),
                product: &r.credit.product,
                currency: r.credit.currency.to_string(),
                balance_total: r.credit.balance_total.to_string(),
                balance_overdue: r.credit.balance_overdue.to_string(),
                installment: r.credit.installment.to_string(),
                due_date: r.credit.due_date,
                days_past_due: r.credit.days_past_due as i64,
                advisor_id: advisor.map(|a| match &a.advisor_ref {
                    Some(id) => AdvisorId::from_lender_id(id),
                    None => AdvisorId::from_phone(&a.phone),
                }),
                advisor_first_name: advisor.map(|a| a.first_name.as_str()),
                advisor_last_name: advisor.map(|a| a.last_name.as_str()),
                advisor_phone: advisor.map(|a| a.phone.e164()),
                supervisor_id: advisor.filter(|_| has_supervisor).map(|a| match &a.supervisor_ref {
                    Some(id) => SupervisorId::from_lender_id(id),
                    None => SupervisorId::from_name(&a.supervisor_first_name, &a.supervisor_last_name),
                }),
                supervisor_first_name: advisor.filter(|_| has_supervisor).map(|a| a.supervisor_first_name.as_str()),
                supervisor_last_name: advisor.filter(|_| has_supervisor).map(|a| a.supervisor_last_name.as_str()),
            }
        })
        .collect();
    let json = serde_json::to_value(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO portfolio.staged_rows
         SELECT $1, r.* FROM jsonb_to_recordset($2) AS r(
             line BIGINT, debtor_id TEXT, document_type TEXT, document_number TEXT, first_name TEXT, last_name TEXT,
             phone TEXT, email TEXT, country TEXT, city TEXT, attributes JSONB, credit_id TEXT, product TEXT,
             currency TEXT, balance_total NUMERIC, balance_overdue NUMERIC, installment NUMERIC, due_date DATE,
             days_past_due INT, advisor_id UUID, advisor_first_name TEXT, advisor_last_name TEXT, advisor_phone TEXT,
             supervisor_id UUID, supervisor_first_name TEXT, supervisor_last_name TEXT)",
    )
    .bind(batch.import_id)
    .bind(json)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Forgets what an import staged (after it was applied or discarded).
pub async fn clear(conn: &mut PgConnection, import_id: uuid::Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM portfolio.staged_rows WHERE import_id = $1").bind(import_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM portfolio.staged_batches WHERE import_id = $1")
        .bind(import_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How many batches of an import are staged.
pub async fn staged_batches(conn: &mut PgConnection, import_id: uuid::Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM portfolio.staged_batches WHERE import_id = $1")
        .bind(import_id)
        .fetch_one(conn)
        .await
}
