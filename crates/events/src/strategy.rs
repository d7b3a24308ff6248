//! Strategy events: a manager activated a version of a strategy (it replaces the version that was active).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyActivated {
    pub name: String,
    pub version: i32,
    /// The version it replaces, if one was active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<i32>,
    /// The principal that activated it (an opaque subject).
    pub activated_by: String,
    pub activated_at: DateTime<Utc>,
}

impl Event for StrategyActivated {
    const TYPE: &'static str = "recaudo.strategy.activated.v1";
    fn subject_suffix(&self) -> String {
        "strategy.activated".into()
    }
    fn entity(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}
