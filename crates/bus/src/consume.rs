//! Durable pull consumers: explicit ack, bounded redelivery with back-off, and a dead-letter subject, so a poison
//! message never blocks a stream.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures::{FutureExt, StreamExt};
use recaudo_events::RawEnvelope;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{streams, trace, Bus, BusError, RawMessage};

/// A durable consumer: its name, the subject it reads (without prefix) and its redelivery policy.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, `<service>-<purpose>`; also the inbox key and the dead-letter subject's last token.
    pub durable: String,
    /// Filter without the prefix, e.g. `import.>` or `contact.requested.sms`.
    pub filter: String,
    /// Deliveries before a message goes to the dead-letter subject.
    pub max_deliver: i64,
    /// How long JetStream waits for a message's acknowledgement, or for a sign of progress, before redelivering it.
    /// A handler may take longer: while it runs, progress is signalled every third of this.
    pub ack_wait: Duration,
    /// First retry delay; doubles with each delivery up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Messages fetched per pull.
    pub batch: usize,
    /// Messages of a batch handled at once. 1 (the default) keeps the stream's order; more suits handlers whose
    /// messages are independent and wait on the network (a provider call), which guard shared state themselves.
    pub concurrency: usize,
}

impl ConsumerSpec {
    pub fn new(durable: impl Into<String>, filter: impl Into<String>) -> Self {
        Self {
            durable: durable.into(),
            filter: filter.into(),
            max_deliver: 8,
            ack_wait: Duration::from_secs(60),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            batch: 64,
            concurrency: 1,
        }
    }

    fn delay_after(&self, delivered: i64) -> Duration {
        let exp = (delivered.max(1) - 1).min(16) as u32;
        (self.backoff * 2u32.pow(exp)).min(self.max_backoff)
    }
}

/// A message as handed to a handler.
#[derive(Debug)]
pub struct Incoming {
    pub subject: String,
    pub envelope: RawEnvelope,
    /// 1 on first delivery.
    pub delivered: i64,
    /// The message's sequence in its stream.
    pub stream_sequence: u64,
}

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth another try later (database down, a dependency not there yet).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Will never succeed (malformed event): straight to the dead-letter subject.
    #[error("{0:#}")]
    Reject(anyhow::Error),
}

impl HandleError {
    pub fn retry(e: impl Into<anyhow::Error>) -> Self {
        HandleError::Retry(e.into())
    }
    pub fn reject(e: impl Into<anyhow::Error>) -> Self {
        HandleError::Reject(e.into())
    }
}

impl From<sqlx::Error> for HandleError {
    fn from(e: sqlx::Error) -> Self {
        HandleError::Retry(e.into())
    }
}

impl From<recaudo_events::envelope::DecodeError> for HandleError {
    fn from(e: recaudo_events::envelope::DecodeError) -> Self {
        HandleError::Reject(e.into())
    }
}

pub trait Handler: Send + Sync + 'static {
    fn handle(&self, msg: Incoming) -> impl Future<Output = Result<(), HandleError>> + Send;

    /// Waited on before each fetch: a handler that cannot make progress now (its provider is down) holds the
    /// consumer back here, so messages wait in the stream instead of timing out in hand.
    fn ready(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Creates (or updates) the durable consumer and processes its messages in order until `shutdown`. The message in
/// hand when shutdown comes is finished and acknowledged before returning.
pub async fn run<H: Handler>(
    bus: Bus,
    spec: ConsumerSpec,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let consumer = loop {
        match create(&bus, &spec).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "cannot create consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
            }
        }
    };
    while !shutdown.is_cancelled() {
        tokio::select! {
            _ = handler.ready() => {}
            _ = shutdown.cancelled() => break,
        }
        let batch = consumer.fetch().max_messages(spec.batch).expires(Duration::from_secs(1)).messages().await;
        let mut messages = match batch {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "fetch failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
        };
        if spec.concurrency > 1 {
            // Messages fetched but not started when shutdown comes are redelivered after ack_wait; those in hand
            // are done.
            messages
                .take_until(shutdown.cancelled())
                .for_each_concurrent(spec.concurrency, |next| async {
                    match next {
                        Ok(message) => process(&bus, &spec, &handler, message).await,
                        Err(e) => tracing::warn!(consumer = %spec.durable, error = %e, "bad message from fetch"),
                    }
                })
                .await;
            continue;
        }
        while let Some(next) = messages.next().await {
            match next {
                Ok(message) => process(&bus, &spec, &handler, message).await,
                Err(e) => tracing::warn!(consumer = %spec.durable, error = %e, "bad message from fetch"),
            }
            if shutdown.is_cancelled() {
                // Messages fetched but not processed are redelivered after ack_wait; the one in hand is done.
                break;
            }
        }
    }
    Ok(())
}

async fn create(
    bus: &Bus,
    spec: &ConsumerSpec,
) -> Result<jetstream::consumer::Consumer<pull::Config>, async_nats::Error> {
    let stream_name = streams::stream_for(bus.prefix(), &spec.filter);
    let stream = bus.jetstream().get_stream(&stream_name).await?;
    let config = pull::Config {
        durable_name: Some(spec.durable.clone()),
        filter_subject: bus.prefix().subject(&spec.filter),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        // One delivery more than the handler gets, so that a message whose copy to the dead-letter subject failed is
        // still redelivered once more rather than silently dropped by JetStream.
        max_deliver: spec.max_deliver + 1,
        max_ack_pending: 1024,
        ..Default::default()
    };
    Ok(stream.create_consumer(config).await?)
}

async fn process<H: Handler>(bus: &Bus, spec: &ConsumerSpec, handler: &H, message: jetstream::Message) {
    let (delivered, stream_sequence) = message.info().map(|i| (i.delivered, i.stream_sequence)).unwrap_or((1, 0));
    let headers: HashMap<String, String> = message
        .headers
        .as_ref()
        .map(|h| h.iter().filter_map(|(k, v)| v.first().map(|v| (k.to_string(), v.as_str().to_string()))).collect())
        .unwrap_or_default();
    let subject = message.subject.to_string();

    let envelope: RawEnvelope = match serde_json::from_slice(&message.payload) {
        Ok(e) => e,
        Err(e) => {
            dead_letter(bus, spec, &message, &headers, &format!("not a CloudEvents JSON envelope: {e}")).await;
            return;
        }
    };
    let span = tracing::info_span!("consume", consumer = %spec.durable, event_type = %envelope.ty, event_id = %envelope.id, delivered);
    trace::continue_from(&span, &headers);

    let incoming = Incoming { subject, envelope, delivered, stream_sequence };
    // A handler that panics (an overflow: release builds keep overflow checks) gives the message up to the
    // dead-letter subject, where it waits for a fix and a replay, and the consumer goes on with the next one.
    let handling = std::panic::AssertUnwindSafe(handler.handle(incoming))
        .catch_unwind()
        .map(|done| done.unwrap_or_else(|_| Err(HandleError::Reject(anyhow::anyhow!("the handler panicked")))))
        .instrument(span.clone());
    tokio::pin!(handling);
    // A handler that takes long (applying a large import) keeps its message: JetStream is told it is in progress
    // well before `ack_wait` runs out, and redelivers only when the process holding it is gone.
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + spec.ack_wait / 3, spec.ack_wait / 3);
    let outcome = loop {
        tokio::select! {
            outcome = &mut handling => break outcome,
            _ = progress.tick() => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::warn!(error = %e, "cannot signal progress; the message may be redelivered meanwhile");
                }
            }
        }
    };
    let _entered = span.enter();
    let label = match outcome {
        Ok(()) => {
            if let Err(e) = message.ack().await {
                tracing::warn!(error = %e, "ack failed; the message will be redelivered and skipped by the inbox");
            }
            "ok"
        }
        Err(HandleError::Retry(e)) if delivered < spec.max_deliver => {
            let delay = spec.delay_after(delivered);
            tracing::warn!(error = %format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "handler failed; will retry");
            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
            "retry"
        }
        Err(e) => {
            tracing::error!(error = %e, "handler gave up; sending to the dead-letter subject");
            dead_letter(bus, spec, &message, &headers, &e.to_string()).await;
            "dead_letter"
        }
    };
    metrics::counter!("recaudo_events_consumed_total", "consumer" => spec.durable.clone(), "outcome" => label)
        .increment(1);
}

/// Copies the message to `<prefix>.dlq.<durable>` with the reason, then terminates it on its stream. If the copy
/// cannot be stored, the message is NAKed instead so that it is not lost.
async fn dead_letter(
    bus: &Bus,
    spec: &ConsumerSpec,
    message: &jetstream::Message,
    headers: &HashMap<String, String>,
    reason: &str,
) {
    let seq = message.info().map(|i| i.stream_sequence).unwrap_or_default();
    let mut dlq_headers = headers.clone();
    dlq_headers.remove("Nats-Msg-Id");
    dlq_headers.insert(
        crate::dead_letters::REASON.into(),
        reason.chars().take(1000).collect::<String>().replace(['\r', '\n'], " "),
    );
    dlq_headers.insert(crate::dead_letters::ORIGINAL_SUBJECT.into(), message.subject.to_string());
    dlq_headers.insert(crate::dead_letters::CONSUMER.into(), spec.durable.clone());
    let raw = RawMessage {
        subject: bus.prefix().subject(&format!("dlq.{}", spec.durable)),
        event_id: format!("{}:{}", spec.durable, seq),
        headers: dlq_headers,
        payload: message.payload.clone(),
    };
    match bus.publish(&raw).await {
        Ok(()) => {
            metrics::counter!("recaudo_dead_letters_total", "consumer" => spec.durable.clone()).increment(1);
            let _ = message.ack_with(AckKind::Term).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot dead-letter a message; leaving it for redelivery");
            let _ = message.ack_with(AckKind::Nak(Some(spec.max_backoff))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let spec = ConsumerSpec::new("t", "import.>");
        assert_eq!(spec.delay_after(1), Duration::from_millis(500));
        assert_eq!(spec.delay_after(2), Duration::from_millis(1000));
        assert_eq!(spec.delay_after(4), Duration::from_millis(4000));
        assert_eq!(spec.delay_after(30), Duration::from_secs(60));
    }
}
