//! Attempts as the API shows them, and the settling of attempts cut off by a crash.

use recaudo_domain::{CreditId, DebtorId};
use recaudo_events::{AttemptOutcome, ContactAttempted};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::Dispatcher;

#[derive(Debug, Serialize, FromRow)]
pub struct AttemptView {
    pub attempt_id: Uuid,
    pub contact_id: Uuid,
    pub channel: String,
    pub status: String,
    pub body: String,
    pub to: String,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub attempted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The debtor's attempts of the last 31 days, as the policy engine counts them: every attempt that reached the
/// provider call, whatever its answer (the compliance check counts the same).
pub(crate) async fn history(
    conn: &mut sqlx::PgConnection,
    debtor_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<recaudo_policy::Past>, sqlx::Error> {
    let rows: Vec<(chrono::DateTime<chrono::Utc>, String)> = sqlx::query_as(
        "SELECT COALESCE(attempted_at, created_at), channel FROM dispatcher.attempts
         WHERE debtor_id = $1 AND created_at > $2 - interval '31 days' AND created_at <= $2",
    )
    .bind(debtor_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(at, channel)| {
            let channel: recaudo_events::Channel = channel.parse().ok()?;
            Some(recaudo_policy::Past { at, channel: channel.into(), conversation: false })
        })
        .collect())
}

/// Serialises the re-checks of one debtor's requests across channels and replicas until the transaction ends.
pub(crate) async fn lock_debtor(conn: &mut sqlx::PgConnection, debtor_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('dispatcher.debtor:' || $1, 0))")
        .bind(debtor_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn for_debtor(pool: &sqlx::PgPool, debtor_id: &str) -> Result<Vec<AttemptView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id AS attempt_id, contact_id, channel, status, body, to_address AS \"to\", provider, provider_message_id,
                error, created_at, attempted_at
         FROM dispatcher.attempts WHERE debtor_id = $1 ORDER BY created_at, id",
    )
    .bind(debtor_id)
    .fetch_all(pool)
    .await
}

#[derive(FromRow)]
struct Interrupted {
    id: Uuid,
    contact_id: Uuid,
    debtor_id: String,
    credit_id: String,
    advisor_id: Option<Uuid>,
    body: String,
    reply_token: String,
    strategy: Option<String>,
    decision: serde_json::Value,
}

/// Attempts left in `sending` by a crash between recording and calling the provider (or before recording the
/// answer): whether the provider sent them is unknown, and they are never sent again. They become `unknown` and
/// are published as failed attempts, so that the scheduler and the metrics see them.
pub async fn settle_interrupted(d: &Dispatcher) -> Result<(), sqlx::Error> {
    let now = d.clock.now();
    let cutoff = now - chrono::Duration::minutes(2);
    let mut tx = d.pool.begin().await?;
    let rows: Vec<Interrupted> = sqlx::query_as(
        "UPDATE dispatcher.attempts SET status = 'unknown', error = 'interrupted before the provider answered',
                updated_at = $3
         WHERE status = 'sending' AND channel = $1 AND created_at < $2
         RETURNING id, contact_id, debtor_id, credit_id, advisor_id, body, reply_token, strategy, decision",
    )
    .bind(d.channel.as_str())
    .bind(cutoff)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for r in rows {
        let event = ContactAttempted {
            attempt_id: r.id,
            contact_id: r.contact_id,
            channel: d.channel,
            strategy: r.strategy,
            decision: serde_json::from_value(r.decision).unwrap_or_default(),
            debtor_id: DebtorId::parse(&r.debtor_id).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
            credit_id: CreditId::parse(&r.credit_id).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
            advisor_id: r.advisor_id.map(recaudo_domain::AdvisorId),
            outcome: AttemptOutcome::Failed,
            provider: d.provider.name().to_string(),
            provider_message_id: None,
            body: r.body,
            reply_token: r.reply_token,
            error: Some("interrupted before the provider answered; not retried".into()),
            attempted_at: now,
        };
        d.outbox.enqueue(&mut tx, now, event).await?;
    }
    tx.commit().await?;
    Ok(())
}
