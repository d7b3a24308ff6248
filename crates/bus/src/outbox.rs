//! The transactional outbox: a service writes its events into its own `outbox` table in the same transaction as
//! the state change they describe, and the relay publishes them to JetStream afterwards. A crash between the two
//! loses nothing: the relay publishes what is left on the next round, and `Nats-Msg-Id` drops the duplicates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use recaudo_events::Event;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Bus, Prefix, RawMessage};

/// How many outbox rows the relay publishes per round; their acks are awaited together.
const BATCH: i64 = 1000;
/// How often the relay looks for rows when nobody woke it (another replica, or a wake lost to a crash).
const POLL: Duration = Duration::from_millis(500);

/// A service's outbox. Cheap to clone; clones share the wake-up signal of the relay.
#[derive(Clone)]
pub struct Outbox {
    schema: &'static str,
    source: String,
    prefix: Prefix,
    wake: Arc<Notify>,
    max_payload: usize,
}

impl Outbox {
    /// `schema` is the owning service's PostgreSQL schema; `source` becomes the CloudEvents `source`.
    pub fn new(schema: &'static str, source: impl Into<String>, prefix: Prefix) -> Self {
        Self {
            schema,
            source: source.into(),
            prefix,
            wake: Arc::new(Notify::new()),
            max_payload: crate::publish::DEFAULT_MAX_PAYLOAD,
        }
    }

    /// The same outbox (table and relay) writing events under another CloudEvents `source`: one service that runs
    /// several parts (the dispatcher's channels) names each part in its events and still wakes one relay.
    pub fn with_source(&self, source: impl Into<String>) -> Self {
        Self { source: source.into(), ..self.clone() }
    }

    /// Sets the largest event the relay will be able to publish: the server's limit ([`Bus::max_payload`]).
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// The largest serialised event the relay can publish; services that write events of variable size (pages of
    /// account snapshots) size them by it.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Writes `event` into the outbox within the caller's transaction and returns the event id.
    pub async fn enqueue<E: Event>(
        &self,
        conn: &mut PgConnection,
        now: DateTime<Utc>,
        event: E,
    ) -> Result<Uuid, sqlx::Error> {
        let msg =
            RawMessage::event(&self.prefix, &self.source, now, event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let headers = serde_json::to_value(&msg.headers).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // The envelope was just serialised from Rust strings, so it is UTF-8.
        let payload = std::str::from_utf8(&msg.payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let event_id: Uuid = msg.event_id.parse().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let sql =
            format!("INSERT INTO {}.outbox (event_id, subject, headers, payload) VALUES ($1, $2, $3, $4)", self.schema);
        sqlx::query(&sql).bind(event_id).bind(&msg.subject).bind(headers).bind(payload).execute(conn).await?;
        Ok(event_id)
    }

    /// An event as this outbox would store it, for [`Outbox::enqueue_many`].
    pub fn message<E: Event>(&self, now: DateTime<Utc>, event: E) -> Result<RawMessage, sqlx::Error> {
        RawMessage::event(&self.prefix, &self.source, now, event).map_err(|e| sqlx::Error::Encode(Box::new(e)))
    }

    /// Stores many messages in one statement, in order, in the caller's transaction (a planner's page of decisions).
    pub async fn enqueue_many(&self, conn: &mut PgConnection, messages: &[RawMessage]) -> Result<(), sqlx::Error> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(messages.len());
        let mut subjects = Vec::with_capacity(messages.len());
        let mut headers = Vec::with_capacity(messages.len());
        let mut payloads = Vec::with_capacity(messages.len());
        for m in messages {
            ids.push(m.event_id.parse::<Uuid>().map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
            subjects.push(m.subject.as_str());
            headers.push(serde_json::to_value(&m.headers).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
            payloads.push(std::str::from_utf8(&m.payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
        }
        // `WITH ORDINALITY` keeps the sequence in the order given, which is the order the relay publishes in.
        let sql = format!(
            "INSERT INTO {}.outbox (event_id, subject, headers, payload)
             SELECT e, s, h, p FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[]) WITH ORDINALITY AS u(e, s, h, p, n)
             ORDER BY n",
            self.schema
        );
        sqlx::query(&sql).bind(&ids).bind(&subjects).bind(&headers).bind(&payloads).execute(conn).await?;
        Ok(())
    }

    /// Tells the relay there is something to publish; call it after the transaction commits.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Publishes the outbox until `shutdown`, then drains what is already committed and returns.
    pub async fn relay(self, pool: PgPool, bus: Bus, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            match self.publish_round(&pool, &bus).await {
                Ok(n) => {
                    failures = 0;
                    if n as i64 == BATCH {
                        continue;
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(schema = self.schema, error = %e, "outbox relay round failed; retrying");
                    let pause = Duration::from_millis(200 * 2u64.pow(failures.min(6)));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    continue;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.cancelled() => {
                    // One last round so events committed just before shutdown go out now rather than at next start.
                    let _ = self.publish_round(&pool, &bus).await;
                    return;
                }
            }
        }
    }

    /// Publishes up to `BATCH` rows in order; they are deleted in the same statement that reads them, and the
    /// deletion commits only once JetStream has acknowledged every one (a failed publish rolls it back). `SKIP
    /// LOCKED` lets several replicas relay the same outbox without publishing a row twice concurrently.
    async fn publish_round(&self, pool: &PgPool, bus: &Bus) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
        let mut tx = pool.begin().await?;
        // The deletion need not wait for its WAL flush: should a crash lose it, the rows are published again and
        // JetStream drops them by `Nats-Msg-Id` (its duplicate window is an hour; consumers' inboxes cover the rest).
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        let sql = format!(
            // RETURNING does not promise an order; events go out in the order they were written.
            "WITH taken AS (
                 DELETE FROM {0}.outbox
                 WHERE seq IN (SELECT seq FROM {0}.outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING seq, event_id, subject, headers, payload)
             SELECT event_id, subject, headers, payload FROM taken ORDER BY seq",
            self.schema
        );
        let rows = sqlx::query(&sql).bind(BATCH).fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let headers: serde_json::Value = row.try_get("headers")?;
            let headers: HashMap<String, String> = serde_json::from_value(headers).unwrap_or_default();
            let event_id: Uuid = row.try_get("event_id")?;
            let payload: String = row.try_get("payload")?;
            let msg = RawMessage {
                subject: row.try_get("subject")?,
                event_id: event_id.to_string(),
                headers,
                payload: Bytes::from(payload),
            };
            pending.push((msg.subject.clone(), bus.publish_pending(&msg).await?));
        }
        for (subject, ack) in pending {
            ack.await.map_err(|e| format!("JetStream did not acknowledge an event on {subject}: {e}"))?;
        }
        metrics::counter!("recaudo_events_published_total", "schema" => self.schema).increment(rows.len() as u64);
        tx.commit().await?;
        Ok(rows.len())
    }
}
