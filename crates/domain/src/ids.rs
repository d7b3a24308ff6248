//! Identifiers. Debtor and credit ids are the lender's own (`id_cliente`, `id_credito`); advisor and supervisor
//! ids are derived from their natural keys so that they stay stable across files and services.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::phone::PhoneNumber;
use crate::text::fold_name;

/// Namespace for the name-based (v5) ids below; never change it, ids would change with it.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_4f0e_9c3a_4b8e_a2c1_5e7d_0b9a_3f21);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be 1 to 64 visible characters without spaces, got {len} characters")]
pub struct InvalidId {
    what: &'static str,
    len: usize,
}

macro_rules! external_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The lender's ", $what, ", as written in the client file.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                let s = raw.trim();
                let ok = !s.is_empty() && s.len() <= 64 && !s.chars().any(|c| c.is_whitespace() || c.is_control());
                if ok {
                    Ok(Self(s.to_string()))
                } else {
                    Err(InvalidId { what: $what, len: s.chars().count() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(DebtorId, "id_cliente");
external_id!(CreditId, "id_credito");

/// A business advisor, identified by their normalised phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AdvisorId(pub Uuid);

impl AdvisorId {
    pub fn from_phone(phone: &PhoneNumber) -> Self {
        Self(Uuid::new_v5(&NAMESPACE, format!("advisor:phone:{}", phone.e164()).as_bytes()))
    }

    /// An advisor the lender identifies by its own id.
    pub fn from_lender_id(id: &str) -> Self {
        Self(Uuid::new_v5(&NAMESPACE, format!("advisor:id:{}", id.trim()).as_bytes()))
    }
}

/// A supervisor, identified by their folded full name (files carry no supervisor phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SupervisorId(pub Uuid);

impl SupervisorId {
    /// A supervisor the lender identifies by its own id.
    pub fn from_lender_id(id: &str) -> Self {
        Self(Uuid::new_v5(&NAMESPACE, format!("supervisor:id:{}", id.trim()).as_bytes()))
    }

    pub fn from_name(first: &str, last: &str) -> Self {
        let key = fold_name(&format!("{first} {last}"));
        Self(Uuid::new_v5(&NAMESPACE, format!("supervisor:name:{key}").as_bytes()))
    }
}

macro_rules! uuid_display {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}
uuid_display!(AdvisorId, SupervisorId);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Country;

    #[test]
    fn external_ids_reject_blank_and_spaces() {
        assert!(DebtorId::parse("  ").is_err());
        assert!(CreditId::parse("CR 1").is_err());
        assert_eq!(DebtorId::parse(" C0001 ").unwrap().as_str(), "C0001");
    }

    #[test]
    fn advisor_id_is_stable_for_the_same_number_however_written() {
        let a = PhoneNumber::parse("+57 339 190 7483", Country::Colombia).unwrap();
        let b = PhoneNumber::parse("3391907483", Country::Colombia).unwrap();
        assert_eq!(AdvisorId::from_phone(&a), AdvisorId::from_phone(&b));
    }

    #[test]
    fn supervisor_id_ignores_accents_and_case() {
        assert_eq!(SupervisorId::from_name("José", "Martínez"), SupervisorId::from_name("jose", "MARTINEZ"));
        assert_ne!(SupervisorId::from_name("José", "Martínez"), SupervisorId::from_name("Lucía", "Flores"));
    }
}
