//! What the queues, the case page and the team page read. The JSON API and the console show the same views.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::config::OrderKey;
use crate::timeline;

/// A case as a queue lists it.
#[derive(Debug, Serialize, FromRow)]
pub struct QueueItem {
    pub id: Uuid,
    pub debtor_id: String,
    pub debtor_name: Option<String>,
    pub debtor_first_name: Option<String>,
    pub debtor_last_name: Option<String>,
    pub credit_id: String,
    pub advisor_id: Uuid,
    pub supervisor_id: Option<Uuid>,
    /// What opened the case: `click`, `message`, `call_task` or `broken_promise`.
    pub kind: String,
    /// Why it is in the queue now: `reply`, `click`, `call`, `broken_promise` or `escalated`.
    pub reason: String,
    /// `high` (a broken promise, a missed timer) or `normal`.
    pub priority: String,
    pub state: String,
    /// `advisor`, `supervisor` or `pool`.
    pub queue: String,
    /// The running timer (`pickup`, `response`, `wake`) and its deadline.
    pub timer: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// The same instant as `deadline`, under its earlier name.
    pub due_at: Option<DateTime<Utc>>,
    /// The advisor has been warned that the deadline is near.
    pub at_risk: bool,
    pub escalations: i32,
    pub claimed_by: Option<String>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub overdue: Option<Decimal>,
    pub currency: Option<String>,
    pub days_past_due: Option<i32>,
    pub last_message: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl QueueItem {
    pub fn holder(&self) -> recaudo_access::scope::CaseHolder {
        recaudo_access::scope::CaseHolder {
            advisor_id: self.advisor_id,
            supervisor_id: self.supervisor_id,
            pooled: self.queue == "pool",
        }
    }
}

/// Which cases a queue holds.
pub enum Queue {
    /// An advisor's own cases, and the pool of the advisor's supervisor.
    Advisor { advisor_id: Uuid, supervisor_id: Option<Uuid> },
    /// Cases escalated to a supervisor, sent there while their advisor is away, or in the team pool.
    Supervisor(Uuid),
}

const ITEM_SELECT: &str = "
    SELECT c.id, c.debtor_id, NULLIF(trim(d.first_name || ' ' || d.last_name), '') AS debtor_name,
           d.first_name AS debtor_first_name, d.last_name AS debtor_last_name, c.credit_id,
           c.advisor_id, c.supervisor_id, c.kind, c.reason,
           CASE WHEN c.high_priority THEN 'high' ELSE 'normal' END AS priority, c.state, c.queue, c.timer,
           c.due_at AS deadline, c.due_at, (c.timer IS NOT NULL AND c.warn_at IS NULL) AS at_risk, c.escalations,
           c.claimed_by, c.snoozed_until, d.overdue, d.currency, d.days_past_due, c.last_message, c.opened_at,
           c.last_activity_at
    FROM reply_router.cases c
    LEFT JOIN LATERAL (
        SELECT min(a.debtor_first_name) AS first_name, min(a.debtor_last_name) AS last_name,
               sum(a.balance_overdue) AS overdue, min(a.currency) AS currency, max(a.days_past_due) AS days_past_due
        FROM reply_router.accounts a WHERE a.debtor_id = c.debtor_id) d ON true";

pub async fn queue(pool: &PgPool, which: &Queue, order: &[OrderKey]) -> Result<Vec<QueueItem>, sqlx::Error> {
    let order: Vec<&str> = order.iter().map(|k| k.sql()).chain(["c.opened_at", "c.id"]).collect();
    let order = order.join(", ");
    match which {
        Queue::Advisor { advisor_id, supervisor_id } => {
            sqlx::query_as(&format!(
                "{ITEM_SELECT}
                 WHERE c.state <> 'closed'
                   AND ((c.advisor_id = $1 AND c.queue = 'advisor') OR (c.queue = 'pool' AND c.supervisor_id = $2))
                 ORDER BY {order}"
            ))
            .bind(advisor_id)
            .bind(supervisor_id)
            .fetch_all(pool)
            .await
        }
        Queue::Supervisor(id) => {
            sqlx::query_as(&format!(
                "{ITEM_SELECT}
                 WHERE c.state <> 'closed' AND c.supervisor_id = $1 AND c.queue IN ('supervisor', 'pool')
                 ORDER BY {order}"
            ))
            .bind(id)
            .fetch_all(pool)
            .await
        }
    }
}

pub async fn item(pool: &PgPool, id: Uuid) -> Result<Option<QueueItem>, sqlx::Error> {
    sqlx::query_as(&format!("{ITEM_SELECT} WHERE c.id = $1")).bind(id).fetch_optional(pool).await
}

/// A credit of the debtor, as the case page shows it.
#[derive(Debug, Serialize, FromRow)]
pub struct Credit {
    pub credit_id: String,
    pub product: Option<String>,
    pub currency: Option<String>,
    pub balance_total: Option<Decimal>,
    pub balance_overdue: Option<Decimal>,
    pub due_date: Option<NaiveDate>,
    pub days_past_due: Option<i32>,
}

/// The debtor of a case: name, where they live, how to reach them.
#[derive(Debug, Serialize, FromRow)]
pub struct Debtor {
    pub debtor_id: String,
    pub first_name: String,
    pub last_name: String,
    pub country: Option<String>,
    pub city: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: QueueItem,
    pub debtor: Option<Debtor>,
    pub credits: Vec<Credit>,
    /// The channel the debtor last wrote on: the reply's default.
    pub reply_channel: Option<String>,
    pub timeline: Vec<timeline::Entry>,
}

/// The rest of the case page around `case`: the debtor, the credits, the reply channel and the timeline.
pub async fn case(pool: &PgPool, case: QueueItem) -> Result<CaseView, sqlx::Error> {
    let debtor: Option<Debtor> = sqlx::query_as(
        "SELECT debtor_id, debtor_first_name AS first_name, debtor_last_name AS last_name, country, city, phone, email
         FROM reply_router.accounts WHERE debtor_id = $1 ORDER BY credit_id LIMIT 1",
    )
    .bind(&case.debtor_id)
    .fetch_optional(pool)
    .await?;
    let credits: Vec<Credit> = sqlx::query_as(
        "SELECT credit_id, product, currency, balance_total, balance_overdue, due_date, days_past_due
         FROM reply_router.accounts WHERE debtor_id = $1 ORDER BY credit_id",
    )
    .bind(&case.debtor_id)
    .fetch_all(pool)
    .await?;
    let reply_channel = reply_channel(pool, &case.debtor_id).await?;
    let timeline = timeline::of_debtor(pool, &case.debtor_id, 500).await?;
    Ok(CaseView { case, debtor, credits, reply_channel, timeline })
}

/// The channel the debtor last wrote on, if they ever did.
pub async fn reply_channel(pool: &PgPool, debtor_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT detail->>'channel' FROM reply_router.timeline WHERE debtor_id = $1 AND kind = 'reply'
         ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(debtor_id)
    .fetch_optional(pool)
    .await
    .map(Option::flatten)
}

/// One advisor of a supervisor's team, as the team page shows it.
#[derive(Debug, Serialize, FromRow)]
pub struct TeamMember {
    pub advisor_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    /// Open cases in the advisor's own queue.
    pub open_cases: i64,
    pub oldest_waiting_since: Option<DateTime<Utc>>,
    /// Cases whose warning has fired and whose deadline has not.
    pub at_risk: i64,
    /// Cases of the advisor that missed a timer and are still open.
    pub breached: i64,
    pub broken_promises_today: i64,
    pub away: bool,
    pub away_reason: Option<String>,
    pub away_until: Option<DateTime<Utc>>,
}

pub async fn team(
    pool: &PgPool,
    supervisor_id: Uuid,
    today_from: DateTime<Utc>,
) -> Result<Vec<TeamMember>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.id AS advisor_id, v.first_name, v.last_name,
                count(c.id) FILTER (WHERE c.queue = 'advisor') AS open_cases,
                min(c.opened_at) FILTER (WHERE c.state = 'open' AND c.queue = 'advisor') AS oldest_waiting_since,
                count(c.id) FILTER (WHERE c.timer IN ('pickup', 'response') AND c.warn_at IS NULL) AS at_risk,
                count(c.id) FILTER (WHERE c.escalations > 0) AS breached,
                (SELECT count(*) FROM reply_router.timeline t
                 WHERE t.kind = 'promise_broken' AND t.at >= $2
                   AND t.debtor_id IN (SELECT a.debtor_id FROM reply_router.accounts a WHERE a.advisor_id = v.id))
                    AS broken_promises_today,
                (w.advisor_id IS NOT NULL) AS away, w.reason AS away_reason, w.until AS away_until
         FROM reply_router.advisors v
         LEFT JOIN reply_router.cases c ON c.advisor_id = v.id AND c.state <> 'closed'
         LEFT JOIN reply_router.advisor_away w ON w.advisor_id = v.id
         WHERE v.supervisor_id = $1
         GROUP BY v.id, v.first_name, v.last_name, w.advisor_id, w.reason, w.until
         ORDER BY v.last_name, v.first_name, v.id",
    )
    .bind(supervisor_id)
    .bind(today_from)
    .fetch_all(pool)
    .await
}
