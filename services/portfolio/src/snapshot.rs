//! Publishing the current state of advisors and accounts, as full snapshots that consumers replace theirs with.

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_domain::{AdvisorId, CreditId, DebtorId, PhoneNumber, SupervisorId};
use recaudo_events::{AccountSnapshot, AccountStatus, AccountsUpserted, AdvisorUpserted, SupervisorRef};
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// Pending snapshots taken per transaction; they go out as one `portfolio.accounts.upserted` event, or several when
/// one would exceed the server's message size.
const ACCOUNTS_PER_EVENT: i64 = 500;
/// Room left in a message for the envelope around the accounts.
const ENVELOPE_ALLOWANCE: usize = 4096;

#[derive(FromRow)]
struct AdvisorRow {
    id: Uuid,
    first_name: String,
    last_name: String,
    phone: String,
    supervisor_id: Option<Uuid>,
    supervisor_first_name: Option<String>,
    supervisor_last_name: Option<String>,
}

pub async fn publish_advisors(
    conn: &mut PgConnection,
    outbox: &Outbox,
    now: DateTime<Utc>,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<AdvisorRow> = sqlx::query_as(
        "SELECT a.id, a.first_name, a.last_name, a.phone, a.supervisor_id,
                s.first_name AS supervisor_first_name, s.last_name AS supervisor_last_name
         FROM portfolio.advisors a LEFT JOIN portfolio.supervisors s ON s.id = a.supervisor_id
         WHERE a.id = ANY($1) ORDER BY a.id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let phone = PhoneNumber::from_e164(&r.phone).map_err(|e| decode("advisors.phone", e))?;
        let event = AdvisorUpserted {
            advisor_id: AdvisorId(r.id),
            first_name: r.first_name,
            last_name: r.last_name,
            whatsapp: Some(phone.clone()),
            phone,
            supervisor: r.supervisor_id.map(|id| SupervisorRef {
                supervisor_id: SupervisorId(id),
                first_name: r.supervisor_first_name.unwrap_or_default(),
                last_name: r.supervisor_last_name.unwrap_or_default(),
            }),
        };
        outbox.enqueue(conn, now, event).await?;
    }
    Ok(())
}

#[derive(FromRow)]
struct AccountRow {
    credit_id: String,
    debtor_id: String,
    status: String,
    first_name: String,
    last_name: String,
    phone: Option<String>,
    email: Option<String>,
    country: String,
    city: String,
    attributes: serde_json::Value,
    product: String,
    currency: String,
    balance_total: Decimal,
    balance_overdue: Decimal,
    due_date: NaiveDate,
    days_past_due: i32,
    advisor_id: Option<Uuid>,
    version: i64,
}

/// Publishes the account snapshots of applied imports until none is left or `shutdown`; woken by `wake` after an
/// import is applied.
pub async fn run_publisher(
    pool: sqlx::PgPool,
    outbox: Outbox,
    clock: recaudo_runtime::Clock,
    wake: std::sync::Arc<tokio::sync::Notify>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match publish_pending_page(&pool, &outbox, clock.now()).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "publishing account snapshots failed; retrying"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// One page of an applied import's account snapshots: the current state of the next credits it changed (those
/// whose `last_import_id` is still the import's: a credit a later import changed again is published with that
/// import), as one event, and the import's cursor moved past them, atomically.
/// Returns whether there was an import to publish.
async fn publish_pending_page(pool: &sqlx::PgPool, outbox: &Outbox, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let import: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT id, snapshots_after FROM portfolio.imports WHERE snapshots_after IS NOT NULL
         ORDER BY applied_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((import_id, after)) = import else {
        return Ok(false);
    };
    let rows: Vec<AccountRow> =
        sqlx::query_as(&format!("{ACCOUNT_SELECT} WHERE c.last_import_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3"))
            .bind(import_id)
            .bind(&after)
            .bind(ACCOUNTS_PER_EVENT)
            .fetch_all(&mut *tx)
            .await?;
    let published = rows.len();
    // Done once a page comes back short; the cursor is cleared so the import is not looked at again.
    let cursor = (published as i64 == ACCOUNTS_PER_EVENT).then(|| rows[published - 1].credit_id.clone());
    let accounts = rows.into_iter().map(account).collect::<Result<Vec<_>, _>>()?;
    for accounts in split_to_fit(accounts, outbox.max_payload()) {
        outbox.enqueue(&mut tx, now, AccountsUpserted { import_id: Some(import_id), accounts }).await?;
    }
    sqlx::query("UPDATE portfolio.imports SET snapshots_after = $2 WHERE id = $1")
        .bind(import_id)
        .bind(cursor)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(true)
}

const ACCOUNT_SELECT: &str = "
    SELECT c.id AS credit_id, c.debtor_id, c.status, d.first_name, d.last_name, d.phone, d.email, d.country, d.city, d.attributes,
           c.product, c.currency, c.balance_total, c.balance_overdue, c.due_date, c.days_past_due, c.advisor_id,
           c.version + d.version AS version
    FROM portfolio.credits c JOIN portfolio.debtors d ON d.id = c.debtor_id";

/// Publishes the current state of the given credits (after a payment, say).
pub async fn publish_accounts(
    conn: &mut PgConnection,
    outbox: &Outbox,
    now: DateTime<Utc>,
    credit_ids: &[String],
) -> Result<(), sqlx::Error> {
    let rows: Vec<AccountRow> = sqlx::query_as(&format!("{ACCOUNT_SELECT} WHERE c.id = ANY($1) ORDER BY c.id"))
        .bind(credit_ids)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let accounts = rows.into_iter().map(account).collect::<Result<Vec<_>, _>>()?;
    for accounts in split_to_fit(accounts, outbox.max_payload()) {
        outbox.enqueue(&mut *conn, now, AccountsUpserted { import_id: None, accounts }).await?;
    }
    Ok(())
}

/// Groups accounts, in order, so that each group's event fits in `max_payload` bytes.
fn split_to_fit(accounts: Vec<AccountSnapshot>, max_payload: usize) -> Vec<Vec<AccountSnapshot>> {
    let budget = max_payload.saturating_sub(ENVELOPE_ALLOWANCE).max(1);
    let mut groups = vec![];
    let mut group = vec![];
    let mut size = 0;
    for a in accounts {
        let len = serde_json::to_vec(&a).map(|v| v.len() + 1).unwrap_or(budget);
        if !group.is_empty() && size + len > budget {
            groups.push(std::mem::take(&mut group));
            size = 0;
        }
        size += len;
        group.push(a);
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The stored attributes as text; values the file gave as something else (none do today) are written as JSON.
fn attributes(v: serde_json::Value) -> std::collections::BTreeMap<String, String> {
    let serde_json::Value::Object(map) = v else { return Default::default() };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

fn account(r: AccountRow) -> Result<AccountSnapshot, sqlx::Error> {
    Ok(AccountSnapshot {
        credit_id: CreditId::parse(&r.credit_id).map_err(|e| decode("credits.id", e))?,
        debtor_id: DebtorId::parse(&r.debtor_id).map_err(|e| decode("credits.debtor_id", e))?,
        status: if r.status == "open" { AccountStatus::Open } else { AccountStatus::Closed },
        debtor_first_name: r.first_name,
        debtor_last_name: r.last_name,
        phone: r.phone.map(|p| PhoneNumber::from_e164(&p)).transpose().map_err(|e| decode("debtors.phone", e))?,
        email: r.email,
        country: r.country.parse().map_err(|e| decode("debtors.country", e))?,
        city: Some(r.city).filter(|c| !c.is_empty()),
        attributes: attributes(r.attributes),
        product: r.product,
        currency: r.currency.parse().map_err(|e| decode("credits.currency", e))?,
        balance_total: r.balance_total,
        balance_overdue: r.balance_overdue,
        due_date: r.due_date,
        days_past_due: r.days_past_due.max(0) as u32,
        advisor_id: r.advisor_id.map(AdvisorId),
        version: r.version.max(0) as u64,
    })
}

pub(crate) fn decode(column: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column}: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(i: usize) -> AccountSnapshot {
        AccountSnapshot {
            credit_id: CreditId::parse(&format!("CR-{i}")).unwrap(),
            debtor_id: DebtorId::parse(&format!("D-{i}")).unwrap(),
            status: AccountStatus::Open,
            debtor_first_name: "Ana".into(),
            debtor_last_name: "Pérez".into(),
            phone: None,
            email: None,
            country: "CO".parse().unwrap(),
            city: Some("Bogotá".into()),
            attributes: Default::default(),
            product: "consumo".into(),
            currency: "COP".parse().unwrap(),
            balance_total: Decimal::new(100000, 2),
            balance_overdue: Decimal::new(5000, 2),
            due_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            days_past_due: 22,
            advisor_id: None,
            version: 1,
        }
    }

    #[test]
    fn pages_are_split_to_the_message_limit_in_order() {
        let accounts: Vec<_> = (0..500).map(snapshot).collect();
        assert_eq!(split_to_fit(accounts.clone(), 1024 * 1024).len(), 1);
        let groups = split_to_fit(accounts, 32 * 1024);
        assert!(groups.len() > 2, "{} groups", groups.len());
        for g in &groups {
            let event = AccountsUpserted { import_id: Some(Uuid::nil()), accounts: g.clone() };
            let envelope = recaudo_events::Envelope::new("recaudo/portfolio", Utc::now(), event);
            assert!(serde_json::to_vec(&envelope).unwrap().len() <= 32 * 1024);
        }
        let ids: Vec<String> = groups.into_iter().flatten().map(|a| a.credit_id.to_string()).collect();
        assert_eq!(ids, (0..500).map(|i| format!("CR-{i}")).collect::<Vec<_>>());
    }
}
