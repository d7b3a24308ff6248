//! Crashes on purpose at a chosen point, for the crash tests (`RECAUDO_CRASH_AT=<point>:<n>`): the process aborts,
//! as SIGKILL would stop it, at the n-th time any of its channels reaches the point. Timed kills land anywhere;
//! these land exactly where at-most-once is hardest, between the provider's answer and the commit that records
//! it. Never set in production: the process says so loudly at start.

use std::sync::atomic::{AtomicU64, Ordering};

use recaudo_runtime::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The attempt is committed; the provider has not been called.
    BeforeProviderCall,
    /// The provider answered; its answer is not recorded.
    AfterProviderCall,
}

#[derive(Debug)]
pub struct CrashAt {
    point: Point,
    at: u64,
    reached: AtomicU64,
}

impl CrashAt {
    /// `before_provider_call:3`, `after_provider_call:5`.
    pub fn parse(raw: &str) -> Result<CrashAt, ConfigError> {
        let bad = |why: &str| ConfigError::new("RECAUDO_CRASH_AT", raw, why);
        let (point, n) = raw.split_once(':').ok_or_else(|| bad("expected <point>:<n>"))?;
        let point = match point {
            "before_provider_call" => Point::BeforeProviderCall,
            "after_provider_call" => Point::AfterProviderCall,
            _ => return Err(bad("the points are before_provider_call and after_provider_call")),
        };
        let at = n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| bad("n is a count from 1"))?;
        Ok(CrashAt { point, at, reached: AtomicU64::new(0) })
    }

    /// Aborts the process if this is the chosen time at the chosen point.
    pub fn reached(&self, point: Point) {
        if point == self.point && self.reached.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            eprintln!("RECAUDO_CRASH_AT: aborting at {point:?}, as asked");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_point_and_the_count() {
        let c = CrashAt::parse("after_provider_call:3").unwrap();
        assert_eq!((c.point, c.at), (Point::AfterProviderCall, 3));
        c.reached(Point::BeforeProviderCall);
        c.reached(Point::AfterProviderCall);
        assert!(CrashAt::parse("after_provider_call:0").is_err());
        assert!(CrashAt::parse("somewhere:1").is_err());
        assert!(CrashAt::parse("after_provider_call").is_err());
    }
}
