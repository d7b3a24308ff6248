//! Money and dates as debtors of each country read them. Separators, currency symbols and month names come from
//! the GNU C Library's locale data (`pure-rust-locales`); the number of decimals comes from the currency
//! (ISO 4217: Chilean and Paraguayan pesos have none, whatever the locale says).

use chrono::{Datelike, NaiveDate};
use pure_rust_locales::{locale_match, Locale as Glibc};
use recaudo_domain::Country;
use rust_decimal::Decimal;

/// A debtor's locale: a BCP 47 tag (`es-CO`) and its glibc data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    tag: &'static str,
    glibc: Glibc,
}

impl Locale {
    /// The locale debtors of `country` read.
    pub fn for_country(country: Country) -> Locale {
        use Country::*;
        let (tag, glibc) = match country {
            Argentina => ("es-AR", Glibc::es_AR),
            Bolivia => ("es-BO", Glibc::es_BO),
            Brazil => ("pt-BR", Glibc::pt_BR),
            Chile => ("es-CL", Glibc::es_CL),
            Colombia => ("es-CO", Glibc::es_CO),
            CostaRica => ("es-CR", Glibc::es_CR),
            DominicanRepublic => ("es-DO", Glibc::es_DO),
            Ecuador => ("es-EC", Glibc::es_EC),
            Guatemala => ("es-GT", Glibc::es_GT),
            Honduras => ("es-HN", Glibc::es_HN),
            Mexico => ("es-MX", Glibc::es_MX),
            Panama => ("es-PA", Glibc::es_PA),
            Paraguay => ("es-PY", Glibc::es_PY),
            Peru => ("es-PE", Glibc::es_PE),
            ElSalvador => ("es-SV", Glibc::es_SV),
            Spain => ("es-ES", Glibc::es_ES),
            UnitedStates => ("en-US", Glibc::en_US),
            Uruguay => ("es-UY", Glibc::es_UY),
        };
        Locale { tag, glibc }
    }

    /// The BCP 47 tag, as `es-CO`.
    pub fn tag(self) -> &'static str {
        self.tag
    }

    /// Whether messages in this locale are written in English (the opt-out wording follows it).
    pub fn is_english(self) -> bool {
        self.tag.starts_with("en-")
    }

    /// `amount` in `currency` as the locale writes money: `$ 1.234.567` (es-CL, CLP), `$ 1,234.50` (es-MX),
    /// `S/ 98.10` (es-PE), `$1,234.50` (en-US). A currency that is not the locale's own is written with its ISO
    /// code (`USD 1.234,50` in es-CO), so a debtor is never left to guess which dollar.
    pub fn money(self, amount: Decimal, currency: &str) -> String {
        let own = locale_match!(self.glibc => LC_MONETARY::INT_CURR_SYMBOL).trim() == currency;
        let decimal_point = locale_match!(self.glibc => LC_MONETARY::MON_DECIMAL_POINT);
        let thousands = locale_match!(self.glibc => LC_MONETARY::MON_THOUSANDS_SEP);
        let group = locale_match!(self.glibc => LC_MONETARY::MON_GROUPING).first().copied().unwrap_or(3).max(1);
        let decimals = minor_units(currency);
        let rounded = amount.round_dp(decimals).abs();
        let digits = format!("{:.*}", decimals as usize, rounded);
        let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
        let mut number = group_digits(int, thousands, group as usize);
        if !frac.is_empty() {
            number.push_str(decimal_point);
            number.push_str(frac);
        }
        let sign = if amount.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
        if !own {
            return format!("{sign}{currency} {number}");
        }
        let symbol = locale_match!(self.glibc => LC_MONETARY::CURRENCY_SYMBOL);
        let space = if locale_match!(self.glibc => LC_MONETARY::P_SEP_BY_SPACE) == 1 { " " } else { "" };
        if locale_match!(self.glibc => LC_MONETARY::P_CS_PRECEDES) == 1 {
            format!("{sign}{symbol}{space}{number}")
        } else {
            format!("{sign}{number}{space}{symbol}")
        }
    }

    /// A date written out as the locale reads it: `15 de marzo de 2026`, `15 de setiembre de 2026` (es-PE),
    /// `March 15, 2026` (en-US).
    pub fn date(self, date: NaiveDate) -> String {
        let months = locale_match!(self.glibc => LC_TIME::MON);
        let month = months[date.month0() as usize];
        if self.is_english() {
            format!("{month} {}, {}", date.day(), date.year())
        } else {
            format!("{} de {month} de {}", date.day(), date.year())
        }
    }
}

/// Decimals a currency is written with (ISO 4217 minor units).
fn minor_units(currency: &str) -> u32 {
    match currency {
        "CLP" | "PYG" | "JPY" | "KRW" | "ISK" | "UYI" | "VND" | "XAF" | "XOF" => 0,
        _ => 2,
    }
}

fn group_digits(int: &str, separator: &str, group: usize) -> String {
    let mut out = String::with_capacity(int.len() + int.len() / group * separator.len());
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(group) {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_as_each_locale_writes_it() {
        let money = |c, a, cur| Locale::for_country(c).money(d(a), cur);
        assert_eq!(money(Country::Colombia, "1234567.5", "COP"), "$ 1.234.567,50");
        assert_eq!(money(Country::Mexico, "1234.5", "MXN"), "$ 1,234.50");
        assert_eq!(money(Country::Chile, "1234567", "CLP"), "$ 1.234.567");
        assert_eq!(money(Country::Chile, "1234567.6", "CLP"), "$ 1.234.568");
        assert_eq!(money(Country::Peru, "98.1", "PEN"), "S/ 98.10");
        assert_eq!(money(Country::UnitedStates, "1234.5", "USD"), "$1,234.50");
        assert_eq!(money(Country::Colombia, "0", "COP"), "$ 0,00");
        assert_eq!(money(Country::Colombia, "1234.5", "USD"), "USD 1.234,50");
        assert_eq!(money(Country::UnitedStates, "-5", "USD"), "-$5.00");
        assert_eq!(money(Country::Mexico, "999", "MXN"), "$ 999.00");
    }

    #[test]
    fn dates_are_written_out_in_the_debtors_language() {
        let date = NaiveDate::from_ymd_opt(2026, 9, 5).unwrap();
        let on = |c| Locale::for_country(c).date(date);
        assert_eq!(on(Country::Colombia), "5 de septiembre de 2026");
        assert_eq!(on(Country::Mexico), "5 de septiembre de 2026");
        assert_eq!(on(Country::Chile), "5 de septiembre de 2026");
        assert_eq!(on(Country::Peru), "5 de setiembre de 2026");
        assert_eq!(on(Country::UnitedStates), "September 5, 2026");
        assert_eq!(Locale::for_country(Country::Peru).tag(), "es-PE");
    }
}
