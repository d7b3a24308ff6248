//! Reply-router's settings: the case timers, the team calendar and the order of the queues.

use std::time::Duration;

use recaudo_runtime::{ConfigError, Env};

use crate::calendar::WorkingHours;

#[derive(Debug, Clone)]
pub struct Config {
    /// Working minutes a new case may wait before someone claims it (`RECAUDO_CASE_PICKUP_MINUTES`).
    pub pickup_minutes: i64,
    /// Working minutes an advisor has to answer a debtor who wrote on a claimed case (`RECAUDO_CASE_RESPONSE_MINUTES`).
    pub response_minutes: i64,
    /// The share of a target after which the advisor is warned (`RECAUDO_CASE_WARN_SHARE`, 0 < share < 1).
    pub warn_share: f64,
    /// The team calendar (`RECAUDO_CASE_HOURS`), minus each country's holidays.
    pub hours: WorkingHours,
    /// How the queues are ordered (`RECAUDO_CASE_QUEUE_ORDER`).
    pub queue_order: Vec<OrderKey>,
    /// How often the timers are looked at (`RECAUDO_CASE_TIMER_TICK_MS`).
    pub timer_tick: Duration,
}

/// One key of a queue's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKey {
    /// Broken promises and breached timers first.
    Priority,
    /// The nearest deadline first.
    Deadline,
    /// The largest overdue amount first.
    Overdue,
    /// The most days past due first.
    DaysPastDue,
    /// The oldest case first.
    Opened,
}

impl OrderKey {
    const NAMES: [(&'static str, OrderKey); 5] = [
        ("priority", OrderKey::Priority),
        ("deadline", OrderKey::Deadline),
        ("overdue", OrderKey::Overdue),
        ("days_past_due", OrderKey::DaysPastDue),
        ("opened", OrderKey::Opened),
    ];

    /// The SQL of this key over the queue's columns (`c` the case, `d` the debtor's totals).
    pub fn sql(self) -> &'static str {
        match self {
            OrderKey::Priority => "c.high_priority DESC",
            OrderKey::Deadline => "c.due_at ASC NULLS LAST",
            OrderKey::Overdue => "d.overdue DESC NULLS LAST",
            OrderKey::DaysPastDue => "d.days_past_due DESC NULLS LAST",
            OrderKey::Opened => "c.opened_at ASC",
        }
    }

    pub fn parse_list(text: &str) -> Result<Vec<OrderKey>, String> {
        let mut keys = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let key = Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                format!("{name:?} is not one of {}", names.join(", "))
            })?;
            if keys.contains(&key) {
                return Err(format!("{name:?} is named twice"));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no key".into());
        }
        Ok(keys)
    }
}

pub const DEFAULT_HOURS: &str = "mon-fri 08:00-18:00";
pub const DEFAULT_ORDER: &str = "priority,deadline,overdue,days_past_due";

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let minutes = |var: &str, default: i64| -> Result<i64, ConfigError> {
            let m = env.get(var, default)?;
            if !(1..=60 * 24 * 30).contains(&m) {
                return Err(ConfigError::new(var, &m.to_string(), "must be between 1 and 43200 minutes"));
            }
            Ok(m)
        };
        let warn_share: f64 = env.get("RECAUDO_CASE_WARN_SHARE", 0.8)?;
        if !(warn_share > 0.0 && warn_share < 1.0) {
            return Err(ConfigError::new(
                "RECAUDO_CASE_WARN_SHARE",
                &warn_share.to_string(),
                "must be between 0 and 1",
            ));
        }
        let hours_text = env.raw("RECAUDO_CASE_HOURS").unwrap_or(DEFAULT_HOURS);
        let hours =
            WorkingHours::parse(hours_text).map_err(|e| ConfigError::new("RECAUDO_CASE_HOURS", hours_text, e))?;
        let order_text = env.raw("RECAUDO_CASE_QUEUE_ORDER").unwrap_or(DEFAULT_ORDER);
        let queue_order = OrderKey::parse_list(order_text)
            .map_err(|e| ConfigError::new("RECAUDO_CASE_QUEUE_ORDER", order_text, e))?;
        let tick: u64 = env.get("RECAUDO_CASE_TIMER_TICK_MS", 1000)?;
        if !(10..=60_000).contains(&tick) {
            return Err(ConfigError::new("RECAUDO_CASE_TIMER_TICK_MS", &tick.to_string(), "must be 10 to 60000"));
        }
        Ok(Config {
            pickup_minutes: minutes("RECAUDO_CASE_PICKUP_MINUTES", 15)?,
            response_minutes: minutes("RECAUDO_CASE_RESPONSE_MINUTES", 60)?,
            warn_share,
            hours,
            queue_order,
            timer_tick: Duration::from_millis(tick),
        })
    }

    /// The working-minute offset at which the advisor is warned of a `minutes` target.
    pub fn warn_minutes(&self, minutes: i64) -> i64 {
        ((minutes as f64) * self.warn_share).floor().max(0.0) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let c = Config::from_env(&Env::from_pairs([])).unwrap();
        assert_eq!((c.pickup_minutes, c.response_minutes), (15, 60));
        assert_eq!(c.warn_minutes(15), 12);
        assert_eq!(c.queue_order[0], OrderKey::Priority);
        for (var, value, reason) in [
            ("RECAUDO_CASE_PICKUP_MINUTES", "0", "between 1"),
            ("RECAUDO_CASE_WARN_SHARE", "1.5", "between 0 and 1"),
            ("RECAUDO_CASE_HOURS", "lun 08:00-18:00", "not a day"),
            ("RECAUDO_CASE_QUEUE_ORDER", "priority,size", "\"size\" is not one of"),
        ] {
            let e = Config::from_env(&Env::from_pairs([(var, value)])).unwrap_err().to_string();
            assert!(e.contains(var) && e.contains(reason), "{e}");
        }
    }
}
