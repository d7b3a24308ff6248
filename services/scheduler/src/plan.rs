//! `GET /api/debtors/{id}/plan`: what the scheduler will do for a debtor, and what stops it now: each planned
//! contact with its earliest allowed instant under the law of the debtor's country, and every current suppression
//! with its rule. (The strategies issue adds segment, stage, step and variant.)

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::{Country, DebtorId};
use recaudo_policy::{Channel as PolicyChannel, Debtor, Policy};
use recaudo_runtime::{ApiError, Clock, Routes};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::planner::{ledger_history, DEFAULT_STRATEGY};

#[derive(Clone)]
pub(crate) struct PlanState {
    pub pool: PgPool,
    pub clock: Clock,
}

pub(crate) fn routes(state: PlanState) -> Routes {
    Routes::new().protected("/api/debtors/{id}/plan", get(plan)).with_state(state)
}

async fn plan(State(s): State<PlanState>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let id = DebtorId::parse(&id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?;
    let id = id.as_str();
    scope::require(&s.pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let country: Option<String> =
        sqlx::query_scalar("SELECT country FROM scheduler.accounts WHERE debtor_id = $1 ORDER BY credit_id LIMIT 1")
            .bind(id)
            .fetch_optional(&s.pool)
            .await?;
    let Some(country) = country else { return Err(ApiError::NotFound(format!("no debtor {id}"))) };
    let country: Country =
        country.parse().map_err(|e: recaudo_domain::country::UnknownCountry| ApiError::Internal(e.into()))?;
    let now = s.clock.now();
    let planned: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT strategy, next_at FROM scheduler.plans WHERE debtor_id = $1 ORDER BY strategy")
            .bind(id)
            .fetch_all(&s.pool)
            .await?;
    let policy = Policy::for_country(country);
    let debtor = Debtor::new(country, country.time_zone());
    let mut conn = s.pool.acquire().await?;
    let history = ledger_history(&mut conn, id, now).await?;
    drop(conn);
    let next_contacts: Vec<Value> = planned
        .iter()
        .map(|(strategy, next_at)| {
            let from = (*next_at).max(now);
            json!({
                "strategy": strategy,
                "channel": "sms",
                "planned_at": next_at,
                "earliest_allowed": policy.next_allowed(&debtor, &history, PolicyChannel::Sms, from),
            })
        })
        .collect();
    let suppressions: Vec<Value> = match policy.check(&debtor, &history, PolicyChannel::Sms, now) {
        Ok(()) => Vec::new(),
        Err(s) => vec![json!({ "channel": "sms", "rule": s.rule, "source": s.source, "reason": s.reason })],
    };
    audit::record_now(&s.pool, &who, AuditEntry::new("debtor.plan.read", "debtor", Some(id))).await?;
    Ok(Json(json!({
        "debtor_id": id,
        "now": now,
        "preset": { "id": policy.preset.id, "name": policy.preset.name },
        "time_zone": debtor.zone.name(),
        "strategy": if planned.is_empty() { Value::Null } else { json!(DEFAULT_STRATEGY) },
        "next_contacts": next_contacts,
        "suppressions": suppressions,
        "contacts_counted": history.len(),
    })))
}
