//! Settling what the dispatcher did not hear from the provider, while it runs:
//! - an attempt cut off mid-call (a crash, a timeout after the request left) stays `sending` or becomes `unknown`;
//!   the provider's records are searched for the message (Twilio's message list), and a provider that echoes our
//!   attempt id on its webhooks (Meta, SendGrid) settles it when the report comes;
//! - an attempt without a final status some time after the provider took it is looked up (Twilio's Message
//!   resource), because callbacks that arrive while no dispatcher listens are lost.
//!
//! Scheduling columns (`sending_until`, `next_check_at`) are wall-clock time, not the business clock
//! (`RECAUDO_NOW`): they are about this process's work, not about the debtor's day.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use recaudo_events::AttemptOutcome;
use recaudo_providers::{Content, OutboundMessage, ProviderError, StatusUpdate};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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
    check_unfinished(d).await
}

#[derive(sqlx::FromRow)]
struct Interrupted {
    id: Uuid,
    status: String,
    to_address: String,
    body: String,
    created_at: DateTime<Utc>,
    checks: i32,
}

/// Attempts cut off before the provider's answer was recorded: `sending` past their worker's time, or `unknown`
/// and due for another search.
async fn settle_interrupted(d: &Dispatcher) -> Result<(), sqlx::Error> {
    let rows: Vec<Interrupted> = sqlx::query_as(
        "SELECT id, status, to_address, body, created_at, checks FROM dispatcher.attempts
         WHERE channel = $1 AND provider_message_id IS NULL
           AND ((status = 'sending' AND sending_until < now())
                OR (status = 'unknown' AND next_check_at <= now()))
         ORDER BY created_at LIMIT $2",
    )
    .bind(d.channel.as_str())
    .bind(BATCH)
    .fetch_all(&d.pool)
    .await?;
    for row in rows {
        // The search runs outside any transaction: a slow provider must not hold a connection.
        let probe = OutboundMessage {
            to: row.to_address.clone(),
            content: Content::Text { body: row.body.clone() },
            status_callback: None,
            idempotency_key: row.id.to_string(),
        };
        let found = d.provider.find_message(&probe, row.created_at - chrono::Duration::days(1)).await;
        let now = d.clock.now();
        let mut tx = d.pool.begin().await?;
        // Still unsettled? (A report with our attempt id may have settled it meanwhile.)
        let current: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT status, provider_message_id FROM dispatcher.attempts WHERE id = $1 FOR UPDATE")
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await?;
        if !matches!(current, Some((ref s, None)) if *s == row.status) {
            continue;
        }
        match found {
            Ok(Some(update)) => {
                crate::webhooks::lock_message(&mut tx, d, &update.provider_message_id).await?;
                crate::webhooks::adopt_message(&mut tx, d, row.id, &update, now).await?;
                crate::webhooks::record_status(&mut tx, d, &update, now).await?;
                tracing::info!(attempt_id = %row.id, status = %update.normalized, "interrupted attempt found at the provider");
            }
            other => {
                if let Err(e) = &other {
                    tracing::warn!(attempt_id = %row.id, error = %e, "provider search failed");
                }
                let next = (row.checks + 1 < MAX_CHECKS)
                    .then(|| after(d.reconcile_after * 2u32.pow(row.checks.clamp(0, 10) as u32)));
                sqlx::query(
                    "UPDATE dispatcher.attempts
                     SET status = 'unknown', updated_at = $2, attempted_at = coalesce(attempted_at, created_at),
                         error = coalesce(error, 'interrupted before the provider answered; not resent'),
                         checks = checks + 1, next_check_at = $3
                     WHERE id = $1",
                )
                .bind(row.id)
                .bind(now)
                .bind(next)
                .execute(&mut *tx)
                .await?;
                if row.status == "sending" {
                    let error = Some("interrupted before the provider answered; not resent".to_string());
                    // Dated when it was recorded, just before the call that was cut off, not when it was found.
                    let at = row.created_at;
                    crate::attempts::publish_attempted(&mut tx, d, row.id, AttemptOutcome::Unknown, error, at).await?;
                }
            }
        }
        tx.commit().await?;
        d.outbox.wake();
    }
    Ok(())
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
