//! One process running one or more services behind one HTTP listener (`recaudo serve --target ...`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use futures::future::BoxFuture;
use recaudo_bus::outbox::Outbox;
use recaudo_bus::Bus;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

use crate::{db, Clock, CommonConfig, Env, Migration};

/// The infrastructure handles a service gets at start-up.
#[derive(Clone)]
pub struct Infra {
    pub pool: PgPool,
    pub bus: Bus,
    pub clock: Clock,
    pub common: Arc<CommonConfig>,
    pub env: Arc<Env>,
    /// Base URL at which this process is reachable from outside (no trailing slash).
    pub public_url: String,
    /// The address the HTTP listener is bound to.
    pub local_addr: SocketAddr,
    /// Schemas and migrations of the services in this process, for `/readyz`.
    pub schemas: Arc<Vec<(&'static str, Vec<Migration>)>>,
}

impl Infra {
    /// `http://<listener address>`, reachable from this machine, for calls a process makes to itself.
    pub fn local_url(&self) -> String {
        let mut addr = self.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }
}

/// What a started service hands back: its routes, its background work, and the outboxes to relay.
pub struct Started {
    pub router: Router,
    /// Consumers and timers; each must return soon after the shutdown token is cancelled.
    pub workers: Vec<BoxFuture<'static, ()>>,
    /// Relayed until the workers have stopped, so that what they commit last is still published.
    pub outboxes: Vec<Outbox>,
}

impl Started {
    pub fn new(router: Router) -> Self {
        Started { router, workers: Vec::new(), outboxes: Vec::new() }
    }

    pub fn worker(mut self, f: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        self.workers.push(Box::pin(f));
        self
    }

    /// A durable consumer as a worker; if it stops with an error (it cannot create its consumer, say), the error is
    /// logged with the consumer's name.
    pub fn consumer<E: std::fmt::Display + Send + 'static>(
        self,
        name: &'static str,
        consumer: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
    ) -> Self {
        self.worker(async move {
            if let Err(e) = consumer.await {
                tracing::error!(consumer = name, error = %e, "consumer stopped");
            }
        })
    }

    pub fn outbox(mut self, outbox: Outbox) -> Self {
        self.outboxes.push(outbox);
        self
    }
}

pub type StartFn = Box<dyn FnOnce(Infra, CancellationToken) -> BoxFuture<'static, anyhow::Result<Started>> + Send>;

/// A service as the process knows it: its schema and migrations, and how to start it.
pub struct ServiceDef {
    pub name: &'static str,
    pub schema: Option<&'static str>,
    pub migrations: Vec<Migration>,
    pub start: StartFn,
}

/// Connects to PostgreSQL and NATS, applies the streams, starts `services` and serves their routes on `listener`
/// until `shutdown` is cancelled; then drains in order: HTTP and consumers first, outbox relays last.
pub async fn run(
    common: CommonConfig,
    env: Env,
    listener: TcpListener,
    services: Vec<ServiceDef>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = db::connect(&common.database_url, common.db_max_connections)
        .await
        .with_context(|| "cannot connect to PostgreSQL (DATABASE_URL)")?;
    let bus = Bus::connect(&common.nats_url, common.subject_prefix.clone()).await?;
    bus.apply_streams(common.stream_replicas).await?;

    let local_addr = listener.local_addr()?;
    let schemas: Vec<_> =
        services.iter().filter_map(|s| s.schema.map(|schema| (schema, s.migrations.clone()))).collect();
    let mut infra = Infra {
        pool: pool.clone(),
        bus: bus.clone(),
        clock: common.clock(),
        public_url: String::new(),
        common: Arc::new(common.clone()),
        env: Arc::new(env),
        local_addr,
        schemas: Arc::new(schemas),
    };
    infra.public_url = common.public_url.clone().unwrap_or_else(|| infra.local_url());

    let mut router = crate::http::probes(infra.clone());
    let mut workers = Vec::new();
    let mut outboxes = Vec::new();
    let names: Vec<&str> = services.iter().map(|s| s.name).collect();
    for def in services {
        let started =
            (def.start)(infra.clone(), shutdown.clone()).await.with_context(|| format!("cannot start {}", def.name))?;
        router = router.merge(started.router);
        workers.extend(started.workers);
        outboxes.extend(started.outboxes);
    }
    tracing::info!(services = ?names, addr = %local_addr, public_url = %infra.public_url, "recaudo is up");

    let relay_stop = CancellationToken::new();
    let relays: Vec<_> =
        outboxes.into_iter().map(|o| tokio::spawn(o.relay(pool.clone(), bus.clone(), relay_stop.clone()))).collect();
    let workers: Vec<_> = workers.into_iter().map(tokio::spawn).collect();

    let app = router.layer(TraceLayer::new_for_http());
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(async move { server.await });

    shutdown.cancelled().await;
    let grace = common.shutdown_grace;
    let drain = async {
        let _ = server.await;
        for w in workers {
            let _ = w.await;
        }
    };
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(grace_secs = grace.as_secs(), "work still in flight after the grace period; stopping anyway");
    }
    relay_stop.cancel();
    for r in relays {
        let _ = tokio::time::timeout(grace, r).await;
    }
    pool.close().await;
    tracing::info!("recaudo stopped");
    Ok(())
}
