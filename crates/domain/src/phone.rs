//! Phone numbers, always held in E.164. Parsing is delegated to `phonenumber` (libphonenumber's metadata):
//! numbering plans are too irregular for hand-written rules.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Country;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct PhoneNumber(#[schemars(regex(pattern = r"^\+[1-9][0-9]{6,14}$"))] String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPhone {
    #[error("not a phone number")]
    Unparseable,
    #[error("not a possible number for its country (wrong length or unknown country code)")]
    Invalid,
}

impl PhoneNumber {
    /// Parses a number as people write it (spaces, dashes, with or without `+` and country code); a number without
    /// a country code is read in `default_country`.
    pub fn parse(raw: &str, default_country: Country) -> Result<Self, InvalidPhone> {
        let raw = raw.trim();
        if raw.is_empty() || !raw.chars().any(|c| c.is_ascii_digit()) {
            return Err(InvalidPhone::Unparseable);
        }
        let parsed =
            phonenumber::parse(Some(default_country.phone_region()), raw).map_err(|_| InvalidPhone::Unparseable)?;
        if !is_possible(&parsed) {
            return Err(InvalidPhone::Invalid);
        }
        Ok(Self(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// Accepts a number that is already E.164 (as carried in events), without checking its numbering plan.
    pub fn from_e164(s: &str) -> Result<Self, InvalidPhone> {
        let digits = s.strip_prefix('+').ok_or(InvalidPhone::Unparseable)?;
        let ok =
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidPhone::Unparseable)
        }
    }

    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The digits without `+`, as `wa.me` links want them.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

/// libphonenumber's "possible number" test: a known country code and a national number of a length that country
/// uses. The stricter "valid number" test also checks assigned ranges, and the metadata lags behind newly assigned
/// mobile ranges, so it rejects real debtors' numbers; the provider reports unassigned numbers on sending.
fn is_possible(number: &phonenumber::PhoneNumber) -> bool {
    let national = number.national();
    let len = (national.value().to_string().len() + usize::from(national.zeros())) as u16;
    let fits = |d: Option<&phonenumber::metadata::Descriptor>| d.is_some_and(|d| d.possible_length().contains(&len));
    phonenumber::metadata::DATABASE.by_code(&number.code().value()).is_some_and(|regions| {
        regions.iter().any(|m| {
            let d = m.descriptors();
            fits(Some(d.general())) || fits(d.mobile()) || fits(d.fixed_line())
        })
    })
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_local_and_international_forms() {
        let with_code = PhoneNumber::parse("+56 968 282330", Country::Chile).unwrap();
        let without = PhoneNumber::parse("968282330", Country::Chile).unwrap();
        assert_eq!(with_code.e164(), "+56968282330");
        assert_eq!(with_code, without);
        assert_eq!(PhoneNumber::parse("3286834497", Country::Colombia).unwrap().e164(), "+573286834497");
        assert_eq!(with_code.digits(), "56968282330");
    }

    #[test]
    fn rejects_garbage_and_impossible_numbers() {
        assert_eq!(PhoneNumber::parse("abc", Country::Peru), Err(InvalidPhone::Unparseable));
        assert!(PhoneNumber::parse("12", Country::Peru).is_err());
        assert!(PhoneNumber::parse("", Country::Peru).is_err());
        assert!(PhoneNumber::parse("000", Country::Colombia).is_err());
        assert!(PhoneNumber::parse("12ab", Country::Mexico).is_err());
    }

    #[test]
    fn accepts_e164_from_events() {
        assert!(PhoneNumber::from_e164("+525544939092").is_ok());
        assert!(PhoneNumber::from_e164("525544939092").is_err());
    }
}
