//! The messages the simulator has accepted, in memory. Inbound messages are kept with the rest, and they are what
//! opens a WhatsApp customer-service window.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// How long after a user's last WhatsApp message free-form messages may be sent to them (WhatsApp's customer-service
/// window).
const SERVICE_WINDOW: Duration = Duration::hours(24);

/// A message as the simulator holds it; rendered as Twilio's Message resource by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// "SM" followed by 32 lowercase hex digits, like Twilio's.
    pub sid: String,
    /// Twilio's words: "outbound-api" for messages created through the API, "inbound" for replies.
    pub direction: String,
    /// `None` when a Messaging Service was given without a sender. Addresses keep Twilio's channel prefix
    /// (`whatsapp:+57…`).
    pub from: Option<String>,
    pub to: String,
    /// The text; for a content template, its variables in order, as the simulator does not have the approved text.
    pub body: String,
    /// The content template (`HX…`) the message was sent from, if any.
    pub content_sid: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// Twilio's status words: "queued" or "accepted", then "sent", "delivered" or "failed"; "received" for inbound.
    pub status: String,
    /// Why the message failed, as Twilio's error code (63016: a free-form WhatsApp message outside the window).
    pub error_code: Option<u32>,
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

    /// Moves a message to `status`, failing with `error_code` if given, and returns it as it now stands.
    pub(crate) fn advance(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<u32>,
        now: DateTime<Utc>,
    ) -> Option<SimMessage> {
        let mut messages = self.lock();
        let message = messages.iter_mut().find(|m| m.sid == sid)?;
        message.status = status.to_string();
        message.error_code = error_code.or(message.error_code);
        message.date_updated = now;
        if status == "sent" {
            message.date_sent = Some(now);
        }
        Some(message.clone())
    }

    /// Whether `user` has written to `sender` (any of our senders when `None`, as a Messaging Service picks one) in
    /// the last 24 hours. Addresses are compared whole, so only a WhatsApp message opens a WhatsApp window.
    pub(crate) fn window_open(&self, user: &str, sender: Option<&str>, now: DateTime<Utc>) -> bool {
        self.lock().iter().any(|m| {
            m.direction == "inbound"
                && m.from.as_deref() == Some(user)
                && sender.is_none_or(|sender| m.to == sender)
                && now - m.date_created < SERVICE_WINDOW
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    const DEBTOR: &str = "whatsapp:+573001234567";
    const SENDER: &str = "whatsapp:+15005550006";

    fn inbound(from: &str, to: &str, at: DateTime<Utc>) -> SimMessage {
        SimMessage {
            sid: new_message_sid(),
            direction: "inbound".into(),
            from: Some(from.into()),
            to: to.into(),
            body: "Hola".into(),
            content_sid: None,
            messaging_service_sid: None,
            status: "received".into(),
            error_code: None,
            num_segments: 1,
            status_callback: None,
            date_created: at,
            date_updated: at,
            date_sent: Some(at),
        }
    }

    #[test]
    fn a_users_message_opens_the_window_to_that_sender_for_24_hours() {
        let now = Utc::now();
        let store = MessageStore::default();
        assert!(!store.window_open(DEBTOR, Some(SENDER), now));

        store.insert(inbound(DEBTOR, SENDER, now - Duration::hours(23)));
        assert!(store.window_open(DEBTOR, Some(SENDER), now));
        assert!(store.window_open(DEBTOR, None, now));
        assert!(!store.window_open(DEBTOR, Some("whatsapp:+15005550010"), now));
        assert!(!store.window_open(DEBTOR, Some(SENDER), now + Duration::hours(1)));
    }

    #[test]
    fn an_sms_does_not_open_the_whatsapp_window() {
        let now = Utc::now();
        let store = MessageStore::default();
        store.insert(inbound("+573001234567", "+15005550006", now));
        assert!(!store.window_open(DEBTOR, Some(SENDER), now));
    }
}
