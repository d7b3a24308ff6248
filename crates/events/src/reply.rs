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

/// What started a queue item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    Click,
    Message,
    /// A strategy's escalation: the advisor is to phone the debtor.
    CallTask,
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
