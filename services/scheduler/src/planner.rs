//! The planner: takes debtors whose plan is due, lets the first strategy whose segment matches decide (stage, step,
//! A/B variant), asks the contact policy, and requests the contact. A request and its ledger entry are written in one
//! transaction with the outgoing event (outbox), so a step is never requested twice for one debtor and local day,
//! whatever crashes, redeliveries or second replicas do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use recaudo_bus::outbox::Outbox;
use recaudo_domain::{AdvisorId, Country, CreditId, DebtorId, PhoneNumber};
use recaudo_events::{
    Channel, ContactAdvisor, ContactCredit, ContactDebtor, ContactPromise, ContactRequested, ContactSuppressed,
    Decision as Made,
};
use recaudo_policy::{engine, Channel as PolicyChannel, Debtor, Hold, HoldKind, Past, Policies, Policy};
use recaudo_runtime::Clock;
use recaudo_strategy::{Chosen, CreditFacts, DebtorFacts, Facts, Stage, Step, Strategy, PROMISE_REMINDER_STEP};
use recaudo_templates::Catalogue;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sqlx::{FromRow, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::debtor_state;
use crate::page::{DuePlan, LedgerEntry, NewCallTask, NewContact, PageFacts, Writes};
use crate::strategies::Active;

/// The one plan key of a debtor: the segment picks the strategy at each decision.
pub(crate) const PLAN: &str = "strategies";
const PLANS_PER_ROUND: i64 = 1000;

#[derive(Clone)]
pub struct Planner {
    pool: PgPool,
    outbox: Outbox,
    clock: Clock,
    policies: Arc<Policies>,
    strategies: Arc<Active>,
}

/// An account of the debtor, as the projection holds it.
#[derive(FromRow, Clone)]
pub(crate) struct Account {
    pub credit_id: String,
    pub debtor_id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub country: String,
    pub city: Option<String>,
    pub attributes: serde_json::Value,
    pub product: String,
    pub currency: String,
    pub balance_total: Option<Decimal>,
    pub balance_overdue: Decimal,
    pub days_past_due: i32,
    pub due_date: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
    pub advisor_id: Option<Uuid>,
    pub advisor_first_name: Option<String>,
    pub advisor_last_name: Option<String>,
    pub advisor_phone: Option<String>,
}

pub(crate) const ACCOUNTS: &str = "
    SELECT a.credit_id, a.debtor_id, a.first_name, a.last_name, a.phone, a.email, a.country, a.city, a.attributes,
           a.product, a.currency, a.balance_total, a.balance_overdue, a.days_past_due, a.due_date,
           COALESCE(a.dpd_since, a.updated_at) AS updated_at,
           a.advisor_id, v.first_name AS advisor_first_name, v.last_name AS advisor_last_name,
           v.phone AS advisor_phone
    FROM scheduler.accounts a LEFT JOIN scheduler.advisors v ON v.id = a.advisor_id
    WHERE a.debtor_id = $1 AND a.status = 'open'
    ORDER BY a.debtor_id, a.credit_id";

/// The open accounts matching `filter` (over `a`, the accounts), as [`ACCOUNTS`] reads one debtor's.
pub(crate) fn accounts_sql(filter: &str) -> String {
    ACCOUNTS.replace("a.debtor_id = $1", filter)
}

impl Account {
    /// Days past due on `today`: the lender's figure, advanced by the days since a snapshot first carried it; for a
    /// credit with nothing overdue, negative days until its due date (`None` once that date has passed: it is
    /// current, and its next due date is not known).
    pub fn days_past_due_on(&self, zone: Tz, today: NaiveDate) -> Option<i32> {
        if self.balance_overdue > Decimal::ZERO {
            let learned = self.updated_at.with_timezone(&zone).date_naive();
            return Some(self.days_past_due + (today - learned).num_days().max(0) as i32);
        }
        let due = self.due_date?;
        (due >= today).then(|| -((due - today).num_days() as i32))
    }

    fn attributes(&self) -> BTreeMap<String, String> {
        match &self.attributes {
            serde_json::Value::Object(m) => {
                m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or(v.to_string()))).collect()
            }
            _ => BTreeMap::new(),
        }
    }
}

/// What the strategies say for a debtor on a day: the account they act on, the strategy and stage, and the steps
/// that fire. The planner acts on it; the plan route shows it.
pub(crate) struct Evaluation<'a> {
    pub account: Account,
    pub days_past_due: i32,
    pub strategy: Arc<Strategy>,
    pub stage: Option<&'a Stage>,
    pub steps: Vec<(&'a Step, Chosen<'a>)>,
    /// What segments and stop conditions read, serialised only when one does.
    facts: std::cell::OnceCell<Facts>,
}

impl Evaluation<'_> {
    pub fn facts(&self) -> &Facts {
        self.facts.get_or_init(|| facts_of(&self.account, self.days_past_due))
    }
}

fn facts_of(account: &Account, dpd: i32) -> Facts {
    let debtor = DebtorFacts { id: &account.debtor_id, country: &account.country, city: account.city.as_deref() };
    let credit = CreditFacts {
        id: &account.credit_id,
        product: &account.product,
        currency: &account.currency,
        balance_total: account.balance_total.and_then(|d| d.to_f64()).unwrap_or(0.0),
        balance_overdue: account.balance_overdue.to_f64().unwrap_or(0.0),
        days_past_due: dpd,
        due_date: account.due_date.map(|d| d.to_string()).unwrap_or_default(),
    };
    Facts::new(&debtor, &credit, &account.attributes())
}

/// The debtor's most overdue account (then the largest overdue balance), and what the first matching strategy
/// does with it today. `None`: nothing to act on (no open account in any stage's reach).
pub(crate) fn evaluate<'a>(
    accounts: &[Account],
    strategies: &'a [Arc<Strategy>],
    zone: Tz,
    today: NaiveDate,
) -> Option<Evaluation<'a>> {
    let (account, dpd) =
        accounts.iter().filter_map(|a| Some((a, a.days_past_due_on(zone, today)?))).max_by(|(a, x), (b, y)| {
            x.cmp(y).then(a.balance_overdue.cmp(&b.balance_overdue)).then(b.credit_id.cmp(&a.credit_id))
        })?;
    let facts = std::cell::OnceCell::new();
    let strategy =
        strategies.iter().find(|s| match s.matches_with(|| facts.get_or_init(|| facts_of(account, dpd))) {
            Ok(m) => m,
            Err(e) => {
                // A segment that cannot be evaluated for this debtor (a missing attribute, say) does not match.
                tracing::debug!(strategy = %s.label(), error = %e, "segment not evaluated");
                false
            }
        })?;
    let stage = strategy.stage(dpd);
    let steps = stage
        .map(|stage| {
            strategy.steps_on(stage, dpd).map(|step| (step, strategy.variant(step, &account.debtor_id))).collect()
        })
        .unwrap_or_default();
    Some(Evaluation { account: account.clone(), days_past_due: dpd, strategy: strategy.clone(), stage, steps, facts })
}

/// What a promise reminder is decided from: the debtor's evaluation and the page's facts.
struct Reminder<'e, 'f> {
    eval: &'e Evaluation<'f>,
    facts: &'e PageFacts,
    debtor: &'e Debtor,
    policy: &'e Policy,
    country: Country,
    today: NaiveDate,
    now: DateTime<Utc>,
}

/// A contact a decision is about to request, for the `contact.suppressed` that stands in for it when it cannot go.
struct Pending<'a> {
    contact_id: Uuid,
    channel: PolicyChannel,
    account: &'a Account,
    strategy: &'a Strategy,
    made: &'a Made,
}

impl Pending<'_> {
    fn suppressed(&self, rule: &str, detail: String) -> Result<ContactSuppressed, sqlx::Error> {
        Ok(ContactSuppressed {
            contact_id: self.contact_id,
            channel: self.channel.event_channel(),
            debtor_id: parse_id(DebtorId::parse(&self.account.debtor_id))?,
            credit_id: parse_id(CreditId::parse(&self.account.credit_id))?,
            rule: rule.to_string(),
            detail,
            strategy: Some(self.strategy.name.clone()),
            decision: self.made.clone(),
        })
    }

    fn without_address(&self) -> Result<ContactSuppressed, sqlx::Error> {
        self.suppressed("no_channel_address", format!("the debtor has no address for {}", self.channel.as_str()))
    }

    /// Its ledger row, once the law lets it go.
    fn contact(&self, local_date: NaiveDate, requested_at: DateTime<Utc>) -> NewContact {
        NewContact {
            contact_id: self.contact_id,
            debtor_id: self.account.debtor_id.clone(),
            credit_id: self.account.credit_id.clone(),
            channel: self.channel.as_str(),
            strategy: self.strategy.name.clone(),
            strategy_version: self.strategy.version,
            stage: self.made.stage.clone(),
            step: self.made.step.clone().unwrap_or_default(),
            variant: self.made.variant.clone().unwrap_or_default(),
            local_date,
            requested_at,
            balance_overdue: self.account.balance_overdue,
        }
    }
}

/// What to do with one debtor's plan.
enum Next {
    /// Nothing to contact them about: drop the plan until their accounts change.
    Drop,
    /// Look again at this instant.
    At(DateTime<Utc>),
}

impl Planner {
    pub fn new(pool: PgPool, outbox: Outbox, clock: Clock, policies: Arc<Policies>, strategies: Arc<Active>) -> Self {
        Planner { pool, outbox, clock, policies, strategies }
    }

    pub async fn run(self, tick: Duration, wake: Arc<Notify>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.round().await {
                Ok(n) if n as i64 == PLANS_PER_ROUND => {
                    // More are due: another worker may take the next page while this one decides its own.
                    wake.notify_one();
                    continue;
                }
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
        let mut tx = self.pool.begin().await?;
        let n = self.round_on(&mut tx, self.clock.now()).await?;
        tx.commit().await?;
        if n > 0 {
            self.outbox.wake();
        }
        Ok(n)
    }

    /// One page of due plans decided at `now`, in the caller's transaction (the simulation runs the planner this
    /// way on a clock of its own, and rolls everything back).
    pub(crate) async fn round_on(&self, tx: &mut PgConnection, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
        let due: Vec<DuePlan> = sqlx::query_as(
            "SELECT debtor_id, ctid::text AS row FROM scheduler.plans WHERE strategy = $1 AND next_at <= $2
             ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(PLAN)
        .bind(now)
        .bind(PLANS_PER_ROUND)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let debtors: Vec<String> = due.iter().map(|p| p.debtor_id.clone()).collect();
        let strategies = self.strategies.load(&mut *tx).await?;
        lock_debtors(&mut *tx, &debtors).await?;
        let facts = PageFacts::load(&mut *tx, &debtors, now).await?;
        let mut writes = Writes::default();
        let n = due.len();
        for plan in due {
            let next = self.decide(&facts, &plan.debtor_id, now, &strategies, &mut writes)?;
            writes.next.push((
                plan,
                match next {
                    Next::Drop => None,
                    Next::At(at) => Some(at),
                },
            ));
        }
        writes.apply(&mut *tx, &self.outbox).await?;
        Ok(n)
    }

    /// How many plans a round takes at most.
    pub(crate) const PAGE: usize = PLANS_PER_ROUND as usize;

    /// One debtor's decision, from the page's facts; what it writes goes to `w`.
    fn decide(
        &self,
        facts: &PageFacts,
        debtor_id: &str,
        now: DateTime<Utc>,
        strategies: &[Arc<Strategy>],
        w: &mut Writes,
    ) -> Result<Next, sqlx::Error> {
        let empty = Vec::new();
        let accounts = facts.accounts.get(debtor_id).unwrap_or(&empty);
        let Some(first) = accounts.first() else { return Ok(Next::Drop) };
        let Ok(country) = first.country.parse::<Country>() else { return Ok(Next::Drop) };
        let debtor = debtor_state::debtor(
            country,
            first.city.as_deref(),
            first.phone.as_deref(),
            facts.holds.get(debtor_id).map(Vec::as_slice).unwrap_or_default(),
            facts.withdrawn.get(debtor_id).map(Vec::as_slice).unwrap_or_default(),
        );
        let today = Policy::local_date(debtor.zone, now);
        let tomorrow = today
            .succ_opt()
            .and_then(|d| engine::start_of_day(debtor.zone, d))
            .unwrap_or(now + chrono::Duration::days(1));
        let Some(eval) = evaluate(accounts, strategies, debtor.zone, today) else {
            // No account in reach of a stage today: look again tomorrow (a due date comes nearer every day).
            return Ok(Next::At(tomorrow));
        };
        let policy = self.policies.for_country(country);
        // The debtor's ledger, and below the contacts this decision adds to it: a step later in the day is decided
        // over the contacts requested before it, as caps, stop conditions and escalations count them.
        let mut ledger = std::borrow::Cow::Borrowed(facts.ledger.get(debtor_id).map(Vec::as_slice).unwrap_or_default());
        let mut history: Vec<Past> = ledger
            .iter()
            .filter(|e| e.requested_at > now - chrono::Duration::days(31))
            .filter_map(|e| {
                let channel: Channel = e.channel.parse().ok()?;
                Some(Past { at: e.requested_at, channel: channel.into(), conversation: false })
            })
            .collect();
        let last_call = facts.last_call.get(&(debtor_id.to_string(), eval.strategy.name.clone())).copied();
        self.call_task(&eval, &facts.templates, &debtor, &policy, country, today, now, last_call, w)?;
        // The earliest instant a step that waits today can go; with none, the next local day.
        let mut later = tomorrow;
        let reminder = Reminder { eval: &eval, facts, debtor: &debtor, policy: &policy, country, today, now };
        if let Some(at) = self.promise_reminder(&reminder, &mut ledger, &mut history, w)? {
            later = later.min(at);
        }
        let Some(stage) = eval.stage else { return Ok(Next::At(later)) };
        let stage_start = today - chrono::Duration::days((eval.days_past_due - stage.days_past_due.from) as i64);
        for (step, chosen) in &eval.steps {
            let strategy = &eval.strategy;
            let of_step = || ledger.iter().filter(|e| e.strategy == strategy.name && e.step == step.id);
            if of_step().any(|e| e.local_date == today) {
                continue;
            }
            let sent = of_step().filter(|e| e.local_date >= stage_start).count();
            match strategy.stopped(step, eval.facts(), sent as u32) {
                Ok(false) => {}
                Ok(true) => continue,
                Err(e) => {
                    tracing::warn!(strategy = %strategy.label(), step = %step.id, error = %e, "stop condition not evaluated; the step waits");
                    continue;
                }
            }
            // A preferred local time later today: come back then (the steps after it may go first).
            if let Some(at) = step.at.as_deref().and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok()) {
                if let Some(at) = engine::local_instant(debtor.zone, today, at) {
                    if now < at {
                        later = later.min(at);
                        continue;
                    }
                }
            }
            let (channel, template) =
                channel_for(&eval, step, chosen, &ledger, facts.last_reply.get(debtor_id).copied());
            let made = Made {
                strategy_version: Some(strategy.version),
                stage: Some(stage.name.clone()),
                step: Some(step.id.clone()),
                variant: Some(chosen.variant.to_string()),
            };
            let contact_id = Uuid::now_v7();
            let pending = Pending { contact_id, channel, account: &eval.account, strategy, made: &made };
            let Some(to) = address(&eval.account, channel) else {
                w.events.push((None, self.outbox.message(now, pending.without_address()?)?));
                continue;
            };
            if let Err(s) = policy.check(&debtor, &history, channel, now) {
                // The contact waits until the law allows it; the deferral is an event with its rule, once per decision.
                let next = policy.next_allowed(&debtor, &history, channel, now).unwrap_or(tomorrow);
                let detail = format!("{} ({}); next allowed {}", s.reason, s.source, next.to_rfc3339());
                w.events.push((None, self.outbox.message(now, pending.suppressed(s.rule, detail)?)?));
                // The step waits; the steps after it (another channel, say) may still go today.
                later = later.min(next.max(now + chrono::Duration::seconds(1)));
                continue;
            }
            let contact = pending.contact(today, now);
            let event =
                request(&eval, channel, template, &facts.templates, to, country, &debtor, made, contact_id, now)?;
            self.requested(w, &mut ledger, &mut history, contact, event)?;
        }
        Ok(Next::At(later))
    }

    /// Writes a requested contact (ledger row and event) and adds it to the decision's own ledger and history: the
    /// steps decided after it in the same day count it.
    fn requested(
        &self,
        w: &mut Writes,
        ledger: &mut std::borrow::Cow<'_, [LedgerEntry]>,
        history: &mut Vec<Past>,
        contact: NewContact,
        event: ContactRequested,
    ) -> Result<(), sqlx::Error> {
        history.push(Past { at: contact.requested_at, channel: event.channel.into(), conversation: false });
        w.events.push((None, self.outbox.message(contact.requested_at, event)?));
        ledger.to_mut().push(LedgerEntry::of(&contact));
        w.contacts.push(contact);
        Ok(())
    }

    /// The strategy's reminder of the promise in force, on the local day before it is due, once: the promise
    /// pauses every step but not its own reminder, and every other rule of the law applies. Returns when to look
    /// again for it (its day, its preferred time, or when the law next allows it).
    fn promise_reminder(
        &self,
        r: &Reminder<'_, '_>,
        ledger: &mut std::borrow::Cow<'_, [LedgerEntry]>,
        history: &mut Vec<Past>,
        w: &mut Writes,
    ) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let (eval, debtor, now, today) = (r.eval, r.debtor, r.now, r.today);
        let debtor_id = &eval.account.debtor_id;
        let Some(wanted) = &eval.strategy.document.promise_reminder else { return Ok(None) };
        let Some(promise) = r.facts.promises.get(debtor_id) else { return Ok(None) };
        let in_force = |h: &Hold| h.kind == HoldKind::PromiseInForce && h.until.is_none_or(|u| u > now);
        let Some(day) = promise.due_on.pred_opt().filter(|_| debtor.holds.iter().any(in_force)) else {
            return Ok(None);
        };
        let time = wanted.at.as_deref().and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok());
        let instant = |d: NaiveDate| match time {
            Some(t) => engine::local_instant(debtor.zone, d, t),
            None => engine::start_of_day(debtor.zone, d),
        };
        if today < day {
            return Ok(instant(day));
        }
        if today > day || ledger.iter().any(|e| e.step == PROMISE_REMINDER_STEP && e.local_date == today) {
            return Ok(None);
        }
        if let Some(at) = instant(today).filter(|at| now < *at) {
            return Ok(Some(at));
        }
        let accounts = r.facts.accounts.get(debtor_id).map(Vec::as_slice).unwrap_or_default();
        let account = accounts.iter().find(|a| a.credit_id == promise.credit_id).unwrap_or(&eval.account);
        let strategy = &eval.strategy;
        let channel = policy_channel(wanted.channel);
        let made = Made {
            strategy_version: Some(strategy.version),
            stage: eval.stage.map(|s| s.name.clone()),
            step: Some(PROMISE_REMINDER_STEP.into()),
            variant: Some("default".into()),
        };
        let contact_id = Uuid::now_v7();
        let pending = Pending { contact_id, channel, account, strategy, made: &made };
        if address(account, channel).is_none() {
            w.events.push((None, self.outbox.message(now, pending.without_address()?)?));
            return Ok(None);
        }
        let mut unpaused = debtor.clone();
        unpaused.holds.retain(|h| h.kind != HoldKind::PromiseInForce);
        if let Err(s) = r.policy.check(&unpaused, history, channel, now) {
            let next = r.policy.next_allowed(&unpaused, history, channel, now);
            let when = next.map(|t| format!("; next allowed {}", t.to_rfc3339())).unwrap_or_default();
            let event = pending.suppressed(s.rule, format!("{} ({}){when}", s.reason, s.source))?;
            w.events.push((None, self.outbox.message(now, event)?));
            // Within the day it is for, or not at all.
            return Ok(next
                .filter(|t| Policy::local_date(debtor.zone, *t) == today)
                .map(|t| t.max(now + chrono::Duration::seconds(1))));
        }
        let contact = pending.contact(today, now);
        let mut event = request_for(
            account,
            strategy,
            channel,
            &wanted.template,
            &r.facts.templates,
            r.country,
            &unpaused,
            made,
            contact_id,
            today,
            now,
        )?;
        event.promise = Some(ContactPromise {
            credit_id: parse_id(CreditId::parse(&promise.credit_id))?,
            amount: promise.amount,
            due_on: promise.due_on,
        });
        self.requested(w, ledger, history, contact, event)?;
        Ok(None)
    }

    /// An escalation's call task for the assigned advisor, at most one a local day, never while the debtor is held.
    #[allow(clippy::too_many_arguments)]
    fn call_task(
        &self,
        eval: &Evaluation<'_>,
        templates: &Catalogue,
        debtor: &Debtor,
        policy: &Policy,
        country: Country,
        today: NaiveDate,
        now: DateTime<Utc>,
        last: Option<NaiveDate>,
        w: &mut Writes,
    ) -> Result<(), sqlx::Error> {
        let a = &eval.account;
        if a.advisor_id.is_none() {
            return Ok(());
        }
        let Some(template) = eval.strategy.call_task(eval.days_past_due, last.map(|d| (today - d).num_days())) else {
            return Ok(());
        };
        if policy.check_state(debtor, PolicyChannel::Call, now).is_err() {
            return Ok(());
        }
        let task_id = Uuid::now_v7();
        w.call_tasks.push(NewCallTask {
            task_id,
            debtor_id: a.debtor_id.clone(),
            credit_id: a.credit_id.clone(),
            strategy: eval.strategy.name.clone(),
            strategy_version: eval.strategy.version,
            local_date: today,
            requested_at: now,
        });
        let made =
            Made { strategy_version: Some(eval.strategy.version), step: Some("call_task".into()), ..Made::default() };
        let to = a.phone.clone().unwrap_or_default();
        let event = request(eval, PolicyChannel::Call, template, templates, to, country, debtor, made, task_id, now)?;
        w.events.push((Some(task_id), self.outbox.message(now, event)?));
        Ok(())
    }
}

/// The variant's channel and template, unless an escalation switches the step to another channel after contacts
/// that went unanswered (since the debtor's last reply); a switch takes the step's fallback template for that
/// channel, and without one the step stays on its channel.
fn channel_for<'a>(
    eval: &Evaluation<'_>,
    step: &'a recaudo_strategy::Step,
    chosen: &Chosen<'a>,
    ledger: &[LedgerEntry],
    last_reply: Option<DateTime<Utc>>,
) -> (PolicyChannel, &'a str) {
    let channel = chosen.channel;
    let plain = (policy_channel(channel), chosen.template);
    if eval.strategy.switched(channel, u32::MAX).is_none() {
        return plain;
    }
    let unanswered = ledger
        .iter()
        .filter(|e| e.channel == channel.as_str() && !e.cancelled && last_reply.is_none_or(|r| e.requested_at > r))
        .count();
    let Some(to) = eval.strategy.switched(channel, unanswered as u32) else { return plain };
    match step.fallbacks.iter().find(|f| f.channel == to) {
        Some(f) => (policy_channel(to), f.template.as_str()),
        None => plain,
    }
}

fn policy_channel(c: Channel) -> PolicyChannel {
    c.into()
}

/// The debtor's address on a channel.
pub(crate) fn address(a: &Account, channel: PolicyChannel) -> Option<String> {
    let phone = || a.phone.as_deref().and_then(|p| PhoneNumber::from_e164(p).ok()).map(|p| p.e164().to_string());
    match channel {
        PolicyChannel::Sms | PolicyChannel::Whatsapp | PolicyChannel::Voice | PolicyChannel::Call => phone(),
        PolicyChannel::Email => a.email.clone().filter(|e| e.contains('@')),
        // Postal addresses are not in the projection yet.
        PolicyChannel::Letter => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn request(
    eval: &Evaluation<'_>,
    channel: PolicyChannel,
    template: &str,
    templates: &Catalogue,
    to: String,
    country: Country,
    debtor: &Debtor,
    decision: Made,
    contact_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ContactRequested, sqlx::Error> {
    build_request(
        &eval.account,
        &eval.strategy.name,
        eval.days_past_due,
        channel,
        template,
        templates,
        to,
        country,
        debtor,
        decision,
        contact_id,
        now,
    )
}

/// A request for `account` on `channel` (a fallback's): its address and days past due as of `today`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn request_for(
    account: &Account,
    strategy: &Strategy,
    channel: PolicyChannel,
    template: &str,
    templates: &Catalogue,
    country: Country,
    debtor: &Debtor,
    decision: Made,
    contact_id: Uuid,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<ContactRequested, sqlx::Error> {
    let to = address(account, channel).unwrap_or_default();
    let dpd = account.days_past_due_on(debtor.zone, today).unwrap_or(account.days_past_due);
    build_request(
        account,
        &strategy.name,
        dpd,
        channel,
        template,
        templates,
        to,
        country,
        debtor,
        decision,
        contact_id,
        now,
    )
}

/// A contact someone asked for by hand (`POST /api/debtors/{id}/contacts`): strategy `manual`, no decision.
#[allow(clippy::too_many_arguments)]
pub(crate) fn manual_request(
    account: &Account,
    channel: PolicyChannel,
    template: &str,
    templates: &Catalogue,
    country: Country,
    debtor: &Debtor,
    contact_id: Uuid,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<ContactRequested, sqlx::Error> {
    let to = address(account, channel).unwrap_or_default();
    let dpd = account.days_past_due_on(debtor.zone, today).unwrap_or(account.days_past_due);
    build_request(
        account,
        MANUAL,
        dpd,
        channel,
        template,
        templates,
        to,
        country,
        debtor,
        Made::default(),
        contact_id,
        now,
    )
}

/// The strategy name of contacts requested by hand.
pub(crate) const MANUAL: &str = "manual";

#[allow(clippy::too_many_arguments)]
fn build_request(
    a: &Account,
    strategy: &str,
    days_past_due: i32,
    channel: PolicyChannel,
    template: &str,
    templates: &Catalogue,
    to: String,
    country: Country,
    debtor: &Debtor,
    decision: Made,
    contact_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ContactRequested, sqlx::Error> {
    let advisor = match (a.advisor_id, a.advisor_phone.as_deref().and_then(|p| PhoneNumber::from_e164(p).ok())) {
        (Some(aid), Some(phone)) => Some(ContactAdvisor {
            id: AdvisorId(aid),
            first_name: a.advisor_first_name.clone().unwrap_or_default(),
            last_name: a.advisor_last_name.clone().unwrap_or_default(),
            phone,
        }),
        _ => None,
    };
    Ok(ContactRequested {
        contact_id,
        channel: channel.event_channel(),
        strategy: strategy.to_string(),
        decision,
        template: template.to_string(),
        template_source: templates.saved(template).cloned(),
        to,
        country,
        debtor: ContactDebtor {
            id: parse_id(DebtorId::parse(&a.debtor_id))?,
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
        },
        credit: ContactCredit {
            id: parse_id(CreditId::parse(&a.credit_id))?,
            product: a.product.clone(),
            currency: a.currency.parse().map_err(|e| sqlx::Error::Decode(format!("accounts.currency: {e}").into()))?,
            balance_overdue: a.balance_overdue,
            days_past_due: days_past_due.max(0) as u32,
            due_date: a.due_date,
        },
        advisor,
        time_zone: Some(debtor.zone.name().to_string()),
        promise: None,
        requested_at: now,
    })
}

/// [`lock_debtor`] for a page of debtors, in one statement, in a stable order (so two replicas cannot deadlock).
async fn lock_debtors(conn: &mut PgConnection, debtors: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('scheduler.debtor:' || d, 0))
         FROM (SELECT unnest($1::text[]) AS d ORDER BY 1) page",
    )
    .bind(debtors)
    .execute(conn)
    .await?;
    Ok(())
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

pub(crate) fn parse_id<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, sqlx::Error> {
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
            let channel: Channel = channel.parse().ok()?;
            Some(Past { at, channel: channel.into(), conversation: false })
        })
        .collect())
}

/// Table-driven: which account, stage, steps and variants the strategies give a debtor on a local day, across time
/// zones and a change of daylight-saving time (`evaluate` is everything the planner decides before the law and the
/// ledger are asked).
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Two stages with steps on set days, a repeating one and an A/B one, for segment B; and the built-in default.
    const SEGMENT_B: &str = r#"
segment: { priority: 10, when: 'attributes.segmento == "B"' }
stages:
  - name: preventive
    days_past_due: { from: -5, to: 0 }
    steps:
      - { id: before-due, day: 2, channel: sms, template: sms_preventive_v1 }
  - name: early
    days_past_due: { from: 1, to: 30 }
    steps:
      - { id: first-day, channel: sms, template: sms_reminder_v1 }
      - { id: every-third, day: 2, every: 3, channel: whatsapp, template: whatsapp_reminder_v1 }
      - id: split
        day: 5
        channel: sms
        template: sms_reminder_v1
        variants:
          - { name: formal, weight: 1 }
          - { name: friendly, weight: 1, template: sms_reminder_friendly_v1 }
  - name: late
    days_past_due: { from: 31 }
    steps:
      - { id: weekly-email, every: 7, channel: email, template: email_reminder_v1 }
"#;

    fn strategies() -> Vec<Arc<Strategy>> {
        let doc = recaudo_strategy::parse("segmento-b", SEGMENT_B, &Catalogue::builtin()).expect("valid");
        vec![Arc::new(Strategy::load("segmento-b", 1, doc).expect("loads")), Arc::new(Strategy::builtin_default())]
    }

    /// An account of `debtor`: `dpd` days past due as the file of `learned` (UTC) said, `overdue` pesos overdue.
    fn account(debtor: &str, credit: &str, dpd: i32, overdue: i64, learned: DateTime<Utc>, segmento: &str) -> Account {
        Account {
            credit_id: credit.into(),
            debtor_id: debtor.into(),
            first_name: "Ana".into(),
            last_name: "Prueba".into(),
            phone: Some("+573001234567".into()),
            email: None,
            country: "CO".into(),
            city: None,
            attributes: serde_json::json!({ "segmento": segmento }),
            product: "Consumo".into(),
            currency: "COP".into(),
            balance_total: Some(Decimal::from(1_000_000)),
            balance_overdue: Decimal::from(overdue),
            days_past_due: dpd,
            due_date: Some(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()),
            updated_at: learned,
            advisor_id: None,
            advisor_first_name: None,
            advisor_last_name: None,
            advisor_phone: None,
        }
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap()
    }

    /// What a decision came to: strategy, stage, days past due, and each firing step with its variant.
    fn outcome(eval: Option<Evaluation<'_>>) -> Option<(String, Option<String>, i32, Vec<String>)> {
        let e = eval?;
        let steps = e.steps.iter().map(|(step, chosen)| format!("{}/{}", step.id, chosen.variant)).collect();
        Some((e.strategy.name.clone(), e.stage.map(|s| s.name.clone()), e.days_past_due, steps))
    }

    #[test]
    #[rustfmt::skip] // A table reads best a row a line.
    fn stages_steps_every_and_segments() {
        let bogota: Tz = "America/Bogota".parse().unwrap();
        let learned = utc(2026, 11, 20, 15, 0); // Friday 10:00 in Bogotá
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        // (case, dpd in the file, overdue, segment, local day) → (strategy, stage, dpd that day, steps firing)
        type Expected = Option<(&'static str, Option<&'static str>, i32, &'static [&'static str])>;
        let table: &[(&str, i32, i64, &str, NaiveDate, Expected)] = &[
            ("the file's first day past due", 1, 100, "B", day(20), Some(("segmento-b", Some("early"), 1, &["first-day/default"]))),
            ("advanced by the days since the file", 1, 100, "B", day(22), Some(("segmento-b", Some("early"), 3, &["every-third/default"]))),
            ("every 3 days from day 2 of the stage", 1, 100, "B", day(28), Some(("segmento-b", Some("early"), 9, &["every-third/default"]))),
            ("a day between repeats", 1, 100, "B", day(23), Some(("segmento-b", Some("early"), 4, &[]))),
            // D1 falls in `formal` (a stable function of strategy, step and debtor).
            ("the A/B step on its day", 4, 100, "B", day(22), Some(("segmento-b", Some("early"), 6, &["every-third/default", "split/formal"]))),
            ("the last stage has no end", 40, 100, "B", day(20), Some(("segmento-b", Some("late"), 40, &[]))),
            ("weekly from the stage's first day", 31, 100, "B", day(27), Some(("segmento-b", Some("late"), 38, &["weekly-email/default"]))),
            ("nothing overdue: days before the due date", 0, 0, "B", day(23), Some(("segmento-b", Some("preventive"), -3, &["before-due/default"]))),
            ("nothing overdue, due date passed: current", 0, 0, "B", day(27), None),
            ("another segment: the default strategy", 3, 100, "A", day(20), Some(("default", Some("overdue"), 3, &["daily-sms-reminder/default"]))),
            ("the default has no preventive stage", 0, 0, "A", day(23), Some(("default", None, -3, &[]))),
        ];
        let strategies = strategies();
        for (case, dpd, overdue, segmento, today, expected) in table {
            let accounts = [account("D1", "C1", *dpd, *overdue, learned, segmento)];
            let got = outcome(evaluate(&accounts, &strategies, bogota, *today));
            let expected = expected.map(|(s, stage, d, steps)| {
                (s.to_string(), stage.map(str::to_string), d, steps.iter().map(|x| x.to_string()).collect::<Vec<_>>())
            });
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn the_most_overdue_account_is_the_one_acted_on() {
        let bogota: Tz = "America/Bogota".parse().unwrap();
        let learned = utc(2026, 11, 20, 15, 0);
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let strategies = strategies();
        // Most days past due first; on a tie the larger overdue balance; then the lower credit id.
        // (case, the debtor's credits as (id, days past due, overdue), the credit acted on)
        type Credits = &'static [(&'static str, i32, i64)];
        let table: &[(&str, Credits, &str)] = &[
            ("most days past due", &[("C1", 3, 900), ("C2", 7, 100)], "C2"),
            ("a tie: the larger balance", &[("C1", 7, 100), ("C2", 7, 900)], "C2"),
            ("a full tie: the lower credit id", &[("C2", 7, 100), ("C1", 7, 100)], "C1"),
            ("an account with nothing overdue counts less", &[("C1", 0, 0), ("C2", 1, 10)], "C2"),
        ];
        for (case, credits, expected) in table {
            let accounts: Vec<Account> =
                credits.iter().map(|(c, dpd, overdue)| account("D1", c, *dpd, *overdue, learned, "B")).collect();
            let eval = evaluate(&accounts, &strategies, bogota, today).expect(case);
            assert_eq!(eval.account.credit_id, *expected, "{case}");
        }
    }

    /// The day is the debtor's local day: the same instant is another day in another zone, and the night a clock
    /// moves (New York, 2026-03-08) still has exactly one local date per instant.
    #[test]
    fn the_debtors_local_day_across_zones_and_dst() {
        let strategies = strategies();
        // Learned on the 20th at 03:00 UTC: still the 19th in Bogotá (UTC-5), already the 20th in Madrid.
        let learned = utc(2026, 11, 20, 3, 0);
        let now = utc(2026, 11, 20, 4, 30);
        let table: &[(&str, i32)] = &[("America/Bogota", 1), ("Europe/Madrid", 1), ("Asia/Tokyo", 1)];
        for (zone, expected) in table {
            let zone: Tz = zone.parse().unwrap();
            let today = Policy::local_date(zone, now);
            let accounts = [account("D1", "C1", 1, 100, learned, "B")];
            let eval = evaluate(&accounts, &strategies, zone, today).unwrap();
            // The file's day and today are both the debtor's local dates: no day is gained or lost by the zone.
            assert_eq!(eval.days_past_due, *expected, "{zone}");
        }
        let bogota_learned_19th = account("D1", "C1", 1, 100, utc(2026, 11, 20, 3, 0), "B");
        let eval = evaluate(
            &[bogota_learned_19th],
            &strategies,
            "America/Bogota".parse().unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        )
        .unwrap();
        assert_eq!(eval.days_past_due, 2, "learned on the 19th in Bogotá, one day later on the 20th");

        let new_york: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08: 02:00 EST becomes 03:00 EDT. Local midnight before and after the change.
        let table: &[(DateTime<Utc>, u32)] = &[
            (utc(2026, 3, 8, 4, 59), 7), // 23:59 EST on the 7th
            (utc(2026, 3, 8, 5, 0), 8),  // 00:00 EST on the 8th
            (utc(2026, 3, 8, 6, 59), 8), // 01:59 EST
            (utc(2026, 3, 8, 7, 0), 8),  // 03:00 EDT: the hour that does not exist was skipped
            (utc(2026, 3, 9, 3, 59), 8), // 23:59 EDT on the 8th
            (utc(2026, 3, 9, 4, 0), 9),  // 00:00 EDT on the 9th
        ];
        for (instant, day) in table {
            assert_eq!(
                Policy::local_date(new_york, *instant),
                NaiveDate::from_ymd_opt(2026, 3, *day).unwrap(),
                "{instant}"
            );
        }
    }
}
