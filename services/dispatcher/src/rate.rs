//! One send rate per provider account, whatever the replicas and restarts. The rate's timeline lives in
//! PostgreSQL (`dispatcher.send_rate`, one row per channel and provider): a process reserves the next few send
//! slots, each `1/rate` apart, by moving the row's "theoretical arrival time" forward in one statement (GCRA), and
//! sends one message per slot. Slots are disjoint across processes, so the provider sees at most the configured
//! rate; a restarted process continues after the slots already taken instead of starting with a full burst, which
//! a per-process limiter did (56 messages in a second against a limit of 30).
//!
//! A process reserves about a tenth of a second of slots at a time (one statement per few messages at the rates
//! providers allow) and never sends on a slot that has passed: a slot unused while the process was idle is lost,
//! not spent later on top of newer ones.

use std::collections::VecDeque;
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
    /// Slots reserved per statement.
    lease: i64,
    slots: Mutex<VecDeque<Instant>>,
    /// When the database cannot be asked: this process's own share, so that sending goes on at a safe pace.
    fallback: governor::DefaultDirectRateLimiter,
}

impl SharedRate {
    pub fn new(pool: PgPool, account: String, per_second: std::num::NonZeroU32) -> SharedRate {
        let rate = per_second.get();
        SharedRate {
            pool,
            account,
            interval: Duration::from_secs_f64(1.0 / f64::from(rate)),
            lease: i64::from(rate / 10).clamp(1, 1000),
            slots: Mutex::new(VecDeque::new()),
            fallback: governor::RateLimiter::direct(governor::Quota::per_second(per_second)),
        }
    }

    /// Waits for this process's next send slot.
    pub async fn until_ready(&self) {
        let mut slots = self.slots.lock().await;
        loop {
            let now = Instant::now();
            while slots.front().is_some_and(|s| *s + self.interval <= now) {
                slots.pop_front(); // passed unused
            }
            if let Some(slot) = slots.pop_front() {
                drop(slots);
                tokio::time::sleep_until(slot).await;
                return;
            }
            match self.reserve().await {
                Ok(reserved) => slots.extend(reserved),
                Err(e) => {
                    tracing::warn!(account = %self.account, error = %e, "shared send rate not reachable; this process's own share for now");
                    drop(slots);
                    self.fallback.until_ready().await;
                    return;
                }
            }
        }
    }

    /// The next `lease` slots of the shared timeline, as instants of this process's clock.
    async fn reserve(&self) -> Result<Vec<Instant>, sqlx::Error> {
        let span = self.interval.as_secs_f64() * self.lease as f64;
        let (first, db_now): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
            "INSERT INTO dispatcher.send_rate AS r (account, tat) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (account) DO UPDATE SET tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => $2)
             RETURNING tat - make_interval(secs => $2), clock_timestamp()",
        )
        .bind(&self.account)
        .bind(span)
        .fetch_one(&self.pool)
        .await?;
        let here = Instant::now();
        let ahead = (first - db_now).to_std().unwrap_or(Duration::ZERO);
        Ok((0..self.lease).map(|i| here + ahead + self.interval * i as u32).collect())
    }
}
