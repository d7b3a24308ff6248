//! Domain vocabulary shared by every Recaudo service: identifiers, money, countries and phone numbers.
//!
//! Types here follow "parse, don't validate": a value of one of these types has already been checked,
//! so the code that receives it never re-validates.

pub mod calendar;
pub mod country;
pub mod ids;
pub mod money;
pub mod phone;
pub mod problem;
pub mod sms;
pub mod text;

pub use country::Country;
pub use ids::{AdvisorId, CreditId, DebtorId, SupervisorId};
pub use money::{Currency, Money};
pub use phone::PhoneNumber;
pub use problem::Problem;
