//! The contact policy engine: decides whether a contact may be made at a given instant, in the debtor's local
//! time (DST-correct, via the IANA time-zone database).
//!
//! This first version knows the send window (hours of the day, per country); jurisdiction presets, holidays,
//! frequency caps and do-not-contact states extend [`Policy::check`].

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use recaudo_domain::Country;

/// Hours of the local day in which contacts are allowed: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl SendWindow {
    pub fn hours(start: u32, end: u32) -> Self {
        SendWindow {
            start: NaiveTime::from_hms_opt(start, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(end, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }

    fn contains(&self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// Why a contact may not be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Stable rule name, recorded in `contact.suppressed` events.
    pub rule: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    window: SendWindow,
}

impl Default for Policy {
    /// 08:00–20:00 local time, every day.
    fn default() -> Self {
        Policy { window: SendWindow::hours(8, 20) }
    }
}

impl Policy {
    pub fn with_window(window: SendWindow) -> Self {
        Policy { window }
    }

    /// The debtor's local time zone.
    pub fn time_zone(country: Country) -> Tz {
        country.time_zone()
    }

    /// The debtor's local calendar date at `at` (frequency caps count per local day).
    pub fn local_date(country: Country, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&country.time_zone()).date_naive()
    }

    /// `Ok(())` when a contact to a debtor in `country` is allowed at `at`.
    pub fn check(&self, country: Country, at: DateTime<Utc>) -> Result<(), Suppression> {
        let local = at.with_timezone(&country.time_zone());
        if self.window.contains(local.time()) {
            Ok(())
        } else {
            Err(Suppression {
                rule: "send_window",
                detail: format!(
                    "local time {} ({}) is outside {}–{}",
                    local.format("%a %H:%M"),
                    country.time_zone().name(),
                    self.window.start.format("%H:%M"),
                    self.window.end.format("%H:%M")
                ),
            })
        }
    }

    /// When the window opens on the local day after the one `at` falls on (daily caps reset then).
    pub fn next_day_open(&self, country: Country, at: DateTime<Utc>) -> DateTime<Utc> {
        let tz = country.time_zone();
        let tomorrow = at.with_timezone(&tz).date_naive().succ_opt().unwrap_or(at.date_naive());
        let midnight = tz
            .from_local_datetime(&tomorrow.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(at + chrono::Duration::days(1));
        self.next_open(country, midnight)
    }

    /// The next instant at or after `at` at which the window is open for `country`.
    pub fn next_open(&self, country: Country, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.check(country, at).is_ok() {
            return at;
        }
        let tz = country.time_zone();
        let local = at.with_timezone(&tz);
        let mut day = local.date_naive();
        if local.time() >= self.window.end {
            day = day.succ_opt().unwrap_or(day);
        }
        // A DST gap can swallow the window's start; step forward a minute at a time until a real local instant.
        let mut start = day.and_time(self.window.start);
        for _ in 0..180 {
            if let Some(t) = tz.from_local_datetime(&start).earliest() {
                return t.with_timezone(&Utc);
            }
            start += chrono::Duration::minutes(1);
        }
        at + chrono::Duration::hours(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn window_is_in_the_debtors_local_time() {
        let p = Policy::default();
        // 13:00 UTC is 08:00 in Bogotá (UTC-5) but 07:00 in Mexico City (UTC-6).
        assert!(p.check(Country::Colombia, utc("2026-11-23T13:00:00Z")).is_ok());
        let s = p.check(Country::Mexico, utc("2026-11-23T13:00:00Z")).unwrap_err();
        assert_eq!(s.rule, "send_window");
        // 20:00 local is already closed.
        assert!(p.check(Country::Colombia, utc("2026-11-24T01:00:00Z")).is_err());
        assert!(p.check(Country::Colombia, utc("2026-11-24T00:59:00Z")).is_ok());
    }

    #[test]
    fn follows_daylight_saving_time() {
        let p = Policy::default();
        // Santiago is UTC-3 in (southern) summer: 11:30 UTC is 08:30 local in November, but 07:30 local in July (UTC-4).
        assert!(p.check(Country::Chile, utc("2026-11-23T11:30:00Z")).is_ok());
        assert!(p.check(Country::Chile, utc("2026-07-15T11:30:00Z")).is_err());
    }

    #[test]
    fn next_open_is_the_next_local_start() {
        let p = Policy::default();
        // 21:00 in Lima (UTC-5) → next day 08:00 Lima = 13:00 UTC.
        assert_eq!(p.next_open(Country::Peru, utc("2026-11-24T02:00:00Z")), utc("2026-11-24T13:00:00Z"));
        // 06:00 in Lima → same day 08:00.
        assert_eq!(p.next_open(Country::Peru, utc("2026-11-23T11:00:00Z")), utc("2026-11-23T13:00:00Z"));
        let open = utc("2026-11-23T15:00:00Z");
        assert_eq!(p.next_open(Country::Peru, open), open);
    }

    #[test]
    fn next_day_open_is_tomorrows_window() {
        let p = Policy::default();
        // 10:00 in Bogotá on the 23rd → 08:00 on the 24th.
        assert_eq!(p.next_day_open(Country::Colombia, utc("2026-11-23T15:00:00Z")), utc("2026-11-24T13:00:00Z"));
        // 22:00 in Bogotá on the 23rd (03:00 UTC on the 24th) → still 08:00 on the 24th.
        assert_eq!(p.next_day_open(Country::Colombia, utc("2026-11-24T03:00:00Z")), utc("2026-11-24T13:00:00Z"));
    }

    #[test]
    fn local_date_crosses_midnight_by_zone() {
        // 03:00 UTC on the 24th is still the 23rd in Bogotá.
        assert_eq!(Policy::local_date(Country::Colombia, utc("2026-11-24T03:00:00Z")).to_string(), "2026-11-23");
    }
}
