//! What the router learns from other services: advisors, the current advisor of each credit, and the reply link of
//! every attempt.

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{AccountsUpserted, AdvisorUpserted, AttemptOutcome, ContactAttempted, ContactPrepared, Event};
use serde::Serialize;

use crate::SCHEMA;

pub struct Projection {
    pub router: std::sync::Arc<crate::Router>,
}

#[derive(Serialize)]
struct AccountRow<'a> {
    credit_id: &'a str,
    debtor_id: &'a str,
    debtor_first_name: &'a str,
    debtor_last_name: &'a str,
    advisor_id: Option<uuid::Uuid>,
    snapshot_version: u64,
    country: &'a str,
    city: Option<&'a str>,
    product: &'a str,
    currency: &'a str,
    balance_total: rust_decimal::Decimal,
    balance_overdue: rust_decimal::Decimal,
    due_date: chrono::NaiveDate,
    days_past_due: u32,
    phone: Option<&'a str>,
    email: Option<&'a str>,
}

impl Handler for Projection {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let consumer =
            if msg.envelope.ty == ContactAttempted::TYPE { "reply-router-attempts" } else { "reply-router-portfolio" };
        let mut tx = self.router.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, consumer, msg.envelope.id).await? {
            return Ok(());
        }
        // An older snapshot never overwrites a newer one, whatever order they arrive in: accounts by their version,
        // then by the time they were taken; advisors by that time.
        let snapshot_time = msg.envelope.time;
        match msg.envelope.ty.as_str() {
            AdvisorUpserted::TYPE => {
                let e = msg.envelope.decode::<AdvisorUpserted>()?.data;
                let sup = e.supervisor.as_ref();
                sqlx::query(
                    "INSERT INTO reply_router.advisors (id, first_name, last_name, phone, whatsapp, supervisor_id,
                                                        supervisor_first_name, supervisor_last_name, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (id) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                         phone = EXCLUDED.phone, whatsapp = EXCLUDED.whatsapp, supervisor_id = EXCLUDED.supervisor_id,
                         supervisor_first_name = EXCLUDED.supervisor_first_name,
                         supervisor_last_name = EXCLUDED.supervisor_last_name, updated_at = EXCLUDED.updated_at
                     WHERE advisors.updated_at <= EXCLUDED.updated_at",
                )
                .bind(e.advisor_id.0)
                .bind(&e.first_name)
                .bind(&e.last_name)
                .bind(e.phone.e164())
                .bind(e.whatsapp.as_ref().map(|w| w.e164()))
                .bind(sup.map(|s| s.supervisor_id.0))
                .bind(sup.map(|s| s.first_name.as_str()))
                .bind(sup.map(|s| s.last_name.as_str()))
                .bind(snapshot_time)
                .execute(&mut *tx)
                .await?;
            }
            AccountsUpserted::TYPE => {
                let e = msg.envelope.decode::<AccountsUpserted>()?.data;
                let rows: Vec<AccountRow<'_>> = e
                    .accounts
                    .iter()
                    .map(|a| AccountRow {
                        credit_id: a.credit_id.as_str(),
                        debtor_id: a.debtor_id.as_str(),
                        debtor_first_name: &a.debtor_first_name,
                        debtor_last_name: &a.debtor_last_name,
                        advisor_id: a.advisor_id.map(|id| id.0),
                        snapshot_version: a.version,
                        country: a.country.code(),
                        city: a.city.as_deref(),
                        product: &a.product,
                        currency: a.currency.code(),
                        balance_total: a.balance_total,
                        balance_overdue: a.balance_overdue,
                        due_date: a.due_date,
                        days_past_due: a.days_past_due,
                        phone: a.phone.as_ref().map(|p| p.e164()),
                        email: a.email.as_deref(),
                    })
                    .collect();
                sqlx::query(
                    "INSERT INTO reply_router.accounts (credit_id, debtor_id, debtor_first_name, debtor_last_name,
                                                        advisor_id, snapshot_version, country, city, product, currency,
                                                        balance_total, balance_overdue, due_date, days_past_due, phone,
                                                        email, updated_at)
                     SELECT r.*, $2 FROM jsonb_to_recordset($1) AS r(credit_id TEXT, debtor_id TEXT,
                         debtor_first_name TEXT, debtor_last_name TEXT, advisor_id UUID, snapshot_version BIGINT,
                         country TEXT, city TEXT, product TEXT, currency TEXT, balance_total NUMERIC,
                         balance_overdue NUMERIC, due_date DATE, days_past_due INT, phone TEXT, email TEXT)
                     ON CONFLICT (credit_id) DO UPDATE SET debtor_id = EXCLUDED.debtor_id,
                         debtor_first_name = EXCLUDED.debtor_first_name, debtor_last_name = EXCLUDED.debtor_last_name,
                         advisor_id = EXCLUDED.advisor_id, snapshot_version = EXCLUDED.snapshot_version,
                         country = EXCLUDED.country, city = EXCLUDED.city, product = EXCLUDED.product,
                         currency = EXCLUDED.currency, balance_total = EXCLUDED.balance_total,
                         balance_overdue = EXCLUDED.balance_overdue, due_date = EXCLUDED.due_date,
                         days_past_due = EXCLUDED.days_past_due, phone = EXCLUDED.phone, email = EXCLUDED.email,
                         updated_at = EXCLUDED.updated_at
                     WHERE (accounts.snapshot_version, accounts.updated_at)
                           <= (EXCLUDED.snapshot_version, EXCLUDED.updated_at)",
                )
                .bind(serde_json::to_value(&rows).map_err(HandleError::reject)?)
                .bind(snapshot_time)
                .execute(&mut *tx)
                .await?;
                let debtors: Vec<&str> = rows.iter().map(|r| r.debtor_id).collect();
                crate::reassign::follow_assignments(&mut tx, &self.router, &debtors, self.router.clock.now()).await?;
            }
            // The link works from the moment the dispatcher is about to call the provider.
            ContactPrepared::TYPE => {
                register_link(&mut tx, &msg.envelope.decode::<ContactPrepared>()?.data).await?;
            }
            ContactAttempted::TYPE => {
                let e = msg.envelope.decode::<ContactAttempted>()?.data;
                let detail = serde_json::json!({
                    "attempt_id": e.attempt_id,
                    "channel": e.channel.as_str(),
                    "outcome": e.outcome,
                    "strategy": e.strategy,
                    "body": e.body,
                    "error": e.error,
                });
                crate::timeline::add(&mut tx, e.debtor_id.as_str(), None, e.attempted_at, "attempt", None, detail)
                    .await?;
                // Attempts from before `contact.prepared` existed: only a message that went out carries a link.
                if e.outcome == AttemptOutcome::Sent {
                    let link = ContactPrepared {
                        attempt_id: e.attempt_id,
                        contact_id: e.contact_id,
                        channel: e.channel,
                        debtor_id: e.debtor_id,
                        credit_id: e.credit_id,
                        reply_token: e.reply_token,
                        prepared_at: e.attempted_at,
                    };
                    register_link(&mut tx, &link).await?;
                }
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn register_link(conn: &mut sqlx::PgConnection, e: &ContactPrepared) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reply_router.links (token, attempt_id, contact_id, channel, debtor_id, credit_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (token) DO NOTHING",
    )
    .bind(&e.reply_token)
    .bind(e.attempt_id)
    .bind(e.contact_id)
    .bind(e.channel.as_str())
    .bind(e.debtor_id.as_str())
    .bind(e.credit_id.as_str())
    .bind(e.prepared_at)
    .execute(conn)
    .await?;
    Ok(())
}
