//! The messages the simulator has accepted, in memory.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

/// A message as the simulator holds it; rendered as Twilio's Message resource by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// "SM" followed by 32 lowercase hex digits, like Twilio's.
    pub sid: String,
    /// Twilio's words: "outbound-api" for messages created through the API, "inbound" for replies.
    pub direction: String,
    /// `None` when a Messaging Service was given without a sender.
    pub from: Option<String>,
    pub to: String,
    pub body: String,
    pub messaging_service_sid: Option<String>,
    /// Twilio's status words: "queued" or "accepted", then "sent", "delivered"; "received" for inbound.
    pub status: String,
    pub num_segments: u32,
    pub status_callback: Option<String>,
    pub date_created: DateTime<Utc>,
    pub date_updated: DateTime<Utc>,
    pub date_sent: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub(crate) struct MessageStore {
    messages: Mutex<Vec<SimMessage>>,
}

impl MessageStore {
    pub(crate) fn insert(&self, message: SimMessage) {
        self.lock().push(message);
    }

    pub(crate) fn get(&self, sid: &str) -> Option<SimMessage> {
        self.lock().iter().find(|m| m.sid == sid).cloned()
    }

    pub(crate) fn all(&self) -> Vec<SimMessage> {
        self.lock().clone()
    }

    /// Moves a message to `status` and returns it as it now stands.
    pub(crate) fn advance(&self, sid: &str, status: &str, now: DateTime<Utc>) -> Option<SimMessage> {
        let mut messages = self.lock();
        let message = messages.iter_mut().find(|m| m.sid == sid)?;
        message.status = status.to_string();
        message.date_updated = now;
        if status == "sent" {
            message.date_sent = Some(now);
        }
        Some(message.clone())
    }

    // Nothing done under the lock can panic halfway through a change, so a poisoned lock still guards whole
    // messages and the simulator keeps serving rather than failing every later request.
    fn lock(&self) -> MutexGuard<'_, Vec<SimMessage>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new message SID: "SM" followed by 32 lowercase hex digits.
pub(crate) fn new_message_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}
