//! Reply-router: the click-to-reply links (`/r/{token}`) and every debtor reply land in a case in the queue of the
//! debtor's *current* advisor; advisors and supervisors work those cases (claim, reply, note, snooze, transfer,
//! outcome) through the JSON API, the live stream and the web console, and timers escalate what nobody picks up.
//! The router keeps its own projection of advisors, assignments and links from events.

mod actions;
mod api;
pub mod calendar;
mod call_tasks;
mod cases;
mod click;
mod config;
mod console;
mod desk;
mod plan;
mod projection;
mod promises;
mod reassign;
mod replies;
mod reply;
mod statuses;
mod stream;
mod timeline;
mod timers;
mod views;

pub use config::Config;

use std::sync::Arc;
use std::time::Duration;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{Infra, Migration, Started};
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
        Migration::new(6, "cases", include_str!("../migrations/0006_cases.sql")),
    ]
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
    /// Where case replies go: the scheduler's contact route (`RECAUDO_SCHEDULER_URL`, else this process).
    pub scheduler_url: String,
    pub http: reqwest::Client,
    pub feed: stream::Feed,
}

async fn start(infra: Infra, config: Config, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let outbox = Outbox::new(SCHEMA, "recaudo/reply-router", infra.common.subject_prefix.clone());
    let scheduler_url = match infra.env.raw("RECAUDO_SCHEDULER_URL").map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => infra.local_url(),
    };
    let router = Arc::new(Router {
        pool: infra.pool.clone(),
        outbox: outbox.clone(),
        clock: infra.clock.clone(),
        config,
        scheduler_url,
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        feed: stream::Feed::new(),
    });
    let handler = || projection::Projection { router: router.clone() };
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
        shutdown.clone(),
    );
    let promises = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(promises::CONSUMER, "promise.>"),
        promises::PromiseHandler(router.clone()),
        shutdown.clone(),
    );
    let statuses = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(statuses::CONSUMER, "contact.status.*"),
        statuses::StatusHandler(router.clone()),
        shutdown.clone(),
    );
    let routes = click::routes(router.clone())
        .merge(api::routes(router.clone()))
        .merge(stream::routes(router.clone()))
        .merge(console::routes(router.clone()))
        // The console's shared files; the first service with pages serves them for the process.
        .merge(recaudo_console::static_routes());
    Ok(Started::new(routes)
        .worker(router.feed.clone().run(router.pool.clone(), shutdown.clone()))
        .worker(timers::run(router.clone(), shutdown))
        .consumer(promises::CONSUMER, promises)
        .consumer(statuses::CONSUMER, statuses)
        .consumer("reply-router-portfolio", portfolio)
        .consumer("reply-router-attempts", attempts)
        .consumer("reply-router-links", links)
        .consumer(replies::CONSUMER, replies)
        .consumer(call_tasks::CONSUMER, call_tasks)
        .outbox(outbox))
}
