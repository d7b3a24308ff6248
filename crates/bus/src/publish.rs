use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use recaudo_events::{Envelope, Event};

use crate::streams::{self, Prefix};
use crate::trace;

/// Room kept in every message for its headers.
const HEADER_ALLOWANCE: usize = 2048;
/// [`Bus::max_payload`] with nats-server's default limit (1 MiB), for code that has no connection to ask.
pub(crate) const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024 - HEADER_ALLOWANCE;

/// A connected bus: the NATS client, its JetStream context and the environment's subject prefix.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    prefix: Prefix,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("JetStream did not accept the message on {subject}: {source}")]
    Publish { subject: String, source: async_nats::Error },
    #[error("cannot apply JetStream streams: {0}")]
    Streams(async_nats::Error),
    #[error("cannot replay {filter}: {source}")]
    Replay { filter: String, source: async_nats::Error },
    #[error("cannot read the last message on {subject}: {source}")]
    Lookup { subject: String, source: async_nats::Error },
}

/// An already-serialised event ready to publish: what the outbox stores.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub subject: String,
    pub event_id: String,
    pub headers: HashMap<String, String>,
    pub payload: Bytes,
}

impl RawMessage {
    /// Wraps `event` in a new envelope with the current span's trace context, ready to store in an outbox or send.
    pub fn event<E: Event>(
        prefix: &Prefix,
        source: &str,
        now: DateTime<Utc>,
        event: E,
    ) -> Result<Self, serde_json::Error> {
        let subject = prefix.subject(&event.subject_suffix());
        let envelope = Envelope::new(source, now, event);
        Ok(RawMessage {
            subject,
            event_id: envelope.id.to_string(),
            headers: trace::current_headers(),
            payload: Bytes::from(serde_json::to_vec(&envelope)?),
        })
    }
}

impl Bus {
    pub async fn connect(url: &str, prefix: Prefix) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("recaudo")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|source| BusError::Connect { url: url.to_string(), source })?;
        // Fail fast when the server is unreachable rather than retrying forever in the background.
        tokio::time::timeout(Duration::from_secs(10), client.flush()).await.ok().and_then(Result::ok).ok_or_else(
            || BusError::Connect {
                url: url.to_string(),
                source: async_nats::ConnectError::from(async_nats::ConnectErrorKind::TimedOut),
            },
        )?;
        let js = jetstream::new(client.clone());
        Ok(Self { client, js, prefix })
    }

    pub fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The largest payload one of our messages can carry: the server's limit (which counts headers too) less room
    /// for the headers we send (`Nats-Msg-Id`, `traceparent`, `tracestate`).
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload.saturating_sub(HEADER_ALLOWANCE)
    }

    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The last event stored on `<prefix>.<suffix>` (a subject of its own, such as one contact's cancellation), or
    /// `None` if there is none: a lookup in the domain's stream, for a fact that must be seen before acting even if
    /// its consumer has not caught up.
    pub async fn last_on_subject(&self, suffix: &str) -> Result<Option<Bytes>, BusError> {
        let subject = self.prefix.subject(suffix);
        let lookup = |source: async_nats::Error| BusError::Lookup { subject: subject.clone(), source };
        let domain = suffix.split('.').next().unwrap_or_default();
        let stream = self.js.get_stream_no_info(self.prefix.stream_name(domain)).await.map_err(|e| lookup(e.into()))?;
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(msg) => Ok(Some(msg.payload)),
            Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(lookup(e.into())),
        }
    }

    /// The event stored at `sequence` in the domain's stream (`contact`, `portfolio`, ...), or `None` if the stream
    /// no longer holds it: for a service that must act again on an event it handled long ago.
    pub async fn message_at(&self, domain: &str, sequence: u64) -> Result<Option<Bytes>, BusError> {
        let subject = format!("{domain} #{sequence}");
        let lookup = |source: async_nats::Error| BusError::Lookup { subject: subject.clone(), source };
        let stream = self.js.get_stream_no_info(self.prefix.stream_name(domain)).await.map_err(|e| lookup(e.into()))?;
        match stream.get_raw_message(sequence).await {
            Ok(msg) => Ok(Some(msg.payload)),
            Err(e) if e.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(lookup(e.into())),
        }
    }

    pub async fn apply_streams(&self, replicas: usize) -> Result<Vec<String>, BusError> {
        streams::apply(&self.js, &self.prefix, replicas).await.map_err(BusError::Streams)
    }

    /// Sends a message and returns once JetStream has stored it. `Nats-Msg-Id` is the event id, so a republish
    /// after a lost ack is dropped by the server's de-duplication.
    pub async fn publish(&self, msg: &RawMessage) -> Result<(), BusError> {
        self.publish_pending(msg)
            .await?
            .await
            .map_err(|e| BusError::Publish { subject: msg.subject.clone(), source: e.into() })?;
        metrics::counter!("recaudo_events_published_total").increment(1);
        Ok(())
    }

    /// Sends a message without waiting for its acknowledgement, so many can be in flight at once; await the returned
    /// future for the ack.
    pub async fn publish_pending(&self, msg: &RawMessage) -> Result<jetstream::context::PublishAckFuture, BusError> {
        let mut publish = PublishMessage::build().payload(msg.payload.clone()).message_id(msg.event_id.as_str());
        for (k, v) in &msg.headers {
            publish = publish.header(k.as_str(), v.as_str());
        }
        self.js
            .send_publish(msg.subject.clone(), publish)
            .await
            .map_err(|e| BusError::Publish { subject: msg.subject.clone(), source: e.into() })
    }
}
