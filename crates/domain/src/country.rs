//! Countries Recaudo operates in. The country decides the debtor's time zone (for the contact policy), the
//! default region of phone numbers written without a country code, and the jurisdiction preset.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::text::fold_key;

macro_rules! countries {
    ($($variant:ident => $code:literal, $tz:expr, $region:ident, [$($alias:literal),*];)*) => {
        /// A supported country, by its ISO 3166-1 alpha-2 code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Country { $($variant),* }

        impl Country {
            pub const ALL: &'static [Country] = &[$(Country::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(Country::$variant => $code),* }
            }

            /// The time zone used for contact windows when nothing more precise is known about the debtor.
            pub fn time_zone(self) -> Tz {
                match self { $(Country::$variant => $tz),* }
            }

            /// Region used to read phone numbers that were written without a country code.
            pub fn phone_region(self) -> phonenumber::country::Id {
                match self { $(Country::$variant => phonenumber::country::Id::$region),* }
            }

            fn from_folded(folded: &str) -> Option<Country> {
                match folded {
                    $(x if x == $code.to_ascii_lowercase() $(|| x == $alias)* => Some(Country::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

countries! {
    Argentina => "AR", chrono_tz::America::Argentina::Buenos_Aires, AR, ["argentina", "arg"];
    Bolivia => "BO", chrono_tz::America::La_Paz, BO, ["bolivia", "bol"];
    Brazil => "BR", chrono_tz::America::Sao_Paulo, BR, ["brasil", "brazil", "bra"];
    Chile => "CL", chrono_tz::America::Santiago, CL, ["chile", "chl"];
    Colombia => "CO", chrono_tz::America::Bogota, CO, ["colombia", "col"];
    CostaRica => "CR", chrono_tz::America::Costa_Rica, CR, ["costarica", "cri"];
    DominicanRepublic => "DO", chrono_tz::America::Santo_Domingo, DO, ["republicadominicana", "dominicanrepublic", "dom"];
    Ecuador => "EC", chrono_tz::America::Guayaquil, EC, ["ecuador", "ecu"];
    Guatemala => "GT", chrono_tz::America::Guatemala, GT, ["guatemala", "gtm"];
    Honduras => "HN", chrono_tz::America::Tegucigalpa, HN, ["honduras", "hnd"];
    Mexico => "MX", chrono_tz::America::Mexico_City, MX, ["mexico", "mex"];
    Panama => "PA", chrono_tz::America::Panama, PA, ["panama", "pan"];
    Paraguay => "PY", chrono_tz::America::Asuncion, PY, ["paraguay", "pry"];
    Peru => "PE", chrono_tz::America::Lima, PE, ["peru", "per"];
    ElSalvador => "SV", chrono_tz::America::El_Salvador, SV, ["elsalvador", "slv"];
    Spain => "ES", chrono_tz::Europe::Madrid, ES, ["espana", "spain", "esp"];
    UnitedStates => "US", chrono_tz::America::New_York, US, ["estadosunidos", "unitedstates", "usa", "eeuu"];
    Uruguay => "UY", chrono_tz::America::Montevideo, UY, ["uruguay", "ury"];
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported country {0:?} (expected an ISO 3166-1 alpha-2 code such as CO, MX, CL, PE)")]
pub struct UnknownCountry(pub String);

impl FromStr for Country {
    type Err = UnknownCountry;

    /// Accepts the alpha-2 code, the alpha-3 code or the country's Spanish or English name, in any case and
    /// with or without accents.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Country::from_folded(&fold_key(s)).ok_or_else(|| UnknownCountry(s.trim().to_string()))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Country {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Country".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = Country::ALL.iter().map(|c| c.code()).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "ISO 3166-1 alpha-2 country code",
            "enum": codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_names() {
        assert_eq!("CL".parse::<Country>().unwrap(), Country::Chile);
        assert_eq!("co".parse::<Country>().unwrap(), Country::Colombia);
        assert_eq!("México".parse::<Country>().unwrap(), Country::Mexico);
        assert_eq!("PER".parse::<Country>().unwrap(), Country::Peru);
        assert!("XX".parse::<Country>().is_err());
    }

    #[test]
    fn time_zones_are_the_capitals() {
        assert_eq!(Country::Chile.time_zone(), chrono_tz::America::Santiago);
        assert_eq!(Country::Mexico.time_zone(), chrono_tz::America::Mexico_City);
    }
}
