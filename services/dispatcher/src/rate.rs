//! One send rate per provider account, whatever the replicas and restarts. The rate's timeline lives in
//! PostgreSQL (`dispatcher.send_rate`, one row per channel and provider): a process reserves the next few send
//! slots, each `1/rate` apart, by moving the row's "theoretical arrival time" forward in one statement (GCRA), and
//! sends one message per slot. Slots are disjoint across processes, so the provider sees at most the configured
//! rate; a restarted process continues after the slots already taken instead of starting with a full burst, which
//! a per-process limiter did (56 messages in a second against a limit of 30).
//!
//! A process reserves as many slots as it has sends waiting, up to a tenth of a second's worth (one statement per
//! few messages at the rates providers allow), and never sends on a slot that has passed: a slot unused while the
//! process was idle is lost, not spent later on top of newer ones. While the database cannot be asked, nothing is
//! sent (the attempt could not be recorded either): the process asks again, backing off.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct SharedRate {
    pool: PgPool,
    /// The row: `<channel>:<provider>`.
    account: String,
    interval: Duration,
    /// The most slots reserved per statement.
    lease: usize,
    slots: Mutex<VecDeque<Instant>>,
    /// Sends waiting for a slot in this process.
    waiting: AtomicUsize,
}

impl SharedRate {
    pub fn new(pool: PgPool, account: String, per_second: std::num::NonZeroU32) -> SharedRate {
        let rate = per_second.get();
        SharedRate {
            pool,
            account,
            interval: Duration::from_secs_f64(1.0 / f64::from(rate)),
            lease: (rate / 10).clamp(1, 1000) as usize,
            slots: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for this process's next send slot.
    pub async fn until_ready(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let slot = self.next_slot().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        tokio::time::sleep_until(slot).await;
    }

    async fn next_slot(&self) -> Instant {
        let mut backoff = Duration::from_millis(250);
        loop {
            let mut slots = self.slots.lock().await;
            let now = Instant::now();
            while slots.front().is_some_and(|s| *s + self.interval <= now) {
                slots.pop_front(); // passed unused
            }
            if let Some(slot) = slots.pop_front() {
                return slot;
            }
            let wanted = self.waiting.load(Ordering::SeqCst).clamp(1, self.lease);
            match self.reserve(wanted).await {
                Ok(reserved) => slots.extend(reserved),
                Err(e) => {
                    drop(slots);
                    tracing::warn!(account = %self.account, error = %e, "send rate not reachable in the database; nothing is sent until it is");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The next `n` slots of the shared timeline, as instants of this process's clock.
    async fn reserve(&self, n: usize) -> Result<Vec<Instant>, sqlx::Error> {
        let span = self.interval.as_secs_f64() * n as f64;
        let asked = Instant::now();
        let (first, db_now): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
            "INSERT INTO dispatcher.send_rate AS r (account, tat) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (account) DO UPDATE SET tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => $2)
             RETURNING tat - make_interval(secs => $2), clock_timestamp()",
        )
        .bind(&self.account)
        .bind(span)
        .fetch_one(&self.pool)
        .await?;
        // The database's "now" is taken about halfway through the round trip.
        let then = asked + asked.elapsed() / 2;
        let ahead = (first - db_now).to_std().unwrap_or(Duration::ZERO);
        Ok((0..n).map(|i| then + ahead + self.interval * i as u32).collect())
    }
}
