//! Metrics: key figures of collection, computed from the events alone (never from another service's tables), and
//! served as JSON at `GET /api/kpis`.

mod api;
mod projection;

use recaudo_bus::{consume, ConsumerSpec};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{Infra, Migration, Started};
use tokio_util::sync::CancellationToken;

pub const SCHEMA: &str = "metrics";
pub const NAME: &str = "metrics";

/// The streams metrics reads, one durable consumer each (nats-server 2.9 allows one filter per consumer).
const DOMAINS: &[&str] = &["import", "portfolio", "payment", "contact", "reply", "queue"];

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "kpis", include_str!("../migrations/0002_kpis.sql")),
        Migration::new(3, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
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
    let mut started = Started::new(api::routes(infra.pool.clone()));
    for domain in DOMAINS {
        let durable = format!("metrics-{domain}");
        let handler = projection::Counter { pool: infra.pool.clone(), consumer: durable.clone() };
        let consumer = consume::run(
            infra.bus.clone(),
            ConsumerSpec::new(durable, format!("{domain}.>")),
            handler,
            shutdown.clone(),
        );
        started = started.consumer("metrics", consumer);
    }
    Ok(started)
}
