//! The dead-letter stream, for people: what ended there and why, and a replay once the cause is fixed, so that
//! nothing accepted is quietly lost.
//!
//! A dead letter is the original message (payload and headers) with the reason, the consumer that gave up and the
//! original subject in `Recaudo-*` headers, at `<prefix>.dlq.<consumer>`. A replay publishes it again on its original
//! subject and removes it from the dead-letter stream. Every consumer of that subject receives it again; those that
//! had already handled it skip it by its event id (their inbox), so only the one that failed acts on it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Bus, BusError, RawMessage};

pub const REASON: &str = "Recaudo-Dead-Letter-Reason";
pub const ORIGINAL_SUBJECT: &str = "Recaudo-Original-Subject";
pub const CONSUMER: &str = "Recaudo-Consumer";

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The message's sequence in the dead-letter stream: the id to replay it by.
    pub id: u64,
    pub consumer: Option<String>,
    pub original_subject: Option<String>,
    pub reason: Option<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub dead_lettered_at: DateTime<Utc>,
}

fn error(source: impl Into<async_nats::Error>) -> BusError {
    BusError::Replay { filter: "dlq.>".into(), source: source.into() }
}

async fn stream(bus: &Bus) -> Result<async_nats::jetstream::stream::Stream, BusError> {
    let name = crate::streams::stream_for(bus.prefix(), "dlq.any");
    bus.jetstream().get_stream(&name).await.map_err(error)
}

fn header(msg: &async_nats::jetstream::message::StreamMessage, name: &str) -> Option<String> {
    msg.headers.get(name).map(|v| v.as_str().to_string())
}

fn describe(msg: &async_nats::jetstream::message::StreamMessage) -> DeadLetter {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<String>,
        #[serde(rename = "type")]
        ty: Option<String>,
    }
    let head: Option<Head> = serde_json::from_slice(&msg.payload).ok();
    DeadLetter {
        id: msg.sequence,
        consumer: header(msg, CONSUMER),
        original_subject: header(msg, ORIGINAL_SUBJECT),
        reason: header(msg, REASON),
        event_id: head.as_ref().and_then(|h| h.id.clone()),
        event_type: head.and_then(|h| h.ty),
        dead_lettered_at: DateTime::from_timestamp(msg.time.unix_timestamp(), msg.time.nanosecond())
            .unwrap_or_default(),
    }
}

/// Up to `limit` dead letters after sequence `after`, oldest first.
pub async fn list(bus: &Bus, after: u64, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
    let mut stream = stream(bus).await?;
    let (first, last) = {
        let state = &stream.info().await.map_err(error)?.state;
        (state.first_sequence, state.last_sequence)
    };
    let mut out = Vec::new();
    let mut seq = after.max(first.saturating_sub(1)).saturating_add(1);
    while seq <= last && out.len() < limit {
        // Replayed letters are deleted, so the sequence has holes; any other error is the caller's to see.
        match stream.get_raw_message(seq).await {
            Ok(msg) => out.push(describe(&msg)),
            Err(e) if e.kind() == async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(error(e)),
        }
        seq = seq.saturating_add(1);
        if seq == u64::MAX {
            break;
        }
    }
    Ok(out)
}

/// Publishes dead letter `id` again on its original subject and removes it; `None` when there is no such letter.
pub async fn replay(bus: &Bus, id: u64) -> Result<Option<DeadLetter>, BusError> {
    let stream = stream(bus).await?;
    let Ok(msg) = stream.get_raw_message(id).await else { return Ok(None) };
    let letter = describe(&msg);
    let Some(subject) = letter.original_subject.clone() else { return Ok(None) };
    let mut headers: std::collections::HashMap<String, String> = msg
        .headers
        .iter()
        .filter_map(|(k, v)| v.first().map(|v| (k.to_string(), v.as_str().to_string())))
        .filter(|(k, _)| ![REASON, ORIGINAL_SUBJECT, CONSUMER, "Nats-Msg-Id"].contains(&k.as_str()))
        .collect();
    headers.remove("Nats-Expected-Stream");
    let raw = RawMessage {
        subject,
        // Not the event id: JetStream would drop a replay within its duplicate window as a copy of the original.
        event_id: format!("{}:replay:{id}", letter.event_id.clone().unwrap_or_default()),
        headers,
        payload: msg.payload.clone(),
    };
    bus.publish(&raw).await?;
    stream.delete_message(id).await.map_err(error)?;
    Ok(Some(letter))
}
