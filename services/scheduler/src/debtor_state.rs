//! What the policy engine must know of a debtor beyond their accounts, as events set it: holds from case outcomes
//! (`case.outcome.recorded`) and channels whose consent was withdrawn (`consent.withdrawn`). Each change looks at the
//! debtor's plans at once, so a suppression (or a resumed plan) follows within a planning round.

use chrono::{DateTime, Duration, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_domain::{Country, DebtorId};
use recaudo_events::{
    CaseOutcomeRecorded, ConsentWithdrawn, ContactCancelled, Event, Outcome, PromiseBroken, PromiseKept, ReplyClicked,
    ReplyRouted,
};
use recaudo_policy::{engine, zone, Channel, Debtor, Hold, HoldKind};
use recaudo_runtime::Clock;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::SCHEMA;

/// How long an outcome holds contacts when it names no date of its own. Promises hold through their due date and
/// these grace days; portfolio's `promise.kept`/`promise.broken` end them sooner.
const PROMISE_GRACE_DAYS: i64 = 1;
const CLAIMED_PAYMENT_DAYS: i64 = 5;
const CANT_PAY_DAYS: i64 = 30;
const REFINANCING_DAYS: i64 = 10;

/// A hold as stored: kind, until, and a wrong number's number.
pub(crate) type HoldRow = (String, Option<DateTime<Utc>>, Option<String>);

/// The debtor as the engine sees them, from the projection (`city` and `phone` as the latest snapshot says).
pub(crate) async fn load(
    conn: &mut PgConnection,
    debtor_id: &str,
    country: Country,
    city: Option<&str>,
    phone: Option<&str>,
) -> Result<Debtor, sqlx::Error> {
    let holds: Vec<HoldRow> =
        sqlx::query_as("SELECT kind, until, address FROM scheduler.holds WHERE debtor_id = $1 ORDER BY kind")
            .bind(debtor_id)
            .fetch_all(&mut *conn)
            .await?;
    let withdrawn: Vec<String> =
        sqlx::query_scalar("SELECT channel FROM scheduler.consent_withdrawn WHERE debtor_id = $1")
            .bind(debtor_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(debtor(country, city, phone, &holds, &withdrawn))
}

/// The debtor from their stored holds and opt-outs.
pub(crate) fn debtor(
    country: Country,
    city: Option<&str>,
    phone: Option<&str>,
    holds: &[HoldRow],
    withdrawn: &[String],
) -> Debtor {
    let zone = zone::time_zone(country, city.unwrap_or_default());
    let mut debtor = Debtor::new(country, zone);
    debtor.holds = holds
        .iter()
        .filter_map(|(kind, until, address)| {
            let kind = HoldKind::parse(kind)?;
            // A wrong number holds only while the debtor still has that number.
            if kind == HoldKind::WrongNumber && address.as_deref() != phone {
                return None;
            }
            Some(Hold { kind, until: *until })
        })
        .collect();
    debtor.withdrawn = withdrawn.iter().filter_map(|c| Channel::parse(c)).collect();
    debtor
}

/// The events that change what the engine knows of a debtor: case outcomes (holds), opt-outs, settled promises and
/// replies. One handler for the four durable consumers; each event kind is handled by its method.
#[derive(Clone)]
pub(crate) struct DebtorEvents {
    pub pool: PgPool,
    pub clock: Clock,
    pub outbox: Outbox,
    pub planner_wake: Arc<Notify>,
}

impl Handler for DebtorEvents {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        match msg.envelope.ty.as_str() {
            <CaseOutcomeRecorded as Event>::TYPE => self.outcome(msg).await,
            <ConsentWithdrawn as Event>::TYPE => self.consent(msg).await,
            <PromiseKept as Event>::TYPE | <PromiseBroken as Event>::TYPE => self.promise(msg).await,
            <ReplyClicked as Event>::TYPE | <ReplyRouted as Event>::TYPE => self.reply(msg).await,
            // `promise.made` and others on these subjects change nothing here.
            _ => Ok(()),
        }
    }
}

pub(crate) const OUTCOMES_CONSUMER: &str = "scheduler-cases";
/// The durable consumers [`DebtorEvents`] handles, with their filters.
pub(crate) const CONSUMERS: [(&str, &str); 4] = [
    (OUTCOMES_CONSUMER, "case.outcome.recorded"),
    (CONSENT_CONSUMER, "consent.withdrawn"),
    (REPLIES_CONSUMER, "reply.>"),
    (PROMISES_CONSUMER, "promise.>"),
];
pub(crate) const CONSENT_CONSUMER: &str = "scheduler-consent";

impl DebtorEvents {
    /// `case.outcome.recorded` → holds.
    async fn outcome(&self, msg: Incoming) -> Result<(), HandleError> {
        let e = msg.envelope.decode::<CaseOutcomeRecorded>()?.data;
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, OUTCOMES_CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let debtor_id = e.debtor_id.as_str();
        let account: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT country, city, phone FROM scheduler.accounts WHERE debtor_id = $1 ORDER BY credit_id LIMIT 1",
        )
        .bind(debtor_id)
        .fetch_optional(&mut *tx)
        .await?;
        let zone = account
            .as_ref()
            .and_then(|(country, city, _)| {
                let country: Country = country.parse().ok()?;
                Some(zone::time_zone(country, city.as_deref().unwrap_or_default()))
            })
            .unwrap_or(chrono_tz::UTC);
        let phone = account.and_then(|(_, _, phone)| phone);
        let at = e.recorded_at;
        let days = |n: i64| Some(at + Duration::days(n));
        let hold: Option<(HoldKind, Option<DateTime<Utc>>)> = match &e.outcome {
            Outcome::Promise { due_on, .. } => {
                let end = due_on.checked_add_signed(Duration::days(1 + PROMISE_GRACE_DAYS));
                // Unknown zone or an unrepresentable date: hold a day longer rather than a day too short.
                let until = end.and_then(|d| engine::start_of_day(zone, d)).map(|t| t + Duration::days(1));
                Some((HoldKind::PromiseInForce, until.or(days(30))))
            }
            Outcome::ClaimedPayment { .. } => Some((HoldKind::ClaimedPayment, days(CLAIMED_PAYMENT_DAYS))),
            Outcome::Dispute { .. } => Some((HoldKind::Dispute, None)),
            Outcome::CallBack { at: back } => Some((HoldKind::CallBack, Some(*back))),
            Outcome::CantPay => Some((HoldKind::CantPay, days(CANT_PAY_DAYS))),
            Outcome::RefinancingRequest => Some((HoldKind::Refinancing, days(REFINANCING_DAYS))),
            Outcome::WrongNumber => Some((HoldKind::WrongNumber, None)),
            Outcome::LegalRepresentation => Some((HoldKind::LegalRepresentation, None)),
            Outcome::Deceased => Some((HoldKind::Deceased, None)),
            // The debtor refuses; collection goes on within the law.
            Outcome::WontPay => None,
        };
        if let Some((kind, until)) = hold {
            // A later outcome of the same kind replaces an earlier one, whatever order they arrive in.
            let promise = match &e.outcome {
                Outcome::Promise { credit_id, amount, due_on } => Some((credit_id.as_str(), *amount, *due_on)),
                _ => None,
            };
            sqlx::query(
                "INSERT INTO scheduler.holds (debtor_id, kind, until, address, outcome_id, set_at,
                                              promise_credit_id, promise_amount, promise_due_on)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (debtor_id, kind) DO UPDATE SET until = EXCLUDED.until, address = EXCLUDED.address,
                     outcome_id = EXCLUDED.outcome_id, set_at = EXCLUDED.set_at,
                     promise_credit_id = EXCLUDED.promise_credit_id, promise_amount = EXCLUDED.promise_amount,
                     promise_due_on = EXCLUDED.promise_due_on
                 WHERE holds.set_at <= EXCLUDED.set_at",
            )
            .bind(debtor_id)
            .bind(kind.as_str())
            .bind(until)
            .bind(if kind == HoldKind::WrongNumber { phone } else { None })
            .bind(e.outcome_id)
            .bind(at)
            .bind(promise.map(|p| p.0))
            .bind(promise.map(|p| p.1))
            .bind(promise.map(|p| p.2))
            .execute(&mut *tx)
            .await?;
            let now = self.clock.now();
            if until.is_none_or(|u| u > now) {
                let detail = format!("the debtor's case is on hold ({})", e.outcome.kind());
                cancel_pending(&mut tx, &self.outbox, debtor_id, kind.channels(), kind.rule(), &detail, now).await?;
            }
            look_again(&mut tx, debtor_id, now).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        self.planner_wake.notify_one();
        Ok(())
    }
}

impl DebtorEvents {
    /// `consent.withdrawn` → the channel is closed to the debtor from now on.
    async fn consent(&self, msg: Incoming) -> Result<(), HandleError> {
        let e = msg.envelope.decode::<ConsentWithdrawn>()?.data;
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSENT_CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let via = serde_json::to_value(e.via).map_err(HandleError::reject)?;
        sqlx::query(
            "INSERT INTO scheduler.consent_withdrawn (debtor_id, channel, via, withdrawn_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (debtor_id, channel) DO NOTHING",
        )
        .bind(e.debtor_id.as_str())
        .bind(e.channel.as_str())
        .bind(via.as_str().unwrap_or_default())
        .bind(e.withdrawn_at)
        .execute(&mut *tx)
        .await?;
        let now = self.clock.now();
        let detail = format!("the debtor withdrew consent for {}", e.channel);
        let channels = [e.channel.into()];
        cancel_pending(&mut tx, &self.outbox, e.debtor_id.as_str(), &channels, "consent.withdrawn", &detail, now)
            .await?;
        look_again(&mut tx, e.debtor_id.as_str(), now).await?;
        tx.commit().await?;
        self.outbox.wake();
        self.planner_wake.notify_one();
        Ok(())
    }
}

/// How far back a request may still be waiting in the stream unsent (a dispatcher outage).
pub(crate) const PENDING_DAYS: i32 = 7;

/// Withdraws the debtor's recent requests on `channels` (`contact.cancelled.<channel>`): the dispatcher suppresses
/// any it has not attempted yet. Each request is withdrawn once.
async fn cancel_pending(
    conn: &mut PgConnection,
    outbox: &Outbox,
    debtor_id: &str,
    channels: &[Channel],
    rule: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let channels: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
    let withdrawn: Vec<Withdrawn> = sqlx::query_as(&format!(
        "UPDATE scheduler.contact_ledger SET cancelled_at = $3, cancelled_rule = $4
         WHERE debtor_id = $1 AND channel = ANY($2) AND cancelled_at IS NULL
           AND requested_at > $3 - make_interval(days => $5)
         RETURNING {WITHDRAWN}"
    ))
    .bind(debtor_id)
    .bind(&channels)
    .bind(now)
    .bind(rule)
    .bind(PENDING_DAYS)
    .fetch_all(&mut *conn)
    .await?;
    publish_cancellations(conn, outbox, withdrawn, rule, detail, now).await
}

/// A withdrawn ledger row: contact, channel, debtor, strategy and the decision's version, stage, step, variant.
pub(crate) type Withdrawn = (Uuid, String, String, String, i32, Option<String>, String, Option<String>);
/// The `RETURNING` list that reads a [`Withdrawn`] (columns of the ledger, unqualified).
pub(crate) const WITHDRAWN: &str = "contact_id, channel, debtor_id, strategy, strategy_version, stage, step, variant";

/// `contact.cancelled.<channel>.<contact_id>` for each withdrawn request.
pub(crate) async fn publish_cancellations(
    conn: &mut PgConnection,
    outbox: &Outbox,
    withdrawn: Vec<Withdrawn>,
    rule: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (contact_id, channel, debtor_id, strategy, version, stage, step, variant) in withdrawn {
        let Ok(channel) = channel.parse::<recaudo_events::Channel>() else { continue };
        let debtor_id = DebtorId::parse(&debtor_id).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
        let event = ContactCancelled {
            contact_id,
            channel,
            debtor_id,
            rule: rule.to_string(),
            detail: detail.to_string(),
            cancelled_at: now,
            strategy: Some(strategy),
            decision: recaudo_events::Decision { strategy_version: Some(version), stage, step: Some(step), variant },
        };
        outbox.enqueue(&mut *conn, now, event).await?;
    }
    Ok(())
}

/// Brings the debtor's plans forward to now, so the planner decides again under the new state.
async fn look_again(conn: &mut PgConnection, debtor_id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE scheduler.plans SET next_at = LEAST(next_at, $2) WHERE debtor_id = $1")
        .bind(debtor_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) const REPLIES_CONSUMER: &str = "scheduler-replies";

impl DebtorEvents {
    /// `reply.clicked`, `reply.routed`: the debtor answered; contacts before it are no longer "unanswered".
    async fn reply(&self, msg: Incoming) -> Result<(), HandleError> {
        let (debtor_id, at) = if msg.envelope.ty == <ReplyClicked as Event>::TYPE {
            let e = msg.envelope.decode::<ReplyClicked>()?.data;
            (e.debtor_id, e.clicked_at)
        } else if msg.envelope.ty == <ReplyRouted as Event>::TYPE {
            let e = msg.envelope.decode::<ReplyRouted>()?.data;
            (e.debtor_id, e.routed_at)
        } else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO scheduler.replies (debtor_id, at) VALUES ($1, $2)
             ON CONFLICT (debtor_id) DO UPDATE SET at = GREATEST(replies.at, EXCLUDED.at)",
        )
        .bind(debtor_id.as_str())
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

pub(crate) const PROMISES_CONSUMER: &str = "scheduler-promises";
/// How long a kept promise's pause outlives it, for the payment's snapshot to reach the projection.
const KEPT_SETTLE_MINUTES: i64 = 5;

/// `promise.kept` and `promise.broken` end the pause a promise outcome set (`hold.promise_in_force`): a broken one
/// resumes the strategy at once; a kept one also withdraws the requests still waiting, and the planner decides from
/// the balances the payments left (nothing overdue: nothing more to send). `promise.made` changes nothing here: the
/// outcome that made it already paused the debtor.
impl DebtorEvents {
    async fn promise(&self, msg: Incoming) -> Result<(), HandleError> {
        let (settled, kept) = if msg.envelope.ty == <PromiseKept as Event>::TYPE {
            (msg.envelope.decode::<PromiseKept>()?.data.0, true)
        } else if msg.envelope.ty == <PromiseBroken as Event>::TYPE {
            (msg.envelope.decode::<PromiseBroken>()?.data.0, false)
        } else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, PROMISES_CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let debtor_id = settled.debtor_id.as_str();
        let now = self.clock.now();
        // Only the hold this promise set: a later promise's pause stays. A broken promise resumes the strategy at
        // once. A kept one ends the pause a few minutes later: the payment's account snapshot travels on another
        // stream, and until the projection has it the debtor would look as overdue as before.
        let sql = if kept {
            "UPDATE scheduler.holds SET until = $4 WHERE debtor_id = $1 AND kind = $2 AND outcome_id = $3"
        } else {
            "DELETE FROM scheduler.holds WHERE debtor_id = $1 AND kind = $2 AND outcome_id = $3 AND $4 IS NOT NULL"
        };
        sqlx::query(sql)
            .bind(debtor_id)
            .bind(HoldKind::PromiseInForce.as_str())
            .bind(settled.promise_id)
            .bind(now + Duration::minutes(KEPT_SETTLE_MINUTES))
            .execute(&mut *tx)
            .await?;
        if kept {
            let detail = "the debtor kept their promise to pay";
            cancel_pending(&mut tx, &self.outbox, debtor_id, &Channel::ALL, "promise.kept", detail, now).await?;
        }
        look_again(&mut tx, debtor_id, now).await?;
        tx.commit().await?;
        self.outbox.wake();
        self.planner_wake.notify_one();
        Ok(())
    }
}
