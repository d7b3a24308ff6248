//! Public holidays by country, 2025–2060, generated from the `holidays` package (see `data.rs` and
//! `scripts/holidays/generate.py`). A lender adds its own days in its settings (`Tightening::extra_holidays`).
//!
//! A day the calendar does not cover counts as a holiday (the engine cannot know it is not one), so past the last
//! covered day no contact would go out: processes warn from a year before it ([`horizon_warning`]).

mod data;

use chrono::{Datelike, NaiveDate};
use recaudo_domain::Country;

pub use data::YEARS;

/// The name of the holiday `date` is in `country`, if it is one.
pub fn holiday(country: Country, date: NaiveDate) -> Option<&'static str> {
    let (_, days) = data::HOLIDAYS.iter().find(|(code, _)| *code == country.code())?;
    days.binary_search_by(|(y, m, d, _)| (*y, *m, *d).cmp(&(date.year(), date.month(), date.day())))
        .ok()
        .map(|i| days[i].3)
}

/// Whether the calendar covers `date` (outside its years holidays are unknown, and the engine says so).
pub fn covers(date: NaiveDate) -> bool {
    (YEARS.0..=YEARS.1).contains(&date.year())
}

/// The last day the calendar covers.
pub fn last_covered_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(YEARS.1, 12, 31).expect("a valid date")
}

/// How long before the calendar's end processes start warning.
pub const WARN_DAYS_AHEAD: i64 = 365;

/// A warning for operators when `today` is within [`WARN_DAYS_AHEAD`] of the calendar's end (or past it).
pub fn horizon_warning(today: NaiveDate) -> Option<String> {
    let left = (last_covered_day() - today).num_days();
    let end = last_covered_day();
    let when = match left {
        0.. => format!("ends on {end}, in {left} days"),
        _ => format!("ended on {end}, {} days ago", -left),
    };
    (left < WARN_DAYS_AHEAD).then(|| {
        format!(
            "the holiday calendar {when}: every later day counts as a holiday and no contact goes out; regenerate it \
             (scripts/holidays/generate.py) and release"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn knows_each_countrys_days() {
        // Colombia moves many holidays to Monday (Ley Emiliani): Cartagena's independence was on Monday 16 Nov 2026.
        assert!(holiday(Country::Colombia, d("2026-11-16")).is_some());
        assert!(holiday(Country::Colombia, d("2026-11-11")).is_none());
        assert!(holiday(Country::Colombia, d("2026-12-25")).is_some());
        assert!(holiday(Country::Peru, d("2026-07-28")).is_some());
        assert!(holiday(Country::Chile, d("2026-09-18")).is_some());
        assert!(holiday(Country::Mexico, d("2026-09-16")).is_some());
        assert!(holiday(Country::UnitedStates, d("2026-07-03")).is_some(), "Independence Day observed on Friday");
        assert!(covers(d("2031-01-01")) && covers(d("2060-12-31")) && !covers(d("2061-01-01")));
        assert!(holiday(Country::Colombia, d("2045-12-25")).is_some());
    }

    /// The clock moved to the calendar's last year: a warning, which a year earlier there is not.
    #[test]
    fn processes_are_warned_a_year_before_the_calendar_ends() {
        assert_eq!(horizon_warning(d("2026-12-07")), None);
        assert_eq!(horizon_warning(d("2059-12-31")), None);
        let warning = horizon_warning(d("2060-03-01")).expect("a warning in the last year");
        assert!(warning.contains("ends on 2060-12-31, in 305 days"), "{warning}");
        let late = horizon_warning(d("2061-02-01")).unwrap();
        assert!(late.contains("ended on 2060-12-31, 32 days ago"), "{late}");
    }

    #[test]
    fn every_supported_country_has_a_calendar() {
        for c in Country::ALL {
            assert!(data::HOLIDAYS.iter().any(|(code, days)| *code == c.code() && days.len() >= 5 * 6), "{c:?}");
        }
    }
}
