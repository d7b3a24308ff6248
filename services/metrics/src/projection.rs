//! Turns each event into counter increments, exactly once per event (inbox).

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::*;
use sqlx::{PgConnection, PgPool};

use crate::SCHEMA;

pub struct Counter {
    pub pool: PgPool,
    pub consumer: String,
}

async fn add(conn: &mut PgConnection, name: &str, label: &str, by: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO metrics.counters (name, label, value) VALUES ($1, $2, $3)
         ON CONFLICT (name, label) DO UPDATE SET value = counters.value + EXCLUDED.value",
    )
    .bind(name)
    .bind(label)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

impl Handler for Counter {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, &self.consumer, msg.envelope.id).await? {
            return Ok(());
        }
        let env = &msg.envelope;
        match env.ty.as_str() {
            ImportCompleted::TYPE => {
                let e = env.decode::<ImportCompleted>()?.data;
                add(&mut tx, "rows_imported", "", e.rows_valid as i64).await?;
                add(&mut tx, "rows_rejected", "", e.rows_rejected as i64).await?;
            }
            ImportFailed::TYPE => add(&mut tx, "imports_failed", "", 1).await?,
            ImportApplied::TYPE => add(&mut tx, "imports_completed", "", 1).await?,
            AssignmentChanged::TYPE => add(&mut tx, "assignments_changed", "", 1).await?,
            AccountsUpserted::TYPE => {
                let e = env.decode::<AccountsUpserted>()?.data;
                let debtors: Vec<&str> = e.accounts.iter().map(|a| a.debtor_id.as_str()).collect();
                let credits: Vec<&str> = e.accounts.iter().map(|a| a.credit_id.as_str()).collect();
                sqlx::query("INSERT INTO metrics.debtors SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING")
                    .bind(&debtors)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO metrics.credits SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING")
                    .bind(&credits)
                    .execute(&mut *tx)
                    .await?;
            }
            ContactRequested::TYPE => {
                let e = env.decode::<ContactRequested>()?.data;
                add(&mut tx, "contacts_requested", e.channel.as_str(), 1).await?;
            }
            ContactSuppressed::TYPE => {
                let e = env.decode::<ContactSuppressed>()?.data;
                add(&mut tx, "contacts_suppressed", &e.rule, 1).await?;
            }
            ContactAttempted::TYPE => {
                let e = env.decode::<ContactAttempted>()?.data;
                add(&mut tx, "contacts_attempted", e.channel.as_str(), 1).await?;
                if e.outcome == AttemptOutcome::Failed {
                    add(&mut tx, "contacts_failed", e.channel.as_str(), 1).await?;
                }
            }
            ContactNotSent::TYPE => {
                // Its `contact.attempted` (outcome `unknown`) was counted; the provider never received it.
                let e = env.decode::<ContactNotSent>()?.data;
                add(&mut tx, "contacts_attempted", e.channel.as_str(), -1).await?;
                add(&mut tx, "contacts_not_sent", e.channel.as_str(), 1).await?;
            }
            ContactStatus::TYPE => {
                let e = env.decode::<ContactStatus>()?.data;
                add(&mut tx, "delivery_statuses", &e.status, 1).await?;
            }
            PaymentReceived::TYPE => add(&mut tx, "payments_received", "", 1).await?,
            PaymentRejected::TYPE => add(&mut tx, "payments_rejected", "", 1).await?,
            PaymentApplied::TYPE => {
                let e = env.decode::<PaymentApplied>()?.data;
                let outcome = serde_json::to_value(e.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                add(&mut tx, "payments_applied", &outcome, 1).await?;
                sqlx::query(
                    "INSERT INTO metrics.collected (currency, amount) VALUES ($1, $2)
                     ON CONFLICT (currency) DO UPDATE SET amount = collected.amount + EXCLUDED.amount",
                )
                .bind(e.currency.code())
                .bind(e.amount)
                .execute(&mut *tx)
                .await?;
            }
            ReplyClicked::TYPE => {
                let e = env.decode::<ReplyClicked>()?.data;
                add(&mut tx, "clicks", e.channel.as_str(), 1).await?;
            }
            ReplyRouted::TYPE => add(&mut tx, "replies_routed", "", 1).await?,
            QueueItemOpened::TYPE => add(&mut tx, "queue_items_opened", "", 1).await?,
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }
}
