//! JSON Schema generation for every event type, the source of `proto-schemas/events/`.

use crate::*;

/// `(event type, JSON Schema of its payload)` for every event, in a stable order.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    fn one<E: Event>() -> (&'static str, serde_json::Value) {
        let mut schema = schemars::schema_for!(E);
        schema.insert("$id".into(), envelope::schema_uri(E::TYPE).into());
        (E::TYPE, schema.to_value())
    }
    vec![
        one::<ImportStarted>(),
        one::<ImportRows>(),
        one::<ImportCompleted>(),
        one::<ImportFailed>(),
        one::<AdvisorUpserted>(),
        one::<AccountsUpserted>(),
        one::<AssignmentChanged>(),
        one::<ImportApplied>(),
        one::<PaymentReceived>(),
        one::<PaymentApplied>(),
        one::<PaymentRejected>(),
        one::<ContactRequested>(),
        one::<ContactSuppressed>(),
        one::<ContactCancelled>(),
        one::<ContactPrepared>(),
        one::<ContactAttempted>(),
        one::<ContactNotSent>(),
        one::<ContactStatus>(),
        one::<ReplyReceived>(),
        one::<ReplyClicked>(),
        one::<ReplyRouted>(),
        one::<QueueItemOpened>(),
        one::<CaseOutcomeRecorded>(),
        one::<CaseClaimed>(),
        one::<CaseEscalated>(),
        one::<CaseTransferred>(),
        one::<CaseClosed>(),
        one::<ConsentWithdrawn>(),
        one::<StrategyActivated>(),
        one::<PromiseMade>(),
        one::<PromiseKept>(),
        one::<PromiseBroken>(),
    ]
}

/// The file name of an event type's schema in `proto-schemas/events/`.
pub fn file_name(ty: &str) -> String {
    format!("{ty}.json")
}
