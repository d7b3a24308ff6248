//! A circuit breaker per channel's provider. While a provider is down, calling it turns every request into an
//! `unknown` attempt (a timeout, a 5xx) or a give-back (a refused connection): after `threshold` such failures in
//! a row the circuit opens, and requests wait in the stream (the consumer stops fetching, the request in hand is
//! held) for a cooldown that doubles while the provider keeps failing. Then one request tries the provider alone
//! (half-open): its success closes the circuit, its failure opens it again. A 429 with `Retry-After` pauses every
//! send for that long without counting as a failure: the provider is up, just asking us to slow down.
//!
//! Whatever waits is decided again when it goes, send window included, so nothing goes out late outside the
//! allowed hours.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        cooldown: Duration,
    },
    /// One request is trying the provider; the others wait for its outcome.
    HalfOpen {
        cooldown: Duration,
    },
}

pub(crate) struct Breaker {
    /// Named in logs and metrics.
    provider: &'static str,
    threshold: u32,
    first_cooldown: Duration,
    max_cooldown: Duration,
    inner: Mutex<Inner>,
    changed: Notify,
    shutdown: CancellationToken,
}

struct Inner {
    state: State,
    paused_until: Option<Instant>,
}

/// The process is stopping: the request goes back to the stream for another dispatcher.
#[derive(Debug, thiserror::Error)]
#[error("the dispatcher is stopping")]
pub(crate) struct Stopping;

impl Breaker {
    pub fn new(provider: &'static str, threshold: u32, first_cooldown: Duration, shutdown: CancellationToken) -> Self {
        Breaker {
            provider,
            threshold: threshold.max(1),
            first_cooldown,
            max_cooldown: Duration::from_secs(300).max(first_cooldown),
            inner: Mutex::new(Inner { state: State::Closed { failures: 0 }, paused_until: None }),
            changed: Notify::new(),
            shutdown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a request may call the provider: the circuit closed, or this request the half-open trial.
    pub async fn admit(&self) -> Result<(), Stopping> {
        self.wait(true).await
    }

    /// Whether a request may call the provider now without waiting and without being the half-open trial: for
    /// work that can simply come back later (the reconciler's), which must never hold the trial.
    pub fn is_closed(&self) -> bool {
        let inner = self.lock();
        matches!(inner.state, State::Closed { .. }) && inner.paused_until.is_none_or(|u| u <= Instant::now())
    }

    /// Waits until the circuit is not open (before fetching more requests); admits nothing.
    pub async fn settled(&self) -> Result<(), Stopping> {
        self.wait(false).await
    }

    async fn wait(&self, admit: bool) -> Result<(), Stopping> {
        loop {
            // Registered before the state is read, so a change between the read and the wait is not missed.
            let changed = self.changed.notified();
            let now = Instant::now();
            let until = {
                let mut inner = self.lock();
                match (inner.paused_until.filter(|u| *u > now), inner.state) {
                    (Some(until), _) => Some(until),
                    (None, State::Closed { .. }) => return Ok(()),
                    (None, State::Open { until, .. }) if until > now => Some(until),
                    (None, State::Open { cooldown, .. }) => {
                        if !admit {
                            return Ok(());
                        }
                        inner.state = State::HalfOpen { cooldown };
                        tracing::info!(provider = self.provider, "circuit half-open: one request tries the provider");
                        return Ok(());
                    }
                    (None, State::HalfOpen { .. }) if !admit => return Ok(()),
                    (None, State::HalfOpen { .. }) => None,
                }
            };
            let sleep = async {
                match until {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = changed => {}
                _ = self.shutdown.cancelled() => return Err(Stopping),
            }
        }
    }

    /// The provider answered (a refusal of one message is an answer too).
    pub fn success(&self) {
        let mut inner = self.lock();
        if !matches!(inner.state, State::Closed { failures: 0 }) {
            if !matches!(inner.state, State::Closed { .. }) {
                tracing::info!(provider = self.provider, "circuit closed: the provider answers again");
                metrics::gauge!("recaudo_provider_circuit_open", "provider" => self.provider).set(0.0);
            }
            inner.state = State::Closed { failures: 0 };
            drop(inner);
            self.changed.notify_waiters();
        }
    }

    /// The provider could not be reached, or failed without saying whether it sent.
    pub fn failure(&self) {
        let mut inner = self.lock();
        let now = Instant::now();
        let open = |cooldown: Duration| State::Open { until: now + cooldown, cooldown };
        inner.state = match inner.state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed { failures: failures + 1 },
            State::Closed { .. } => open(self.first_cooldown),
            State::HalfOpen { cooldown } | State::Open { cooldown, .. } => open((cooldown * 2).min(self.max_cooldown)),
        };
        if let State::Open { cooldown, .. } = inner.state {
            tracing::warn!(
                provider = self.provider,
                cooldown_ms = cooldown.as_millis() as u64,
                "circuit open: the provider is failing; requests wait in the stream"
            );
            metrics::gauge!("recaudo_provider_circuit_open", "provider" => self.provider).set(1.0);
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// The provider asked us to wait (`Retry-After`): no send before then, whoever asks.
    pub fn pause(&self, wait: Duration) {
        let mut inner = self.lock();
        let until = Instant::now() + wait.min(self.max_cooldown);
        inner.paused_until = Some(inner.paused_until.map_or(until, |u| u.max(until)));
        // A half-open trial that was throttled is no verdict on the provider: let the next request try.
        if let State::HalfOpen { cooldown } = inner.state {
            inner.state = State::Open { until: Instant::now(), cooldown };
        }
        drop(inner);
        tracing::info!(provider = self.provider, wait_ms = wait.as_millis() as u64, "provider asked us to slow down");
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new("test", 3, Duration::from_secs(10), CancellationToken::new())
    }

    async fn admitted_within(b: &Breaker, d: Duration) -> bool {
        tokio::time::timeout(d, b.admit()).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_lets_one_trial_through_after_the_cooldown() {
        let b = breaker();
        for _ in 0..2 {
            b.failure();
            assert!(admitted_within(&b, Duration::from_millis(1)).await, "still closed below the threshold");
        }
        b.failure();
        assert!(!admitted_within(&b, Duration::from_secs(9)).await, "open for the cooldown");
        assert!(admitted_within(&b, Duration::from_secs(2)).await, "the trial after the cooldown");
        assert!(!admitted_within(&b, Duration::from_secs(60)).await, "one trial at a time");
        b.success();
        assert!(admitted_within(&b, Duration::from_millis(1)).await, "closed again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_doubles_the_cooldown() {
        let b = breaker();
        (0..3).for_each(|_| b.failure());
        assert!(admitted_within(&b, Duration::from_secs(11)).await);
        b.failure();
        assert!(!admitted_within(&b, Duration::from_secs(19)).await, "20 s now");
        assert!(admitted_within(&b, Duration::from_secs(2)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count_and_retry_after_pauses_everyone() {
        let b = breaker();
        b.failure();
        b.failure();
        b.success();
        b.failure();
        b.failure();
        assert!(admitted_within(&b, Duration::from_millis(1)).await, "the count started again");
        b.pause(Duration::from_secs(5));
        assert!(!admitted_within(&b, Duration::from_secs(4)).await);
        assert!(admitted_within(&b, Duration::from_secs(2)).await);
        assert!(b.settled().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_when_the_process_stops() {
        let shutdown = CancellationToken::new();
        let b = Breaker::new("test", 1, Duration::from_secs(600), shutdown.clone());
        b.failure();
        shutdown.cancel();
        assert!(b.admit().await.is_err());
    }
}
