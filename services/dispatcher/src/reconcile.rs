//! Settling what the dispatcher did not hear from the provider, while it runs:
//! - an attempt cut off mid-call (a crash, a timeout after the request left) stays `sending` or becomes `unknown`;
//!   the provider's records are searched for the message (Twilio's message list), and a provider that echoes our
//!   attempt id on its webhooks (Meta, SendGrid) settles it when the report comes;
//! - an `unknown` attempt the provider's records prove it never received (two complete searches that find
//!   nothing, made after the request could have arrived) is settled `not_sent`, and its request is decided again:
//!   never on a guess, so a provider whose records cannot be searched leaves it `unknown`;
//! - an attempt without a final status some time after the provider took it is looked up (Twilio's Message
//!   resource), because callbacks that arrive while no dispatcher listens are lost.
//!
//! Scheduling columns (`sending_until`, `next_check_at`) are wall-clock time, not the business clock
//! (`RECAUDO_NOW`): they are about this process's work, not about the debtor's day.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use recaudo_events::{AttemptOutcome, ContactNotSent, ContactRequested, ContactSuppressed};
use recaudo_providers::{Content, OutboundMessage, ProviderError, Search, StatusUpdate};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::send::Origin;
use crate::Dispatcher;

/// How often the reconciler looks for work.
const ROUND: Duration = Duration::from_secs(2);
/// Attempts looked at per round and kind.
const BATCH: i64 = 50;
/// Lookups of one attempt before the reconciler gives up on it (the delays double: 10 min, 20, 40, ... by default).
const MAX_CHECKS: i32 = 6;

/// Wall-clock time `delay` from now.
pub(crate) fn after(delay: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero())
}

pub(crate) async fn run(d: Arc<Dispatcher>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ROUND) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = round(&d).await {
            tracing::warn!(channel = %d.channel, error = %e, "reconciliation round failed; will try again");
        }
    }
}

async fn round(d: &Dispatcher) -> Result<(), sqlx::Error> {
    settle_interrupted(d).await?;
    check_unfinished(d).await?;
    decide_again(d).await
}

/// Added to the provider's own time in flight before a search that finds nothing counts as proof: the request's
/// last bytes, the provider's own queueing and any clock difference between our database and this process.
const PROOF_MARGIN: Duration = Duration::from_secs(15);
/// Complete searches, each made after the request could have arrived, that must find nothing before an attempt is
/// settled as never received: the second, `absence_confirm_after` later, covers a provider whose list lags its
/// writes.
const ABSENT_SEARCHES_FOR_PROOF: i32 = 2;

#[derive(sqlx::FromRow)]
struct Interrupted {
    id: Uuid,
    status: String,
    to_address: String,
    body: String,
    /// Business-clock time the attempt was recorded, the date of its `contact.attempted`.
    created_at: DateTime<Utc>,
    /// Wall-clock time the attempt was recorded (see the module's note on clocks); none for attempts recorded
    /// before it was kept, which are never settled `not_sent`.
    recorded_at: Option<DateTime<Utc>>,
    /// The database's time as the round began, before the search: what "the search started after" is measured by.
    round_at: DateTime<Utc>,
    checks: i32,
    absent_searches: i32,
    request_id: Option<Uuid>,
}

/// Attempts cut off before the provider's answer was recorded: `sending` past their worker's time, or `unknown`
/// and due for another search.
async fn settle_interrupted(d: &Dispatcher) -> Result<(), sqlx::Error> {
    let rows: Vec<Interrupted> = sqlx::query_as(
        "SELECT id, status, to_address, body, created_at, recorded_at, now() AS round_at, checks, absent_searches, request_id
         FROM dispatcher.attempts
         WHERE channel = $1 AND provider_message_id IS NULL
           AND ((status = 'sending' AND sending_until < now())
                OR (status = 'unknown' AND next_check_at <= now()))
         ORDER BY created_at LIMIT $2",
    )
    .bind(d.channel.as_str())
    .bind(BATCH)
    .fetch_all(&d.pool)
    .await?;
    let in_flight =
        chrono::Duration::from_std(d.provider.in_flight_for() + PROOF_MARGIN).unwrap_or(chrono::Duration::MAX);
    for row in rows {
        // The search runs outside any transaction: a slow provider must not hold a connection.
        let probe = OutboundMessage {
            to: row.to_address.clone(),
            content: Content::Text { body: row.body.clone() },
            status_callback: None,
            idempotency_key: row.id.to_string(),
        };
        // Only messages the provider took after the attempt was recorded can be its message (a few minutes of
        // slack for the provider's clock). An attempt without its wall-clock time is searched over the day before.
        let window_start =
            row.recorded_at.unwrap_or(row.created_at - chrono::Duration::days(1)) - chrono::Duration::minutes(5);
        // When a search that finds nothing proves something; never for an attempt that cannot be decided again.
        let conclusive_from = row.recorded_at.filter(|_| row.request_id.is_some()).map(|at| at + in_flight);
        let search = d.provider.find_message(&probe, window_start).await;
        let now = d.clock.now();
        let mut tx = d.pool.begin().await?;
        // Still unsettled? (A report with our attempt id may have settled it meanwhile.)
        let current: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, provider_message_id FROM dispatcher.attempts WHERE id = $1 FOR UPDATE")
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await?;
        if !matches!(current, Some((ref s, None)) if *s == row.status) {
            if let (Some((status, _)), Ok(Search::Found(update))) = (&current, &search) {
                if status == "not_sent" {
                    // Another dispatcher settled it as never received, yet here it is: its request must not go
                    // out again. Should never happen (two complete searches, minutes apart, found nothing).
                    tracing::error!(attempt_id = %row.id, message = %update.provider_message_id,
                        "an attempt settled not_sent was found at the provider; its request is not decided again");
                    sqlx::query(
                        "UPDATE dispatcher.attempts SET redecided_at = coalesce(redecided_at, now()) WHERE id = $1",
                    )
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                }
            }
            continue;
        }
        let backoff = after(d.reconcile_after * 2u32.pow(row.checks.clamp(0, 10) as u32));
        let (next, absent_searches) = match search {
            Ok(Search::Found(update)) => {
                crate::webhooks::lock_message(&mut tx, d, &update.provider_message_id).await?;
                crate::webhooks::adopt_message(&mut tx, d, row.id, &update, now).await?;
                crate::webhooks::record_status(&mut tx, d, &update, now).await?;
                tracing::info!(attempt_id = %row.id, status = %update.normalized, "interrupted attempt found at the provider");
                tx.commit().await?;
                d.outbox.wake();
                continue;
            }
            Ok(Search::Absent) if conclusive_from.is_some_and(|from| row.round_at >= from) => {
                let absent = row.absent_searches + 1;
                if absent >= ABSENT_SEARCHES_FOR_PROOF && row.status == "unknown" {
                    settle_not_sent(&mut tx, d, &row, absent, now).await?;
                    tx.commit().await?;
                    d.outbox.wake();
                    continue;
                }
                // Searched again, at least `absence_confirm_after` later, until the proof is complete, whatever
                // the number of checks so far.
                (Some(backoff.max(after(d.absence_confirm_after))), absent)
            }
            // Too early to prove anything: the request may still have been on its way.
            Ok(Search::Absent) if conclusive_from.is_some() => {
                let from = conclusive_from.unwrap_or(row.round_at);
                (Some(backoff.max(after_instant(from, row.round_at))), 0)
            }
            // Messages to the recipient in the window, none with our text: nothing is proven, and what was is void.
            Ok(Search::Unclear) => ((row.checks + 1 < MAX_CHECKS).then_some(backoff), 0),
            other => {
                if let Err(e) = &other {
                    tracing::warn!(attempt_id = %row.id, error = %e, "provider search failed");
                }
                ((row.checks + 1 < MAX_CHECKS).then_some(backoff), row.absent_searches)
            }
        };
        sqlx::query(
            "UPDATE dispatcher.attempts
             SET status = 'unknown', updated_at = $2, attempted_at = coalesce(attempted_at, created_at),
                 error = coalesce(error, 'interrupted before the provider answered; not resent'),
                 checks = checks + 1, next_check_at = $3, absent_searches = $4
             WHERE id = $1",
        )
        .bind(row.id)
        .bind(now)
        .bind(next)
        .bind(absent_searches)
        .execute(&mut *tx)
        .await?;
        if row.status == "sending" {
            let error = Some("interrupted before the provider answered; not resent".to_string());
            // Dated when it was recorded, just before the call that was cut off, not when it was found.
            crate::attempts::publish_attempted(&mut tx, d, row.id, AttemptOutcome::Unknown, error, row.created_at)
                .await?;
        }
        tx.commit().await?;
        d.outbox.wake();
    }
    Ok(())
}

/// Wall-clock time as far from now as `instant` is from `reference` (both the database's), or now if it is past.
fn after_instant(instant: DateTime<Utc>, reference: DateTime<Utc>) -> DateTime<Utc> {
    Utc::now() + (instant - reference).max(chrono::Duration::zero())
}

/// The provider's records prove it never received the attempt: settled `not_sent`, published, and its request
/// handed back for [`decide_again`] (its inbox claim removed, so that handling it again is not taken for a
/// redelivery).
async fn settle_not_sent(
    tx: &mut sqlx::PgConnection,
    d: &Dispatcher,
    row: &Interrupted,
    absent_searches: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let evidence = format!(
        "{}'s records of messages to the recipient, searched in full {absent_searches} times from {}s after the \
         attempt was recorded and at least {}s apart, hold no message taken since",
        d.provider.name(),
        (d.provider.in_flight_for() + PROOF_MARGIN).as_secs(),
        d.absence_confirm_after.as_secs(),
    );
    let r: NotSentRow = sqlx::query_as(
        "UPDATE dispatcher.attempts
         SET status = 'not_sent', final = true, updated_at = $2, checks = checks + 1, next_check_at = NULL,
             absent_searches = $3, error = $4
         WHERE id = $1
         RETURNING contact_id, debtor_id, credit_id, strategy, decision",
    )
    .bind(row.id)
    .bind(now)
    .bind(absent_searches)
    .bind(format!("not sent: {evidence}; decided again"))
    .fetch_one(&mut *tx)
    .await?;
    if let Some(request_id) = row.request_id {
        sqlx::query("DELETE FROM dispatcher.inbox WHERE consumer = $1 AND event_id = $2")
            .bind(d.consumer_name())
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
    }
    let (debtor_id, credit_id) = crate::attempts::parse_ids(&r.debtor_id, &r.credit_id)?;
    let event = ContactNotSent {
        attempt_id: row.id,
        contact_id: r.contact_id,
        channel: d.channel,
        strategy: r.strategy,
        decision: serde_json::from_value(r.decision).unwrap_or_default(),
        debtor_id,
        credit_id,
        provider: d.provider.name().to_string(),
        evidence,
        settled_at: now,
    };
    d.outbox.enqueue(&mut *tx, now, event).await?;
    tracing::info!(attempt_id = %row.id, "interrupted attempt never reached the provider; its request is decided again");
    Ok(())
}

#[derive(sqlx::FromRow)]
struct NotSentRow {
    contact_id: Uuid,
    debtor_id: String,
    credit_id: String,
    strategy: Option<String>,
    decision: serde_json::Value,
}

/// Requests whose attempt the provider never received, decided again as if they had just arrived: the send window,
/// the caps (which no longer count the attempt) and the cancellation are checked anew, and a new attempt is made
/// or the request is suppressed. Through the shared rate like any request, and only while the provider's circuit
/// is closed: the reconciler never waits on the breaker nor holds its half-open trial.
async fn decide_again(d: &Dispatcher) -> Result<(), sqlx::Error> {
    let rows: Vec<(Uuid, Option<Uuid>, Option<i64>)> = sqlx::query_as(
        "SELECT id, request_id, request_sequence FROM dispatcher.attempts
         WHERE channel = $1 AND status = 'not_sent' AND redecided_at IS NULL
         ORDER BY created_at LIMIT $2",
    )
    .bind(d.channel.as_str())
    .bind(BATCH)
    .fetch_all(&d.pool)
    .await?;
    for (id, request_id, sequence) in rows {
        let request = match (request_id, sequence) {
            (Some(event_id), Some(sequence)) => read_request(d, event_id, sequence).await,
            _ => Err("the attempt does not name its request".to_string()),
        };
        let outcome: Result<(), String> = match request {
            Err(why) => Err(why),
            // The stream cannot be read now: next round.
            Ok(None) => continue,
            Ok(Some((origin, request))) => {
                if !d.breaker.is_closed() {
                    return Ok(());
                }
                d.limiter.until_ready().await;
                match crate::send::attempt(d, origin, &request).await {
                    Ok(crate::send::Attempted::Done) => Ok(()),
                    Ok(crate::send::Attempted::NotSent { reason, retry_after }) => {
                        crate::send::not_taken(d, &reason, retry_after);
                        continue;
                    }
                    Err(recaudo_bus::HandleError::Retry(e)) => {
                        tracing::warn!(attempt_id = %id, error = %e, "request not decided again yet");
                        continue;
                    }
                    Err(recaudo_bus::HandleError::Reject(e)) => Err(format!("the request cannot be handled: {e:#}")),
                }
            }
        };
        let mut tx = d.pool.begin().await?;
        let marked =
            sqlx::query("UPDATE dispatcher.attempts SET redecided_at = now() WHERE id = $1 AND redecided_at IS NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if let Err(why) = outcome {
            if marked.rows_affected() == 1 {
                // Not decided again, and said so: the contact ends suppressed, not silently.
                tracing::error!(attempt_id = %id, %why, "request of a not_sent attempt not decided again");
                suppress_unavailable(&mut tx, d, id, &why).await?;
            }
        }
        tx.commit().await?;
        d.outbox.wake();
    }
    Ok(())
}

/// `contact.suppressed` (`request_unavailable`) for the contact of a `not_sent` attempt whose request cannot be
/// decided again.
async fn suppress_unavailable(
    conn: &mut sqlx::PgConnection,
    d: &Dispatcher,
    attempt_id: Uuid,
    why: &str,
) -> Result<(), sqlx::Error> {
    let r: NotSentRow = sqlx::query_as(
        "SELECT contact_id, debtor_id, credit_id, strategy, decision FROM dispatcher.attempts WHERE id = $1",
    )
    .bind(attempt_id)
    .fetch_one(&mut *conn)
    .await?;
    let now = d.clock.now();
    let (debtor_id, credit_id) = crate::attempts::parse_ids(&r.debtor_id, &r.credit_id)?;
    let event = ContactSuppressed {
        contact_id: r.contact_id,
        channel: d.channel,
        debtor_id,
        credit_id,
        rule: "request_unavailable".into(),
        detail: format!("attempt {attempt_id} was never received by the provider and its request {why}"),
        strategy: r.strategy,
        decision: serde_json::from_value(r.decision).unwrap_or_default(),
    };
    d.outbox.enqueue(conn, now, event).await?;
    Ok(())
}

/// The request behind an attempt, read back from the contact stream. `Ok(None)` when the stream cannot be read now;
/// `Err` when it will never be (gone from the stream, or unreadable).
async fn read_request(
    d: &Dispatcher,
    event_id: Uuid,
    sequence: i64,
) -> Result<Option<(Origin, ContactRequested)>, String> {
    // Sequences start at 1; 0 stands for one the consumer did not learn.
    let Some(seq) = u64::try_from(sequence).ok().filter(|s| *s > 0) else {
        return Err(format!("has no stream sequence ({sequence})"));
    };
    let payload = match d.bus.message_at("contact", seq).await {
        Ok(Some(payload)) => payload,
        Ok(None) => return Err(format!("is no longer in the contact stream (sequence {seq})")),
        Err(e) => {
            tracing::warn!(error = %e, "contact stream not readable; the request is decided again later");
            return Ok(None);
        }
    };
    let envelope: recaudo_events::RawEnvelope =
        serde_json::from_slice(&payload).map_err(|e| format!("does not read from the stream: {e}"))?;
    if envelope.id != event_id {
        return Err(format!("is not at its sequence {seq} (another event is)"));
    }
    let request = envelope.decode::<ContactRequested>().map_err(|e| format!("does not read: {e}"))?.data;
    Ok(Some((Origin { event_id, sequence: seq }, request)))
}

/// Attempts the provider took whose final status has not come: asks the provider's own record.
async fn check_unfinished(d: &Dispatcher) -> Result<(), sqlx::Error> {
    let rows: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "SELECT id, provider_message_id, checks FROM dispatcher.attempts
         WHERE channel = $1 AND provider_message_id IS NOT NULL AND NOT final AND next_check_at <= now()
         ORDER BY next_check_at LIMIT $2",
    )
    .bind(d.channel.as_str())
    .bind(BATCH)
    .fetch_all(&d.pool)
    .await?;
    for (id, message_id, checks) in rows {
        let looked_up: Result<Option<StatusUpdate>, ProviderError> = d.provider.fetch_status(&message_id).await;
        let now = d.clock.now();
        let mut tx = d.pool.begin().await?;
        let next = match &looked_up {
            // The provider has no lookup: its webhooks are retried by the provider itself.
            Ok(None) => None,
            _ => (checks + 1 < MAX_CHECKS).then(|| after(d.reconcile_after * 2u32.pow(checks.clamp(0, 10) as u32))),
        };
        if let Ok(Some(update)) = &looked_up {
            crate::webhooks::record_status(&mut tx, d, update, now).await?;
        } else if let Err(e) = &looked_up {
            tracing::warn!(attempt_id = %id, error = %e, "status lookup failed");
        }
        // Only where the status is still not final (the lookup may have made it final).
        sqlx::query(
            "UPDATE dispatcher.attempts SET checks = checks + 1, next_check_at = CASE WHEN final THEN NULL ELSE $2 END
             WHERE id = $1",
        )
        .bind(id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        d.outbox.wake();
    }
    Ok(())
}
