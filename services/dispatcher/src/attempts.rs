//! Attempts as the API shows them, the history the caps count, and the publishing of an attempt learnt late.

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
    /// Normalised: queued, sent, delivered, read, failed, undelivered; sending or unknown before the provider's
    /// answer is known; not_sent when the provider's records proved it never got it.
    pub status: String,
    /// The provider's own word for the status, and its error code.
    pub provider_status: Option<String>,
    pub error_code: Option<String>,
    /// No later report changes the status.
    #[sqlx(rename = "final")]
    #[serde(rename = "final")]
    pub is_final: bool,
    pub body: String,
    pub to: String,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub attempted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The debtor's attempts of the last 31 days, as the policy engine counts them: every attempt that reached the
/// provider call, whatever its answer, but not those the provider's records prove it never received (the
/// compliance check counts the same).
pub(crate) async fn history(
    conn: &mut sqlx::PgConnection,
    debtor_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<recaudo_policy::Past>, sqlx::Error> {
    let rows: Vec<(chrono::DateTime<chrono::Utc>, String)> = sqlx::query_as(
        "SELECT COALESCE(attempted_at, created_at), channel FROM dispatcher.attempts
         WHERE debtor_id = $1 AND created_at > $2 - interval '31 days' AND created_at <= $2
           AND status <> 'not_sent'",
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
        "SELECT id AS attempt_id, contact_id, channel, status, provider_status, error_code, final, body,
                to_address AS \"to\", provider, provider_message_id, error, created_at, attempted_at
         FROM dispatcher.attempts WHERE debtor_id = $1 ORDER BY created_at, id",
    )
    .bind(debtor_id)
    .fetch_all(pool)
    .await
}

#[derive(FromRow)]
struct AttemptRow {
    contact_id: Uuid,
    debtor_id: String,
    credit_id: String,
    advisor_id: Option<Uuid>,
    body: String,
    reply_token: String,
    provider_message_id: Option<String>,
    strategy: Option<String>,
    decision: serde_json::Value,
}

/// An attempt row's debtor and credit ids, as events carry them (they were valid ids when recorded).
pub(crate) fn parse_ids(debtor_id: &str, credit_id: &str) -> Result<(DebtorId, CreditId), sqlx::Error> {
    let bad = |e: recaudo_domain::ids::InvalidId| sqlx::Error::Decode(e.to_string().into());
    Ok((DebtorId::parse(debtor_id).map_err(bad)?, CreditId::parse(credit_id).map_err(bad)?))
}

/// Publishes an attempt's `contact.attempted` from its row, in the caller's transaction: for attempts whose
/// outcome was learnt after the send (a reconciled or adopted message, an interrupted send).
pub(crate) async fn publish_attempted(
    conn: &mut sqlx::PgConnection,
    d: &Dispatcher,
    attempt_id: Uuid,
    outcome: AttemptOutcome,
    error: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    let r: AttemptRow = sqlx::query_as(
        "SELECT contact_id, debtor_id, credit_id, advisor_id, body, reply_token, provider_message_id, strategy, decision
         FROM dispatcher.attempts WHERE id = $1",
    )
    .bind(attempt_id)
    .fetch_one(&mut *conn)
    .await?;
    let (debtor_id, credit_id) = parse_ids(&r.debtor_id, &r.credit_id)?;
    let event = ContactAttempted {
        attempt_id,
        contact_id: r.contact_id,
        channel: d.channel,
        strategy: r.strategy,
        decision: serde_json::from_value(r.decision).unwrap_or_default(),
        debtor_id,
        credit_id,
        advisor_id: r.advisor_id.map(recaudo_domain::AdvisorId),
        outcome,
        provider: d.provider.name().to_string(),
        provider_message_id: r.provider_message_id,
        body: r.body,
        reply_token: r.reply_token,
        error,
        attempted_at: now,
    };
    d.outbox.enqueue(conn, now, event).await?;
    Ok(())
}
