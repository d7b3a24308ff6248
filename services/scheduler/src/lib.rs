//! Scheduler: decides who is contacted, when and on which channel. Keeps its own projection of accounts from
//! portfolio events, runs every planned contact through the policy engine, and requests contacts from the
//! channel dispatchers (`contact.requested.<channel>`).

mod debtor_state;
mod fallbacks;
mod manual;
mod page;
mod plan;
mod planner;
mod projection;
pub mod simulate;
pub mod strategies;
mod strategy_routes;
mod template_routes;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_policy::Policies;
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{ConfigError, Env, Infra, Migration, Started};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const SCHEMA: &str = "scheduler";
pub const NAME: &str = "scheduler";

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "scheduler", include_str!("../migrations/0002_scheduler.sql")),
        Migration::new(3, "account_versions", include_str!("../migrations/0003_account_versions.sql")),
        Migration::new(4, "debtor_state", include_str!("../migrations/0004_debtor_state.sql")),
        Migration::new(5, "ledger_cancelled", include_str!("../migrations/0005_ledger_cancelled.sql")),
        Migration::new(6, "strategies", include_str!("../migrations/0006_strategies.sql")),
        Migration::new(7, "fallbacks", include_str!("../migrations/0007_fallbacks.sql")),
        Migration::new(8, "overdue_at_request", include_str!("../migrations/0008_overdue_at_request.sql")),
        Migration::new(9, "templates", include_str!("../migrations/0009_templates.sql")),
        Migration::new(10, "promise_terms", include_str!("../migrations/0010_promise_terms.sql")),
        Migration::new(11, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
    ]
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How often the planner looks for due plans when nothing wakes it.
    pub tick: Duration,
    /// How many pages of due plans one process decides at once (`RECAUDO_PLANNER_WORKERS`): each worker takes its
    /// own page (`SKIP LOCKED`), as a second replica would, so PostgreSQL works on one page while the process decides
    /// another.
    pub planner_workers: usize,
    /// Above this many segments a saved SMS template gets a warning (`RECAUDO_SMS_SEGMENT_WARNING`).
    pub sms_segment_warning: usize,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let ms = env.get("RECAUDO_SCHEDULER_TICK_MS", 1000u64)?;
        if ms == 0 {
            return Err(ConfigError::new("RECAUDO_SCHEDULER_TICK_MS", "0", "must be at least 1"));
        }
        let sms_segment_warning = env.get("RECAUDO_SMS_SEGMENT_WARNING", 2usize)?;
        if sms_segment_warning == 0 {
            return Err(ConfigError::new("RECAUDO_SMS_SEGMENT_WARNING", "0", "must be at least 1"));
        }
        let planner_workers = env.get("RECAUDO_PLANNER_WORKERS", 2usize)?;
        if planner_workers == 0 {
            return Err(ConfigError::new("RECAUDO_PLANNER_WORKERS", "0", "must be at least 1"));
        }
        Ok(Config { tick: Duration::from_millis(ms), sms_segment_warning, planner_workers })
    }
}

pub fn service(config: Config) -> ServiceDef {
    ServiceDef {
        name: NAME,
        schema: Some(SCHEMA),
        migrations: migrations(),
        start: Box::new(move |infra, shutdown| Box::pin(start(infra, config, shutdown))),
    }
}

/// Past the holiday calendar's last day every day counts as a holiday and nothing is planned: operators see the
/// days left in `recaudo_holiday_calendar_days_left` and, from a year before, a warning at every start and in
/// `/readyz`'s notices.
fn warn_of_the_calendars_end(infra: &Infra, today: chrono::NaiveDate) {
    let left = (recaudo_policy::holidays::last_covered_day() - today).num_days();
    metrics::gauge!("recaudo_holiday_calendar_days_left").set(left as f64);
    if let Some(warning) = recaudo_policy::holidays::horizon_warning(today) {
        tracing::warn!(days_left = left, "{warning}");
        if let Ok(mut notices) = infra.notices.lock() {
            notices.push(warning);
        }
    }
}

async fn start(infra: Infra, config: Config, shutdown: CancellationToken) -> anyhow::Result<Started> {
    warn_of_the_calendars_end(&infra, infra.clock.now().date_naive());
    let outbox = Outbox::new(SCHEMA, "recaudo/scheduler", infra.common.subject_prefix.clone());
    let wake = Arc::new(Notify::new());
    let projection = projection::PortfolioHandler {
        pool: infra.pool.clone(),
        clock: infra.clock.clone(),
        outbox: outbox.clone(),
        planner_wake: wake.clone(),
    };
    let consumer = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new("scheduler-portfolio", "portfolio.>"),
        projection,
        shutdown.clone(),
    );
    let debtor_events = debtor_state::DebtorEvents {
        pool: infra.pool.clone(),
        clock: infra.clock.clone(),
        outbox: outbox.clone(),
        planner_wake: wake.clone(),
    };
    // The lender's settings are read once, at start: a looser one stops the process with the rule it breaks.
    let policies = Arc::new(Policies::load(infra.common.contact_policy_file.as_deref())?);
    let fallback = || fallbacks::FallbackHandler {
        pool: infra.pool.clone(),
        clock: infra.clock.clone(),
        outbox: outbox.clone(),
        policies: policies.clone(),
        planner_wake: wake.clone(),
    };
    let strategies = Arc::new(strategies::Active::default());
    let planner = planner::Planner::new(
        infra.pool.clone(),
        outbox.clone(),
        infra.clock.clone(),
        policies.clone(),
        strategies.clone(),
    );
    let plan = plan::PlanState {
        pool: infra.pool.clone(),
        clock: infra.clock.clone(),
        policies: policies.clone(),
        strategies,
    };
    let strategy_state = strategy_routes::StrategyState {
        pool: infra.pool.clone(),
        clock: infra.clock.clone(),
        outbox: outbox.clone(),
        policies: plan.policies.clone(),
        prefix: infra.common.subject_prefix.clone(),
        sms_segment_warning: config.sms_segment_warning,
        public_url: infra.public_url.clone(),
    };
    let strategy_state = Arc::new(strategy_state);
    let routes = plan::routes(plan)
        .merge(strategy_routes::routes(strategy_state.clone()))
        .merge(template_routes::routes(strategy_state.clone()))
        .merge(manual::routes(strategy_state));
    let mut started = Started::new(routes).consumer("scheduler-portfolio", consumer);
    // One durable consumer per filter (nats-server 2.9 takes one each); one handler for each group.
    for (name, filter) in debtor_state::CONSUMERS {
        let run =
            consume::run(infra.bus.clone(), ConsumerSpec::new(name, filter), debtor_events.clone(), shutdown.clone());
        started = started.consumer(name, run);
    }
    for (name, filter) in fallbacks::CONSUMERS {
        started = started.consumer(
            name,
            consume::run(infra.bus.clone(), ConsumerSpec::new(name, filter), fallback(), shutdown.clone()),
        );
    }
    for _ in 0..config.planner_workers {
        started = started.worker(planner.clone().run(config.tick, wake.clone(), shutdown.clone()));
    }
    Ok(started.outbox(outbox))
}
