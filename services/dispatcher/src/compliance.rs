//! `GET /api/compliance/violations?from=..&to=..`: every attempt actually made (its real send time) re-checked
//! against the preset of the debtor's country, with the attempts made before it as the caps' history. The answer a
//! lender wants is an empty list; anything else names the attempt, the rule and why.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, AuditEntry, Permission, Principal};
use recaudo_domain::Country;
use recaudo_policy::{Debtor, Past, Policy};
use recaudo_runtime::{ApiError, Routes};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::FromRow;
use uuid::Uuid;

/// The longest period one request re-checks.
const MAX_DAYS: i64 = 93;

pub fn routes(pool: sqlx::PgPool) -> Routes {
    Routes::new().protected("/api/compliance/violations", get(violations)).with_state(pool)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Period {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[derive(FromRow)]
struct Attempt {
    id: Uuid,
    debtor_id: String,
    channel: String,
    country: Option<String>,
    time_zone: Option<String>,
    attempted_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Violation {
    attempt_id: Uuid,
    debtor_id: String,
    channel: String,
    country: String,
    attempted_at: DateTime<Utc>,
    rule: &'static str,
    source: &'static str,
    reason: String,
}

async fn violations(
    State(pool): State<sqlx::PgPool>,
    who: Principal,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReportsRead)?;
    let period: Period = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}; expected from and to (RFC 3339)")))?;
    if period.to <= period.from || (period.to - period.from).num_days() > MAX_DAYS {
        return Err(ApiError::bad_request("invalid_query", format!("to must follow from, by at most {MAX_DAYS} days")));
    }
    // The attempts of the period, and of the 31 days before it (what the caps count).
    let attempts: Vec<Attempt> = sqlx::query_as(
        "SELECT id, debtor_id, channel, country, time_zone, attempted_at FROM dispatcher.attempts
         WHERE attempted_at IS NOT NULL AND attempted_at >= $1 - interval '31 days' AND attempted_at < $2
           AND status <> 'not_sent'
           AND debtor_id IN (SELECT debtor_id FROM dispatcher.attempts
                             WHERE attempted_at >= $1 AND attempted_at < $2)
         ORDER BY debtor_id, attempted_at, id",
    )
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&pool)
    .await?;
    let mut found = Vec::new();
    let mut unchecked = 0;
    for (i, a) in attempts.iter().enumerate() {
        if a.attempted_at < period.from {
            continue;
        }
        let (Some(country), Ok(channel)) = (
            a.country.as_deref().and_then(|c| c.parse::<Country>().ok()),
            a.channel.parse::<recaudo_events::Channel>(),
        ) else {
            unchecked += 1;
            continue;
        };
        let history: Vec<Past> = attempts[..i]
            .iter()
            .filter(|p| p.debtor_id == a.debtor_id)
            .filter_map(|p| {
                let channel: recaudo_events::Channel = p.channel.parse().ok()?;
                Some(Past { at: p.attempted_at, channel: channel.into(), conversation: false })
            })
            .collect();
        let zone = a.time_zone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(country.time_zone());
        let debtor = Debtor::new(country, zone);
        if let Err(s) = Policy::for_country(country).check(&debtor, &history, channel.into(), a.attempted_at) {
            found.push(Violation {
                attempt_id: a.id,
                debtor_id: a.debtor_id.clone(),
                channel: a.channel.clone(),
                country: country.code().to_string(),
                attempted_at: a.attempted_at,
                rule: s.rule,
                source: s.source,
                reason: s.reason,
            });
        }
    }
    let checked = attempts.iter().filter(|a| a.attempted_at >= period.from).count() - unchecked;
    let details = json!({ "from": period.from, "to": period.to, "violations": found.len() });
    audit::record_now(&pool, &who, AuditEntry::new("compliance.violations.read", "compliance", None).details(details))
        .await?;
    Ok(Json(json!({
        "from": period.from, "to": period.to, "checked": checked,
        "unchecked_without_country": unchecked, "violations": found,
    })))
}
