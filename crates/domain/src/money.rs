//! Money: a decimal amount with its ISO 4217 currency. Never floating point.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// ISO 4217 codes of the currencies Recaudo's lenders use; others are rejected rather than guessed.
const KNOWN: &[&str] = &[
    "ARS", "BOB", "BRL", "CLP", "CLF", "COP", "CRC", "DOP", "EUR", "GTQ", "HNL", "MXN", "PAB", "PEN", "PYG", "USD",
    "UYU",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(#[schemars(regex(pattern = "^[A-Z]{3}$"))] [u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency {0:?} (expected an ISO 4217 code such as COP, MXN, CLP, PEN, USD)")]
pub struct UnknownCurrency(pub String);

impl Currency {
    pub fn code(&self) -> &str {
        // Constructed only from ASCII codes in KNOWN.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = UnknownCurrency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        match KNOWN.iter().find(|k| **k == upper) {
            Some(k) => {
                let b = k.as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            }
            None => Err(UnknownCurrency(s.trim().to_string())),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    /// Decimal amount as a string, e.g. "1234.56".
    #[serde(with = "rust_decimal::serde::str")]
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_iso_codes() {
        assert_eq!("cop".parse::<Currency>().unwrap().code(), "COP");
        assert!("XYZ".parse::<Currency>().is_err());
        assert!("PESOS".parse::<Currency>().is_err());
    }

    #[test]
    fn money_serialises_amount_as_string() {
        let m = Money { amount: Decimal::new(123456, 2), currency: "MXN".parse().unwrap() };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"1234.56","currency":"MXN"}"#);
    }
}
