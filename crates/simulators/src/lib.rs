//! Local simulators of the outside providers Recaudo talks to, so the demo (`make run`) and the tests exercise the
//! real clients over real HTTP without an account, a network, or a debtor's phone.
//!
//! Each simulator is an axum [`Router`](axum::Router) that can be mounted under any prefix.

pub mod meta;
pub mod sendgrid;
pub mod smtp;
pub mod twilio;
