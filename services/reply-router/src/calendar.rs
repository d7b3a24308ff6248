//! The team calendar: the hours advisors work (`RECAUDO_CASE_HOURS`, in the local time of the debtor's country)
//! minus that country's public holidays. Case timers count only these minutes: a click at 17:55 on a Friday with a
//! 15-minute pick-up target is due at 08:10 on Monday.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use recaudo_domain::Country;

/// Working hours per weekday, the same span every working day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    /// Monday first.
    days: [Option<(NaiveTime, NaiveTime)>; 7],
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WorkingHours {
    /// Parses `mon-fri 08:00-18:00; sat 09:00-13:00`: day ranges (or single days) with a span each, `;`-separated.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut days = [None; 7];
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (range, span) =
                part.split_once(' ').ok_or_else(|| format!("{part:?}: expected `<days> HH:MM-HH:MM`"))?;
            let day = |name: &str| {
                DAY_NAMES
                    .iter()
                    .position(|d| d.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| format!("{name:?}: not a day (mon, tue, wed, thu, fri, sat, sun)"))
            };
            let (first, last) = match range.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None => (day(range)?, day(range)?),
            };
            if first > last {
                return Err(format!("{range:?}: the first day comes after the last"));
            }
            let (start, end) = span.trim().split_once('-').ok_or_else(|| format!("{span:?}: expected HH:MM-HH:MM"))?;
            let time = |t: &str| {
                if t.trim() == "24:00" {
                    return Ok(NaiveTime::from_hms_opt(23, 59, 59).expect("valid"));
                }
                NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| format!("{t:?}: expected HH:MM"))
            };
            let (start, end) = (time(start)?, time(end)?);
            if start >= end {
                return Err(format!("{span:?}: the span ends before it starts"));
            }
            for d in days.iter_mut().take(last + 1).skip(first) {
                *d = Some((start, end));
            }
        }
        if days.iter().all(Option::is_none) {
            return Err("no working day".into());
        }
        Ok(WorkingHours { days })
    }

    fn span(&self, country: Country, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        if recaudo_policy::holidays::holiday(country, date).is_some() {
            return None;
        }
        self.days[date.weekday().num_days_from_monday() as usize]
    }

    /// The instant `minutes` working minutes after `from`, in `country`'s calendar.
    pub fn add(&self, country: Country, from: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let tz = country.time_zone();
        let mut left = Duration::minutes(minutes);
        let mut cursor = from.with_timezone(&tz).naive_local();
        // Ten years of days without a working minute is a broken calendar; give the deadline at the wall clock.
        for _ in 0..3660 {
            let date = cursor.date();
            if let Some((start, end)) = self.span(country, date) {
                let open = date.and_time(start).max(cursor);
                let close = date.and_time(end);
                if open < close {
                    let available = close - open;
                    if left <= available {
                        let local = open + left;
                        return tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or(
                            // A deadline inside a DST gap: the first instant after it.
                            from + Duration::minutes(minutes),
                        );
                    }
                    left -= available;
                }
            }
            cursor = (date + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight");
        }
        from + Duration::minutes(minutes)
    }

    /// Whether `at` falls inside working hours in `country`.
    pub fn is_working(&self, country: Country, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&country.time_zone()).naive_local();
        self.span(country, local.date()).is_some_and(|(s, e)| local.time() >= s && local.time() < e)
    }
}

impl std::fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .days
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.map(|(s, e)| format!("{} {}-{}", DAY_NAMES[i], s.format("%H:%M"), e.format("%H:%M")))
            })
            .collect();
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn minutes_count_only_inside_working_hours() {
        let hours = WorkingHours::parse("mon-fri 08:00-18:00").unwrap();
        // Monday 2026-11-23 10:00 in Bogotá (UTC-5) plus 15 minutes.
        assert_eq!(hours.add(Country::Colombia, at("2026-11-23T15:00:00Z"), 15), at("2026-11-23T15:15:00Z"));
        // Friday 17:55 plus 15: five minutes on Friday, ten on Monday from 08:00.
        assert_eq!(hours.add(Country::Colombia, at("2026-11-27T22:55:00Z"), 15), at("2026-11-30T13:10:00Z"));
        // Saturday night: Monday 08:15.
        assert_eq!(hours.add(Country::Colombia, at("2026-11-29T03:00:00Z"), 15), at("2026-11-30T13:15:00Z"));
    }

    #[test]
    fn holidays_of_the_country_are_not_working_days() {
        let hours = WorkingHours::parse("mon-fri 08:00-18:00").unwrap();
        // 2026-12-08 is a holiday in Colombia (Inmaculada Concepción): Monday 17:50 + 15 → Wednesday 08:05.
        assert!(recaudo_policy::holidays::holiday(Country::Colombia, "2026-12-08".parse().unwrap()).is_some());
        assert_eq!(hours.add(Country::Colombia, at("2026-12-07T22:50:00Z"), 15), at("2026-12-09T13:05:00Z"));
    }

    #[test]
    fn spans_parse_and_bad_ones_are_named() {
        let hours = WorkingHours::parse("mon-fri 08:00-18:00; sat 09:00-13:00").unwrap();
        assert_eq!(
            hours.to_string(),
            "mon 08:00-18:00; tue 08:00-18:00; wed 08:00-18:00; thu 08:00-18:00; fri 08:00-18:00; sat 09:00-13:00"
        );
        assert!(hours.is_working(Country::Colombia, at("2026-11-28T15:00:00Z")));
        assert!(!hours.is_working(Country::Colombia, at("2026-11-29T15:00:00Z")));
        assert!(WorkingHours::parse("mon-fri 18:00-08:00").unwrap_err().contains("ends before"));
        assert!(WorkingHours::parse("lun 08:00-18:00").unwrap_err().contains("not a day"));
        assert!(WorkingHours::parse("").is_err());
        let always = WorkingHours::parse("mon-sun 00:00-24:00").unwrap();
        assert_eq!(always.add(Country::Colombia, at("2026-11-29T03:00:00Z"), 15), at("2026-11-29T03:15:00Z"));
    }
}
