//! `GET /api/debtors/{id}/plan`: what the scheduler will do for a debtor, and what stops it now: each planned
//! contact with its earliest allowed instant under the law of the debtor's country, and every current suppression
//! with its rule. (The strategies issue adds segment, stage, step and variant.)

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::{Country, DebtorId};
use recaudo_policy::{Channel as PolicyChannel, Policies};
use recaudo_runtime::{ApiError, Clock, Routes};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::debtor_state;
use crate::planner::{ledger_history, DEFAULT_STRATEGY};

#[derive(Clone)]
pub(crate) struct PlanState {
    pub pool: PgPool,
    pub clock: Clock,
    pub policies: std::sync::Arc<Policies>,
}

pub(crate) fn routes(state: PlanState) -> Routes {
    Routes::new().protected("/api/debtors/{id}/plan", get(plan)).with_state(state)
}

async fn plan(State(s): State<PlanState>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let id = DebtorId::parse(&id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?;
    let id = id.as_str();
    scope::require(&s.pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let account: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT country, city, phone FROM scheduler.accounts WHERE debtor_id = $1 ORDER BY credit_id LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&s.pool)
    .await?;
    let Some((country, city, phone)) = account else { return Err(ApiError::NotFound(format!("no debtor {id}"))) };
    let country: Country =
        country.parse().map_err(|e: recaudo_domain::country::UnknownCountry| ApiError::Internal(e.into()))?;
    let now = s.clock.now();
    let planned: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT strategy, next_at FROM scheduler.plans WHERE debtor_id = $1 ORDER BY strategy")
            .bind(id)
            .fetch_all(&s.pool)
            .await?;
    let policy = s.policies.for_country(country);
    let mut conn = s.pool.acquire().await?;
    let debtor = debtor_state::load(&mut conn, id, country, city.as_deref(), phone.as_deref()).await?;
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
    // Every channel's current no, so a reader sees a hold or an opt-out whichever channel comes next.
    let suppressions: Vec<Value> = PolicyChannel::ALL
        .into_iter()
        .filter_map(|channel| {
            let s = policy.check(&debtor, &history, channel, now).err()?;
            Some(json!({ "channel": channel.as_str(), "rule": s.rule, "source": s.source, "reason": s.reason }))
        })
        .collect();
    let holds: Vec<Value> = debtor
        .holds
        .iter()
        .filter(|h| h.until.is_none_or(|u| u > now))
        .map(|h| json!({ "rule": h.kind.rule(), "until": h.until, "channels": h.kind.channels().iter().map(|c| c.as_str()).collect::<Vec<_>>() }))
        .collect();
    let withdrawn: Vec<&str> = debtor.withdrawn.iter().map(|c| c.as_str()).collect();
    audit::record_now(&s.pool, &who, AuditEntry::new("debtor.plan.read", "debtor", Some(id))).await?;
    Ok(Json(json!({
        "debtor_id": id,
        "now": now,
        "preset": { "id": policy.preset.id, "name": policy.preset.name, "lender_settings": s.policies.source.is_some() },
        "time_zone": debtor.zone.name(),
        "strategy": if planned.is_empty() { Value::Null } else { json!(DEFAULT_STRATEGY) },
        "next_contacts": next_contacts,
        "suppressions": suppressions,
        "holds": holds,
        "consent_withdrawn": withdrawn,
        "contacts_counted": history.len(),
    })))
}
