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
