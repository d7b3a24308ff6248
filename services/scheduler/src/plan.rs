//! `GET /api/debtors/{id}/plan`: what the scheduler will do for a debtor, and what stops it now: the strategy their
//! segment picks (version), the stage, today's steps with their A/B variants and earliest allowed instants under
//! the law of the debtor's country, and every current suppression with its rule. The same evaluation the planner
//! acts on.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::{Country, DebtorId};
use recaudo_policy::{Channel as PolicyChannel, Policies, Policy};
use recaudo_runtime::{ApiError, Clock, Routes};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::debtor_state;
use crate::planner::{evaluate, ledger_history, Account, PLAN};
use crate::strategies::Active;

#[derive(Clone)]
pub(crate) struct PlanState {
    pub pool: PgPool,
    pub clock: Clock,
    pub policies: Arc<Policies>,
    pub strategies: Arc<Active>,
}

pub(crate) fn routes(state: PlanState) -> Routes {
    Routes::new().protected("/api/debtors/{id}/plan", get(plan)).with_state(state)
}

async fn plan(State(s): State<PlanState>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let id = DebtorId::parse(&id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?;
    let id = id.as_str();
    scope::require(&s.pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let mut conn = s.pool.acquire().await?;
    let accounts: Vec<Account> = sqlx::query_as(crate::planner::ACCOUNTS).bind(id).fetch_all(&mut *conn).await?;
    let any: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT country, city, phone FROM scheduler.accounts WHERE debtor_id = $1 ORDER BY credit_id LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((country, city, phone)) = any else { return Err(ApiError::NotFound(format!("no debtor {id}"))) };
    let country: Country =
        country.parse().map_err(|e: recaudo_domain::country::UnknownCountry| ApiError::Internal(e.into()))?;
    let now = s.clock.now();
    let planned: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT next_at FROM scheduler.plans WHERE debtor_id = $1 AND strategy = $2")
            .bind(id)
            .bind(PLAN)
            .fetch_optional(&mut *conn)
            .await?;
    let policy = s.policies.for_country(country);
    let debtor = debtor_state::load(&mut conn, id, country, city.as_deref(), phone.as_deref()).await?;
    let history = ledger_history(&mut conn, id, now).await?;
    let strategies = s.strategies.load(&mut conn).await?;
    drop(conn);
    let today = Policy::local_date(debtor.zone, now);
    let eval = evaluate(&accounts, &strategies, debtor.zone, today);
    let next_contacts: Vec<Value> = match (&eval, planned) {
        (Some(e), Some(planned_at)) => e
            .steps
            .iter()
            .map(|(step, chosen)| {
                let channel = PolicyChannel::from(chosen.channel);
                let from = planned_at.max(now);
                json!({
                    "strategy": e.strategy.name,
                    "step": step.id,
                    "variant": chosen.variant,
                    "channel": channel.as_str(),
                    "template": chosen.template,
                    "planned_at": planned_at,
                    "earliest_allowed": policy.next_allowed(&debtor, &history, channel, from),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
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
        .map(|h| {
            let channels: Vec<&str> = h.kind.channels().iter().map(|c| c.as_str()).collect();
            json!({ "rule": h.kind.rule(), "until": h.until, "channels": channels })
        })
        .collect();
    let withdrawn: Vec<&str> = debtor.withdrawn.iter().map(|c| c.as_str()).collect();
    let (strategy, segment, stage) = match &eval {
        Some(e) => (
            json!({ "name": e.strategy.name, "version": e.strategy.version }),
            e.strategy.document.segment.as_ref().map(|s| json!({ "priority": s.priority, "when": s.when })),
            e.stage.map(
                |st| json!({ "name": st.name, "days_past_due": e.days_past_due, "credit_id": e.account.credit_id }),
            ),
        ),
        None => (Value::Null, None, None),
    };
    audit::record_now(&s.pool, &who, AuditEntry::new("debtor.plan.read", "debtor", Some(id))).await?;
    Ok(Json(json!({
        "debtor_id": id,
        "now": now,
        "preset": { "id": policy.preset.id, "name": policy.preset.name, "lender_settings": s.policies.source.is_some() },
        "time_zone": debtor.zone.name(),
        "strategy": strategy,
        "segment": segment,
        "stage": stage,
        "next_contacts": next_contacts,
        "suppressions": suppressions,
        "holds": holds,
        "consent_withdrawn": withdrawn,
        "contacts_counted": history.len(),
    })))
}
