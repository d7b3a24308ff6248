//! Faults injected at runtime, one per send, in the order queued.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with Meta's generic error (code 131000); the message is not kept.
    ServerError,
    /// HTTP 429 with `Retry-After` and Meta's throughput code 130429; the message is not kept.
    RateLimited { retry_after: Duration },
    /// Waits this long before handling the request as usual.
    Latency(Duration),
    /// The message is accepted and each status webhook is posted twice, as Meta's retries do.
    DuplicateCallbacks,
    /// The message is accepted and `delivered` is posted before `sent`.
    OutOfOrderCallbacks,
}

#[derive(Default)]
pub(crate) struct Faults(Mutex<VecDeque<Fault>>);

impl Faults {
    pub(crate) fn push(&self, n: usize, fault: Fault) {
        let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        queue.extend(std::iter::repeat_n(fault, n));
    }

    pub(crate) fn next(&self) -> Option<Fault> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }
}
