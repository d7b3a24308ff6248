//! `GET /api/advisors/{advisor_id}/queue`: the open items in an advisor's queue, oldest first.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_runtime::{ApiError, Routes};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::FromRow;
use uuid::Uuid;

use crate::Router;

pub fn routes(r: Arc<Router>) -> Routes {
    Routes::new().protected("/api/advisors/{id}/queue", get(queue)).with_state(r)
}

#[derive(Serialize, FromRow)]
struct Item {
    id: Uuid,
    kind: String,
    state: String,
    debtor_id: String,
    debtor_first_name: Option<String>,
    debtor_last_name: Option<String>,
    credit_id: String,
    opened_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
}

async fn queue(State(r): State<Arc<Router>>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(Permission::QueuesRead)?;
    let advisor_id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "expected an advisor id (a UUID from GET /api/advisors)"))?;
    scope::require(&r.pool, &who, Resource::Advisor(advisor_id), &format!("advisor {advisor_id}")).await?;
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reply_router.advisors WHERE id = $1)")
        .bind(advisor_id)
        .fetch_one(&r.pool)
        .await?;
    if !known {
        return Err(ApiError::NotFound(format!("no advisor {advisor_id}")));
    }
    let items: Vec<Item> = sqlx::query_as(
        "SELECT q.id, q.kind, q.state, q.debtor_id, a.debtor_first_name, a.debtor_last_name, q.credit_id, q.opened_at, q.due_at
         FROM reply_router.queue_items q
         -- Only items of credits the advisor still holds: a debtor reassigned away leaves the queue at once.
         JOIN reply_router.accounts a ON a.credit_id = q.credit_id AND a.advisor_id = q.advisor_id
         WHERE q.advisor_id = $1 AND q.state = 'open' ORDER BY q.opened_at, q.id",
    )
    .bind(advisor_id)
    .fetch_all(&r.pool)
    .await?;
    let id = advisor_id.to_string();
    audit::record_now(&r.pool, &who, AuditEntry::new("queue.read", "advisor", Some(&id))).await?;
    Ok(Json(json!({ "advisor_id": advisor_id, "items": items })))
}

/// The debtor's open item in the advisor's queue: a new one (announced with `queue.item.opened`, opened by `kind`),
/// or the one already open there, which clicks, messages and call tasks join.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_item(
    conn: &mut sqlx::PgConnection,
    r: &Router,
    advisor_id: uuid::Uuid,
    supervisor_id: Option<uuid::Uuid>,
    kind: recaudo_events::ReplyKind,
    debtor_id: &recaudo_domain::DebtorId,
    credit_id: &recaudo_domain::CreditId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<uuid::Uuid, sqlx::Error> {
    let due_at = now + chrono::Duration::from_std(r.config.sla).unwrap_or(chrono::Duration::hours(2));
    let kind_name = match kind {
        recaudo_events::ReplyKind::Click => "click",
        recaudo_events::ReplyKind::Message => "message",
        recaudo_events::ReplyKind::CallTask => "call_task",
    };
    let opened: Option<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO reply_router.queue_items (id, advisor_id, supervisor_id, kind, debtor_id, credit_id, state,
                                               opened_at, due_at, updated_at)
         VALUES ($1, $2, $3, $8, $4, $5, 'open', $6, $7, $6)
         ON CONFLICT (advisor_id, debtor_id) WHERE state = 'open' DO NOTHING RETURNING id",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(advisor_id)
    .bind(supervisor_id)
    .bind(debtor_id.as_str())
    .bind(credit_id.as_str())
    .bind(now)
    .bind(due_at)
    .bind(kind_name)
    .fetch_optional(&mut *conn)
    .await?;
    match opened {
        Some(id) => {
            let event = recaudo_events::QueueItemOpened {
                queue_item_id: id,
                advisor_id: recaudo_domain::AdvisorId(advisor_id),
                supervisor_id: supervisor_id.map(recaudo_domain::SupervisorId),
                kind,
                debtor_id: debtor_id.clone(),
                credit_id: credit_id.clone(),
                opened_at: now,
                due_at,
            };
            r.outbox.enqueue(conn, now, event).await?;
            Ok(id)
        }
        None => {
            sqlx::query_scalar(
                "SELECT id FROM reply_router.queue_items WHERE advisor_id = $1 AND debtor_id = $2 AND state = 'open'",
            )
            .bind(advisor_id)
            .bind(debtor_id.as_str())
            .fetch_one(conn)
            .await
        }
    }
}
