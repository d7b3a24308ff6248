//! The debtor's timeline: every attempt, status, reply, click, call task, outcome, note, claim, transfer and
//! escalation, in order, across channels. The case page shows it; it is the auditable history of the debtor.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// One line of a debtor's timeline.
#[derive(Debug, Serialize, FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub case_id: Option<Uuid>,
    /// Who did it (an opaque subject), when a person or service did.
    pub actor: Option<String>,
    pub detail: Value,
}

/// Adds an entry. One about no case in particular (an attempt, a delivery status, a promise) is announced on the
/// desks as a change of the debtor's latest case, so an open case page shows it without a reload; callers that
/// pass a case announce their own change.
pub async fn add(
    conn: &mut PgConnection,
    debtor_id: &str,
    case_id: Option<Uuid>,
    at: DateTime<Utc>,
    kind: &str,
    actor: Option<&str>,
    detail: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reply_router.timeline (id, debtor_id, case_id, at, kind, actor, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(debtor_id)
    .bind(case_id)
    .bind(at)
    .bind(kind)
    .bind(actor)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    if case_id.is_none() {
        let latest: Option<crate::cases::Case> = sqlx::query_as(&format!(
            "SELECT {} FROM reply_router.cases WHERE debtor_id = $1 ORDER BY opened_at DESC, id DESC LIMIT 1",
            crate::cases::CASE_COLUMNS
        ))
        .bind(debtor_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(case) = latest {
            crate::cases::announce(conn, at, "case.updated", &case).await?;
        }
    }
    Ok(())
}

/// The debtor's timeline, oldest first (the last `limit` entries).
pub async fn of_debtor(pool: &sqlx::PgPool, debtor_id: &str, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM (SELECT id, at, kind, case_id, actor, detail FROM reply_router.timeline
                        WHERE debtor_id = $1 ORDER BY at DESC, id DESC LIMIT $2) t
         ORDER BY at, id",
    )
    .bind(debtor_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
