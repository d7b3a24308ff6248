//! The messages the simulator holds, and each debtor's last message (which opens their 24-hour window).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};

/// How long after a debtor's last message free-form messages may be sent to them.
const SERVICE_WINDOW: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Outbound,
    Inbound,
}

/// A message as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// `wamid.` and base64, like Meta's.
    pub id: String,
    pub direction: Direction,
    /// The debtor's number as digits (the recipient of an outbound message, the sender of an inbound one).
    pub wa_id: String,
    /// Meta's `type`: "template", "text", "interactive" outbound; "text", "button" inbound.
    pub kind: String,
    /// The template's name, the text, or the interactive body.
    pub body: String,
    /// A tapped button's payload.
    pub button: Option<String>,
    /// Meta's words: "accepted", "sent", "delivered", "failed" outbound; "received" inbound.
    pub status: String,
    pub error_code: Option<u32>,
    pub biz_opaque_callback_data: Option<String>,
    pub created: DateTime<Utc>,
}

#[derive(Default)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    messages: Vec<SimMessage>,
    last_inbound: HashMap<String, DateTime<Utc>>,
}

impl Store {
    pub(crate) fn insert(&self, message: SimMessage) {
        let mut inner = self.lock();
        if message.direction == Direction::Inbound {
            inner.last_inbound.insert(message.wa_id.clone(), message.created);
        }
        inner.messages.push(message);
    }

    pub(crate) fn window_open(&self, wa_id: &str, now: DateTime<Utc>) -> bool {
        self.lock().last_inbound.get(wa_id).is_some_and(|last| now - *last < SERVICE_WINDOW)
    }

    /// The newest outbound message to `wa_id`, which a tap answers.
    pub(crate) fn last_outbound_to(&self, wa_id: &str) -> Option<String> {
        let inner = self.lock();
        inner
            .messages
            .iter()
            .rev()
            .find(|m| m.direction == Direction::Outbound && m.wa_id == wa_id)
            .map(|m| m.id.clone())
    }

    /// Records a status the message reached; a late `sent` after `delivered` does not take it back, as on Meta.
    pub(crate) fn advance(&self, id: &str, status: &str) -> Option<SimMessage> {
        let mut inner = self.lock();
        let message = inner.messages.iter_mut().find(|m| m.id == id)?;
        if rank(status) > rank(&message.status) {
            message.status = status.to_string();
        }
        Some(message.clone())
    }

    pub(crate) fn set_error(&self, id: &str, code: u32) {
        if let Some(message) = self.lock().messages.iter_mut().find(|m| m.id == id) {
            message.error_code = Some(code);
        }
    }

    pub(crate) fn all(&self) -> Vec<SimMessage> {
        self.lock().messages.clone()
    }

    // Nothing done under the lock can panic halfway through a change, so a poisoned lock still guards whole
    // messages and the simulator keeps serving.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn rank(status: &str) -> u8 {
    match status {
        "accepted" => 1,
        "sent" => 2,
        "failed" | "delivered" => 3,
        "read" => 4,
        _ => 0,
    }
}

/// A new message id: `wamid.` and base64 of the number and a random part, the shape Meta's ids have.
pub(crate) fn new_message_id(wa_id: &str) -> String {
    let mut raw = wa_id.as_bytes().to_vec();
    raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("wamid.HBgM{}", STANDARD_NO_PAD.encode(raw))
}
