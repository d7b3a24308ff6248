//! Reply-router: the click-to-reply links (`/r/{token}`) and every debtor reply land in the queue of the debtor's
//! *current* advisor; the router keeps its own projection of advisors, assignments and links from events.

mod call_tasks;
mod click;
mod projection;
mod queue;
mod replies;

use std::sync::Arc;
use std::time::Duration;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{ConfigError, Env, Infra, Migration, Started};
use tokio_util::sync::CancellationToken;

pub const SCHEMA: &str = "reply_router";
pub const NAME: &str = "reply-router";

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "reply_router", include_str!("../migrations/0002_reply_router.sql")),
        Migration::new(3, "account_versions", include_str!("../migrations/0003_account_versions.sql")),
        Migration::new(4, "call_tasks", include_str!("../migrations/0004_call_tasks.sql")),
        Migration::new(5, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
    ]
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How long an item may wait in an advisor's queue before it is due for the supervisor.
    pub sla: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let minutes = env.get("RECAUDO_REPLY_SLA_MINUTES", 120u64)?;
        if minutes == 0 {
            return Err(ConfigError::new("RECAUDO_REPLY_SLA_MINUTES", "0", "must be at least 1"));
        }
        Ok(Config { sla: Duration::from_secs(minutes * 60) })
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

pub(crate) struct Router {
    pub pool: sqlx::PgPool,
    pub outbox: Outbox,
    pub clock: recaudo_runtime::Clock,
    pub config: Config,
}

async fn start(infra: Infra, config: Config, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let outbox = Outbox::new(SCHEMA, "recaudo/reply-router", infra.common.subject_prefix.clone());
    let router =
        Arc::new(Router { pool: infra.pool.clone(), outbox: outbox.clone(), clock: infra.clock.clone(), config });
    let handler = || projection::Projection { pool: infra.pool.clone() };
    let portfolio = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new("reply-router-portfolio", "portfolio.>"),
        handler(),
        shutdown.clone(),
    );
    let attempts = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new("reply-router-attempts", "contact.attempted.*"),
        handler(),
        shutdown.clone(),
    );
    let links = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new("reply-router-links", "contact.prepared.*"),
        handler(),
        shutdown.clone(),
    );
    let replies = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(replies::CONSUMER, "reply.received.*"),
        replies::ReplyHandler(router.clone()),
        shutdown.clone(),
    );
    let call_tasks = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(call_tasks::CONSUMER, "contact.requested.call"),
        call_tasks::CallTaskHandler(router.clone()),
        shutdown,
    );
    Ok(Started::new(click::routes(router.clone()).merge(queue::routes(router)))
        .consumer("reply-router-portfolio", portfolio)
        .consumer("reply-router-attempts", attempts)
        .consumer("reply-router-links", links)
        .consumer(replies::CONSUMER, replies)
        .consumer(call_tasks::CONSUMER, call_tasks)
        .outbox(outbox))
}
