//! The statuses every provider's words are normalised to, and the order in which they may follow each other.

use std::fmt;
use std::str::FromStr;

/// Where a message stands, whatever the provider calls it. The provider's own word and error code are kept beside
/// it on the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Normalized {
    Queued,
    Sent,
    Delivered,
    Read,
    /// Refused by the provider or the network: never reached the debtor.
    Failed,
    /// Accepted, then not delivered (a bounce, an unreachable handset).
    Undelivered,
}

impl Normalized {
    pub const ALL: [Normalized; 6] = [
        Normalized::Queued,
        Normalized::Sent,
        Normalized::Delivered,
        Normalized::Read,
        Normalized::Failed,
        Normalized::Undelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Normalized::Queued => "queued",
            Normalized::Sent => "sent",
            Normalized::Delivered => "delivered",
            Normalized::Read => "read",
            Normalized::Failed => "failed",
            Normalized::Undelivered => "undelivered",
        }
    }

    /// Statuses only move forward: a report whose rank is not above the attempt's current one changes nothing, so
    /// repeats and out-of-order callbacks (a late `sent` after `delivered`) are harmless. A failure outranks the
    /// in-flight statuses but not a delivery: a provider that reported delivery cannot take it back.
    pub fn rank(self) -> u8 {
        match self {
            Normalized::Queued => 1,
            Normalized::Sent => 2,
            Normalized::Failed | Normalized::Undelivered => 3,
            Normalized::Delivered => 4,
            Normalized::Read => 5,
        }
    }

    /// No later report can follow (for the purpose of delivery): the strategy's fallback channel may follow a
    /// final failure at once, and reconciliation stops asking.
    pub fn is_final(self) -> bool {
        matches!(self, Normalized::Failed | Normalized::Undelivered | Normalized::Delivered | Normalized::Read)
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Normalized::Failed | Normalized::Undelivered)
    }
}

impl fmt::Display for Normalized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Normalized {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Normalized::ALL.into_iter().find(|n| n.as_str() == s).ok_or_else(|| format!("unknown status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward_and_a_delivery_is_not_taken_back() {
        assert!(Normalized::Sent.rank() > Normalized::Queued.rank());
        assert!(Normalized::Delivered.rank() > Normalized::Sent.rank());
        assert!(Normalized::Read.rank() > Normalized::Delivered.rank());
        assert!(Normalized::Failed.rank() > Normalized::Sent.rank());
        assert!(Normalized::Failed.rank() < Normalized::Delivered.rank());
        for n in Normalized::ALL {
            assert_eq!(n.as_str().parse::<Normalized>(), Ok(n));
        }
        assert!(!Normalized::Sent.is_final() && Normalized::Undelivered.is_final());
    }
}
