//! Public holidays by country, 2025–2030, generated from the `holidays` package (see `data.rs` and
//! `scripts/holidays/generate.py`). A lender adds its own days in its settings (`Tightening::extra_holidays`).

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

/// Whether the calendar covers `date` (outside 2025–2030 holidays are unknown, and the engine says so).
pub fn covers(date: NaiveDate) -> bool {
    (YEARS.0..=YEARS.1).contains(&date.year())
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
        assert!(covers(d("2030-12-31")) && !covers(d("2031-01-01")));
    }

    #[test]
    fn every_supported_country_has_a_calendar() {
        for c in Country::ALL {
            assert!(data::HOLIDAYS.iter().any(|(code, days)| *code == c.code() && days.len() >= 5 * 6), "{c:?}");
        }
    }
}
