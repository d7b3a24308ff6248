//! What every Recaudo process shares: configuration from the environment, the clock, telemetry, the database
//! pool and per-service migrations, the one HTTP listener with its probes, and graceful shutdown.

pub mod clock;
pub mod config;
pub mod db;
pub mod http;
pub mod process;
pub mod secrets;
pub mod shutdown;
pub mod telemetry;

pub use clock::Clock;
pub use config::{CommonConfig, ConfigError, Env};
pub use db::Migration;
pub use http::{ApiError, RouteEntry, Routes, Visibility};
pub use process::{Application, Gate, Infra, Started};
