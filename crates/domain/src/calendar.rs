//! Dates from outside (a payment's date, an import's as-of date): within the years a portfolio can mean, so that
//! what is accepted can always be stored (chrono reads signed years such as `-5000-01-01`; PostgreSQL refuses them).

use chrono::{Datelike, NaiveDate};

pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2100;

pub fn check_date(d: NaiveDate) -> Result<(), String> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&d.year()) {
        Ok(())
    } else {
        Err(format!("{d} is outside the years {FIRST_YEAR} to {LAST_YEAR}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_years() {
        assert!(check_date(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()).is_ok());
        assert!(check_date(NaiveDate::from_ymd_opt(-5000, 1, 1).unwrap()).is_err());
        assert!(check_date(NaiveDate::from_ymd_opt(2101, 1, 1).unwrap()).is_err());
    }
}
