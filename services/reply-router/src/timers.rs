//! The case timers. Each case carries at most one running timer in its own row (`timer`, `warn_at`, `due_at`); a
//! sweep every `RECAUDO_CASE_TIMER_TICK_MS` takes the cases whose instant has come, locked with `SKIP LOCKED` so
//! replicas share the work, and fires each by changing the row in the transaction that records what it did: a
//! timer fires once, across restarts and replicas, and one that came due while the service was down fires when it
//! is back. A claim or an answer before the instant clears the timer, which is its cancellation.
//!
//! What fires: the warning (at `RECAUDO_CASE_WARN_SHARE` of the target, to the advisor); the breach of a pick-up or
//! response timer (to the supervisor, `case.escalated`; a second breach to the team pool); the end of a snooze.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use recaudo_domain::{AdvisorId, DebtorId, SupervisorId};
use recaudo_events::{CaseEscalated, CaseQueue, CaseTimer};
use serde_json::json;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

use crate::cases::{self, Case};
use crate::{timeline, Router};

/// At most this many cases fire per transaction.
const BATCH: i64 = 500;

pub async fn run(r: Arc<Router>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(r.config.timer_tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match sweep(&r).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "case timers: sweep failed; retried at the next tick");
                    break;
                }
            }
        }
    }
}

/// Fires the timers that have come due; returns how many cases it handled.
pub async fn sweep(r: &Router) -> Result<usize, sqlx::Error> {
    let now = r.clock.now();
    let mut tx = r.pool.begin().await?;
    let due: Vec<Case> = sqlx::query_as(&format!(
        "SELECT {} FROM reply_router.cases
         WHERE id IN (SELECT id FROM reply_router.cases WHERE timer IS NOT NULL AND due_at <= $1
                      UNION SELECT id FROM reply_router.cases WHERE warn_at <= $1)
         ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        cases::CASE_COLUMNS
    ))
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for case in &due {
        fire(&mut tx, r, case, now).await?;
    }
    tx.commit().await?;
    if !due.is_empty() {
        r.outbox.wake();
        metrics::counter!("recaudo_case_timers_fired_total").increment(due.len() as u64);
    }
    Ok(due.len())
}

async fn fire(conn: &mut PgConnection, r: &Router, case: &Case, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let Some(due_at) = case.due_at.filter(|d| *d <= now) else {
        // Only the warning has come.
        sqlx::query("UPDATE reply_router.cases SET warn_at = NULL WHERE id = $1")
            .bind(case.id)
            .execute(&mut *conn)
            .await?;
        let detail = json!({ "timer": case.timer, "due_at": case.due_at });
        timeline::add(conn, &case.debtor_id, Some(case.id), now, "warning", None, detail).await?;
        return cases::announce(conn, now, "case.warned", case).await;
    };
    record_lateness(due_at, now);
    match case.timer.as_deref() {
        Some("wake") => wake(conn, r, case, now).await,
        Some("pickup") => escalate(conn, r, case, CaseTimer::Pickup, due_at, now).await,
        Some("response") => escalate(conn, r, case, CaseTimer::Response, due_at, now).await,
        _ => Ok(()),
    }
}

/// A snooze ended: back to the same advisor (claimed, if it was), as it was before.
async fn wake(conn: &mut PgConnection, r: &Router, case: &Case, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let (state, timer, due, warn) = if case.claimed_by.is_some() {
        ("claimed", None, None, None)
    } else {
        let country = cases::country_of(conn, &case.debtor_id).await?;
        let (d, w) = cases::deadline(r, country, now, r.config.pickup_minutes);
        ("open", Some("pickup"), Some(d), Some(w))
    };
    sqlx::query(
        "UPDATE reply_router.cases SET state = $2, timer = $3, due_at = $4, warn_at = $5, snoozed_until = NULL,
             updated_at = $6 WHERE id = $1",
    )
    .bind(case.id)
    .bind(state)
    .bind(timer)
    .bind(due)
    .bind(warn)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    timeline::add(conn, &case.debtor_id, Some(case.id), now, "woken", None, json!({ "by": "snooze_ended" })).await?;
    let woken = cases::lock(conn, case.id).await?.ok_or(sqlx::Error::RowNotFound)?;
    cases::announce(conn, now, "case.updated", &woken).await
}

/// A missed timer: the first miss goes to the advisor's supervisor, with the supervisor's own pick-up timer; the
/// second to the supervisor's team pool. A case whose advisor has no supervisor stays, at high priority.
async fn escalate(
    conn: &mut PgConnection,
    r: &Router,
    case: &Case,
    timer: CaseTimer,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // The supervisor now, as the latest client file says.
    let supervisor = cases::supervisor_of(&mut *conn, case.advisor_id).await?.flatten().or(case.supervisor_id);
    let to = match (supervisor, case.escalations) {
        (None, _) => None,
        (Some(_), 0) if case.queue == "advisor" => Some(CaseQueue::Supervisor),
        (Some(_), _) => Some(CaseQueue::Pool),
    };
    let (next_timer, next_due, next_warn) = match to {
        Some(CaseQueue::Supervisor) => {
            let country = cases::country_of(conn, &case.debtor_id).await?;
            let (d, w) = cases::deadline(r, country, now, r.config.pickup_minutes);
            (Some("pickup"), Some(d), Some(w))
        }
        _ => (None, None, None),
    };
    sqlx::query(
        "UPDATE reply_router.cases SET queue = COALESCE($2, queue), supervisor_id = COALESCE($3, supervisor_id),
             state = CASE WHEN state = 'claimed' AND $2 IS NULL THEN state ELSE 'open' END,
             claimed_by = CASE WHEN $2 IS NULL THEN claimed_by END,
             timer = $4, due_at = $5, warn_at = $6, escalations = escalations + 1, high_priority = true,
             reason = 'escalated', updated_at = $7
         WHERE id = $1",
    )
    .bind(case.id)
    .bind(to.map(CaseQueue::as_str))
    .bind(supervisor)
    .bind(next_timer)
    .bind(next_due)
    .bind(next_warn)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let to_name = to.map(CaseQueue::as_str).unwrap_or("advisor");
    let detail = json!({ "timer": timer, "to": to_name, "due_at": due_at, "supervisor_id": supervisor });
    timeline::add(conn, &case.debtor_id, Some(case.id), now, "escalation", None, detail).await?;
    if let Some(to) = to {
        let debtor_id = DebtorId::parse(&case.debtor_id).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
        let event = CaseEscalated {
            case_id: case.id,
            debtor_id,
            advisor_id: AdvisorId(case.advisor_id),
            supervisor_id: supervisor.map(SupervisorId),
            timer,
            to,
            due_at,
            escalated_at: now,
        };
        r.outbox.enqueue(conn, now, event).await?;
    }
    let escalated = cases::lock(conn, case.id).await?.ok_or(sqlx::Error::RowNotFound)?;
    cases::announce(conn, now, "case.escalated", &escalated).await
}

/// How late timers fire, for operators (`recaudo_case_timer_lateness_seconds`) and `make bench-desk`.
fn record_lateness(due_at: DateTime<Utc>, now: DateTime<Utc>) {
    let late = (now - due_at).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::histogram!("recaudo_case_timer_lateness_seconds").record(late);
}
