//! Consumes `import.started`: the replica that receives it applies the whole import, following the import's row
//! batches and its outcome from JetStream while it holds the message, in one transaction.
//!
//! Why one transaction from the first batch to the last: the rows are merged into the portfolio while ingestion is
//! still reading the file, instead of being written once to a staging table and then again to the portfolio after
//! the last batch; and an import is still applied whole or not at all. If this process dies, the transaction is
//! rolled back, `import.started` is redelivered (progress stops being signalled) and another replica replays the
//! import from the start: its batches stay in the import rows stream.

use std::collections::BTreeMap;
use std::time::Duration;

use recaudo_bus::outbox::Outbox;
use recaudo_bus::replay::Replay;
use recaudo_bus::{inbox, Bus, HandleError, Handler, Incoming};
use recaudo_events::{Event, ImportCompleted, ImportFailed, ImportRows, ImportStarted, PortfolioRow};
use recaudo_runtime::Clock;
use sqlx::{PgConnection, PgPool};

use crate::apply::ImportApply;
use crate::SCHEMA;

pub const CONSUMER: &str = "portfolio-import-apply";

/// Imports are applied one at a time across replicas: two open import transactions would wait on each other's rows.
const IMPORTS_LOCK: i64 = 0x7265_6361_7564_6f01;
/// How far before `import.started` its outcome is looked for: an outbox relay retry can store an import's
/// `import.completed` a little ahead of its `import.started`.
const CONTROL_LOOKBACK: u64 = 1000;
/// How often, at most, an import with nothing arriving checks whether it has been idle for too long.
const POLL: Duration = Duration::from_secs(1);
/// Batches decoded ahead of the one being merged.
const READ_AHEAD: usize = 4;

pub struct ImportHandler {
    pub pool: PgPool,
    pub bus: Bus,
    pub outbox: Outbox,
    pub clock: Clock,
    /// An import that neither sends a batch nor ends for this long (ingestion gone) is given up for now, and
    /// replayed later on redelivery.
    pub idle_timeout: Duration,
    /// Wakes the snapshot publisher once an import's changes are committed.
    pub snapshots: std::sync::Arc<tokio::sync::Notify>,
}

impl Handler for ImportHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        if msg.envelope.ty != ImportStarted::TYPE {
            tracing::debug!(event_type = %msg.envelope.ty, "ignored");
            return Ok(());
        }
        let started = msg.envelope.decode::<ImportStarted>()?.data;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(IMPORTS_LOCK).execute(&mut *tx).await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let now = self.clock.now();
        let mut apply = ImportApply::begin(&mut tx, started.import_id, started.mode, now).await?;
        match self.follow(&mut tx, &mut apply, &started, msg.stream_sequence).await? {
            Outcome::Completed => {
                let applied = apply.finish(&mut tx, &self.outbox).await?;
                record(&mut tx, &started, "applied", now).await?;
                tracing::info!(import_id = %started.import_id, credits = applied.credits,
                               changed = applied.credits_changed, "import applied");
                self.outbox.enqueue(&mut tx, now, applied).await?;
                tx.commit().await?;
            }
            Outcome::Failed => {
                // Nothing of it is kept, but the import is remembered as discarded.
                tx.rollback().await?;
                let mut tx = self.pool.begin().await?;
                if inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
                    record(&mut tx, &started, "discarded", now).await?;
                }
                tx.commit().await?;
                tracing::info!(import_id = %started.import_id, "import discarded");
            }
        }
        self.outbox.wake();
        self.snapshots.notify_one();
        Ok(())
    }
}

enum Outcome {
    Completed,
    Failed,
}

impl ImportHandler {
    /// Applies the import's batches in order as they arrive, until its `import.completed` and every batch it counts
    /// are in (or its `import.failed`).
    async fn follow(
        &self,
        conn: &mut PgConnection,
        apply: &mut ImportApply,
        started: &ImportStarted,
        started_at: u64,
    ) -> Result<Outcome, HandleError> {
        let id = started.import_id;
        let rows = self.bus.replay(&format!("import.rows.{id}"), 1).await.map_err(HandleError::retry)?;
        let control = self
            .bus
            .replay("import.*", started_at.saturating_sub(CONTROL_LOOKBACK))
            .await
            .map_err(HandleError::retry)?;
        // The outcome is watched on its own task: an ordered consumer that is not read for a while (here, while
        // batches keep arriving) is dropped by the server.
        let (outcome_tx, mut outcome) = tokio::sync::oneshot::channel();
        let _watch = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            let _ = outcome_tx.send(watch_outcome(control, id).await);
        }));
        // Batches are read and decoded on their own task too, while the database merges the previous one.
        let (batch_tx, mut batches) = tokio::sync::mpsc::channel(READ_AHEAD);
        let _read = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(read_batches(rows, batch_tx)));
        // Batches normally arrive in order; one retried by ingestion may come late, and waits here for its turn.
        let mut waiting: BTreeMap<u32, Vec<PortfolioRow>> = BTreeMap::new();
        let mut next_batch = 0u32;
        let mut expected: Option<u32> = None;
        let mut last_seen = tokio::time::Instant::now();
        loop {
            if expected.is_some_and(|n| next_batch >= n) {
                return Ok(Outcome::Completed);
            }
            tokio::select! {
                biased;
                ended = &mut outcome, if expected.is_none() => {
                    match ended.map_err(HandleError::retry)?? {
                        Ended::Completed { batches } => expected = Some(batches),
                        Ended::Failed => return Ok(Outcome::Failed),
                    }
                    last_seen = tokio::time::Instant::now();
                }
                next = tokio::time::timeout(POLL, batches.recv()) => {
                    if let Ok(next) = next {
                        let batch = next.ok_or_else(|| HandleError::retry(anyhow::anyhow!("the batch reader stopped")))??;
                        last_seen = tokio::time::Instant::now();
                        if batch.import_id == id && batch.batch >= next_batch {
                            waiting.insert(batch.batch, batch.rows);
                        }
                        while let Some(rows) = waiting.remove(&next_batch) {
                            apply.batch(conn, &rows).await?;
                            next_batch += 1;
                        }
                    }
                }
            }
            if last_seen.elapsed() > self.idle_timeout {
                return Err(HandleError::retry(anyhow::anyhow!(
                    "import {id}: nothing arrived for {}s ({next_batch} batches applied{}); it is replayed later",
                    self.idle_timeout.as_secs(),
                    expected.map(|n| format!(" of {n}")).unwrap_or_default()
                )));
            }
        }
    }
}

/// Reads and decodes an import's batches in stream order, until the receiver is gone or a batch cannot be read.
async fn read_batches(mut rows: Replay, batches: tokio::sync::mpsc::Sender<Result<ImportRows, HandleError>>) {
    loop {
        let next = match rows.next().await {
            Ok(message) => {
                let decoding = std::time::Instant::now();
                let batch = message.envelope.decode::<ImportRows>().map(|e| e.data).map_err(HandleError::from);
                metrics::histogram!("recaudo_import_apply_seconds", "step" => "decode")
                    .record(decoding.elapsed().as_secs_f64());
                batch
            }
            Err(e) => Err(HandleError::retry(e)),
        };
        let failed = next.is_err();
        if batches.send(next).await.is_err() || failed {
            return;
        }
    }
}

/// How an import ended, as ingestion announced it.
enum Ended {
    Completed { batches: u32 },
    Failed,
}

/// Reads the import stream until this import's `import.completed` or `import.failed`.
async fn watch_outcome(mut control: Replay, id: uuid::Uuid) -> Result<Ended, HandleError> {
    loop {
        let envelope = control.next().await.map_err(HandleError::retry)?.envelope;
        if envelope.ty == ImportCompleted::TYPE {
            let e = envelope.decode::<ImportCompleted>()?.data;
            if e.import_id == id {
                return Ok(Ended::Completed { batches: e.batches });
            }
        } else if envelope.ty == ImportFailed::TYPE && envelope.decode::<ImportFailed>()?.data.import_id == id {
            return Ok(Ended::Failed);
        }
    }
}

async fn record(
    conn: &mut PgConnection,
    started: &ImportStarted,
    state: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        // An applied import's account snapshots are published from the start of its credits (`snapshots_after`).
        "INSERT INTO portfolio.imports (id, mode, as_of, state, created_at, applied_at, snapshots_after)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'applied' THEN $5 END, CASE WHEN $4 = 'applied' THEN '' END)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(started.import_id)
    .bind(started.mode.as_str())
    .bind(started.as_of)
    .bind(state)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
