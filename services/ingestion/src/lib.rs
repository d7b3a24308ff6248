//! Ingestion: accepts the lender's client file (HTTP upload or `recaudo import`), validates every row, reports
//! bad rows by line and column, and hands valid rows to portfolio as `import.*` events.

mod api;
pub mod file;
pub mod generate;
mod imports;
pub mod payments;
mod pipeline;
pub mod profiles;
pub mod signature;

use std::sync::Arc;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, ConsumerSpec};
use recaudo_runtime::process::ServiceDef;
use recaudo_runtime::{ConfigError, Env, Infra, Migration, Started};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use imports::{ImportView, RowErrorView};
pub use pipeline::{Created, ImportRequest, Importer, Progress};

/// An import's current state (for the CLI).
pub async fn imports_view(pool: &sqlx::PgPool, id: uuid::Uuid) -> Result<ImportView, sqlx::Error> {
    imports::find(pool, id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// The first `limit` row errors of an import (for the CLI).
pub async fn imports_errors(pool: &sqlx::PgPool, id: uuid::Uuid, limit: i64) -> Result<Vec<RowErrorView>, sqlx::Error> {
    imports::errors(pool, id, imports::Severity::Error, 0, limit).await
}

pub const SCHEMA: &str = "ingestion";
pub const NAME: &str = "ingestion";
/// The CloudEvents `source` of everything ingestion publishes.
pub const SOURCE: &str = "recaudo/ingestion";

pub fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(1, "outbox_inbox", recaudo_bus::inbox::ddl(SCHEMA)),
        Migration::new(2, "imports", include_str!("../migrations/0002_imports.sql")),
        Migration::new(3, "outbox_without_event_key", recaudo_bus::inbox::outbox_without_event_key(SCHEMA)),
    ]
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted upload.
    pub max_upload_bytes: u64,
    /// Valid rows per `import.rows` event.
    pub batch_rows: usize,
    /// Rejected rows / all rows above which an import fails as a whole (nothing of it applied).
    pub max_error_rate: f64,
    /// Secret shared with the lender for signed `POST /api/payments`; the endpoint is off without one.
    pub payments_secret: Option<String>,
    /// Accepted clock difference for signed calls.
    pub signature_tolerance_secs: i64,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let batch_rows = env.get("RECAUDO_IMPORT_BATCH_ROWS", 1000usize)?;
        if !(1..=5000).contains(&batch_rows) {
            return Err(ConfigError::new("RECAUDO_IMPORT_BATCH_ROWS", &batch_rows.to_string(), "expected 1 to 5000"));
        }
        let max_error_rate = env.get("RECAUDO_IMPORT_MAX_ERROR_RATE", 0.5f64)?;
        if !(0.0..=1.0).contains(&max_error_rate) {
            return Err(ConfigError::new(
                "RECAUDO_IMPORT_MAX_ERROR_RATE",
                &max_error_rate.to_string(),
                "expected 0 to 1",
            ));
        }
        Ok(Config {
            max_upload_bytes: env.get("RECAUDO_IMPORT_MAX_BYTES", 2u64 * 1024 * 1024 * 1024)?,
            batch_rows,
            max_error_rate,
            payments_secret: env
                .optional::<String>("RECAUDO_PAYMENTS_SECRET")?
                .map(|s| recaudo_runtime::secrets::checked("RECAUDO_PAYMENTS_SECRET", s))
                .transpose()?,
            signature_tolerance_secs: match env.get("RECAUDO_PAYMENTS_SIGNATURE_TOLERANCE_SECS", 300i64)? {
                t if t > 0 => t,
                t => {
                    return Err(ConfigError::new(
                        "RECAUDO_PAYMENTS_SIGNATURE_TOLERANCE_SECS",
                        &t.to_string(),
                        "must be positive",
                    ))
                }
            },
        })
    }
}

/// Ingestion's outbox, for the service and for the CLI commands that import on their own.
pub fn outbox_for(common: &recaudo_runtime::CommonConfig) -> Outbox {
    Outbox::new(SCHEMA, SOURCE, common.subject_prefix.clone())
}

pub fn service(config: Config) -> ServiceDef {
    ServiceDef {
        name: NAME,
        schema: Some(SCHEMA),
        migrations: migrations(),
        start: Box::new(move |infra, shutdown| Box::pin(start(infra, config, shutdown))),
    }
}

async fn start(infra: Infra, config: Config, shutdown: CancellationToken) -> anyhow::Result<Started> {
    let outbox = outbox_for(&infra.common);
    let importer = Importer::new(
        infra.pool.clone(),
        infra.bus.clone(),
        outbox.clone(),
        infra.clock.clone(),
        config.batch_rows,
        config.max_error_rate,
    );
    importer.fail_interrupted().await?;
    let tracker = TaskTracker::new();
    let intake = Arc::new(payments::PaymentIntake {
        pool: infra.pool.clone(),
        outbox: outbox.clone(),
        clock: infra.clock.clone(),
        secret: config.payments_secret.clone(),
        tolerance_secs: config.signature_tolerance_secs,
    });
    let state = Arc::new(api::AppState { importer: importer.clone(), config, tracker: tracker.clone() });
    let consumer = consume::run(
        infra.bus.clone(),
        ConsumerSpec::new("ingestion-applied", "portfolio.import.applied"),
        imports::AppliedHandler { importer },
        shutdown.clone(),
    );
    let drain_uploads = async move {
        shutdown.cancelled().await;
        // Imports already accepted finish reading and publishing before the process exits.
        tracker.close();
        tracker.wait().await;
    };
    Ok(Started::new(api::routes(state).merge(payments::routes(intake)))
        .consumer("ingestion-applied", consumer)
        .worker(drain_uploads)
        .outbox(outbox))
}
