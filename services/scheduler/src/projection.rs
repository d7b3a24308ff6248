//! The scheduler's projection of portfolio: accounts and advisors as the last snapshot said, and a plan entry for
//! every debtor whose accounts changed, so the planner looks at them.

use std::sync::Arc;

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{AccountStatus, AccountsUpserted, AdvisorUpserted, Event};
use recaudo_runtime::Clock;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::{debtor_state, planner, SCHEMA};
use recaudo_bus::outbox::Outbox;

const CONSUMER: &str = "scheduler-portfolio";

pub struct PortfolioHandler {
    pub pool: PgPool,
    pub clock: Clock,
    pub outbox: Outbox,
    pub planner_wake: Arc<Notify>,
}

#[derive(Serialize)]
struct AccountRow<'a> {
    credit_id: &'a str,
    debtor_id: &'a str,
    status: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    phone: Option<&'a str>,
    country: &'a str,
    city: Option<&'a str>,
    email: Option<&'a str>,
    attributes: &'a std::collections::BTreeMap<String, String>,
    due_date: chrono::NaiveDate,
    balance_total: String,
    product: &'a str,
    currency: String,
    balance_overdue: String,
    days_past_due: u32,
    advisor_id: Option<uuid::Uuid>,
    snapshot_version: u64,
}

impl Handler for PortfolioHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let now = self.clock.now();
        // An older snapshot never overwrites a newer one, whatever order they arrive in: accounts by their version,
        // then by the time portfolio took them; advisors by that time.
        let snapshot_time = msg.envelope.time;
        if msg.envelope.ty == AccountsUpserted::TYPE {
            let e = msg.envelope.decode::<AccountsUpserted>()?.data;
            let rows: Vec<AccountRow<'_>> = e
                .accounts
                .iter()
                .map(|a| AccountRow {
                    credit_id: a.credit_id.as_str(),
                    debtor_id: a.debtor_id.as_str(),
                    status: if a.status == AccountStatus::Open { "open" } else { "closed" },
                    first_name: &a.debtor_first_name,
                    last_name: &a.debtor_last_name,
                    phone: a.phone.as_ref().map(|p| p.e164()),
                    country: a.country.code(),
                    city: a.city.as_deref(),
                    email: a.email.as_deref(),
                    attributes: &a.attributes,
                    due_date: a.due_date,
                    balance_total: a.balance_total.to_string(),
                    product: &a.product,
                    currency: a.currency.to_string(),
                    balance_overdue: a.balance_overdue.to_string(),
                    days_past_due: a.days_past_due,
                    advisor_id: a.advisor_id.map(|id| id.0),
                    snapshot_version: a.version,
                })
                .collect();
            let json = serde_json::to_value(&rows).map_err(HandleError::reject)?;
            sqlx::query(
                "INSERT INTO scheduler.accounts (credit_id, debtor_id, status, first_name, last_name, phone, country,
                                                 city, email, attributes, due_date, balance_total, product,
                                                 currency, balance_overdue, days_past_due, advisor_id,
                                                 snapshot_version, updated_at, dpd_since)
                 SELECT r.*, $2, $2 FROM jsonb_to_recordset($1) AS r(credit_id TEXT, debtor_id TEXT, status TEXT,
                     first_name TEXT, last_name TEXT, phone TEXT, country TEXT, city TEXT, email TEXT, attributes JSONB, due_date DATE, balance_total NUMERIC, product TEXT, currency TEXT,
                     balance_overdue NUMERIC, days_past_due INT, advisor_id UUID, snapshot_version BIGINT)
                 ON CONFLICT (credit_id) DO UPDATE SET debtor_id = EXCLUDED.debtor_id, status = EXCLUDED.status,
                     first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, phone = EXCLUDED.phone,
                     country = EXCLUDED.country, city = EXCLUDED.city, email = EXCLUDED.email,
                     attributes = EXCLUDED.attributes, due_date = EXCLUDED.due_date,
                     balance_total = EXCLUDED.balance_total, product = EXCLUDED.product, currency = EXCLUDED.currency,
                     balance_overdue = EXCLUDED.balance_overdue, days_past_due = EXCLUDED.days_past_due,
                     advisor_id = EXCLUDED.advisor_id, snapshot_version = EXCLUDED.snapshot_version,
                     updated_at = EXCLUDED.updated_at,
                     dpd_since = CASE WHEN accounts.days_past_due = EXCLUDED.days_past_due THEN accounts.dpd_since
                                      ELSE EXCLUDED.updated_at END
                 WHERE (accounts.snapshot_version, accounts.updated_at)
                       <= (EXCLUDED.snapshot_version, EXCLUDED.updated_at)",
            )
            .bind(&json)
            .bind(snapshot_time)
            .execute(&mut *tx)
            .await?;
            // A credit paid up (or closed) since a contact about it was requested: the request is withdrawn, even
            // one already waiting in the stream. Read from the projection as it now is, so an older snapshot that
            // arrived late changes nothing.
            let withdrawn: Vec<debtor_state::Withdrawn> = sqlx::query_as(
                "UPDATE scheduler.contact_ledger l SET cancelled_at = $2, cancelled_rule = 'paid'
                 FROM scheduler.accounts a
                 WHERE a.credit_id = l.credit_id AND a.credit_id IN (SELECT r.credit_id FROM jsonb_to_recordset($1) AS r(credit_id TEXT))
                   AND (a.balance_overdue <= 0 OR a.status <> 'open')
                   AND (l.balance_overdue IS NULL OR l.balance_overdue > 0)
                   AND l.cancelled_at IS NULL AND l.requested_at > $2 - make_interval(days => $3)
                 RETURNING l.contact_id, l.channel, l.debtor_id, l.strategy, l.strategy_version, l.stage, l.step, l.variant",
            )
            .bind(&json)
            .bind(now)
            .bind(debtor_state::PENDING_DAYS)
            .fetch_all(&mut *tx)
            .await?;
            let detail = "the credit's overdue amount was paid since the contact was requested";
            debtor_state::publish_cancellations(&mut tx, &self.outbox, withdrawn, "paid", detail, now).await?;
            // Look at these debtors now; an earlier plan time is kept.
            sqlx::query(
                "INSERT INTO scheduler.plans (debtor_id, strategy, next_at)
                 SELECT DISTINCT r.debtor_id, $2, $3 FROM jsonb_to_recordset($1) AS r(debtor_id TEXT)
                 ON CONFLICT (debtor_id, strategy) DO UPDATE SET next_at = LEAST(plans.next_at, EXCLUDED.next_at)",
            )
            .bind(&json)
            .bind(planner::PLAN)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        } else if msg.envelope.ty == AdvisorUpserted::TYPE {
            let e = msg.envelope.decode::<AdvisorUpserted>()?.data;
            sqlx::query(
                "INSERT INTO scheduler.advisors (id, first_name, last_name, phone, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                     phone = EXCLUDED.phone, updated_at = EXCLUDED.updated_at
                 WHERE advisors.updated_at <= EXCLUDED.updated_at",
            )
            .bind(e.advisor_id.0)
            .bind(&e.first_name)
            .bind(&e.last_name)
            .bind(e.phone.e164())
            .bind(snapshot_time)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        self.planner_wake.notify_one();
        Ok(())
    }
}
