//! Portfolio: the system of record for debtors, credits, advisors and supervisors. Applies imports atomically,
//! and publishes account and advisor changes for the services that keep projections of them.

mod api;
mod apply;
mod consumer;
mod payments;
mod promises;
mod snapshot;

use std::sync::Arc;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{Infra, Migration, Started};
use tokio_util::sync::CancellationToken;

pub const SCHEMA: &str = "portfolio";
pub const NAME: &str = "portfolio";
/// An import that neither sends a batch nor ends for this long (ingestion stopped mid-file) is given up for now and
/// replayed on redelivery; ingestion fails an import it lost within two minutes of restarting.
const IMPORT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "portfolio", include_str!("../migrations/0002_portfolio.sql")),
        Migration::new(3, "bulk_apply", include_str!("../migrations/0003_bulk_apply.sql")),
        Migration::new(4, "account_versions", include_str!("../migrations/0004_account_versions.sql")),
        Migration::new(5, "streamed_apply", include_str!("../migrations/0005_streamed_apply.sql")),
        Migration::new(6, "promises", include_str!("../migrations/0006_promises.sql")),
        Migration::new(7, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
    ]
}

pub fn service() -> ServiceDef {
    ServiceDef {
        name: NAME,
        schema: Some(SCHEMA),
        migrations: migrations(),
        start: Box::new(move |infra, shutdown| Box::pin(start(infra, shutdown))),
    }
}

async fn start(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let outbox = Outbox::new(SCHEMA, "recaudo/portfolio", infra.common.subject_prefix.clone())
        .with_max_payload(infra.bus.max_payload());
    let snapshots = Arc::new(tokio::sync::Notify::new());
    let handler = consumer::ImportHandler {
        pool: infra.pool.clone(),
        bus: infra.bus.clone(),
        outbox: outbox.clone(),
        clock: infra.clock.clone(),
        idle_timeout: IMPORT_IDLE_TIMEOUT,
        snapshots: snapshots.clone(),
    };
    let publisher =
        snapshot::run_publisher(infra.pool.clone(), outbox.clone(), infra.clock.clone(), snapshots, shutdown.clone());
    // Only `import.started`: the handler follows the rest of the import itself. Progress is signalled every 20 s
    // while it runs, so a replica that dies hands the import over within a minute.
    let mut spec = ConsumerSpec::new(consumer::CONSUMER, "import.started");
    spec.ack_wait = std::time::Duration::from_secs(60);
    // One at a time: a message fetched while an import is applied would wait unsignalled and be redelivered.
    spec.batch = 1;
    let consumer = consume::run(infra.bus.clone(), spec, handler, shutdown.clone());
    let payments =
        payments::PaymentHandler { pool: infra.pool.clone(), outbox: outbox.clone(), clock: infra.clock.clone() };
    let payments = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new("portfolio-payments", "payment.received"),
        payments,
        shutdown.clone(),
    );
    let outcomes = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new(promises::CONSUMER, "case.outcome.recorded"),
        promises::OutcomeHandler { pool: infra.pool.clone(), outbox: outbox.clone(), clock: infra.clock.clone() },
        shutdown.clone(),
    );
    let grace_days = infra.env.get("RECAUDO_PROMISE_GRACE_DAYS", 2u32)?;
    let breaker = promises::run_breaker(
        infra.pool.clone(),
        outbox.clone(),
        infra.clock.clone(),
        grace_days,
        std::time::Duration::from_secs(5),
        shutdown,
    );
    Ok(Started::new(api::routes(Arc::new(infra.pool.clone())))
        .consumer(consumer::CONSUMER, consumer)
        .worker(publisher)
        .consumer("portfolio-payments", payments)
        .consumer(promises::CONSUMER, outcomes)
        .worker(breaker)
        .outbox(outbox))
}
