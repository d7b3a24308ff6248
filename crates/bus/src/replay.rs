//! Reading stored messages of a subject in stream order, from a given point, without a durable consumer: how a
//! handler follows the events of one unit of work (an import's row batches) while it holds that work's message.
//!
//! Built on JetStream's ordered consumer: ephemeral, unacknowledged, recreated by the client on any gap, so the
//! reader sees every stored message once and in order. Nothing is acknowledged; whoever replays decides what is done
//! with each message, and records that in its own transaction.

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures::StreamExt;
use recaudo_events::RawEnvelope;

use crate::{streams, Bus, BusError};

/// Messages pulled from the server at a time: enough to keep the reader busy, few enough to bound memory.
const MAX_BATCH: i64 = 8;

/// An open replay of one subject.
pub struct Replay {
    filter: String,
    messages: pull::Ordered,
}

/// One replayed message.
#[derive(Debug)]
pub struct Replayed {
    pub subject: String,
    pub envelope: RawEnvelope,
    pub stream_sequence: u64,
}

impl Bus {
    /// Replays the messages of `filter` (a subject suffix, wildcards allowed) stored from `from_sequence` on, then
    /// those that arrive later.
    pub async fn replay(&self, filter: &str, from_sequence: u64) -> Result<Replay, BusError> {
        let replay_error = |e: async_nats::Error| BusError::Replay { filter: filter.to_string(), source: e };
        let stream = self
            .jetstream()
            .get_stream(streams::stream_for(self.prefix(), filter))
            .await
            .map_err(|e| replay_error(e.into()))?;
        let config = pull::OrderedConfig {
            filter_subject: self.prefix().subject(filter),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from_sequence.max(1) },
            // The client pulls 500 messages at a time by default; of import batches, that is hundreds of megabytes
            // held in memory ahead of a reader that merges one at a time.
            max_batch: MAX_BATCH,
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.map_err(|e| replay_error(e.into()))?;
        let messages = consumer.messages().await.map_err(|e| replay_error(e.into()))?;
        Ok(Replay { filter: filter.to_string(), messages })
    }
}

impl Replay {
    /// The next message, once there is one.
    pub async fn next(&mut self) -> Result<Replayed, BusError> {
        let message = match self.messages.next().await {
            None => return Err(self.error("the replay ended".into())),
            Some(Err(e)) => return Err(self.error(e.into())),
            Some(Ok(m)) => m,
        };
        let stream_sequence = message.info().map(|i| i.stream_sequence).unwrap_or_default();
        let envelope = serde_json::from_slice(&message.payload).map_err(|e| {
            self.error(format!("message {stream_sequence} is not a CloudEvents JSON envelope: {e}").into())
        })?;
        Ok(Replayed { subject: message.subject.to_string(), envelope, stream_sequence })
    }

    fn error(&self, source: async_nats::Error) -> BusError {
        BusError::Replay { filter: self.filter.clone(), source }
    }
}
