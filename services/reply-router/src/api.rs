//! The workspace's JSON API: queues, cases and their actions, team and away marks. Every route asks the access
//! layer's one scope function; outside the caller's scope a case or advisor answers 404.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_runtime::{ApiError, Routes};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::actions::{self, AwayRequest, OutcomeRequest};
use crate::views::{self, Queue};
use crate::{cases, Router};

pub fn routes(r: Arc<Router>) -> Routes {
    Routes::new()
        .protected("/api/advisors/{id}/queue", get(advisor_queue))
        .protected("/api/advisors/{id}/away", put(away))
        .protected("/api/supervisors/{id}/queue", get(supervisor_queue))
        .protected("/api/supervisors/{id}/team", get(team))
        .protected("/api/cases/{id}", get(case))
        .protected("/api/cases/{id}/claim", post(claim))
        .protected("/api/cases/{id}/reply", post(reply))
        .protected("/api/cases/{id}/notes", post(note))
        .protected("/api/cases/{id}/snooze", post(snooze))
        .protected("/api/cases/{id}/transfer", post(transfer))
        .protected("/api/cases/{id}/outcomes", post(outcome))
        .with_state(r)
}

pub fn parse_id(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", format!("id: expected {what} id (a UUID), not {raw:?}")))
}

fn body<T: DeserializeOwned>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))
}

pub async fn advisor_queue_items(
    r: &Router,
    who: &Principal,
    advisor: Uuid,
) -> Result<Vec<views::QueueItem>, ApiError> {
    who.require(Permission::QueuesRead)?;
    scope::require(&r.pool, who, Resource::Advisor(advisor), &format!("advisor {advisor}")).await?;
    let Some(supervisor_id) = cases::supervisor_of(&r.pool, advisor).await? else {
        return Err(ApiError::NotFound(format!("no advisor {advisor}")));
    };
    let items =
        views::queue(&r.pool, &Queue::Advisor { advisor_id: advisor, supervisor_id }, &r.config.queue_order).await?;
    let id = advisor.to_string();
    audit::record_now(&r.pool, who, AuditEntry::new("queue.read", "advisor", Some(&id))).await?;
    Ok(items)
}

async fn advisor_queue(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let advisor = parse_id("an advisor", &id)?;
    let items = advisor_queue_items(&r, &who, advisor).await?;
    Ok(Json(json!({ "advisor_id": advisor, "items": items })))
}

pub async fn supervisor_queue_items(r: &Router, who: &Principal, id: Uuid) -> Result<Vec<views::QueueItem>, ApiError> {
    who.require(Permission::QueuesRead)?;
    scope::require(&r.pool, who, Resource::Supervisor(id), &format!("supervisor {id}")).await?;
    let items = views::queue(&r.pool, &Queue::Supervisor(id), &r.config.queue_order).await?;
    let sid = id.to_string();
    audit::record_now(&r.pool, who, AuditEntry::new("queue.read", "supervisor", Some(&sid))).await?;
    Ok(items)
}

async fn supervisor_queue(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("a supervisor", &id)?;
    let items = supervisor_queue_items(&r, &who, id).await?;
    Ok(Json(json!({ "supervisor_id": id, "items": items })))
}

pub async fn team_members(r: &Router, who: &Principal, id: Uuid) -> Result<Vec<views::TeamMember>, ApiError> {
    who.require(Permission::QueuesRead)?;
    scope::require(&r.pool, who, Resource::Supervisor(id), &format!("supervisor {id}")).await?;
    // "Today" from midnight UTC-5 would favour one country; the last 24 hours are everyone's today.
    let since = r.clock.now() - chrono::Duration::hours(24);
    Ok(views::team(&r.pool, id, since).await?)
}

async fn team(State(r): State<Arc<Router>>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id("a supervisor", &id)?;
    let advisors = team_members(&r, &who, id).await?;
    Ok(Json(json!({ "supervisor_id": id, "advisors": advisors })))
}

/// The case with its debtor, credits and timeline, if `who` sees it; the read is audited.
pub async fn case_view(r: &Router, who: &Principal, id: Uuid) -> Result<views::CaseView, ApiError> {
    who.require(Permission::QueuesRead)?;
    let item = views::item(&r.pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    scope::require(&r.pool, who, Resource::Case(item.holder()), &format!("case {id}")).await?;
    let view = views::case(&r.pool, item).await?;
    let sid = id.to_string();
    let entry = AuditEntry::new("case.read", "case", Some(&sid)).details(json!({ "debtor_id": view.case.debtor_id }));
    audit::record_now(&r.pool, who, entry).await?;
    Ok(view)
}

async fn case(State(r): State<Arc<Router>>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id("a case", &id)?;
    let view = case_view(&r, &who, id).await?;
    Ok(Json(serde_json::to_value(view).map_err(|e| ApiError::Internal(e.into()))?))
}

/// What an action answers: the case as it is now.
async fn current(r: &Router, id: Uuid) -> Result<Json<Value>, ApiError> {
    let item = views::item(&r.pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    Ok(Json(json!({ "case": item })))
}

async fn claim(State(r): State<Arc<Router>>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id("a case", &id)?;
    actions::claim(&r, &who, id).await?;
    current(&r, id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteRequest {
    text: String,
}

async fn note(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
    b: Result<Json<NoteRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id("a case", &id)?;
    let req = body(b)?;
    actions::note(&r, &who, id, &req.text).await?;
    Ok((StatusCode::CREATED, current(&r, id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeRequest {
    until: DateTime<Utc>,
}

async fn snooze(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
    b: Result<Json<SnoozeRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("a case", &id)?;
    let req = body(b)?;
    actions::snooze(&r, &who, id, req.until).await?;
    current(&r, id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    advisor_id: Uuid,
}

async fn transfer(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
    b: Result<Json<TransferRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("a case", &id)?;
    let req = body(b)?;
    actions::transfer(&r, &who, id, req.advisor_id).await?;
    current(&r, id).await
}

async fn outcome(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
    b: Result<Json<OutcomeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id("a case", &id)?;
    let req = body(b)?;
    let outcome_id = actions::outcome(&r, &who, id, req).await?;
    let Json(mut answer) = current(&r, id).await?;
    answer["outcome_id"] = json!(outcome_id);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn away(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
    b: Result<Json<AwayRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let advisor = parse_id("an advisor", &id)?;
    let req = body(b)?;
    let away = req.away;
    actions::set_away(&r, &who, advisor, req).await?;
    Ok(Json(json!({ "advisor_id": advisor, "away": away })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// `sms`, `whatsapp` or `email`; by default the channel the debtor last wrote on.
    #[serde(default)]
    pub channel: Option<String>,
    /// A saved template of that channel.
    pub template: String,
}

async fn reply(
    State(r): State<Arc<Router>>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ReplyRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id("a case", &id)?;
    let req = body(b)?;
    crate::reply::send(&r, &who, id, req, &headers).await
}
