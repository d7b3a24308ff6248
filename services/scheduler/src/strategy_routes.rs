//! `/api/strategies`: managers write and activate versions; everyone who reads debtors may read strategies.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use recaudo_access::{audit, AuditEntry, Permission, Principal};
use recaudo_bus::outbox::Outbox;
use recaudo_runtime::{ApiError, Clock, Routes};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::simulate;
use crate::strategies::{self, StoreError};

/// The largest document accepted (a strategy is a page of YAML, not a data file).
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub(crate) struct StrategyState {
    pub pool: PgPool,
    pub clock: Clock,
    pub outbox: Outbox,
    pub policies: Arc<recaudo_policy::Policies>,
    pub prefix: recaudo_bus::Prefix,
    pub sms_segment_warning: usize,
    /// Where reply links point, for previews.
    pub public_url: String,
}

pub(crate) fn routes(state: Arc<StrategyState>) -> Routes {
    Routes::new()
        .protected("/api/strategies", get(list))
        .protected("/api/strategies/{name}", get(show).put(put))
        .protected("/api/strategies/{name}/versions/{version}/activate", post(activate))
        .protected("/api/strategies/{name}/versions/{version}/simulate", post(simulate))
        .with_state(state)
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(problems) => ApiError::refused_whole("invalid_strategy", "the document", &problems),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Db(e) => e.into(),
        }
    }
}

/// A strategy's or a template's name from the path (a 400 `invalid_name` when it cannot be one).
pub(crate) fn name(raw: &str) -> Result<&str, ApiError> {
    recaudo_domain::problem::check_name(raw).map_err(|m| ApiError::bad_request("invalid_name", m))?;
    Ok(raw)
}

async fn list(State(s): State<Arc<StrategyState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    Ok(Json(strategies::list(&s.pool).await?))
}

async fn show(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let name = name(&raw)?;
    let versions = strategies::get(&s.pool, name, None).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!("no strategy {name}")));
    }
    Ok(Json(json!({ "name": name, "versions": versions })))
}

async fn put(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::StrategiesWrite)?;
    let name = name(&raw)?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::PayloadTooLarge(format!("a strategy document is at most {MAX_DOCUMENT_BYTES} bytes")));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request("invalid_encoding", format!("the document is not UTF-8: {e}")))?;
    if let Some(at) = text.find('\0') {
        return Err(ApiError::bad_request("invalid_document", format!("the document holds a NUL at byte {at}")));
    }
    let created = strategies::put_draft(&s.pool, name, text, &who.subject, s.clock.now()).await?;
    let entry = AuditEntry::new("strategy.put", "strategy", Some(name)).details(json!({ "version": created.version }));
    audit::record_now(&s.pool, &who, entry).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(created).map_err(|e| ApiError::Internal(e.into()))?)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateQuery {
    days: Option<u32>,
}

async fn simulate(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path((raw, version)): Path<(String, String)>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::StrategiesWrite)?;
    let name = name(&raw)?;
    let version = version_number(&version)?;
    let query: SimulateQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or("")).map_err(|e| {
        ApiError::bad_request("invalid_query", format!("{e}; expected days (1 to {})", simulate::MAX_DAYS))
    })?;
    let days = query.days.unwrap_or(30);
    if days == 0 || days > simulate::MAX_DAYS {
        return Err(ApiError::bad_request("invalid_query", format!("days must be 1 to {}", simulate::MAX_DAYS)));
    }
    let report =
        simulate::run(&s.pool, s.policies.clone(), s.prefix.clone(), name, Some(version), days, s.clock.now()).await?;
    Ok(Json(serde_json::to_value(report).map_err(|e| ApiError::Internal(e.into()))?))
}

fn version_number(raw: &str) -> Result<i32, ApiError> {
    raw.parse()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| ApiError::bad_request("invalid_version", format!("{raw:?} is not a version number")))
}

async fn activate(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path((raw, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::StrategiesWrite)?;
    let name = name(&raw)?;
    let version = version_number(&version)?;
    let activated = strategies::activate(&s.pool, &s.outbox, name, version, &who.subject, s.clock.now()).await?;
    let entry = AuditEntry::new("strategy.activate", "strategy", Some(name)).details(json!({ "version": version }));
    audit::record_now(&s.pool, &who, entry).await?;
    Ok(Json(serde_json::to_value(activated).map_err(|e| ApiError::Internal(e.into()))?))
}
