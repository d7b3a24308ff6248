//! `GET /api/stream`: the caller's desk as Server-Sent Events. Each event is a row of `reply_router.desk_events`
//! (its `seq` the event id, its kind the event name, the case's summary the data), filtered by the access layer's
//! case scope (re-read when it is a second old). A client that reconnects with `Last-Event-ID` first receives every event of
//! its scope after that id from the table, then the live ones, each once, even across a restart of the server.
//!
//! One feed per process listens for the writers' notifications, reads each new row once and hands it to every open
//! stream; a stream that falls behind the feed reads what it missed from the table.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use recaudo_access::scope::{self, CaseHolder, CaseScope};
use recaudo_access::{Permission, Principal};
use recaudo_runtime::{ApiError, Routes};
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{desk, Router};

#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub advisor_id: Uuid,
    pub supervisor_id: Option<Uuid>,
    pub pooled: bool,
    pub data: Value,
}

impl Row {
    fn holder(&self) -> CaseHolder {
        CaseHolder { advisor_id: self.advisor_id, supervisor_id: self.supervisor_id, pooled: self.pooled }
    }

    fn event(&self) -> Event {
        let mut data = self.data.clone();
        data["at"] = serde_json::json!(self.at);
        Event::default().id(self.seq.to_string()).event(&self.kind).data(data.to_string())
    }
}

/// The process's feed of desk rows, in `seq` order.
#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Row>>,
}

/// How many rows the feed keeps for streams that are a little behind.
const FEED_CAPACITY: usize = 4096;
/// How old a stream's scope may be when it filters an event: a change of team reaches open streams within this.
const SCOPE_FRESHNESS: Duration = Duration::from_secs(1);
/// The most rows one read of the table returns.
const PAGE: i64 = 1000;

async fn rows_after(pool: &PgPool, after: i64) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, at, kind, advisor_id, supervisor_id, pooled, data FROM reply_router.desk_events
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(pool)
    .await
}

impl Feed {
    pub fn new() -> Feed {
        Feed { tx: broadcast::channel(FEED_CAPACITY).0 }
    }

    /// Reads new rows as writers announce them (and every second, should a notification be lost with a dropped
    /// connection) and hands them to the streams.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        let mut last: i64 = match sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM reply_router.desk_events")
            .fetch_one(&pool)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "desk feed: cannot read its start; no live events in this process");
                return;
            }
        };
        let mut listener = None;
        loop {
            if listener.is_none() {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut l) => {
                        if l.listen(desk::CHANNEL).await.is_ok() {
                            listener = Some(l);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "desk feed: cannot listen; polling"),
                }
            }
            let wait = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()).map_err(|_| ()),
                    None => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(())
                    }
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                woke = tokio::time::timeout(Duration::from_secs(1), wait) => {
                    if let Ok(Err(())) = woke { listener = None; }
                }
            }
            loop {
                match rows_after(&pool, last).await {
                    Ok(rows) => {
                        let full = rows.len() as i64 == PAGE;
                        for row in rows {
                            last = row.seq;
                            let _ = self.tx.send(Arc::new(row));
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "desk feed: read failed; retrying");
                        break;
                    }
                }
            }
        }
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

pub fn routes(r: Arc<Router>) -> Routes {
    Routes::new().protected("/api/stream", get(stream)).with_state(r)
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        None => Ok(None),
        Some(Ok("")) => Ok(None),
        Some(Ok(v)) => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request("invalid_last_event_id", "Last-Event-ID: expected an event id from this stream")
        }),
        Some(Err(_)) => Err(ApiError::bad_request("invalid_last_event_id", "Last-Event-ID: not text")),
    }
}

async fn stream(
    State(r): State<Arc<Router>>,
    who: Principal,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    who.require(Permission::QueuesRead)?;
    let after = last_event_id(&headers)?;
    // Subscribe before reading the table, so nothing committed in between is missed (duplicates are skipped by seq).
    let live = r.feed.tx.subscribe();
    let start: i64 = match after {
        Some(n) => n,
        None => {
            sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM reply_router.desk_events").fetch_one(&r.pool).await?
        }
    };
    let scope = scope::case_scope(&r.pool, &who).await?;
    let (tx, rx) = mpsc::channel::<Event>(16);
    tokio::spawn(pump(r.pool.clone(), who, scope, start, live, tx));
    let events =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx)) });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Sends one client its events: first the table after `sent`, then the feed; ends when the client goes away.
async fn pump(
    pool: PgPool,
    who: Principal,
    mut scope: CaseScope,
    mut sent: i64,
    mut live: broadcast::Receiver<Arc<Row>>,
    out: mpsc::Sender<Event>,
) {
    let mut scope_read_at = Instant::now();
    // Catch up from the table.
    if catch_up(&pool, &scope, &mut sent, &out).await.is_err() {
        return;
    }
    loop {
        let first = match live.recv().await {
            Ok(row) => row,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if catch_up(&pool, &scope, &mut sent, &out).await.is_err() {
                    return;
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut batch = vec![first];
        while let Ok(row) = live.try_recv() {
            batch.push(row);
        }
        // A reassignment in a new client file changes who is in a supervisor's team: the scope is read again
        // before a batch once it is older than SCOPE_FRESHNESS, rather than for every batch, which would cost one
        // query per open stream per event.
        if scope_read_at.elapsed() >= SCOPE_FRESHNESS {
            match scope::case_scope(&pool, &who).await {
                Ok(s) => {
                    scope = s;
                    scope_read_at = Instant::now();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "desk stream: scope not read; the stream ends and the client reconnects");
                    return;
                }
            }
        }
        for row in batch {
            if row.seq <= sent {
                continue;
            }
            sent = row.seq;
            if scope.allows(&row.holder()) && out.send(row.event()).await.is_err() {
                return;
            }
        }
    }
}

struct Gone;

async fn catch_up(pool: &PgPool, scope: &CaseScope, sent: &mut i64, out: &mpsc::Sender<Event>) -> Result<(), Gone> {
    loop {
        let rows = rows_after(pool, *sent).await.map_err(|e| {
            tracing::warn!(error = %e, "desk stream: replay failed; the stream ends and the client reconnects");
            Gone
        })?;
        let full = rows.len() as i64 == PAGE;
        for row in rows {
            *sent = row.seq;
            if scope.allows(&row.holder()) {
                out.send(row.event()).await.map_err(|_| Gone)?;
            }
        }
        if !full {
            return Ok(());
        }
    }
}
