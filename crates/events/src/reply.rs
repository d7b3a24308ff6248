//! Reply events: a debtor clicked a reply link (or answered), and the reply-router put it in an advisor's queue.

use chrono::{DateTime, Utc};
use recaudo_domain::{AdvisorId, CreditId, DebtorId, SupervisorId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Channel, Event};

/// A debtor opened the click-to-reply link of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplyClicked {
    pub click_id: Uuid,
    pub attempt_id: Uuid,
    pub channel: Channel,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    pub clicked_at: DateTime<Utc>,
}

impl Event for ReplyClicked {
    const TYPE: &'static str = "recaudo.reply.clicked.v1";
    fn subject_suffix(&self) -> String {
        "reply.clicked".into()
    }
    fn entity(&self) -> String {
        self.click_id.to_string()
    }
}

/// A debtor wrote back on a channel, or tapped one of a message's buttons. Published by the channel's dispatcher
/// once the provider's signed webhook is stored, on `reply.received.<channel>`; reply-router puts it in the queue
/// of the debtor's current advisor. Only replies from an address the dispatcher has contacted are published: the
/// debtor is the one of the attempt answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplyReceived {
    pub reply_id: Uuid,
    pub channel: Channel,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    /// The attempt answered: the one the provider says the reply quotes, else the latest to that address.
    pub attempt_id: Uuid,
    pub provider: String,
    pub provider_message_id: String,
    pub body: String,
    /// The payload of the tapped button, when the reply is a tap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// The reply is an opt-out (STOP, BAJA, ...): a `consent.withdrawn` for the channel goes with it.
    #[serde(default)]
    pub opt_out: bool,
    pub received_at: DateTime<Utc>,
}

impl Event for ReplyReceived {
    const TYPE: &'static str = "recaudo.reply.received.v1";
    fn subject_suffix(&self) -> String {
        format!("reply.received.{}", self.channel)
    }
    fn entity(&self) -> String {
        self.reply_id.to_string()
    }
}

/// What started a queue item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    Click,
    Message,
    /// A strategy's escalation: the advisor is to phone the debtor.
    CallTask,
    /// A promise the debtor made was broken: back to the advisor at high priority.
    BrokenPromise,
}

/// A reply was routed to the debtor's current advisor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplyRouted {
    pub queue_item_id: Uuid,
    pub kind: ReplyKind,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    pub advisor_id: AdvisorId,
    pub routed_at: DateTime<Utc>,
}

impl Event for ReplyRouted {
    const TYPE: &'static str = "recaudo.reply.routed.v1";
    fn subject_suffix(&self) -> String {
        "reply.routed".into()
    }
    fn entity(&self) -> String {
        self.queue_item_id.to_string()
    }
}

/// An item entered an advisor's queue. Published on `queue.advisor.<advisor_id>` so an advisor's desk can
/// subscribe to its own queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueItemOpened {
    pub queue_item_id: Uuid,
    pub advisor_id: AdvisorId,
    pub supervisor_id: Option<SupervisorId>,
    pub kind: ReplyKind,
    pub debtor_id: DebtorId,
    pub credit_id: CreditId,
    pub opened_at: DateTime<Utc>,
    /// When the item escalates to the supervisor if nobody picked it up.
    pub due_at: DateTime<Utc>,
}

impl Event for QueueItemOpened {
    const TYPE: &'static str = "recaudo.queue.item.opened.v1";
    fn subject_suffix(&self) -> String {
        format!("queue.advisor.{}", self.advisor_id)
    }
    fn entity(&self) -> String {
        self.queue_item_id.to_string()
    }
}
