//! `GET /api/dead-letters` and `POST /api/dead-letters/{id}/replay` (admins): the messages consumers gave up on,
//! with the reason, and their replay once the cause is fixed. Served by every process, like the access routes: the
//! dead-letter stream is shared.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use recaudo_access::{audit, AuditEntry, Permission, Principal};
use recaudo_bus::{dead_letters, Bus};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{ApiError, Routes, Started};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgPool;

pub const NAME: &str = "dead-letters";

#[derive(Clone)]
struct Deps {
    bus: Bus,
    pool: PgPool,
}

pub fn service() -> ServiceDef {
    ServiceDef {
        name: NAME,
        schema: None,
        migrations: Vec::new(),
        start: Box::new(|infra, _shutdown| {
            Box::pin(async move {
                let deps = Deps { bus: infra.bus.clone(), pool: infra.pool.clone() };
                let routes = Routes::new()
                    .protected("/api/dead-letters", get(list))
                    .protected("/api/dead-letters/{id}/replay", post(replay))
                    .with_state(deps);
                Ok(Started::new(routes))
            })
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<u64>,
    limit: Option<usize>,
}

async fn list(State(d): State<Deps>, who: Principal, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DeadLettersManage)?;
    let page: Page = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}; parameters: after, limit")))?;
    // Ids are stream sequences; the documented range is a signed 64-bit one.
    let after = page.after.unwrap_or(0);
    if after > i64::MAX as u64 {
        return Err(ApiError::bad_request("invalid_query", format!("after: {after} is beyond any dead letter's id")));
    }
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", format!("limit: {limit} is not between 1 and 1000")));
    }
    let letters = dead_letters::list(&d.bus, after, limit)
        .await
        .map_err(|e| ApiError::unavailable("nats_unavailable", format!("cannot read the dead-letter stream: {e}")))?;
    let next = letters.last().map(|l| l.id).filter(|_| letters.len() == limit);
    Ok(Json(json!({ "dead_letters": letters, "next_after": next })))
}

async fn replay(
    State(d): State<Deps>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::DeadLettersManage)?;
    let id: u64 =
        id.parse().map_err(|_| ApiError::bad_request("invalid_id", "expected a dead letter's id (a number)"))?;
    let letter = dead_letters::replay(&d.bus, id)
        .await
        .map_err(|e| ApiError::unavailable("nats_unavailable", format!("cannot replay: {e}")))?
        .ok_or_else(|| ApiError::NotFound(format!("no dead letter {id}")))?;
    let id_text = id.to_string();
    let entry = AuditEntry::new("dead_letter.replay", "dead_letter", Some(&id_text)).details(json!({
        "consumer": letter.consumer, "original_subject": letter.original_subject, "event_id": letter.event_id,
    }));
    // The replay has happened: answering an error now would only make the admin retry into a 404.
    if let Err(e) = audit::record_now(&d.pool, &who, entry).await {
        tracing::error!(dead_letter = id, error = %e, "replayed, but the audit record could not be written");
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "replayed": letter }))))
}
