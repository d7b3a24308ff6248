//! Rows of an import wait in `staged_rows` until the import is complete, so that an import is applied all at once
//! or not at all.

use recaudo_domain::{AdvisorId, SupervisorId};
use recaudo_events::{ImportRows, PortfolioRow};
use sqlx::PgConnection;

/// The columns of `portfolio.staged_rows`, in the order [`encode_row`] writes them.
const COPY_STAGED_ROWS: &str = "COPY portfolio.staged_rows (import_id, line, debtor_id, document_type, document_number,
    first_name, last_name, phone, email, country, city, attributes, credit_id, product, currency, balance_total,
    balance_overdue, installment, due_date, days_past_due, advisor_id, advisor_first_name, advisor_last_name,
    advisor_phone, supervisor_id, supervisor_first_name, supervisor_last_name) FROM STDIN";

/// Stages one batch with `COPY` (the fastest way into PostgreSQL, and it runs inside the caller's transaction).
/// Returns `false` when the batch was already staged (a redelivery) or its import is already applied or discarded.
pub async fn stage(conn: &mut PgConnection, batch: &ImportRows) -> Result<bool, sqlx::Error> {
    // FOR SHARE: an `import.failed` handled concurrently (another replica) waits for this batch, then clears it.
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM portfolio.imports WHERE id = $1 FOR SHARE")
        .bind(batch.import_id)
        .fetch_optional(&mut *conn)
        .await?;
    // A batch may arrive before `import.started` (it does not go through ingestion's outbox), never usefully after
    // the import was settled.
    if state.is_some_and(|s| s != "staging") {
        return Ok(false);
    }
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
    let mut data = Vec::with_capacity(batch.rows.len() * 400);
    let import_id = batch.import_id.to_string();
    for row in &batch.rows {
        encode_row(&mut data, &import_id, row);
    }
    let mut copy = conn.copy_in_raw(COPY_STAGED_ROWS).await?;
    copy.send(data).await?;
    copy.finish().await?;
    Ok(true)
}

/// One row in COPY's text format: tab-separated, `\\N` for NULL, backslash escapes. Written straight into `out`,
/// without a `String` per field: this runs for every row of every import.
fn encode_row(out: &mut Vec<u8>, import_id: &str, r: &PortfolioRow) {
    let advisor = r.advisor.as_ref();
    let supervisor = advisor.filter(|a| {
        a.supervisor_ref.is_some() || !a.supervisor_first_name.is_empty() || !a.supervisor_last_name.is_empty()
    });
    let advisor_id = advisor.map(|a| match &a.advisor_ref {
        Some(id) => AdvisorId::from_lender_id(id),
        None => AdvisorId::from_phone(&a.phone),
    });
    let supervisor_id = supervisor.map(|a| match &a.supervisor_ref {
        Some(id) => SupervisorId::from_lender_id(id),
        None => SupervisorId::from_name(&a.supervisor_first_name, &a.supervisor_last_name),
    });
    let mut row = CopyRow { out, fields: 0 };
    row.text(import_id);
    row.value(r.line);
    row.text(r.debtor.id.as_str());
    row.text(&r.debtor.document_type);
    row.text(&r.debtor.document_number);
    row.text(&r.debtor.first_name);
    row.text(&r.debtor.last_name);
    row.optional_text(r.debtor.phone.as_ref().map(|p| p.e164()));
    row.optional_text(r.debtor.email.as_deref());
    row.text(r.debtor.country.code());
    row.text(&r.debtor.city);
    if r.extra.is_empty() {
        row.text("{}");
    } else {
        row.text(&serde_json::to_string(&r.extra).expect("a map of strings serialises"));
    }
    row.text(r.credit.id.as_str());
    row.text(&r.credit.product);
    row.value(r.credit.currency);
    row.value(r.credit.balance_total);
    row.value(r.credit.balance_overdue);
    row.value(r.credit.installment);
    row.value(r.credit.due_date);
    row.value(r.credit.days_past_due);
    row.optional_value(advisor_id.map(|id| id.0));
    row.optional_text(advisor.map(|a| a.first_name.as_str()));
    row.optional_text(advisor.map(|a| a.last_name.as_str()));
    row.optional_text(advisor.map(|a| a.phone.e164()));
    row.optional_value(supervisor_id.map(|id| id.0));
    row.optional_text(supervisor.map(|a| a.supervisor_first_name.as_str()));
    row.optional_text(supervisor.map(|a| a.supervisor_last_name.as_str()));
    row.end();
}

/// Writes the fields of one COPY text row in order.
struct CopyRow<'a> {
    out: &'a mut Vec<u8>,
    fields: usize,
}

impl CopyRow<'_> {
    fn separate(&mut self) {
        if self.fields > 0 {
            self.out.push(b'\t');
        }
        self.fields += 1;
    }

    fn text(&mut self, text: &str) {
        self.separate();
        escape_into(self.out, text);
    }

    fn optional_text(&mut self, text: Option<&str>) {
        match text {
            Some(t) => self.text(t),
            None => self.null(),
        }
    }

    /// Numbers, dates, ids and currency codes: their text never holds a tab, newline or backslash.
    fn value(&mut self, value: impl std::fmt::Display) {
        use std::io::Write;
        self.separate();
        write!(self.out, "{value}").expect("writing to a Vec cannot fail");
    }

    fn optional_value(&mut self, value: Option<impl std::fmt::Display>) {
        match value {
            Some(v) => self.value(v),
            None => self.null(),
        }
    }

    fn null(&mut self) {
        self.separate();
        self.out.extend_from_slice(b"\\N");
    }

    fn end(self) {
        debug_assert_eq!(self.fields, 27, "one field per column of COPY_STAGED_ROWS");
        self.out.push(b'\n');
    }
}

fn escape_into(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
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

/// Clears what is still staged for imports already applied or discarded (a redelivered batch that raced its
/// import's settlement on another replica); returns how many imports that was. Imports not yet announced keep their
/// rows: their batches can arrive before `import.started`.
pub async fn sweep_settled(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let settled: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT i.id FROM portfolio.imports i WHERE i.state <> 'staging'
           AND (EXISTS (SELECT 1 FROM portfolio.staged_rows s WHERE s.import_id = i.id)
                OR EXISTS (SELECT 1 FROM portfolio.staged_batches b WHERE b.import_id = i.id))",
    )
    .fetch_all(&mut *tx)
    .await?;
    for import_id in &settled {
        clear(&mut tx, *import_id).await?;
    }
    tx.commit().await?;
    Ok(settled.len())
}

/// How many batches of an import are staged.
pub async fn staged_batches(conn: &mut PgConnection, import_id: uuid::Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM portfolio.staged_batches WHERE import_id = $1")
        .bind(import_id)
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_row() {
        let mut out = vec![];
        escape_into(&mut out, "a\tb\\N\r\nc");
        assert_eq!(out, b"a\\tb\\\\N\\r\\nc");
    }
}
