//! Fallback channels: when the provider reports a strategy's contact failed (refused at once, or a final `failed`
//! or `undelivered` status later), the step's next fallback channel is requested at once, through the same policy
//! check and ledger as any step. Each contact falls back once; a fallback that fails falls back to the next.

use std::sync::Arc;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_domain::Country;
use recaudo_events::{AttemptOutcome, ContactAttempted, ContactStatus, ContactSuppressed, Decision as Made, Event};
use recaudo_policy::{Channel as PolicyChannel, Policies, Policy};
use recaudo_runtime::Clock;
use recaudo_strategy::{Document, Strategy, DEFAULT};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::planner::{self, Account, ACCOUNTS};
use crate::{debtor_state, SCHEMA};

pub(crate) const CONSUMER: &str = "scheduler-attempts";
/// The durable consumers the handler reads, with their filters.
pub(crate) const CONSUMERS: [(&str, &str); 2] =
    [(CONSUMER, "contact.attempted.*"), ("scheduler-statuses", "contact.status.*")];

/// The final statuses after which a message will not reach the debtor.
const FINAL_FAILURES: &[&str] = &["failed", "undelivered"];

pub(crate) struct FallbackHandler {
    pub pool: PgPool,
    pub clock: Clock,
    pub outbox: Outbox,
    pub policies: Arc<Policies>,
    pub planner_wake: Arc<Notify>,
}

impl Handler for FallbackHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let failed: Option<Uuid> = if msg.envelope.ty == <ContactAttempted as Event>::TYPE {
            let e = msg.envelope.decode::<ContactAttempted>()?.data;
            sqlx::query(
                "INSERT INTO scheduler.attempts (attempt_id, contact_id, channel) VALUES ($1, $2, $3)
                 ON CONFLICT (attempt_id) DO NOTHING",
            )
            .bind(e.attempt_id)
            .bind(e.contact_id)
            .bind(e.channel.as_str())
            .execute(&mut *tx)
            .await?;
            (e.outcome == AttemptOutcome::Failed).then_some(e.contact_id)
        } else if msg.envelope.ty == <ContactStatus as Event>::TYPE {
            let e = msg.envelope.decode::<ContactStatus>()?.data;
            if FINAL_FAILURES.contains(&e.status.as_str()) {
                let contact: Option<Uuid> =
                    sqlx::query_scalar("SELECT contact_id FROM scheduler.attempts WHERE attempt_id = $1")
                        .bind(e.attempt_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                // The attempt's own event travels on another consumer and may not be here yet: try again later
                // rather than lose the fallback. (Attempts not made for a scheduler request never arrive; their
                // reports end in the dead letters after the retries, which says so.)
                if contact.is_none() && e.strategy.is_some() {
                    return Err(HandleError::retry(anyhow::anyhow!("attempt {} not known yet", e.attempt_id)));
                }
                contact
            } else {
                None
            }
        } else {
            None
        };
        if let Some(contact_id) = failed {
            self.fall_back(&mut tx, contact_id).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}

type LedgerRow = (String, String, String, i32, Option<String>, String, Option<String>, i32);

impl FallbackHandler {
    async fn fall_back(&self, conn: &mut PgConnection, contact_id: Uuid) -> Result<(), sqlx::Error> {
        // Once per contact, whichever report comes first (an immediate refusal and a later `failed`, say).
        let row: Option<LedgerRow> = sqlx::query_as(
            "UPDATE scheduler.contact_ledger SET fell_back_at = $2
             WHERE contact_id = $1 AND fell_back_at IS NULL AND cancelled_at IS NULL
             RETURNING debtor_id, credit_id, strategy, strategy_version, stage, step, variant, fallback_index",
        )
        .bind(contact_id)
        .bind(self.clock.now())
        .fetch_optional(&mut *conn)
        .await?;
        let Some((debtor_id, credit_id, strategy, version, stage, step_key, variant, index)) = row else {
            return Ok(());
        };
        let Some(strategy) = version_of(conn, &strategy, version).await? else { return Ok(()) };
        let step_id = step_key.split('#').next().unwrap_or_default();
        let Some(step) = strategy.document.stages.iter().flat_map(|s| &s.steps).find(|s| s.id == step_id) else {
            return Ok(());
        };
        let Some(fallback) = step.fallbacks.get(index as usize) else { return Ok(()) };
        planner::lock_debtor(conn, &debtor_id).await?;
        let accounts: Vec<Account> = sqlx::query_as(ACCOUNTS).bind(&debtor_id).fetch_all(&mut *conn).await?;
        let Some(account) = accounts.into_iter().find(|a| a.credit_id == credit_id) else { return Ok(()) };
        let Ok(country) = account.country.parse::<Country>() else { return Ok(()) };
        let now = self.clock.now();
        let debtor =
            debtor_state::load(conn, &debtor_id, country, account.city.as_deref(), account.phone.as_deref()).await?;
        let policy = self.policies.for_country(country);
        let history = planner::ledger_history(conn, &debtor_id, now).await?;
        let channel = PolicyChannel::from(fallback.channel);
        let made = Made {
            strategy_version: Some(version),
            stage: stage.clone(),
            step: Some(format!("{step_id}#fallback-{}", index + 1)),
            variant: variant.clone(),
        };
        let fallback_id = Uuid::now_v7();
        let stop = match (planner::address(&account, channel), policy.check(&debtor, &history, channel, now)) {
            (None, _) => Some(("no_channel_address".to_string(), format!("no address for {}", channel.as_str()))),
            (_, Err(s)) => Some((s.rule.to_string(), format!("{} ({})", s.reason, s.source))),
            (Some(_), Ok(())) => None,
        };
        if let Some((rule, detail)) = stop {
            let event = ContactSuppressed {
                contact_id: fallback_id,
                channel: channel.event_channel(),
                debtor_id: planner::parse_id(recaudo_domain::DebtorId::parse(&debtor_id))?,
                credit_id: planner::parse_id(recaudo_domain::CreditId::parse(&credit_id))?,
                rule,
                detail,
                strategy: Some(strategy.name.clone()),
                decision: made,
            };
            self.outbox.enqueue(conn, now, event).await?;
            return Ok(());
        }
        let today = Policy::local_date(debtor.zone, now);
        let recorded = sqlx::query(
            "INSERT INTO scheduler.contact_ledger (contact_id, debtor_id, credit_id, channel, strategy, strategy_version,
                                                   stage, step, variant, local_date, requested_at, fallback_of,
                                                   fallback_index)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        )
        .bind(fallback_id)
        .bind(&debtor_id)
        .bind(&credit_id)
        .bind(channel.as_str())
        .bind(&strategy.name)
        .bind(version)
        .bind(&stage)
        .bind(made.step.as_deref())
        .bind(&variant)
        .bind(today)
        .bind(now)
        .bind(contact_id)
        .bind(index + 1)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if recorded {
            let event = planner::request_for(
                &account,
                &strategy,
                channel,
                &fallback.template,
                &crate::templates::catalogue(&mut *conn).await?,
                country,
                &debtor,
                made,
                fallback_id,
                today,
                now,
            )?;
            self.outbox.enqueue(conn, now, event).await?;
        }
        self.planner_wake.notify_one();
        Ok(())
    }
}

/// A stored version of a strategy (the built-in default for version 0).
async fn version_of(conn: &mut PgConnection, name: &str, version: i32) -> Result<Option<Strategy>, sqlx::Error> {
    if name == DEFAULT && version == 0 {
        return Ok(Some(Strategy::builtin_default()));
    }
    let document: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT document FROM scheduler.strategies WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(conn)
            .await?;
    Ok(document
        .and_then(|d| serde_json::from_value::<Document>(d).ok())
        .and_then(|d| Strategy::load(name, version, d).ok()))
}
