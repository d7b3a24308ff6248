//! The lender's contact-policy settings: a YAML (or JSON) file, `RECAUDO_CONTACT_POLICY_FILE`, read by every process
//! that asks the engine (scheduler, dispatchers), so that all of them apply the same tightened law. Settings may only
//! tighten the preset of a country; a looser one is refused at start with the rule it would break.
//!
//! ```yaml
//! holidays: [2026-12-24, 2026-12-31]   # days the lender contacts nobody, in every country
//! countries:
//!   CO:
//!     hours: { sat: "09:00-13:00" }     # days not named keep the law's hours; "closed" closes a day
//!     holidays: [2026-12-07]
//!   MX:
//!     hours: { mon: "09:00-20:00", tue: "09:00-20:00", wed: "09:00-20:00", thu: "09:00-20:00",
//!              fri: "09:00-20:00", sat: "10:00-14:00", sun: closed }
//!     max_per_day: 1
//!   default:                            # every country without a preset of its own
//!     max_per_day: 1
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveTime};
use recaudo_domain::Country;
use serde::Deserialize;

use crate::engine::Policy;
use crate::tighten::{DayHours, LooserThanLaw, Tightening};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LenderSettings {
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// By ISO country code, or `default` for countries without a preset.
    #[serde(default)]
    pub countries: BTreeMap<String, CountrySettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountrySettings {
    #[serde(default)]
    pub hours: WeekHours,
    pub max_per_day: Option<u32>,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// `"HH:MM-HH:MM"` or `closed` per weekday; a day left out keeps the law's hours.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {field}: {reason}")]
    Invalid { path: String, field: String, reason: String },
    #[error("{path}: countries.{country}: {looser}")]
    Looser { path: String, country: String, looser: LooserThanLaw },
}

/// The policy in force for every country: its preset, tightened by the lender's settings.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    by_country: BTreeMap<&'static str, Policy>,
    default: Option<Policy>,
    /// Where the settings came from, for the plan and the policy route.
    pub source: Option<String>,
}

impl Policies {
    /// The presets as the law has them.
    pub fn law() -> Policies {
        Policies::default()
    }

    /// The settings of `path`, or the law as it is without one.
    pub fn load(path: Option<&Path>) -> Result<Policies, SettingsError> {
        path.map(Policies::from_file).unwrap_or_else(|| Ok(Policies::law()))
    }

    /// Reads and checks a settings file.
    pub fn from_file(path: &Path) -> Result<Policies, SettingsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        let settings: LenderSettings = serde_norway::from_str(&text)
            .map_err(|e| SettingsError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        let mut policies = Policies::from_settings(&settings, &shown)?;
        policies.source = Some(shown);
        Ok(policies)
    }

    pub fn from_settings(settings: &LenderSettings, path: &str) -> Result<Policies, SettingsError> {
        let invalid = |field: String, reason: String| SettingsError::Invalid { path: path.to_string(), field, reason };
        let mut policies = Policies::default();
        for (key, c) in &settings.countries {
            let country = if key == "default" {
                None
            } else {
                let country: Country = key.parse().map_err(|e: recaudo_domain::country::UnknownCountry| {
                    invalid(format!("countries.{key}"), e.to_string())
                })?;
                Some(country)
            };
            let hours =
                c.hours.parse().map_err(|(day, reason)| invalid(format!("countries.{key}.hours.{day}"), reason))?;
            if c.max_per_day == Some(0) {
                return Err(invalid(
                    format!("countries.{key}.max_per_day"),
                    "must be at least 1 (to stop contacting a country, close its days)".into(),
                ));
            }
            let tightening = Tightening {
                hours,
                max_per_day: c.max_per_day,
                extra_holidays: settings.holidays.iter().chain(&c.holidays).copied().collect(),
            };
            // `default` tightens the default preset: any country without a preset of its own reads it.
            let preset_of = match country {
                Some(c) => c,
                None => Country::ALL.iter().copied().find(is_default).ok_or_else(|| {
                    invalid(format!("countries.{key}"), "every country has a preset of its own".into())
                })?,
            };
            let policy = Policy::tightened(preset_of, &tightening).map_err(|looser| SettingsError::Looser {
                path: path.to_string(),
                country: key.clone(),
                looser,
            })?;
            match country {
                Some(c) => {
                    policies.by_country.insert(c.code(), policy);
                }
                None => policies.default = Some(policy),
            }
        }
        if !settings.holidays.is_empty() {
            // Countries the file does not name still get the lender's own days.
            for &country in Country::ALL {
                let named = policies.by_country.contains_key(country.code())
                    || (is_default(&country) && policies.default.is_some());
                if !named {
                    let mut p = Policy::for_country(country);
                    p.extra_holidays = settings.holidays.clone();
                    policies.by_country.insert(country.code(), p);
                }
            }
        }
        Ok(policies)
    }

    /// The policy in force for a debtor of `country`.
    pub fn for_country(&self, country: Country) -> Policy {
        if let Some(p) = self.by_country.get(country.code()) {
            return p.clone();
        }
        match &self.default {
            Some(p) if is_default(&country) => p.clone(),
            _ => Policy::for_country(country),
        }
    }
}

/// Whether `country` has no preset of its own.
fn is_default(country: &Country) -> bool {
    crate::preset::Preset::for_country(*country).id == "default"
}

impl WeekHours {
    fn parse(&self) -> Result<Option<[DayHours; 7]>, (&'static str, String)> {
        let days = [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ];
        if days.iter().all(|(_, d)| d.is_none()) {
            return Ok(None);
        }
        let mut out = [DayHours::Law; 7];
        for (i, (name, value)) in days.iter().enumerate() {
            if let Some(v) = value {
                out[i] = parse_day(v).map_err(|reason| (*name, reason))?;
            }
        }
        Ok(Some(out))
    }
}

fn parse_day(v: &str) -> Result<DayHours, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("closed") {
        return Ok(DayHours::Closed);
    }
    let expected = || format!("{v:?} is not \"HH:MM-HH:MM\" or \"closed\"");
    let (open, close) = v.split_once('-').ok_or_else(expected)?;
    let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| expected());
    let (open, close) = (time(open)?, time(close)?);
    if open >= close {
        return Err(format!("{v:?} closes before it opens"));
    }
    Ok(DayHours::Open(open, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::Medium;
    use chrono::Weekday;

    fn load(yaml: &str) -> Result<Policies, SettingsError> {
        Policies::from_settings(&serde_norway::from_str(yaml).unwrap(), "policy.yaml")
    }

    #[test]
    fn days_left_out_keep_the_law_and_named_days_tighten_it() {
        let p = load("countries:\n  CO:\n    hours: { sat: \"09:00-13:00\" }\n").unwrap();
        let co = p.for_country(Country::Colombia);
        let w = co.preset.window(Medium::Message);
        assert_eq!(w.on(Weekday::Sat).unwrap().close, NaiveTime::from_hms_opt(13, 0, 0).unwrap());
        assert_eq!(w.on(Weekday::Mon).unwrap().close, NaiveTime::from_hms_opt(19, 0, 0).unwrap());
        // Countries the file does not name keep their preset.
        let mx = p.for_country(Country::Mexico);
        assert_eq!(mx.preset.id, "mx");
    }

    #[test]
    fn a_looser_setting_is_refused_naming_the_rule() {
        let err = load("countries:\n  CO:\n    hours: { sun: \"10:00-12:00\" }\n").unwrap_err().to_string();
        assert!(err.contains("countries.CO") && err.contains("co.hours") && err.contains("Sun"), "{err}");
        let err = load("countries:\n  CO:\n    max_per_day: 3\n").unwrap_err().to_string();
        assert!(err.contains("co.one_contact_a_day"), "{err}");
        let err = load("countries:\n  CO:\n    hours: { mon: \"7-19\" }\n").unwrap_err().to_string();
        assert!(err.contains("countries.CO.hours.mon"), "{err}");
        let err = load("countries:\n  XX: {}\n").unwrap_err().to_string();
        assert!(err.contains("countries.XX"), "{err}");
    }

    #[test]
    fn the_lenders_days_close_every_country() {
        let p = load("holidays: [2026-12-24]\ncountries:\n  default:\n    max_per_day: 1\n").unwrap();
        for &c in Country::ALL {
            assert!(p.for_country(c).extra_holidays.contains(&NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()), "{c:?}");
        }
        assert!(p.for_country(Country::Brazil).preset.caps.iter().any(|c| c.rule == "lender.max_per_day"));
    }
}
