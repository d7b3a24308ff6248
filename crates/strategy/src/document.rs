//! A strategy document as a collections manager writes it (YAML or JSON). Its JSON Schema, generated from these
//! types, is `proto-schemas/strategy.schema.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The channels a strategy can use: the dispatched ones and `call`, a task for the assigned advisor.
pub use recaudo_events::Channel;

/// Who is contacted, when, on which channel and with which words, for the debtors of one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// What the strategy is for, for the people reading the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which debtors it is for. Absent only in the `default` strategy, which takes every debtor no segment matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// By days past due; the first stage whose range holds the credit's days past due applies.
    pub stages: Vec<Stage>,
    /// Rules that act across stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// One contact the day before a promise to pay is due, while the promise pauses every step. Absent: the pause
    /// is silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promise_reminder: Option<PromiseReminder>,
}

/// The reminder of a promise to pay in force; its template may use the `promise.amount` and `promise.due_date` tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromiseReminder {
    pub channel: Channel,
    pub template: String,
    /// Preferred local time, `HH:MM`; absent: as soon as the law allows that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Lower first. Two active strategies may not share a priority.
    pub priority: u32,
    /// A CEL predicate over `debtor`, `credit` and `attributes` (the client file's extra columns), e.g.
    /// `attributes.segmento == "B" && credit.days_past_due > 30`.
    pub when: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// preventive, administrative, extrajudicial, judicial, or the manager's own names.
    pub name: String,
    pub days_past_due: DaysRange,
    pub steps: Vec<Step>,
}

/// Days past due, both ends included; negative before the due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DaysRange {
    pub from: i32,
    /// Absent: no upper end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i32>,
}

impl DaysRange {
    pub fn contains(&self, dpd: i32) -> bool {
        dpd >= self.from && self.to.is_none_or(|to| dpd <= to)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the document; named on every decision and event. Not `promise_reminder` (the promise reminder's
    /// own) and without `#` (which marks a fallback's contacts in the ledger).
    pub id: String,
    /// Days from the stage's first day (its `from`) on which the step fires; with `every`, the first of them.
    #[serde(default)]
    pub day: u32,
    /// Fire again every this many days while the stage lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u32>,
    /// Preferred local time, `HH:MM`; absent: as soon as the law allows that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub channel: Channel,
    pub template: String,
    /// Tried in order when the provider reports the contact failed or undelivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Fallback>,
    /// A/B (or A/B/n) variants; each may change the template, the channel, or both. Absent: one variant, `default`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// A CEL predicate over `debtor`, `credit`, `attributes` and `step.sent` (this step's contacts so far in the
    /// stage): while true, the step no longer fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_when: Option<String>,
}

/// Another channel, with a template written for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub channel: Channel,
    pub template: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Relative weight (the share is weight / sum of weights).
    pub weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// A label for the tone of the wording (formal, friendly, firm), for the reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Escalation {
    /// From this many days past due, a call task for the debtor's assigned advisor (`contact.requested.call`),
    /// every `every` days (default 7) while it lasts.
    CallTask {
        from_days_past_due: i32,
        call: CallTarget,
        template: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every: Option<u32>,
    },
    /// After this many contacts on a channel without a reply, the steps on it use another channel.
    SwitchChannel { after_unanswered: Unanswered, switch_to: Channel },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallTarget {
    /// The debtor's assigned advisor.
    Advisor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unanswered {
    pub channel: Channel,
    pub count: u32,
}
