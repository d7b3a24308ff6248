//! Consumes `import.*`: stages row batches, applies a complete import, discards a failed one.

use recaudo_bus::outbox::Outbox;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{ImportCompleted, ImportFailed, ImportMode, ImportRows, ImportStarted};
use recaudo_runtime::Clock;
use sqlx::PgPool;

use crate::{apply, staging, SCHEMA};

const CONSUMER: &str = "portfolio-imports";

pub struct ImportHandler {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: Clock,
    /// Wakes the snapshot publisher once an import's changes are committed.
    pub snapshots: std::sync::Arc<tokio::sync::Notify>,
}

impl Handler for ImportHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let now = self.clock.now();
        match msg.envelope.ty.as_str() {
            ty if ty == <ImportStarted as recaudo_events::Event>::TYPE => {
                let e = msg.envelope.decode::<ImportStarted>()?.data;
                let mode = mode_name(e.mode);
                sqlx::query(
                    "INSERT INTO portfolio.imports (id, mode, as_of, state, created_at) VALUES ($1, $2, $3, 'staging', $4)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(e.import_id)
                .bind(mode)
                .bind(e.as_of)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            ty if ty == <ImportRows as recaudo_events::Event>::TYPE => {
                let e = msg.envelope.decode::<ImportRows>()?.data;
                staging::stage(&mut tx, &e).await?;
            }
            ty if ty == <ImportCompleted as recaudo_events::Event>::TYPE => {
                let e = msg.envelope.decode::<ImportCompleted>()?.data;
                let import: Option<(String, String)> =
                    sqlx::query_as("SELECT mode, state FROM portfolio.imports WHERE id = $1 FOR UPDATE")
                        .bind(e.import_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((mode, state)) = import else {
                    return Err(HandleError::retry(anyhow::anyhow!(
                        "import {} completed before it was announced",
                        e.import_id
                    )));
                };
                if state != "staging" {
                    return Ok(());
                }
                let staged = staging::staged_batches(&mut tx, e.import_id).await?;
                if staged < i64::from(e.batches) {
                    // A batch is still on its way (redelivered out of order); the whole message is retried later, and
                    // the inbox claim rolls back with the transaction.
                    return Err(HandleError::retry(anyhow::anyhow!(
                        "import {}: {staged} of {} batches staged",
                        e.import_id,
                        e.batches
                    )));
                }
                let mode = if mode == "full" { ImportMode::Full } else { ImportMode::Delta };
                let applied = apply::apply(&mut tx, &self.outbox, now, e.import_id, mode).await?;
                sqlx::query("UPDATE portfolio.imports SET state = 'applied', applied_at = $2 WHERE id = $1")
                    .bind(e.import_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(import_id = %e.import_id, credits = applied.event.credits,
                               changed = applied.event.credits_changed, "import applied");
                self.outbox.enqueue(&mut tx, now, applied.event).await?;
            }
            ty if ty == <ImportFailed as recaudo_events::Event>::TYPE => {
                let e = msg.envelope.decode::<ImportFailed>()?.data;
                // Discarded first: the row lock makes a batch being staged right now finish before the clear, and
                // batches after it see the import discarded and stage nothing.
                sqlx::query("UPDATE portfolio.imports SET state = 'discarded' WHERE id = $1 AND state = 'staging'")
                    .bind(e.import_id)
                    .execute(&mut *tx)
                    .await?;
                staging::clear(&mut tx, e.import_id).await?;
            }
            other => tracing::debug!(event_type = other, "ignored"),
        }
        tx.commit().await?;
        self.outbox.wake();
        self.snapshots.notify_one();
        Ok(())
    }
}

fn mode_name(mode: ImportMode) -> &'static str {
    match mode {
        ImportMode::Full => "full",
        ImportMode::Delta => "delta",
    }
}
