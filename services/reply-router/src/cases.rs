//! Cases: one open case per debtor and advisor holds everything of that debtor, in the queue of the debtor's
//! *current* advisor (DESIGN.md, "Cases, outcomes and promises"). Every change of a case happens here, in one
//! transaction with its timeline entry, its desk event and its outbox events.
//!
//! A case is `open` (waiting to be claimed, its pick-up timer running), `claimed` (an advisor works it; a debtor's
//! message starts the next-response timer), `snoozed` (until an instant, or until the debtor writes) or `closed`
//! (with an outcome). It waits in the advisor's queue, the supervisor's (after a missed timer, or while the advisor
//! is away) or the team pool (after a second miss).

use chrono::{DateTime, Utc};
use recaudo_access::scope::CaseHolder;
use recaudo_domain::{AdvisorId, Country, CreditId, DebtorId, SupervisorId};
use recaudo_events::{QueueItemOpened, ReplyKind};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::desk::{self, Change};
use crate::{timeline, Router};

/// What brought the debtor to a case. (A case also shows `escalated` once a timer is missed.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Reply,
    Click,
    Call,
    BrokenPromise,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Reply => "reply",
            Reason::Click => "click",
            Reason::Call => "call",
            Reason::BrokenPromise => "broken_promise",
        }
    }

    fn kind(self) -> ReplyKind {
        match self {
            Reason::Click => ReplyKind::Click,
            Reason::Call => ReplyKind::CallTask,
            Reason::BrokenPromise => ReplyKind::BrokenPromise,
            Reason::Reply => ReplyKind::Message,
        }
    }

    /// Whether it is the debtor reaching out (which wakes a snoozed case and starts the response timer).
    fn is_the_debtor_reaching_out(self) -> bool {
        matches!(self, Reason::Reply | Reason::Click)
    }
}

/// The columns of a case that decisions need.
#[derive(Debug, Clone, FromRow)]
pub struct Case {
    pub id: Uuid,
    pub advisor_id: Uuid,
    pub supervisor_id: Option<Uuid>,
    pub debtor_id: String,
    pub credit_id: String,
    pub state: String,
    pub queue: String,
    pub reason: String,
    pub high_priority: bool,
    pub claimed_by: Option<String>,
    pub timer: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub escalations: i32,
}

impl Case {
    pub fn holder(&self) -> CaseHolder {
        CaseHolder { advisor_id: self.advisor_id, supervisor_id: self.supervisor_id, pooled: self.queue == "pool" }
    }

    /// What a desk needs to redraw this case.
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "case_id": self.id,
            "debtor_id": self.debtor_id,
            "advisor_id": self.advisor_id,
            "state": self.state,
            "queue": self.queue,
            "reason": self.reason,
            "priority": if self.high_priority { "high" } else { "normal" },
            "due_at": self.due_at,
        })
    }
}

pub const CASE_COLUMNS: &str =
    "id, advisor_id, supervisor_id, debtor_id, credit_id, state, queue, reason, high_priority,
                            claimed_by, timer, due_at, warn_at, escalations";

/// The case, locked for the rest of the transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Case>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {CASE_COLUMNS} FROM reply_router.cases WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The debtor's country, for the team calendar (the debtor's local working hours and holidays).
pub async fn country_of(conn: &mut PgConnection, debtor_id: &str) -> Result<Country, sqlx::Error> {
    let code: Option<String> = sqlx::query_scalar(
        "SELECT country FROM reply_router.accounts WHERE debtor_id = $1 AND country IS NOT NULL LIMIT 1",
    )
    .bind(debtor_id)
    .fetch_optional(conn)
    .await?;
    // Accounts projected before countries were kept: Colombia, the first market, until the next snapshot.
    Ok(code.and_then(|c| c.parse().ok()).unwrap_or(Country::Colombia))
}

/// The deadline and warning of a `minutes` timer started at `now`.
pub fn deadline(r: &Router, country: Country, now: DateTime<Utc>, minutes: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    let hours = &r.config.hours;
    (hours.add(country, now, minutes), hours.add(country, now, r.config.warn_minutes(minutes)))
}

/// Something that lands in the debtor's case: a click, a reply, a call task, a broken promise.
pub struct Arrival<'a> {
    pub advisor_id: Uuid,
    pub supervisor_id: Option<Uuid>,
    pub reason: Reason,
    pub debtor_id: &'a DebtorId,
    pub credit_id: &'a CreditId,
    /// The debtor's words, for the queue's "last message".
    pub message: Option<&'a str>,
}

/// The debtor's open case with the advisor: a new one (announced with `queue.item.opened`), or the one already
/// open, which the arrival joins (waking it if snoozed, starting the response timer if claimed).
pub async fn land(
    conn: &mut PgConnection,
    r: &Router,
    a: Arrival<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let country = country_of(conn, a.debtor_id.as_str()).await?;
    let away: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM reply_router.advisor_away WHERE advisor_id = $1 AND (until IS NULL OR until > $2))",
    )
    .bind(a.advisor_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let queue = if away && a.supervisor_id.is_some() { "supervisor" } else { "advisor" };
    let (due_at, warn_at) = deadline(r, country, now, r.config.pickup_minutes);
    let message = a.message.map(|m| m.chars().take(500).collect::<String>());
    let opened: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO reply_router.cases (id, advisor_id, supervisor_id, kind, debtor_id, credit_id, state, opened_at,
                                         due_at, updated_at, reason, queue, high_priority, timer, warn_at,
                                         last_message, last_activity_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $7, $9, $10, $11, 'pickup', $12, $13, $7)
         ON CONFLICT (advisor_id, debtor_id) WHERE state <> 'closed' DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(a.advisor_id)
    .bind(a.supervisor_id)
    .bind(kind_name(a.reason.kind()))
    .bind(a.debtor_id.as_str())
    .bind(a.credit_id.as_str())
    .bind(now)
    .bind(due_at)
    .bind(a.reason.as_str())
    .bind(queue)
    .bind(a.reason == Reason::BrokenPromise)
    .bind(warn_at)
    .bind(&message)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = opened {
        let event = QueueItemOpened {
            queue_item_id: id,
            advisor_id: AdvisorId(a.advisor_id),
            supervisor_id: a.supervisor_id.map(SupervisorId),
            kind: a.reason.kind(),
            debtor_id: a.debtor_id.clone(),
            credit_id: a.credit_id.clone(),
            opened_at: now,
            due_at,
        };
        r.outbox.enqueue(conn, now, event).await?;
        let case = lock(conn, id).await?.ok_or(sqlx::Error::RowNotFound)?;
        let detail = json!({ "reason": a.reason.as_str(), "queue": queue, "due_at": due_at });
        timeline::add(conn, a.debtor_id.as_str(), Some(id), now, "case_opened", None, detail).await?;
        announce(conn, now, "case.opened", &case).await?;
        return Ok(id);
    }
    let case: Case = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM reply_router.cases WHERE advisor_id = $1 AND debtor_id = $2 AND state <> 'closed'
         FOR UPDATE"
    ))
    .bind(a.advisor_id)
    .bind(a.debtor_id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    // A debtor writing wakes a snoozed case; a debtor writing on a claimed case starts the response timer.
    let (state, timer, due, warn) = match (case.state.as_str(), a.reason.is_the_debtor_reaching_out()) {
        ("snoozed", true) if case.claimed_by.is_some() => {
            let (d, w) = deadline(r, country, now, r.config.response_minutes);
            ("claimed", Some("response"), Some(d), Some(w))
        }
        ("snoozed", true) => ("open", Some("pickup"), Some(due_at), Some(warn_at)),
        ("claimed", true) if case.timer.is_none() => {
            let (d, w) = deadline(r, country, now, r.config.response_minutes);
            ("claimed", Some("response"), Some(d), Some(w))
        }
        (s, _) => (s, case.timer.as_deref(), case.due_at, case.warn_at),
    };
    let broken = a.reason == Reason::BrokenPromise;
    sqlx::query(
        "UPDATE reply_router.cases SET state = $2, timer = $3, due_at = $4, warn_at = $5,
             snoozed_until = CASE WHEN $2 = 'snoozed' THEN snoozed_until END,
             last_message = COALESCE($6, last_message), last_activity_at = $7, updated_at = $7,
             high_priority = high_priority OR $8,
             -- Why it is there now: the latest arrival, unless a broken promise or a missed timer says more.
             reason = CASE WHEN $8 THEN 'broken_promise' WHEN reason IN ('broken_promise', 'escalated') THEN reason
                           ELSE $9 END
         WHERE id = $1",
    )
    .bind(case.id)
    .bind(state)
    .bind(timer)
    .bind(due)
    .bind(warn)
    .bind(&message)
    .bind(now)
    .bind(broken)
    .bind(a.reason.as_str())
    .execute(&mut *conn)
    .await?;
    if case.state == "snoozed" && state != "snoozed" {
        timeline::add(conn, &case.debtor_id, Some(case.id), now, "woken", None, json!({ "by": a.reason.as_str() }))
            .await?;
    }
    let case = lock(conn, case.id).await?.ok_or(sqlx::Error::RowNotFound)?;
    announce(conn, now, "case.updated", &case).await?;
    Ok(case.id)
}

/// Puts the case's change on the desks of whoever sees it.
pub async fn announce(conn: &mut PgConnection, now: DateTime<Utc>, kind: &str, case: &Case) -> Result<(), sqlx::Error> {
    desk::append(conn, now, &[Change { kind, case_id: case.id, holder: case.holder(), data: case.summary() }]).await
}

pub fn kind_name(kind: ReplyKind) -> &'static str {
    match kind {
        ReplyKind::Click => "click",
        ReplyKind::Message => "message",
        ReplyKind::CallTask => "call_task",
        ReplyKind::BrokenPromise => "broken_promise",
    }
}

/// The supervisor of an advisor the router knows (`None` for an advisor it does not know; `Some(None)` for one
/// without a supervisor), as the latest client file says.
pub async fn supervisor_of<'e>(
    db: impl sqlx::PgExecutor<'e>,
    advisor: Uuid,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    sqlx::query_scalar("SELECT supervisor_id FROM reply_router.advisors WHERE id = $1")
        .bind(advisor)
        .fetch_optional(db)
        .await
}

/// The credit's advisor now and that advisor's supervisor, if the credit has an advisor.
pub async fn current_advisor(
    conn: &mut PgConnection,
    credit_id: &str,
) -> Result<Option<(Uuid, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.id, v.supervisor_id FROM reply_router.accounts a JOIN reply_router.advisors v ON v.id = a.advisor_id
         WHERE a.credit_id = $1",
    )
    .bind(credit_id)
    .fetch_optional(conn)
    .await
}
