//! The import pipeline: read the file on a blocking thread, send valid rows to portfolio as `import.rows` events
//! and commit row errors batch by batch, so memory stays bounded and progress is visible while it runs.
//!
//! Row batches go straight to JetStream rather than through the outbox: they change nothing in ingestion's own
//! state, and writing hundreds of megabytes of rows into a table only to read and delete them again was most of an
//! import's cost. Safety comes from the order instead: `import.completed` (through the outbox, with the batch count)
//! is written only after JetStream acknowledged every batch, and an import cut off before that fails as a whole.

use std::collections::VecDeque;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::NaiveDate;
use recaudo_bus::outbox::Outbox;
use recaudo_bus::{Bus, RawMessage};
use recaudo_events::{ImportCompleted, ImportFailed, ImportMode, ImportRows, ImportStarted, PortfolioRow};
use recaudo_runtime::Clock;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::file::{self, AsOf, FileError, ReadOptions, RowError};
use crate::SOURCE;

/// Imports left in the reading stage for longer than this were cut off by a crash or restart.
const STALE_AFTER_SECS: i64 = 120;
/// Row errors are committed in groups of at most this many, even when few rows are valid.
const ERROR_BATCH: usize = 1000;
/// Row batches sent whose JetStream acknowledgement has not arrived yet; more in flight keeps the pipe full, fewer
/// bounds memory.
const MAX_IN_FLIGHT: usize = 32;
/// How often the import's counts are written while it is read (they are progress, not results).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Clone)]
pub struct Importer {
    pool: PgPool,
    bus: Bus,
    outbox: Outbox,
    clock: Clock,
    batch_rows: usize,
    max_error_rate: f64,
}

/// What `create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New(Uuid),
    /// The same file (by content hash) was already imported in the same mode: nothing to do.
    Duplicate(Uuid),
}

/// What the lender asked for, besides the file itself.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub file_name: Option<String>,
    pub mode: ImportMode,
    /// Defaults to today (UTC) by the clock.
    pub as_of: Option<NaiveDate>,
    pub options: ReadOptions,
    /// A stored profile whose options apply where `options` says nothing.
    pub profile: Option<String>,
    /// Rejected rows / all rows above which the import fails and nothing of it is applied; the service's default when
    /// `None`.
    pub max_error_rate: Option<f64>,
}

/// A file ready to import: stored on local disk, with its hash and size.
pub struct Upload {
    pub path: std::path::PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// Progress of a running import, for the CLI's progress line.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Progress {
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub rows_total: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
}

enum Item {
    Shape { encoding: &'static str, delimiter: u8 },
    Batch { rows: Vec<PortfolioRow>, errors: Vec<RowError>, warnings: Vec<RowError> },
    Done(Result<file::ReadSummary, FileError>),
}

impl Importer {
    pub fn new(pool: PgPool, bus: Bus, outbox: Outbox, clock: Clock, batch_rows: usize, max_error_rate: f64) -> Self {
        Importer { pool, bus, outbox, clock, batch_rows, max_error_rate }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Applies the request's profile, if any, under its explicit options.
    pub async fn resolve(&self, mut req: ImportRequest) -> Result<ImportRequest, crate::profiles::ProfileError> {
        if let Some(name) = &req.profile {
            let profile = crate::profiles::get(&self.pool, name).await?;
            req.options = crate::profiles::merge(profile.options, req.options);
        }
        Ok(req)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Hashes a local file, for imports that do not come through an upload.
    pub async fn upload_from_path(path: &Path) -> std::io::Result<Upload> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(&path)?;
            let mut hasher = Sha256::new();
            let size = std::io::copy(&mut f, &mut hasher)?;
            Ok(Upload { sha256: hex::encode(hasher.finalize()), size, path })
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Registers the import (state `processing`) and announces it, unless the same file was already imported in the
    /// same mode for the same as-of date (and that import did not fail).
    pub async fn create(&self, req: &ImportRequest, upload: &Upload) -> Result<Created, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = self.clock.now();
        let as_of = req.as_of.unwrap_or_else(|| now.date_naive());
        let mode = req.mode.as_str();
        let options = serde_json::to_value(&req.options).unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        // Serialises concurrent uploads of the same content, so that only one of them imports it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(&upload.sha256).execute(&mut *tx).await?;
        let earlier: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM ingestion.imports
             WHERE content_sha256 = $1 AND mode = $2 AND as_of = $3 AND state <> 'failed'
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(&upload.sha256)
        .bind(mode)
        .bind(as_of)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(earlier) = earlier {
            return Ok(Created::Duplicate(earlier));
        }
        sqlx::query(
            "INSERT INTO ingestion.imports (id, file_name, content_sha256, size_bytes, mode, as_of, options, profile, state,
                                            stage, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $9, 'processing', 'reading', $8, $8)",
        )
        .bind(id)
        .bind(&req.file_name)
        .bind(&upload.sha256)
        .bind(upload.size as i64)
        .bind(mode)
        .bind(as_of)
        .bind(options)
        .bind(now)
        .bind(&req.profile)
        .execute(&mut *tx)
        .await?;
        self.outbox.enqueue(&mut tx, now, ImportStarted { import_id: id, mode: req.mode, as_of }).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(Created::New(id))
    }

    /// Reads the file and commits it batch by batch. On a file-level error the import fails and an `import.failed`
    /// event tells portfolio to discard what it staged.
    pub async fn run(
        &self,
        id: Uuid,
        req: &ImportRequest,
        upload: &Upload,
        progress: Option<watch::Sender<Progress>>,
    ) -> anyhow::Result<()> {
        let result = self.read_and_commit(id, req, upload, progress).await;
        match result {
            Ok(Ok((summary, batches))) => {
                let limit = req.max_error_rate.unwrap_or(self.max_error_rate);
                let rate = summary.rows_rejected as f64 / summary.rows_total.max(1) as f64;
                if rate > limit {
                    let reason = format!(
                        "{} of {} rows ({:.1}%) are invalid, above the limit of {:.1}%; nothing was applied",
                        summary.rows_rejected,
                        summary.rows_total,
                        rate * 100.0,
                        limit * 100.0
                    );
                    self.fail(id, &reason).await?;
                } else {
                    self.finish(id, summary, batches).await?;
                }
            }
            Ok(Err(file_error)) => self.fail(id, &file_error.to_string()).await?,
            Err(e) => match e.downcast::<FileError>() {
                // A problem of the file found while sending it (a row too large for one message).
                Ok(file_error) => self.fail(id, &file_error.to_string()).await?,
                Err(e) => {
                    // The cause is not the file's, and the process that ran the import (often the CLI, with no
                    // server log) reports it whole, with what to do.
                    let cause = format!("{e:#}");
                    tracing::error!(import_id = %id, error = %cause, "import aborted");
                    let reason = format!(
                        "the import stopped before it was complete: {cause}. Nothing was applied; import the file \
                         again once the cause is fixed (a retry is safe)"
                    );
                    self.fail(id, &reason).await?;
                }
            },
        }
        Ok(())
    }

    /// Reads the file, sends its row batches and records its row errors; returns what was read and how many batches
    /// were sent (every one acknowledged by JetStream).
    async fn read_and_commit(
        &self,
        id: Uuid,
        req: &ImportRequest,
        upload: &Upload,
        progress: Option<watch::Sender<Progress>>,
    ) -> anyhow::Result<Result<(file::ReadSummary, u32), FileError>> {
        let as_of: NaiveDate = sqlx::query_scalar("SELECT as_of FROM ingestion.imports WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let (tx, mut rx) = mpsc::channel::<Item>(4);
        let bytes_read = Arc::new(AtomicU64::new(0));
        let reader = spawn_reader(
            upload.path.clone(),
            req.options.clone(),
            AsOf(as_of),
            self.batch_rows,
            tx,
            bytes_read.clone(),
        );

        let mut sender = BatchSender { importer: self, import_id: id, next_batch: 0, in_flight: VecDeque::new() };
        let mut counts = Progress { bytes_total: upload.size, ..Default::default() };
        let result = self.send_all(id, &mut rx, &mut sender, &mut counts, &bytes_read, progress).await;
        // Whatever happened, the import shows the counts of what was read, a failed import too.
        if let Err(e) = self.record_progress(id, vec![], vec![], &counts, sender.next_batch).await {
            tracing::warn!(import_id = %id, error = %e, "cannot record the import's final counts");
        }
        let outcome = result?;
        reader.await?;
        sender.all_acknowledged().await?;
        let outcome =
            outcome.unwrap_or(Err(FileError::Unreadable { line: 0, reason: "the reader stopped unexpectedly".into() }));
        Ok(outcome.map(|summary| (summary, sender.next_batch)))
    }

    /// Takes the reader's batches until it is done: sends rows, records errors and progress.
    async fn send_all(
        &self,
        id: Uuid,
        rx: &mut mpsc::Receiver<Item>,
        sender: &mut BatchSender<'_>,
        counts: &mut Progress,
        bytes_read: &AtomicU64,
        progress: Option<watch::Sender<Progress>>,
    ) -> anyhow::Result<Option<Result<file::ReadSummary, FileError>>> {
        let mut last_written = std::time::Instant::now();
        let mut outcome = None;
        while let Some(item) = rx.recv().await {
            match item {
                Item::Shape { encoding, delimiter } => {
                    sqlx::query("UPDATE ingestion.imports SET encoding = $2, delimiter = $3 WHERE id = $1")
                        .bind(id)
                        .bind(encoding)
                        .bind(char::from(delimiter).to_string())
                        .execute(&self.pool)
                        .await?;
                }
                Item::Batch { rows, errors, warnings } => {
                    counts.rows_valid += rows.len() as u64;
                    counts.rows_rejected +=
                        errors.iter().map(|e| e.line).collect::<std::collections::BTreeSet<_>>().len() as u64;
                    counts.rows_total = counts.rows_valid + counts.rows_rejected;
                    counts.bytes_read = bytes_read.load(Ordering::Relaxed);
                    sender.send(rows).await?;
                    if !errors.is_empty() || !warnings.is_empty() || last_written.elapsed() >= PROGRESS_EVERY {
                        self.record_progress(id, errors, warnings, counts, sender.next_batch).await?;
                        last_written = std::time::Instant::now();
                    }
                    if let Some(p) = &progress {
                        let _ = p.send(*counts);
                    }
                }
                Item::Done(result) => outcome = Some(result),
            }
        }
        Ok(outcome)
    }

    /// Commits a batch's row errors and warnings, and the counts so far.
    async fn record_progress(
        &self,
        id: Uuid,
        errors: Vec<RowError>,
        warnings: Vec<RowError>,
        counts: &Progress,
        batches: u32,
    ) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        for (severity, list) in [("error", &errors), ("warning", &warnings)] {
            if list.is_empty() {
                continue;
            }
            let lines: Vec<i64> = list.iter().map(|e| e.line as i64).collect();
            let columns: Vec<&str> = list.iter().map(|e| e.column.as_str()).collect();
            let reasons: Vec<&str> = list.iter().map(|e| e.reason.as_str()).collect();
            sqlx::query(
                "INSERT INTO ingestion.row_errors (import_id, line, column_name, reason, severity)
                 SELECT $1, l, c, r, $5 FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS u(l, c, r)",
            )
            .bind(id)
            .bind(&lines)
            .bind(&columns)
            .bind(&reasons)
            .bind(severity)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE ingestion.imports SET rows_total = $2, rows_valid = $3, rows_rejected = $4, batches = $5, updated_at = $6
             WHERE id = $1",
        )
        .bind(id)
        .bind(counts.rows_total as i64)
        .bind(counts.rows_valid as i64)
        .bind(counts.rows_rejected as i64)
        .bind(batches as i32)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish(&self, id: Uuid, summary: file::ReadSummary, batches: u32) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE ingestion.imports SET stage = 'applying', rows_total = $2, rows_valid = $3, rows_rejected = $4,
                    batches = $5, updated_at = $6
             WHERE id = $1",
        )
        .bind(id)
        .bind(summary.rows_total as i64)
        .bind(summary.rows_valid as i64)
        .bind(summary.rows_rejected as i64)
        .bind(batches as i32)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = ImportCompleted {
            import_id: id,
            batches,
            rows_total: summary.rows_total,
            rows_valid: summary.rows_valid,
            rows_rejected: summary.rows_rejected,
        };
        self.outbox.enqueue(&mut tx, now, event).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(import_id = %id, rows = summary.rows_total, rejected = summary.rows_rejected, "import read");
        Ok(())
    }

    /// Marks the import failed and tells portfolio to discard it. Row errors found so far stay for the report.
    pub async fn fail(&self, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE ingestion.imports SET state = 'failed', stage = 'done', error = $2, updated_at = $3, completed_at = $3
             WHERE id = $1 AND state = 'processing'",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 1 {
            self.outbox.enqueue(&mut tx, now, ImportFailed { import_id: id, reason: reason.to_string() }).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        tracing::warn!(import_id = %id, reason, "import failed");
        Ok(())
    }

    /// Fails imports whose reading was cut off by a crash or restart: their file is gone, so they cannot resume.
    pub async fn fail_interrupted(&self) -> Result<(), sqlx::Error> {
        let cutoff = self.clock.now() - chrono::Duration::seconds(STALE_AFTER_SECS);
        let stale: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM ingestion.imports WHERE state = 'processing' AND stage = 'reading' AND updated_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        for id in stale {
            self.fail(id, "interrupted by a restart before the file was read; upload it again").await?;
        }
        Ok(())
    }

    /// `processing` → `completed` once portfolio has applied every row.
    pub async fn mark_applied(&self, conn: &mut sqlx::PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        sqlx::query(
            "UPDATE ingestion.imports SET state = 'completed', stage = 'done', updated_at = $2, completed_at = $2
             WHERE id = $1 AND state = 'processing'",
        )
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Sends an import's row batches, numbered from 0, keeping up to `MAX_IN_FLIGHT` unacknowledged.
struct BatchSender<'a> {
    importer: &'a Importer,
    import_id: Uuid,
    next_batch: u32,
    in_flight: VecDeque<(u32, async_nats::jetstream::context::PublishAckFuture)>,
}

impl BatchSender<'_> {
    /// Sends `rows` as one `import.rows` event, or as several when one would exceed the server's message size
    /// (wide files with many extra columns).
    async fn send(&mut self, rows: Vec<PortfolioRow>) -> anyhow::Result<()> {
        let mut pending = vec![rows];
        while let Some(rows) = pending.pop() {
            if rows.is_empty() {
                continue;
            }
            let event = ImportRows { import_id: self.import_id, batch: self.next_batch, rows };
            let msg = RawMessage::event(self.importer.bus.prefix(), SOURCE, self.importer.clock.now(), event)?;
            let limit = self.importer.bus.max_payload();
            if msg.payload.len() > limit {
                let ImportRows { mut rows, .. } = decode_rows(&msg)?;
                if rows.len() == 1 {
                    return Err(FileError::RowTooLarge { line: rows[0].line, bytes: msg.payload.len(), limit }.into());
                }
                let second = rows.split_off(rows.len() / 2);
                // Popped in file order: the first half next.
                pending.push(second);
                pending.push(rows);
                continue;
            }
            let ack = self.importer.bus.publish_pending(&msg).await?;
            self.in_flight.push_back((self.next_batch, ack));
            self.next_batch += 1;
            while self.in_flight.len() > MAX_IN_FLIGHT {
                self.await_oldest().await?;
            }
        }
        Ok(())
    }

    async fn await_oldest(&mut self) -> anyhow::Result<()> {
        if let Some((batch, ack)) = self.in_flight.pop_front() {
            ack.await.map_err(|e| anyhow::anyhow!("JetStream did not acknowledge row batch {batch}: {e}"))?;
            metrics::counter!("recaudo_events_published_total", "schema" => crate::SCHEMA).increment(1);
        }
        Ok(())
    }

    async fn all_acknowledged(&mut self) -> anyhow::Result<()> {
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        Ok(())
    }
}

/// Takes the rows back out of a message that turned out too large to send.
fn decode_rows(msg: &RawMessage) -> anyhow::Result<ImportRows> {
    let envelope: recaudo_events::RawEnvelope = serde_json::from_slice(&msg.payload)?;
    Ok(envelope.decode::<ImportRows>()?.data)
}

/// Reads the file on a blocking thread and sends batches of rows and errors; the bounded channel makes the reader
/// wait while the database catches up, which is what keeps memory flat.
fn spawn_reader(
    path: std::path::PathBuf,
    options: ReadOptions,
    as_of: AsOf,
    batch_rows: usize,
    tx: mpsc::Sender<Item>,
    bytes_read: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Item::Done(Err(FileError::Unreadable { line: 0, reason: e.to_string() })));
                return;
            }
        };
        let counting = CountingReader { inner: file, count: bytes_read };
        let mut rows = Vec::with_capacity(batch_rows);
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut receiver_gone = false;
        let result = file::read(
            counting,
            &options,
            as_of,
            |shape| {
                let _ = tx.blocking_send(Item::Shape { encoding: shape.encoding.name(), delimiter: shape.delimiter });
            },
            |row| {
                warnings.extend(row.warnings);
                match row.result {
                    Ok(r) => rows.push(r),
                    Err(e) => errors.extend(e),
                }
                if rows.len() >= batch_rows || errors.len() + warnings.len() >= ERROR_BATCH {
                    let batch = Item::Batch {
                        rows: std::mem::take(&mut rows),
                        errors: std::mem::take(&mut errors),
                        warnings: std::mem::take(&mut warnings),
                    };
                    if tx.blocking_send(batch).is_err() {
                        receiver_gone = true;
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            },
        );
        if receiver_gone {
            return;
        }
        if result.is_ok() && (!rows.is_empty() || !errors.is_empty() || !warnings.is_empty()) {
            let _ = tx.blocking_send(Item::Batch { rows, errors, warnings });
        }
        let _ = tx.blocking_send(Item::Done(result));
    })
}

struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
