//! Promises to pay: portfolio turns a promise outcome into `promise.made`, settles it as `promise.kept` when the
//! payments on its credit between the day it was made and its due date cover the amount, and as `promise.broken`
//! once the due date and the grace days have passed without that.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_domain::{CreditId, DebtorId};
use recaudo_events::{CaseOutcomeRecorded, Outcome, PromiseBroken, PromiseKept, PromiseMade, PromiseSettled};
use recaudo_runtime::Clock;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::SCHEMA;

pub const CONSUMER: &str = "portfolio-outcomes";

pub struct OutcomeHandler {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: Clock,
}

impl Handler for OutcomeHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let e = msg.envelope.decode::<CaseOutcomeRecorded>()?.data;
        let Outcome::Promise { credit_id, amount, due_on } = &e.outcome else { return Ok(()) };
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let now = self.clock.now();
        let debtor: Option<(String, String)> = sqlx::query_as(
            "SELECT c.debtor_id, d.country FROM portfolio.credits c JOIN portfolio.debtors d ON d.id = c.debtor_id
             WHERE c.id = $1",
        )
        .bind(credit_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        // A promise on a credit the portfolio does not hold (or of another debtor) is not one to keep track of.
        let Some((_, country)) = debtor.filter(|(d, _)| d == e.debtor_id.as_str() && *amount > Decimal::ZERO) else {
            tracing::warn!(outcome_id = %e.outcome_id, "promise for an unknown credit or a non-positive amount; ignored");
            tx.commit().await?;
            return Ok(());
        };
        // The day it was made as the debtor lives it, like the payment dates it is compared with.
        let zone = country.parse::<recaudo_domain::Country>().map(|c| c.time_zone()).unwrap_or(chrono_tz::UTC);
        let made_on = e.recorded_at.with_timezone(&zone).date_naive();
        let inserted = sqlx::query(
            "INSERT INTO portfolio.promises (id, debtor_id, credit_id, amount, made_on, due_on, made_at, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'in_force') ON CONFLICT (id) DO NOTHING",
        )
        .bind(e.outcome_id)
        .bind(e.debtor_id.as_str())
        .bind(credit_id.as_str())
        .bind(amount)
        .bind(made_on)
        .bind(due_on)
        .bind(e.recorded_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let made = PromiseMade {
                promise_id: e.outcome_id,
                debtor_id: e.debtor_id.clone(),
                credit_id: credit_id.clone(),
                amount: *amount,
                due_on: *due_on,
                made_at: e.recorded_at,
            };
            self.outbox.enqueue(&mut tx, now, made).await?;
            // Payments made before the promise reached us may already cover it.
            settle_kept(&mut tx, &self.outbox, credit_id.as_str(), now).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}

type PromiseRow = (Uuid, String, String, Decimal, NaiveDate, Decimal);

fn settled(r: &PromiseRow, now: DateTime<Utc>) -> Result<PromiseSettled, sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(e.into());
    Ok(PromiseSettled {
        promise_id: r.0,
        debtor_id: DebtorId::parse(&r.1).map_err(|e| decode(e.to_string()))?,
        credit_id: CreditId::parse(&r.2).map_err(|e| decode(e.to_string()))?,
        amount: r.3,
        paid: r.5,
        due_on: r.4,
        settled_at: now,
    })
}

/// Marks kept every promise in force on the credit that its payments now cover; called in the transaction that
/// applies a payment (and when a promise arrives).
pub async fn settle_kept(
    conn: &mut PgConnection,
    outbox: &Outbox,
    credit_id: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let kept: Vec<PromiseRow> = sqlx::query_as(
        "WITH paid AS (
             SELECT p.id, COALESCE(sum(y.amount), 0) AS paid FROM portfolio.promises p
             LEFT JOIN portfolio.payments y ON y.credit_id = p.credit_id AND y.outcome <> 'rejected'
                  AND y.paid_on BETWEEN p.made_on AND p.due_on
             WHERE p.credit_id = $1 AND p.status = 'in_force' GROUP BY p.id)
         UPDATE portfolio.promises p SET status = 'kept', paid = paid.paid, settled_at = $2
         FROM paid WHERE paid.id = p.id AND paid.paid >= p.amount
         RETURNING p.id, p.debtor_id, p.credit_id, p.amount, p.due_on, p.paid",
    )
    .bind(credit_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for r in &kept {
        outbox.enqueue(&mut *conn, now, PromiseKept(settled(r, now)?)).await?;
    }
    Ok(())
}

/// Marks broken every promise in force whose due date plus `grace_days` is before today (UTC), every `tick`.
pub async fn run_breaker(
    pool: PgPool,
    outbox: Outbox,
    clock: Clock,
    grace_days: u32,
    tick: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        if let Err(e) = break_overdue(&pool, &outbox, &clock, grace_days).await {
            tracing::warn!(error = %e, "settling broken promises failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

async fn break_overdue(pool: &PgPool, outbox: &Outbox, clock: &Clock, grace_days: u32) -> Result<(), sqlx::Error> {
    let now = clock.now();
    let mut tx = pool.begin().await?;
    let broken: Vec<PromiseRow> = sqlx::query_as(
        "WITH due AS (
             SELECT p.id, COALESCE(sum(y.amount), 0) AS paid FROM portfolio.promises p
             LEFT JOIN portfolio.payments y ON y.credit_id = p.credit_id AND y.outcome <> 'rejected'
                  AND y.paid_on BETWEEN p.made_on AND p.due_on
             WHERE p.status = 'in_force' AND p.due_on + $2::int < ($1 AT TIME ZONE 'UTC')::date
             GROUP BY p.id LIMIT 500)
         UPDATE portfolio.promises p SET status = 'broken', paid = due.paid, settled_at = $1
         FROM due WHERE due.id = p.id AND due.paid < p.amount
         RETURNING p.id, p.debtor_id, p.credit_id, p.amount, p.due_on, p.paid",
    )
    .bind(now)
    .bind(grace_days as i32)
    .fetch_all(&mut *tx)
    .await?;
    for r in &broken {
        outbox.enqueue(&mut tx, now, PromiseBroken(settled(r, now)?)).await?;
    }
    tx.commit().await?;
    if !broken.is_empty() {
        outbox.wake();
    }
    Ok(())
}
