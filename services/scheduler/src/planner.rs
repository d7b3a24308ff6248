//! The planner: takes debtors whose plan is due, applies the default strategy and the contact policy, and requests
//! contacts. A request and its ledger entry are written in one transaction with the outgoing event (outbox), so a
//! debtor is never requested twice for the same local day, whatever crashes or redeliveries happen.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_domain::{AdvisorId, Country, CreditId, DebtorId, PhoneNumber};
use recaudo_events::{Channel, ContactAdvisor, ContactCredit, ContactDebtor, ContactRequested, ContactSuppressed};
use recaudo_policy::{engine, Channel as PolicyChannel, Past, Policies, Policy};
use recaudo_runtime::Clock;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::debtor_state;

/// The built-in strategy: one SMS reminder a local day to each debtor with a credit at least one day past due,
/// about their most overdue credit.
pub(crate) const DEFAULT_STRATEGY: &str = "default_sms_reminder";
const PLANS_PER_ROUND: i64 = 200;

pub struct Planner {
    pool: PgPool,
    outbox: Outbox,
    clock: Clock,
    policies: Arc<Policies>,
}

#[derive(FromRow)]
struct Candidate {
    credit_id: String,
    debtor_id: String,
    first_name: String,
    last_name: String,
    phone: Option<String>,
    country: String,
    city: Option<String>,
    product: String,
    currency: String,
    balance_overdue: Decimal,
    days_past_due: i32,
    advisor_id: Option<Uuid>,
    advisor_first_name: Option<String>,
    advisor_last_name: Option<String>,
    advisor_phone: Option<String>,
}

/// What to do with one debtor's plan.
enum Decision {
    /// Nothing to contact them about: drop the plan until their accounts change.
    Drop,
    /// Look again at this instant.
    Later(DateTime<Utc>),
}

impl Planner {
    pub fn new(pool: PgPool, outbox: Outbox, clock: Clock, policies: Arc<Policies>) -> Self {
        Planner { pool, outbox, clock, policies }
    }

    pub async fn run(self, tick: Duration, wake: Arc<Notify>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.round().await {
                Ok(n) if n as i64 == PLANS_PER_ROUND => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "planning round failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = wake.notified() => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// Decides every due plan of one page; returns how many it looked at.
    async fn round(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT debtor_id FROM scheduler.plans WHERE strategy = $1 AND next_at <= $2
             ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(DEFAULT_STRATEGY)
        .bind(now)
        .bind(PLANS_PER_ROUND)
        .fetch_all(&mut *tx)
        .await?;
        for debtor_id in &due {
            match self.decide(&mut tx, debtor_id, now).await? {
                Decision::Drop => {
                    sqlx::query("DELETE FROM scheduler.plans WHERE debtor_id = $1 AND strategy = $2")
                        .bind(debtor_id)
                        .bind(DEFAULT_STRATEGY)
                        .execute(&mut *tx)
                        .await?;
                }
                Decision::Later(at) => {
                    sqlx::query("UPDATE scheduler.plans SET next_at = $3 WHERE debtor_id = $1 AND strategy = $2")
                        .bind(debtor_id)
                        .bind(DEFAULT_STRATEGY)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        if !due.is_empty() {
            self.outbox.wake();
        }
        Ok(due.len())
    }

    async fn decide(
        &self,
        conn: &mut PgConnection,
        debtor_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Decision, sqlx::Error> {
        lock_debtor(conn, debtor_id).await?;
        let candidate: Option<Candidate> = sqlx::query_as(
            "SELECT a.credit_id, a.debtor_id, a.first_name, a.last_name, a.phone, a.country, a.city, a.product, a.currency,
                    a.balance_overdue, a.days_past_due, a.advisor_id,
                    v.first_name AS advisor_first_name, v.last_name AS advisor_last_name, v.phone AS advisor_phone
             FROM scheduler.accounts a LEFT JOIN scheduler.advisors v ON v.id = a.advisor_id
             WHERE a.debtor_id = $1 AND a.status = 'open' AND a.days_past_due >= 1
             ORDER BY a.days_past_due DESC, a.balance_overdue DESC, a.credit_id LIMIT 1",
        )
        .bind(debtor_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(c) = candidate else { return Ok(Decision::Drop) };
        let Ok(country) = c.country.parse::<Country>() else { return Ok(Decision::Drop) };
        let contact_id = Uuid::now_v7();
        let Some(phone) = c.phone.as_deref().and_then(|p| PhoneNumber::from_e164(p).ok()) else {
            let event = ContactSuppressed {
                contact_id,
                channel: Channel::Sms,
                debtor_id: id(DebtorId::parse(&c.debtor_id))?,
                credit_id: id(CreditId::parse(&c.credit_id))?,
                rule: "no_channel_address".into(),
                detail: "the debtor has no mobile phone number".into(),
            };
            self.outbox.enqueue(conn, now, event).await?;
            return Ok(Decision::Drop);
        };
        // The law of the debtor's country: hours, weekdays, holidays, and its caps over what was requested before
        // (the ledger, which outlives restarts); the ledger's uniqueness below also holds the one-a-day rule
        // against a second planner replica.
        let policy = self.policies.for_country(country);
        let debtor = debtor_state::load(conn, &c.debtor_id, country, c.city.as_deref(), c.phone.as_deref()).await?;
        let history = ledger_history(conn, &c.debtor_id, now).await?;
        let next_open = |from: DateTime<Utc>, history: &[Past]| {
            policy.next_allowed(&debtor, history, PolicyChannel::Sms, from).unwrap_or(from + chrono::Duration::days(1))
        };
        if let Err(s) = policy.check(&debtor, &history, PolicyChannel::Sms, now) {
            // The contact waits until the law allows it; the deferral is an event with its rule, once per decision.
            let next = next_open(now, &history);
            let event = ContactSuppressed {
                contact_id,
                channel: Channel::Sms,
                debtor_id: id(DebtorId::parse(&c.debtor_id))?,
                credit_id: id(CreditId::parse(&c.credit_id))?,
                rule: s.rule.to_string(),
                detail: format!("{} ({}); next allowed {}", s.reason, s.source, next.to_rfc3339()),
            };
            self.outbox.enqueue(conn, now, event).await?;
            return Ok(Decision::Later(next));
        }
        let local_date = Policy::local_date(debtor.zone, now);
        let tomorrow = local_date.succ_opt().and_then(|d| engine::start_of_day(debtor.zone, d));
        let mut with_this = history.clone();
        with_this.push(Past { at: now, channel: PolicyChannel::Sms, conversation: false });
        let next_day = next_open(tomorrow.unwrap_or(now + chrono::Duration::days(1)), &with_this);
        let recorded = sqlx::query(
            "INSERT INTO scheduler.contact_ledger (contact_id, debtor_id, credit_id, channel, strategy, local_date, requested_at)
             VALUES ($1, $2, $3, 'sms', $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(contact_id)
        .bind(&c.debtor_id)
        .bind(&c.credit_id)
        .bind(DEFAULT_STRATEGY)
        .bind(local_date)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !recorded {
            // Already contacted today (local): the daily cap holds until tomorrow's window.
            return Ok(Decision::Later(next_day));
        }
        let advisor = match (c.advisor_id, c.advisor_phone.as_deref().and_then(|p| PhoneNumber::from_e164(p).ok())) {
            (Some(aid), Some(phone)) => Some(ContactAdvisor {
                id: AdvisorId(aid),
                first_name: c.advisor_first_name.clone().unwrap_or_default(),
                last_name: c.advisor_last_name.clone().unwrap_or_default(),
                phone,
            }),
            _ => None,
        };
        let event = ContactRequested {
            contact_id,
            channel: Channel::Sms,
            strategy: DEFAULT_STRATEGY.into(),
            template: recaudo_templates::SMS_REMINDER.into(),
            to: phone.e164().to_string(),
            country,
            debtor: ContactDebtor {
                id: id(DebtorId::parse(&c.debtor_id))?,
                first_name: c.first_name,
                last_name: c.last_name,
            },
            credit: ContactCredit {
                id: id(CreditId::parse(&c.credit_id))?,
                product: c.product,
                currency: c
                    .currency
                    .parse()
                    .map_err(|e| sqlx::Error::Decode(format!("accounts.currency: {e}").into()))?,
                balance_overdue: c.balance_overdue,
                days_past_due: c.days_past_due.max(0) as u32,
            },
            advisor,
            time_zone: Some(debtor.zone.name().to_string()),
            requested_at: now,
        };
        self.outbox.enqueue(conn, now, event).await?;
        Ok(Decision::Later(next_day))
    }
}

/// Serialises every decision about one debtor (plans of several strategies, manual contacts, other replicas) for
/// the rest of the transaction, so that caps are counted over a ledger nobody else is writing to for them.
pub(crate) async fn lock_debtor(conn: &mut PgConnection, debtor_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('scheduler.debtor:' || $1, 0))")
        .bind(debtor_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn id<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, sqlx::Error> {
    r.map_err(|e| sqlx::Error::Decode(format!("stored id: {e}").into()))
}

/// The debtor's contacts requested in the last 31 days, as the policy engine counts them.
pub(crate) async fn ledger_history(
    conn: &mut PgConnection,
    debtor_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Past>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT requested_at, channel FROM scheduler.contact_ledger
         WHERE debtor_id = $1 AND requested_at > $2 - interval '31 days' AND requested_at <= $2",
    )
    .bind(debtor_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(at, channel)| {
            let channel: recaudo_events::Channel = channel.parse().ok()?;
            Some(Past { at, channel: channel.into(), conversation: false })
        })
        .collect())
}
