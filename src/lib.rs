//! The `recaudo` binary's library: which services a process runs, and the commands (`serve`, `migrate`,
//! `streams apply`, `import`, `schemas`).

pub mod access;
pub mod cli;
pub mod dead_letters;
pub mod import;
pub mod schemas;
pub mod services;
pub mod simulators;
pub mod strategies;

pub use services::{build, serve, Target};
