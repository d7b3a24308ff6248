//! The event bus: NATS JetStream streams declared in code, typed publishing of CloudEvents envelopes, durable
//! pull consumers with bounded redelivery and a dead-letter path, and the PostgreSQL outbox and inbox that make
//! delivery effectively-once (DESIGN.md, "Events").
//!
//! Every service publishes through [`outbox::Outbox`] and consumes through [`consume::run`]. The one exception is
//! an import's row batches: they are not a change of ingestion's state, so ingestion sends them straight with
//! [`Bus::publish_pending`] and announces the import complete (through its outbox) only once every batch is
//! acknowledged. portfolio follows an import's batches with [`replay`] while it holds the import's `import.started`
//! message; nothing else in the workspace talks to JetStream directly.

pub mod consume;
pub mod dead_letters;
pub mod inbox;
pub mod outbox;
mod publish;
pub mod replay;
pub mod streams;
pub mod trace;

pub use consume::{ConsumerSpec, HandleError, Handler, Incoming};
pub use publish::{Bus, BusError, RawMessage};
pub use streams::Prefix;

pub use recaudo_events as events;
