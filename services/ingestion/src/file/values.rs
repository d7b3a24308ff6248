//! Parsers for the values lenders write: amounts in either decimal convention, dates in ISO or day-first form.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which character separates decimals. Files from Spanish-locale Excel (`;`-separated) write `1.234,56`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecimalStyle {
    /// `1234.56`, `1,234.56`
    Point,
    /// `1234,56`, `1.234,56`
    Comma,
}

/// Order of day and month in slash-separated dates. ISO `yyyy-mm-dd` is always accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    /// `dd/mm/yyyy`, as written across Latin America.
    #[default]
    DayFirst,
    /// `mm/dd/yyyy`, US exports.
    MonthFirst,
}

/// Parses a non-negative or negative amount. When a value has both `.` and `,`, the last one is the decimal
/// separator whatever the file style; a lone separator is read by the file's style, except that a comma-style file's
/// `.` followed by exactly three digits (`18.852`) is a thousands separator, and likewise a point-style file's `,`.
pub fn amount(raw: &str, style: DecimalStyle) -> Result<Decimal, String> {
    let cleaned: String =
        raw.trim().chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '$' | '\'' | '_')).collect::<String>();
    let cleaned = cleaned.trim_start_matches("S/").trim_start_matches("R").to_string();
    if cleaned.is_empty() {
        return Err("is empty".into());
    }
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    if !digits.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        || !digits.chars().any(|c| c.is_ascii_digit())
    {
        return Err(format!("{:?} is not an amount", raw.trim()));
    }
    let last_dot = digits.rfind('.');
    let last_comma = digits.rfind(',');
    let decimal_sep = match (last_dot, last_comma) {
        (Some(d), Some(c)) => Some(if d > c { '.' } else { ',' }),
        (None, None) => None,
        (Some(_), None) => lone_separator(digits, '.', style == DecimalStyle::Point),
        (None, Some(_)) => lone_separator(digits, ',', style == DecimalStyle::Comma),
    };
    let mut normalised = String::with_capacity(digits.len() + 1);
    if negative {
        normalised.push('-');
    }
    for c in digits.chars() {
        match c {
            '0'..='9' => normalised.push(c),
            sep if Some(sep) == decimal_sep => normalised.push('.'),
            _ => {}
        }
    }
    if decimal_sep.is_some() && digits.matches(decimal_sep.unwrap_or('.')).count() > 1 {
        return Err(format!("{:?} is not an amount", raw.trim()));
    }
    Decimal::from_str(&normalised).map_err(|_| format!("{:?} is not an amount", raw.trim()))
}

/// Whether a separator that is the only kind in the value is the decimal one.
fn lone_separator(digits: &str, sep: char, style_says_decimal: bool) -> Option<char> {
    let occurrences = digits.matches(sep).count();
    let after_last = digits.rsplit(sep).next().map(str::len).unwrap_or(0);
    let looks_like_thousands = occurrences > 1 || after_last == 3;
    if style_says_decimal {
        if occurrences > 1 {
            None
        } else {
            Some(sep)
        }
    } else if looks_like_thousands {
        None
    } else {
        Some(sep)
    }
}

/// Parses `yyyy-mm-dd`, `yyyy/mm/dd`, and `dd/mm/yyyy`, `dd-mm-yyyy`, `dd.mm.yyyy` (or month first, by `order`).
pub fn date(raw: &str, order: DateOrder) -> Result<NaiveDate, String> {
    let s = raw.trim();
    // Excel sometimes appends a midnight time: "2026-11-20 00:00:00".
    let s = s.split_once([' ', 'T']).map(|(d, _)| d).unwrap_or(s);
    if s.is_empty() {
        return Err("is empty".into());
    }
    let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
    let invalid = || format!("{:?} is not a valid date (expected yyyy-mm-dd or dd/mm/yyyy)", raw.trim());
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid());
    }
    let num = |p: &str| p.parse::<u32>().map_err(|_| invalid());
    let (y, m, d) = if parts[0].len() == 4 {
        (num(parts[0])?, num(parts[1])?, num(parts[2])?)
    } else if parts[2].len() == 4 {
        match order {
            DateOrder::DayFirst => (num(parts[2])?, num(parts[1])?, num(parts[0])?),
            DateOrder::MonthFirst => (num(parts[2])?, num(parts[0])?, num(parts[1])?),
        }
    } else {
        return Err(invalid());
    };
    NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amounts_in_both_conventions() {
        use DecimalStyle::*;
        assert_eq!(amount("1234.56", Point).unwrap(), d("1234.56"));
        assert_eq!(amount("1,234.56", Point).unwrap(), d("1234.56"));
        assert_eq!(amount("1.234,56", Comma).unwrap(), d("1234.56"));
        assert_eq!(amount("6.272.261,00", Comma).unwrap(), d("6272261.00"));
        assert_eq!(amount("612,21", Comma).unwrap(), d("612.21"));
        assert_eq!(amount("18.852", Comma).unwrap(), d("18852"));
        assert_eq!(amount("0,00", Comma).unwrap(), d("0"));
        // A value with both separators decides by itself, whatever the file's style.
        assert_eq!(amount("1.234,56", Point).unwrap(), d("1234.56"));
        assert_eq!(amount("$ 1,234,567", Point).unwrap(), d("1234567"));
        assert_eq!(amount("-50.00", Point).unwrap(), d("-50"));
        assert_eq!(amount("98.5", Comma).unwrap(), d("98.5"));
    }

    #[test]
    fn rejects_words_and_malformed_numbers() {
        assert!(amount("mil pesos", DecimalStyle::Point).is_err());
        assert!(amount("", DecimalStyle::Point).is_err());
        assert!(amount("1.2.3,4,5", DecimalStyle::Comma).is_err());
        assert!(amount("12-3", DecimalStyle::Point).is_err());
    }

    #[test]
    fn dates_iso_and_day_first() {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(date("2026-11-20", DateOrder::DayFirst).unwrap(), ymd(2026, 11, 20));
        assert_eq!(date("21/11/2026", DateOrder::DayFirst).unwrap(), ymd(2026, 11, 21));
        assert_eq!(date("1/2/2026", DateOrder::DayFirst).unwrap(), ymd(2026, 2, 1));
        assert_eq!(date("1/2/2026", DateOrder::MonthFirst).unwrap(), ymd(2026, 1, 2));
        assert_eq!(date("2026-11-20 00:00:00", DateOrder::DayFirst).unwrap(), ymd(2026, 11, 20));
        assert!(date("31/02/2025", DateOrder::DayFirst).is_err());
        assert!(date("20/11/26", DateOrder::DayFirst).is_err());
        assert!(date("mañana", DateOrder::DayFirst).is_err());
    }
}
