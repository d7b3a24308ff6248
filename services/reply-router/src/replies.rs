//! `reply.received.<channel>`: a debtor's reply or button tap goes to the queue of the credit's advisor *now*,
//! joining the debtor's open item there, as clicks do. An opt-out is not routed: it withdraws consent (the
//! dispatcher published `consent.withdrawn` with it), and nobody needs to answer it.

use std::sync::Arc;

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_domain::AdvisorId;
use recaudo_events::{ReplyKind, ReplyReceived, ReplyRouted};

use crate::{Router, SCHEMA};

pub const CONSUMER: &str = "reply-router-replies";

pub struct ReplyHandler(pub Arc<Router>);

impl Handler for ReplyHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let r = &self.0;
        let reply = msg.envelope.decode::<ReplyReceived>()?.data;
        let mut tx = r.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        if reply.opt_out {
            tx.commit().await?;
            return Ok(());
        }
        let now = r.clock.now();
        let advisor = crate::cases::current_advisor(&mut tx, reply.credit_id.as_str()).await?;
        let detail = serde_json::json!({
            "channel": reply.channel.as_str(),
            "body": reply.body,
            "button": reply.button,
            "attempt_id": reply.attempt_id,
        });
        let Some((advisor_id, supervisor_id)) = advisor else {
            tracing::warn!(reply_id = %reply.reply_id, "reply for a credit with no advisor; not queued");
            crate::timeline::add(&mut tx, reply.debtor_id.as_str(), None, reply.received_at, "reply", None, detail)
                .await?;
            tx.commit().await?;
            return Ok(());
        };
        let kind = ReplyKind::Message;
        let arrival = crate::cases::Arrival {
            advisor_id,
            supervisor_id,
            reason: crate::cases::Reason::Reply,
            debtor_id: &reply.debtor_id,
            credit_id: &reply.credit_id,
            message: Some(&reply.body),
        };
        let item = crate::cases::land(&mut tx, r, arrival, now).await?;
        crate::timeline::add(&mut tx, reply.debtor_id.as_str(), Some(item), reply.received_at, "reply", None, detail)
            .await?;
        let routed = ReplyRouted {
            queue_item_id: item,
            kind,
            debtor_id: reply.debtor_id.clone(),
            credit_id: reply.credit_id.clone(),
            advisor_id: AdvisorId(advisor_id),
            routed_at: now,
        };
        r.outbox.enqueue(&mut tx, now, routed).await?;
        tx.commit().await?;
        r.outbox.wake();
        Ok(())
    }
}
