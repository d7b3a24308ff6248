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

use crate::http::{RouteEntry, Routes};
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
    /// What operators should know of this process (the holiday calendar's end, say): listed by `/readyz`, which
    /// they do not make unready.
    pub notices: Arc<std::sync::Mutex<Vec<String>>>,
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

/// Wraps the protected routes of every service in the process with the access check (see `recaudo-access`).
pub type Gate = Box<dyn FnOnce(Router) -> Router + Send>;

/// What a started service hands back: its routes, its background work, and the outboxes to relay.
pub struct Started {
    pub routes: Routes,
    /// Set by the access layer only: the one gate every protected route sits behind.
    pub gate: Option<Gate>,
    /// Consumers and timers; each must return soon after the shutdown token is cancelled.
    pub workers: Vec<BoxFuture<'static, ()>>,
    /// Relayed until the workers have stopped, so that what they commit last is still published.
    pub outboxes: Vec<Outbox>,
}

impl Started {
    pub fn new(routes: Routes) -> Self {
        Started { routes, gate: None, workers: Vec::new(), outboxes: Vec::new() }
    }

    pub fn gate(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
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

/// A process with its services started, about to serve; `routes` lists what it serves (the route checks read it).
pub struct Application {
    pub routes: Vec<RouteEntry>,
    listener: TcpListener,
    router: Router,
    pool: PgPool,
    bus: Bus,
    grace: std::time::Duration,
    workers: Vec<BoxFuture<'static, ()>>,
    outboxes: Vec<Outbox>,
    shutdown: CancellationToken,
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
    build(common, env, listener, services, shutdown).await?.run().await
}

/// Everything [`run`] does before it serves. The first service that hands back a [`Gate`] (the access layer) guards
/// every protected route; a process with protected routes and no gate refuses to start.
pub async fn build(
    common: CommonConfig,
    env: Env,
    listener: TcpListener,
    services: Vec<ServiceDef>,
    shutdown: CancellationToken,
) -> anyhow::Result<Application> {
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
        notices: Arc::default(),
    };
    infra.public_url = common.public_url.clone().unwrap_or_else(|| infra.local_url());

    let mut routes = crate::http::probes(infra.clone());
    let mut gate = None;
    let mut workers = Vec::new();
    let mut outboxes = Vec::new();
    let names: Vec<&str> = services.iter().map(|s| s.name).collect();
    for def in services {
        let started =
            (def.start)(infra.clone(), shutdown.clone()).await.with_context(|| format!("cannot start {}", def.name))?;
        routes = routes.merge(started.routes);
        if gate.is_none() {
            gate = started.gate;
        }
        workers.extend(started.workers);
        outboxes.extend(started.outboxes);
    }
    let table = routes.table.clone();
    let protected = match gate {
        Some(gate) => gate(routes.protected),
        None if table.iter().all(|r| r.visibility == crate::http::Visibility::Public) => routes.protected,
        None => anyhow::bail!("this process serves protected routes but runs no access layer to guard them"),
    };
    let router = routes.public.merge(protected);
    tracing::info!(services = ?names, addr = %local_addr, public_url = %infra.public_url, "recaudo is up");
    Ok(Application {
        routes: table,
        listener,
        router,
        pool,
        bus,
        grace: common.shutdown_grace,
        workers,
        outboxes,
        shutdown,
    })
}

impl Application {
    pub async fn run(self) -> anyhow::Result<()> {
        let Application { listener, router, pool, bus, grace, workers, outboxes, shutdown, .. } = self;
        let relay_stop = CancellationToken::new();
        let relays: Vec<_> = outboxes
            .into_iter()
            .map(|o| tokio::spawn(o.relay(pool.clone(), bus.clone(), relay_stop.clone())))
            .collect();
        let workers: Vec<_> = workers.into_iter().map(tokio::spawn).collect();

        // The peer address reaches handlers (and the audit trail) as `ConnectInfo`.
        // The span names the method only: paths and queries carry reply-link tokens, sign-in codes and subjects.
        let trace = TraceLayer::new_for_http()
            .make_span_with(|req: &axum::http::Request<_>| tracing::debug_span!("http", method = %req.method()));
        let app = router
            .layer(axum::middleware::from_fn(crate::http::answer_panics))
            .layer(trace)
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let server = tokio::spawn(async move { server.await });

        shutdown.cancelled().await;
        let drain = async {
            let _ = server.await;
            for w in workers {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "work still in flight after the grace period; stopping anyway"
            );
        }
        relay_stop.cancel();
        for r in relays {
            let _ = tokio::time::timeout(grace, r).await;
        }
        pool.close().await;
        tracing::info!("recaudo stopped");
        Ok(())
    }
}
