//! "See before you send": a strategy version run over the current portfolio on a simulated clock, by the planner
//! itself (no copy of it). Everything happens in one database transaction that is rolled back at the end: the
//! version is put in force, every debtor's plan is made due, the planner decides hour by hour for the days asked
//! (its ledger, so the caps count what it "sent" earlier in the run), and the events it would have published are
//! read back from the uncommitted outbox and counted. Nothing is kept and nothing is published.
//!
//! While it runs, the debtors' plans are locked by its transaction: the live planner skips them (they are decided
//! when it ends). Simulate large portfolios outside contact hours, or against a copy of the database.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_policy::Policies;
use recaudo_runtime::Clock;
use serde::Serialize;
use sqlx::PgPool;

use crate::planner::{Planner, PLAN};
use crate::strategies::{Active, StoreError};
use crate::SCHEMA;

/// The source of the events a run writes (and rolls back).
const SOURCE: &str = "recaudo/scheduler/simulation";

/// The longest simulation asked for at once.
pub const MAX_DAYS: u32 = 120;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub strategy: String,
    pub version: i32,
    pub from: DateTime<Utc>,
    pub days: u32,
    /// Per date, in order.
    pub per_day: Vec<Day>,
    pub contacts: u64,
    /// By `channel/stage/variant` over the whole run.
    pub contacts_by: BTreeMap<String, u64>,
    pub suppressions_by_rule: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Day {
    /// The local date of the debtors contacted (UTC for suppressions, which carry no zone).
    pub date: String,
    pub contacts: u64,
    pub by_channel: BTreeMap<String, u64>,
    pub by_stage: BTreeMap<String, u64>,
    /// By `strategy/step/variant`.
    pub by_variant: BTreeMap<String, u64>,
    pub suppressions_by_rule: BTreeMap<String, u64>,
}

/// Runs `name` (its `version`, or its latest) for `days` from `from`.
pub async fn run(
    pool: &PgPool,
    policies: Arc<Policies>,
    prefix: recaudo_bus::Prefix,
    name: &str,
    version: Option<i32>,
    days: u32,
    from: DateTime<Utc>,
) -> Result<Report, StoreError> {
    if days == 0 || days > MAX_DAYS {
        return Err(StoreError::Conflict(format!("days must be 1 to {MAX_DAYS}")));
    }
    let mut tx = pool.begin().await?;
    let found: Option<(i32, String)> = sqlx::query_as(
        "SELECT version, status FROM scheduler.strategies WHERE name = $1 AND ($2::int IS NULL OR version = $2)
         ORDER BY version DESC LIMIT 1",
    )
    .bind(name)
    .bind(version)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((version, status)) = found else {
        return Err(StoreError::NotFound(match version {
            Some(v) => format!("strategy {name} has no version {v}"),
            None => format!("no strategy {name}"),
        }));
    };
    if status == "retired" {
        return Err(StoreError::Conflict(format!("{name}@{version} is retired; simulate a draft or the active one")));
    }
    // Put the version in force, in this transaction only.
    sqlx::query(
        "UPDATE scheduler.strategies SET status = 'retired' WHERE name = $1 AND status = 'active' AND version <> $2",
    )
    .bind(name)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE scheduler.strategies SET status = 'active' WHERE name = $1 AND version = $2")
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    // Every debtor with an open account is looked at from the first simulated instant.
    sqlx::query(
        "INSERT INTO scheduler.plans (debtor_id, strategy, next_at)
         SELECT DISTINCT debtor_id, $1, $2 FROM scheduler.accounts WHERE status = 'open'
         ON CONFLICT (debtor_id, strategy) DO UPDATE SET next_at = EXCLUDED.next_at",
    )
    .bind(PLAN)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    let mark: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM scheduler.outbox").fetch_one(&mut *tx).await?;
    let outbox = Outbox::new(SCHEMA, SOURCE, prefix);
    let planner = Planner::new(pool.clone(), outbox, Clock::fixed(from), policies, Arc::new(Active::default()));
    let mut report = Report { strategy: name.to_string(), version, from, days, ..Report::default() };
    for hour in 0..(days as i64 * 24) {
        let now = from + Duration::hours(hour);
        while planner.round_on(&mut tx, now).await? == Planner::PAGE {}
    }
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT subject, payload FROM scheduler.outbox WHERE seq > $1 ORDER BY seq")
            .bind(mark)
            .fetch_all(&mut *tx)
            .await?;
    let mut by_date: BTreeMap<chrono::NaiveDate, Day> = BTreeMap::new();
    for (subject, payload) in events {
        let Ok(envelope) = serde_json::from_str::<serde_json::Value>(&payload) else { continue };
        // Only what the run decided: events the live services committed meanwhile are visible here too.
        if envelope["source"] != SOURCE {
            continue;
        }
        let data = &envelope["data"];
        let text = |k: &str| data[k].as_str().unwrap_or("-").to_string();
        let at: DateTime<Utc> = envelope["time"].as_str().and_then(|t| t.parse().ok()).unwrap_or(from);
        let zone: chrono_tz::Tz = data["time_zone"].as_str().and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC);
        let date = at.with_timezone(&zone).date_naive();
        let day = by_date.entry(date).or_insert_with(|| Day { date: date.to_string(), ..Day::default() });
        if subject.contains(".contact.requested.") {
            day.contacts += 1;
            report.contacts += 1;
            *day.by_channel.entry(text("channel")).or_default() += 1;
            *day.by_stage.entry(text("stage")).or_default() += 1;
            *day.by_variant.entry(format!("{}/{}/{}", text("strategy"), text("step"), text("variant"))).or_default() +=
                1;
            *report
                .contacts_by
                .entry(format!("{}/{}/{}", text("channel"), text("stage"), text("variant")))
                .or_default() += 1;
        } else if subject.ends_with(".contact.suppressed") {
            *day.suppressions_by_rule.entry(text("rule")).or_default() += 1;
            *report.suppressions_by_rule.entry(text("rule")).or_default() += 1;
        }
    }
    report.per_day = by_date.into_values().collect();
    // Nothing of the run is kept.
    tx.rollback().await?;
    Ok(report)
}
