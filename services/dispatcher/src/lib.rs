//! Dispatcher: one deployment per channel (`--channel sms|whatsapp|email`), or every channel in one process.
//! Consumes `contact.requested.<channel>`, re-checks the send window, renders the message, records the attempt and
//! calls the provider at most once, publishes `contact.attempted.<channel>`, turns the provider's signed webhooks
//! into `contact.status.<channel>`, `reply.received.<channel>` and `consent.withdrawn`, and reconciles attempts
//! whose outcome it did not hear from the provider.

mod api;
mod attempts;
mod breaker;
mod compliance;
mod config;
mod content;
mod crash;
mod inbound;
mod manual_forward;
mod providers;
mod rate;
mod reconcile;
mod send;
mod simulator_control;
mod unsubscribe;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_events::Channel;
use recaudo_providers::MessagingProvider;
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{Infra, Migration, Started};
use tokio_util::sync::CancellationToken;

pub use config::{provider_var, ChannelConfig, Config, ProviderKind, CHANNELS};

pub const SCHEMA: &str = "dispatcher";
pub const NAME: &str = "dispatcher";

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "attempts", include_str!("../migrations/0002_attempts.sql")),
        Migration::new(3, "early_status_reports", include_str!("../migrations/0003_early_status_reports.sql")),
        Migration::new(4, "attempt_country", include_str!("../migrations/0004_attempt_country.sql")),
        Migration::new(5, "attempt_time_zone", include_str!("../migrations/0005_attempt_time_zone.sql")),
        Migration::new(6, "attempt_decision", include_str!("../migrations/0006_attempt_decision.sql")),
        Migration::new(7, "channels", include_str!("../migrations/0007_channels.sql")),
        Migration::new(8, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
        Migration::new(9, "send_rate", include_str!("../migrations/0009_send_rate.sql")),
        Migration::new(10, "not_sent", include_str!("../migrations/0010_not_sent.sql")),
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

/// One channel's dispatcher, shared by its consumer, its webhook routes and its reconciler.
pub(crate) struct Dispatcher {
    pub pool: sqlx::PgPool,
    /// Writes events as `recaudo/dispatcher/<channel>`.
    pub outbox: Outbox,
    pub clock: recaudo_runtime::Clock,
    pub channel: Channel,
    pub provider: Arc<dyn MessagingProvider>,
    pub public_url: String,
    /// The law tightened by the lender's settings, for the re-check before each provider call.
    pub policies: recaudo_policy::Policies,
    /// For the lookup of a request's cancellation in the stream.
    pub bus: recaudo_bus::Bus,
    pub reconcile_after: Duration,
    pub interrupted_after: Duration,
    pub absence_confirm_after: Duration,
    /// Holds requests back while the provider is down or asks us to wait.
    pub breaker: breaker::Breaker,
    /// The provider's send rate, shared by every dispatcher process.
    pub limiter: rate::SharedRate,
    /// Crash tests only: where to abort.
    pub crash_at: Option<Arc<crash::CrashAt>>,
}

impl Dispatcher {
    /// Where providers that take a callback per message (Twilio) post its statuses.
    pub fn status_callback_url(&self) -> Option<String> {
        use recaudo_providers::WebhookKind;
        let route = self.provider.webhook_routes().into_iter().find(|r| r.kind == WebhookKind::Status)?;
        Some(format!("{}{}", self.public_url, route.path))
    }

    pub fn consumer_name(&self) -> String {
        format!("dispatcher-{}", self.channel)
    }
}

async fn start(infra: Infra, config: Config, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let outbox = Outbox::new(SCHEMA, "recaudo/dispatcher", infra.common.subject_prefix.clone());
    let policies = recaudo_policy::Policies::load(infra.common.contact_policy_file.as_deref())?;
    let mut routes = api::routes(infra.pool.clone()).merge(compliance::routes(infra.pool.clone()));
    let mut workers: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
    let mut simulators = providers::Simulators::default();
    let crash_at = config.crash_at.as_deref().map(crash::CrashAt::parse).transpose()?.map(Arc::new);
    if let Some(c) = &crash_at {
        tracing::warn!(crash_at = ?c, "RECAUDO_CRASH_AT is set: this process will abort on purpose (crash tests only)");
    }
    for channel in &config.channels {
        let provider = providers::build(&infra, &config, channel, &mut simulators)?;
        let d = Arc::new(Dispatcher {
            pool: infra.pool.clone(),
            outbox: outbox.with_source(format!("recaudo/dispatcher/{}", channel.channel)),
            clock: infra.clock.clone(),
            channel: channel.channel,
            public_url: infra.public_url.clone(),
            policies: policies.clone(),
            bus: infra.bus.clone(),
            reconcile_after: config.reconcile_after,
            interrupted_after: config.interrupted_after,
            absence_confirm_after: config.absence_confirm_after,
            breaker: breaker::Breaker::new(
                provider.name(),
                config.breaker_failures,
                config.breaker_cooldown,
                shutdown.clone(),
            ),
            limiter: rate::SharedRate::new(
                infra.pool.clone(),
                format!("{}:{}", channel.channel, provider.name()),
                channel.rate_per_sec,
            ),
            crash_at: crash_at.clone(),
            provider,
        });
        // A dead dispatcher's requests must move on within seconds: JetStream redelivers what a process fetched
        // once `ack_wait` passes without a word from it, and the request in hand is kept alive by progress acks
        // while its provider call runs. Few requests are fetched at once, so few wait on a crash.
        // Requests are independent (the per-debtor lock guards the caps) and each waits on the provider's answer,
        // so the ones fetched together are handled at once.
        let spec = ConsumerSpec {
            ack_wait: Duration::from_secs(6),
            batch: 8,
            concurrency: 8,
            ..ConsumerSpec::new(d.consumer_name(), format!("contact.requested.{}", channel.channel))
        };
        let consumer = consume::run(infra.bus.clone(), spec, send::RequestHandler(d.clone()), shutdown.clone());
        let name = d.consumer_name();
        workers.push(Box::pin(async move {
            if let Err(e) = consumer.await {
                tracing::error!(consumer = %name, error = %e, "consumer stopped");
            }
        }));
        workers.push(Box::pin(reconcile::run(d.clone(), shutdown.clone())));
        routes = routes.merge(webhooks::routes(d.clone()));
        if channel.channel == Channel::Email {
            routes = routes.merge(unsubscribe::routes(d.clone()));
        }
    }
    if let Some(url) = config.scheduler_url.clone() {
        routes = routes.merge(manual_forward::routes(url));
    }
    routes = simulators.mount(routes);
    let mut started = Started::new(routes).outbox(outbox);
    started.workers.extend(workers);
    Ok(started)
}
