//! A planning page: the facts of its debtors, loaded in a handful of set-based queries, and the writes its
//! decisions make, applied in a handful more. The planner decides each debtor in memory in between, so a page of
//! hundreds of debtors costs about as many round trips to PostgreSQL as one debtor used to.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_bus::RawMessage;
use recaudo_templates::Catalogue;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::debtor_state::HoldRow;
use crate::planner::{accounts_sql, Account};

/// How far back the ledger is read: the caps look 31 days back, stop conditions count a step's contacts since its
/// stage began.
const LEDGER_DAYS: i32 = 400;

/// A hold with its debtor, and the terms of the promise a promise's hold is for.
#[derive(FromRow)]
struct DebtorHold {
    debtor_id: String,
    kind: String,
    until: Option<DateTime<Utc>>,
    address: Option<String>,
    promise_credit_id: Option<String>,
    promise_amount: Option<Decimal>,
    promise_due_on: Option<NaiveDate>,
}

/// A promise to pay in force (its hold pauses the strategy).
#[derive(Clone)]
pub(crate) struct Promise {
    pub credit_id: String,
    pub amount: Decimal,
    pub due_on: NaiveDate,
}

#[derive(FromRow, Clone)]
pub(crate) struct LedgerEntry {
    pub debtor_id: String,
    pub strategy: String,
    pub step: String,
    pub channel: String,
    pub local_date: NaiveDate,
    pub requested_at: DateTime<Utc>,
    pub cancelled: bool,
}

impl LedgerEntry {
    /// The entry a contact this page requests will be.
    pub fn of(c: &NewContact) -> LedgerEntry {
        LedgerEntry {
            debtor_id: c.debtor_id.clone(),
            strategy: c.strategy.clone(),
            step: c.step.clone(),
            channel: c.channel.to_string(),
            local_date: c.local_date,
            requested_at: c.requested_at,
            cancelled: false,
        }
    }
}

#[derive(Default)]
pub(crate) struct PageFacts {
    pub accounts: HashMap<String, Vec<Account>>,
    pub holds: HashMap<String, Vec<HoldRow>>,
    pub promises: HashMap<String, Promise>,
    pub withdrawn: HashMap<String, Vec<String>>,
    pub ledger: HashMap<String, Vec<LedgerEntry>>,
    pub last_call: HashMap<(String, String), NaiveDate>,
    pub last_reply: HashMap<String, DateTime<Utc>>,
    /// The templates in force, which requests for saved ones carry.
    pub templates: Catalogue,
}

impl PageFacts {
    pub async fn load(conn: &mut PgConnection, debtors: &[String], now: DateTime<Utc>) -> Result<Self, sqlx::Error> {
        let mut f = PageFacts { templates: crate::templates::catalogue(&mut *conn).await?, ..PageFacts::default() };
        let accounts: Vec<Account> =
            sqlx::query_as(&accounts_sql("a.debtor_id = ANY($1)")).bind(debtors).fetch_all(&mut *conn).await?;
        for a in accounts {
            f.accounts.entry(a.debtor_id.clone()).or_default().push(a);
        }
        let holds: Vec<DebtorHold> = sqlx::query_as(
            "SELECT debtor_id, kind, until, address, promise_credit_id, promise_amount, promise_due_on
             FROM scheduler.holds WHERE debtor_id = ANY($1) ORDER BY debtor_id, kind",
        )
        .bind(debtors)
        .fetch_all(&mut *conn)
        .await?;
        for h in holds {
            if let (Some(credit_id), Some(amount), Some(due_on)) =
                (h.promise_credit_id, h.promise_amount, h.promise_due_on)
            {
                f.promises.insert(h.debtor_id.clone(), Promise { credit_id, amount, due_on });
            }
            f.holds.entry(h.debtor_id).or_default().push((h.kind, h.until, h.address));
        }
        let withdrawn: Vec<(String, String)> =
            sqlx::query_as("SELECT debtor_id, channel FROM scheduler.consent_withdrawn WHERE debtor_id = ANY($1)")
                .bind(debtors)
                .fetch_all(&mut *conn)
                .await?;
        for (d, channel) in withdrawn {
            f.withdrawn.entry(d).or_default().push(channel);
        }
        let ledger: Vec<LedgerEntry> = sqlx::query_as(
            "SELECT debtor_id, strategy, step, channel, local_date, requested_at, cancelled_at IS NOT NULL AS cancelled
             FROM scheduler.contact_ledger
             WHERE debtor_id = ANY($1) AND requested_at > $2 - make_interval(days => $3) AND requested_at <= $2",
        )
        .bind(debtors)
        .bind(now)
        .bind(LEDGER_DAYS)
        .fetch_all(&mut *conn)
        .await?;
        for e in ledger {
            f.ledger.entry(e.debtor_id.clone()).or_default().push(e);
        }
        let calls: Vec<(String, String, NaiveDate)> = sqlx::query_as(
            "SELECT debtor_id, strategy, max(local_date) FROM scheduler.call_tasks WHERE debtor_id = ANY($1) GROUP BY 1, 2",
        )
        .bind(debtors)
        .fetch_all(&mut *conn)
        .await?;
        f.last_call = calls.into_iter().map(|(d, s, date)| ((d, s), date)).collect();
        let replies: Vec<(String, DateTime<Utc>)> =
            sqlx::query_as("SELECT debtor_id, at FROM scheduler.replies WHERE debtor_id = ANY($1)")
                .bind(debtors)
                .fetch_all(&mut *conn)
                .await?;
        f.last_reply = replies.into_iter().collect();
        Ok(f)
    }
}

/// A contact the page requests: its ledger row.
pub(crate) struct NewContact {
    pub contact_id: Uuid,
    pub debtor_id: String,
    pub credit_id: String,
    pub channel: &'static str,
    pub strategy: String,
    pub strategy_version: i32,
    /// None for a promise reminder outside every stage.
    pub stage: Option<String>,
    pub step: String,
    pub variant: String,
    pub local_date: NaiveDate,
    pub requested_at: DateTime<Utc>,
    pub balance_overdue: rust_decimal::Decimal,
}

pub(crate) struct NewCallTask {
    pub task_id: Uuid,
    pub debtor_id: String,
    pub credit_id: String,
    pub strategy: String,
    pub strategy_version: i32,
    pub local_date: NaiveDate,
    pub requested_at: DateTime<Utc>,
}

/// What a page's decisions write.
#[derive(Default)]
pub(crate) struct Writes {
    pub contacts: Vec<NewContact>,
    pub call_tasks: Vec<NewCallTask>,
    /// Each event with the call task it announces (published only if that task was written: one a day), or `None`.
    pub events: Vec<(Option<Uuid>, RawMessage)>,
    /// Each due plan's next look (`None`: drop the plan).
    pub next: Vec<(DuePlan, Option<DateTime<Utc>>)>,
}

/// A due plan a page took: its debtor, and its row (`ctid`), which the page holds locked (`FOR UPDATE`) until it
/// commits, so the row cannot move meanwhile and the page's update goes straight to it instead of through the key.
#[derive(FromRow)]
pub(crate) struct DuePlan {
    pub debtor_id: String,
    pub row: String,
}

impl Writes {
    pub async fn apply(self, conn: &mut PgConnection, outbox: &Outbox) -> Result<(), sqlx::Error> {
        if !self.contacts.is_empty() {
            let c = &self.contacts;
            // A plain INSERT, not ON CONFLICT DO NOTHING (which costs the page half as much again): every writer of
            // the ledger holds the debtor's lock and the page read the ledger after taking it, so a decision never
            // repeats a step of the day. Should the one-per-step-and-day key still refuse a row (a replica whose
            // clock runs behind the one that wrote it), the page fails whole and its retry reads that row.
            sqlx::query(
                "INSERT INTO scheduler.contact_ledger (contact_id, debtor_id, credit_id, channel, strategy,
                                                       strategy_version, stage, step, variant, local_date, requested_at,
                                                       balance_overdue)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                                      $8::text[], $9::text[], $10::date[], $11::timestamptz[], $12::numeric[])",
            )
            .bind(c.iter().map(|x| x.contact_id).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.debtor_id.as_str()).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.credit_id.as_str()).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.channel).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.strategy.as_str()).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.strategy_version).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.stage.as_deref()).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.step.as_str()).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.variant.as_str()).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.local_date).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.requested_at).collect::<Vec<_>>())
            .bind(c.iter().map(|x| x.balance_overdue).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        let mut written: HashSet<Uuid> = HashSet::new();
        if !self.call_tasks.is_empty() {
            let t = &self.call_tasks;
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO scheduler.call_tasks (task_id, debtor_id, credit_id, strategy, strategy_version, local_date,
                                                   requested_at)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::date[],
                                      $7::timestamptz[])
                 ON CONFLICT DO NOTHING RETURNING task_id",
            )
            .bind(t.iter().map(|x| x.task_id).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.debtor_id.as_str()).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.credit_id.as_str()).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.strategy.as_str()).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.strategy_version).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.local_date).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.requested_at).collect::<Vec<_>>())
            .fetch_all(&mut *conn)
            .await?;
            written.extend(ids);
        }
        let events: Vec<RawMessage> = self
            .events
            .into_iter()
            .filter(|(gate, _)| gate.is_none_or(|id| written.contains(&id)))
            .map(|(_, m)| m)
            .collect();
        outbox.enqueue_many(conn, &events).await?;
        let (later, dropped): (Vec<_>, Vec<_>) = self.next.into_iter().partition(|(_, at)| at.is_some());
        if !later.is_empty() {
            sqlx::query(
                "UPDATE scheduler.plans p SET next_at = u.next_at
                 FROM unnest($1::text[]::tid[], $2::timestamptz[]) AS u(plan_row, next_at)
                 WHERE p.ctid = u.plan_row",
            )
            .bind(later.iter().map(|(plan, _)| plan.row.as_str()).collect::<Vec<_>>())
            .bind(later.iter().map(|(_, at)| at.expect("partitioned")).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        if !dropped.is_empty() {
            sqlx::query("DELETE FROM scheduler.plans WHERE ctid = ANY($1::text[]::tid[])")
                .bind(dropped.iter().map(|(plan, _)| plan.row.as_str()).collect::<Vec<_>>())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
