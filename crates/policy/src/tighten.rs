//! A lender's settings: narrower hours, fewer contacts, days of its own. They may only make the law stricter; a
//! looser setting is refused with a message naming the rule it would break.

use chrono::{NaiveDate, NaiveTime, Weekday};
use recaudo_domain::Country;

use crate::engine::Policy;
use crate::preset::{Cap, Hours, Preset};

/// A lender's hours for one weekday, applied to every medium's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DayHours {
    /// As the law has it.
    #[default]
    Law,
    Closed,
    Open(NaiveTime, NaiveTime),
}

#[derive(Debug, Clone, Default)]
pub struct Tightening {
    /// Hours per weekday, Monday first.
    pub hours: Option<[DayHours; 7]>,
    /// At most this many contacts a local day, across channels.
    pub max_per_day: Option<u32>,
    /// Days the lender does not contact anyone (its own holidays, a region's).
    pub extra_holidays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} is looser than rule {rule} ({source_name}): {detail}")]
pub struct LooserThanLaw {
    pub setting: &'static str,
    pub rule: &'static str,
    pub source_name: &'static str,
    pub detail: String,
}

const WEEKDAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

impl Policy {
    /// The preset of `country`, tightened by `t`; refused when any setting is looser than the law.
    pub fn tightened(country: Country, t: &Tightening) -> Result<Policy, LooserThanLaw> {
        let mut preset = Preset::for_country(country);
        if let Some(days) = &t.hours {
            for window in preset.windows.iter_mut() {
                let law_days = window.days;
                for (i, wanted) in days.iter().enumerate() {
                    let law = window.days[i];
                    window.days[i] = match (law, wanted) {
                        (law, DayHours::Law) => law,
                        (_, DayHours::Closed) => None,
                        (None, DayHours::Open(..)) => {
                            return Err(LooserThanLaw {
                                setting: "hours",
                                rule: window.rule,
                                source_name: window.source,
                                detail: format!("the law allows no contacts on {}s", WEEKDAYS[i]),
                            })
                        }
                        (Some(l), DayHours::Open(open, close)) => {
                            if *open < l.open || *close > l.close || open >= close {
                                return Err(LooserThanLaw {
                                    setting: "hours",
                                    rule: window.rule,
                                    source_name: window.source,
                                    detail: format!(
                                        "{} {}–{} is outside the law's {}–{}",
                                        WEEKDAYS[i],
                                        open.format("%H:%M"),
                                        close.format("%H:%M"),
                                        l.open.format("%H:%M"),
                                        l.close.format("%H:%M")
                                    ),
                                });
                            }
                            Some(Hours { open: *open, close: *close })
                        }
                    };
                }
                // A window the lender narrowed says so: its refusals are the lender's rule, not the law's.
                if window.days != law_days {
                    window.rule = "lender.hours";
                    window.source = "the lender's settings";
                }
            }
        }
        if let Some(max) = t.max_per_day {
            if let Some(law) = preset.caps.iter().find(|c| c.media.is_empty() && c.days == 1 && c.max < max) {
                return Err(LooserThanLaw {
                    setting: "max_per_day",
                    rule: law.rule,
                    source_name: law.source,
                    detail: format!("{max} a day is more than the law's {}", law.max),
                });
            }
            preset.caps.push(Cap {
                rule: "lender.max_per_day",
                source: "the lender's settings",
                media: &[],
                max,
                days: 1,
                min_gap_days: 0,
            });
        }
        Ok(Policy { preset, extra_holidays: t.extra_holidays.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::Medium;

    fn hm(h: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, 0, 0).unwrap()
    }

    #[test]
    fn a_lender_may_only_tighten() {
        let mut days = [DayHours::Open(hm(8), hm(18)); 7];
        days[5] = DayHours::Open(hm(9), hm(13));
        days[6] = DayHours::Closed;
        let p = Policy::tightened(Country::Colombia, &Tightening { hours: Some(days), ..Default::default() }).unwrap();
        assert_eq!(p.preset.window(Medium::Message).on(Weekday::Sat).unwrap().close, hm(13));

        days[5] = DayHours::Open(hm(8), hm(16));
        let err =
            Policy::tightened(Country::Colombia, &Tightening { hours: Some(days), ..Default::default() }).unwrap_err();
        assert_eq!(err.rule, "co.hours");
        assert!(err.to_string().contains("Sat 08:00–16:00 is outside the law's 08:00–15:00"), "{err}");

        days[5] = DayHours::Closed;
        days[6] = DayHours::Open(hm(9), hm(12));
        let err =
            Policy::tightened(Country::Colombia, &Tightening { hours: Some(days), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("no contacts on Suns"), "{err}");

        let err = Policy::tightened(Country::Colombia, &Tightening { max_per_day: Some(2), ..Default::default() })
            .unwrap_err();
        assert_eq!(err.rule, "co.one_contact_a_day");
        assert!(Policy::tightened(Country::Mexico, &Tightening { max_per_day: Some(2), ..Default::default() }).is_ok());
    }
}
