//! Dispatcher: one deployment per channel. Consumes `contact.requested.<channel>`, re-checks the send window,
//! renders the message, records the attempt and calls the provider at most once, publishes
//! `contact.attempted.<channel>`, and turns the provider's signed webhooks into `contact.status.<channel>`.

mod api;
mod attempts;
mod compliance;
mod config;
mod send;
mod webhooks;

use std::sync::Arc;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_events::Channel;
use recaudo_providers::SmsProvider;
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{Infra, Migration, Started};
use tokio_util::sync::CancellationToken;

pub use config::{Config, SmsProviderKind};

pub const SCHEMA: &str = "dispatcher";
pub const NAME: &str = "dispatcher";
/// Where the in-process SMS simulator is mounted when `RECAUDO_SMS_PROVIDER=simulator`.
pub const SIMULATOR_PATH: &str = "/sim/twilio";

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "attempts", include_str!("../migrations/0002_attempts.sql")),
        Migration::new(3, "early_status_reports", include_str!("../migrations/0003_early_status_reports.sql")),
        Migration::new(4, "attempt_country", include_str!("../migrations/0004_attempt_country.sql")),
        Migration::new(5, "attempt_time_zone", include_str!("../migrations/0005_attempt_time_zone.sql")),
        Migration::new(6, "attempt_decision", include_str!("../migrations/0006_attempt_decision.sql")),
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

/// Shared by the consumer and the webhook routes.
pub(crate) struct Dispatcher {
    pub pool: sqlx::PgPool,
    pub outbox: Outbox,
    pub clock: recaudo_runtime::Clock,
    pub channel: Channel,
    pub provider: Arc<dyn SmsProvider>,
    pub public_url: String,
    /// The law tightened by the lender's settings, for the re-check before each provider call.
    pub policies: recaudo_policy::Policies,
    /// For the lookup of a request's cancellation in the stream.
    pub bus: recaudo_bus::Bus,
}

impl Dispatcher {
    pub fn status_callback_url(&self) -> String {
        format!("{}/webhooks/twilio/{}/status", self.public_url, self.channel)
    }
}

async fn start(infra: Infra, config: Config, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let outbox =
        Outbox::new(SCHEMA, format!("recaudo/dispatcher/{}", config.channel), infra.common.subject_prefix.clone());
    let (provider, simulator) = config.provider(&infra)?;
    let dispatcher = Arc::new(Dispatcher {
        pool: infra.pool.clone(),
        outbox: outbox.clone(),
        clock: infra.clock.clone(),
        channel: config.channel,
        provider,
        public_url: infra.public_url.clone(),
        policies: recaudo_policy::Policies::load(infra.common.contact_policy_file.as_deref())?,
        bus: infra.bus.clone(),
    });
    attempts::settle_interrupted(&dispatcher).await?;
    let spec =
        ConsumerSpec::new(format!("dispatcher-{}", config.channel), format!("contact.requested.{}", config.channel));
    let consumer = consume::run(infra.bus.clone(), spec, send::RequestHandler(dispatcher.clone()), shutdown);
    let mut routes = api::routes(dispatcher.clone())
        .merge(compliance::routes(dispatcher.clone()))
        .merge(webhooks::routes(dispatcher));
    if let Some(sim) = simulator {
        routes = routes.public_nest(SIMULATOR_PATH, sim.router());
    }
    Ok(Started::new(routes).consumer("dispatcher", consumer).outbox(outbox))
}
