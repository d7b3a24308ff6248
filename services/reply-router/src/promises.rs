//! `promise.*`: promises on the debtor's timeline, and a broken promise back in the queue of the credit's current
//! advisor at high priority (`broken_promise`), where the advisor who obtained it can take it up again.

use std::sync::Arc;

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{Event, PromiseBroken, PromiseKept, PromiseMade};
use serde_json::json;

use crate::cases::{self, Arrival, Reason};
use crate::{timeline, Router, SCHEMA};

pub const CONSUMER: &str = "reply-router-promises";

pub struct PromiseHandler(pub Arc<Router>);

impl Handler for PromiseHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let r = &self.0;
        let mut tx = r.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let now = r.clock.now();
        match msg.envelope.ty.as_str() {
            PromiseMade::TYPE => {
                let p = msg.envelope.decode::<PromiseMade>()?.data;
                let detail = json!({ "promise_id": p.promise_id, "credit_id": p.credit_id.as_str(),
                                     "amount": p.amount.to_string(), "due_on": p.due_on });
                timeline::add(&mut tx, p.debtor_id.as_str(), None, p.made_at, "promise_made", None, detail).await?;
            }
            PromiseKept::TYPE => {
                let p = msg.envelope.decode::<PromiseKept>()?.data.0;
                let detail = json!({ "promise_id": p.promise_id, "credit_id": p.credit_id.as_str(),
                                     "amount": p.amount.to_string(), "paid": p.paid.to_string(), "due_on": p.due_on });
                timeline::add(&mut tx, p.debtor_id.as_str(), None, p.settled_at, "promise_kept", None, detail).await?;
            }
            PromiseBroken::TYPE => {
                let p = msg.envelope.decode::<PromiseBroken>()?.data.0;
                let mut case = None;
                if let Some((advisor_id, supervisor_id)) = cases::current_advisor(&mut tx, p.credit_id.as_str()).await?
                {
                    let arrival = Arrival {
                        advisor_id,
                        supervisor_id,
                        reason: Reason::BrokenPromise,
                        debtor_id: &p.debtor_id,
                        credit_id: &p.credit_id,
                        message: None,
                    };
                    case = Some(cases::land(&mut tx, r, arrival, now).await?);
                }
                let detail = json!({ "promise_id": p.promise_id, "credit_id": p.credit_id.as_str(),
                                     "amount": p.amount.to_string(), "paid": p.paid.to_string(), "due_on": p.due_on });
                timeline::add(&mut tx, p.debtor_id.as_str(), case, p.settled_at, "promise_broken", None, detail)
                    .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        r.outbox.wake();
        Ok(())
    }
}
