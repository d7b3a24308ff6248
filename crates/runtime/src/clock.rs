//! "Now", as every decision sees it. `RECAUDO_NOW` fixes it for a whole process so demos and tests run at a chosen
//! instant (a weekday morning in Bogotá, say) whatever the wall clock says.

use std::sync::Arc;

use chrono::{DateTime, Utc};

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that always answers `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || at))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_does_not_move() {
        let at: DateTime<Utc> = "2026-11-23T14:00:00Z".parse().unwrap();
        let c = Clock::fixed(at);
        assert_eq!(c.now(), at);
        assert_eq!(c.now(), at);
        assert!(Clock::system().now() > at - chrono::Duration::days(3650));
    }
}
