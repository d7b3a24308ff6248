//! The audit trail: who read which debtor's record, who exported what, who changed users, roles and credentials;
//! when, and from where. Append-only (a trigger refuses updates and deletes); records leave only through the
//! retention purge, after `RECAUDO_AUDIT_RETENTION_DAYS` (three years by default, as US Regulation F asks).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::principal::Principal;

/// One thing done, about one resource.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
    pub details: Value,
}

impl<'a> Entry<'a> {
    pub fn new(action: &'a str, resource_type: &'a str, resource_id: Option<&'a str>) -> Self {
        Entry { action, resource_type, resource_id, details: Value::Object(Default::default()) }
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Records `entry` done by `who`, in the caller's transaction (so a change and its record commit together).
pub async fn record(
    conn: &mut PgConnection,
    who: &Principal,
    at: DateTime<Utc>,
    entry: Entry<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access.audit_log (at, actor, actor_kind, role, action, resource_type, resource_id, ip,
                                       forwarded_for, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(at)
    .bind(&who.subject)
    .bind(who.kind())
    .bind(who.role().map(|r| r.as_str()))
    .bind(entry.action)
    .bind(entry.resource_type)
    .bind(entry.resource_id)
    .bind(&who.origin.ip)
    .bind(&who.origin.forwarded_for)
    .bind(&who.origin.user_agent)
    .bind(&entry.details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records `entry` now, on a connection of its own: reads (a read that cannot be recorded is not served; the caller
/// answers with the error) and acts that have no transaction of their own (a replay).
pub async fn record_now(pool: &PgPool, who: &Principal, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    record(&mut conn, who, Utc::now(), entry).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Records with a smaller id than this (the `next_before_id` of the previous page).
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Record {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_kind: String,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

pub const MAX_PAGE: i64 = 1000;

/// Newest first.
pub async fn query(pool: &PgPool, f: &Filter) -> Result<Vec<Record>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, actor, actor_kind, role, action, resource_type, resource_id, ip, forwarded_for, user_agent,
                details
         FROM access.audit_log
         WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
           AND ($3::text IS NULL OR resource_type = $3) AND ($4::text IS NULL OR resource_id = $4)
           AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)
           AND ($7::bigint IS NULL OR id < $7)
         ORDER BY id DESC LIMIT $8",
    )
    .bind(&f.actor)
    .bind(&f.action)
    .bind(&f.resource_type)
    .bind(&f.resource_id)
    .bind(f.from)
    .bind(f.to)
    .bind(f.before_id)
    .bind(f.limit.unwrap_or(100).clamp(1, MAX_PAGE))
    .fetch_all(pool)
    .await
}

/// Deletes the records older than `retention`; returns how many.
pub async fn purge(pool: &PgPool, retention: Duration, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let mut tx = pool.begin().await?;
    // The append-only trigger lets deletes through only in a transaction that says it is the purge.
    sqlx::query("SELECT set_config('recaudo.audit_purge', 'on', true)").execute(&mut *tx).await?;
    let done = sqlx::query("DELETE FROM access.audit_log WHERE at < $1").bind(cutoff).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Purges once an hour until `shutdown`.
pub async fn purge_periodically(pool: PgPool, retention: Duration, shutdown: CancellationToken) {
    loop {
        match purge(&pool, retention, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "audit records past their retention purged"),
            Err(e) => tracing::warn!(error = %e, "cannot purge old audit records"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
