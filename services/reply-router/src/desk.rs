//! The desks' live feed. Every change of a case appends a row to `reply_router.desk_events` in the transaction that
//! makes the change; `GET /api/stream` (see `stream.rs`) serves those rows to each person in scope. Writers take one
//! transaction lock before appending, so rows commit in `seq` order and a reader that has seen `seq = n` has seen
//! every row below it: `seq` is the stream's event id and a reconnecting client's cursor, valid across restarts.

use chrono::{DateTime, Utc};
use recaudo_access::scope::CaseHolder;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// The PostgreSQL notification channel that wakes every process's feed after a commit.
pub const CHANNEL: &str = "reply_router_desk";
/// The key of the transaction lock that orders the feed's appends.
const APPEND_LOCK: i64 = 0x7265_706c_7964_6573; // "replydes"

/// A change to announce on the desks of whoever sees the case.
pub struct Change<'a> {
    pub kind: &'a str,
    /// The case, or nil for a change of an advisor (an away mark).
    pub case_id: Uuid,
    pub holder: CaseHolder,
    pub data: Value,
}

pub async fn append(conn: &mut PgConnection, at: DateTime<Utc>, changes: &[Change<'_>]) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *conn).await?;
    for c in changes {
        sqlx::query(
            "INSERT INTO reply_router.desk_events (at, kind, case_id, advisor_id, supervisor_id, pooled, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(at)
        .bind(c.kind)
        .bind(Some(c.case_id).filter(|id| !id.is_nil()))
        .bind(c.holder.advisor_id)
        .bind(c.holder.supervisor_id)
        .bind(c.holder.pooled)
        .bind(&c.data)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&mut *conn).await?;
    Ok(())
}
