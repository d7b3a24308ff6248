//! `contact.requested.call`: a strategy's escalation asks the debtor's assigned advisor to phone them. The task goes
//! to the queue of the credit's advisor *now* (as clicks do), joining the debtor's open item there, and is recorded
//! with its rendered description. The advisor's call itself, when made, passes the contact policy like any contact.

use std::sync::Arc;

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::ContactRequested;
use recaudo_templates::{MessageContext, TemplateError};

use crate::{Router, SCHEMA};

pub const CONSUMER: &str = "reply-router-call-tasks";

pub struct CallTaskHandler(pub Arc<Router>);

impl Handler for CallTaskHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let r = &self.0;
        let task = msg.envelope.decode::<ContactRequested>()?.data;
        let mut tx = r.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let now = r.clock.now();
        let ctx = MessageContext::for_request(&task, String::new());
        let body = recaudo_templates::resolve(&task.template, task.template_source.as_ref())
            .ok_or_else(|| TemplateError::Unknown(task.template.clone()))
            .and_then(|t| recaudo_templates::render(&task.template, &t, &ctx))
            .map(|r| r.body)
            .unwrap_or_else(|e| {
                tracing::warn!(task_id = %task.contact_id, error = %e, "call task template not rendered");
                format!("Llamar: {} {}", task.credit.product, task.credit.id)
            });
        let advisor = crate::cases::current_advisor(&mut tx, task.credit.id.as_str()).await?;
        let mut queue_item = None;
        if let Some((advisor_id, supervisor_id)) = advisor {
            let arrival = crate::cases::Arrival {
                advisor_id,
                supervisor_id,
                reason: crate::cases::Reason::Call,
                debtor_id: &task.debtor.id,
                credit_id: &task.credit.id,
                message: None,
            };
            queue_item = Some(crate::cases::land(&mut tx, r, arrival, now).await?);
        } else {
            tracing::warn!(task_id = %task.contact_id, "call task for a credit with no advisor; recorded, not queued");
        }
        let detail = serde_json::json!({ "task_id": task.contact_id, "strategy": task.strategy, "body": body });
        crate::timeline::add(&mut tx, task.debtor.id.as_str(), queue_item, now, "call_task", None, detail).await?;
        sqlx::query(
            "INSERT INTO reply_router.call_tasks (task_id, debtor_id, credit_id, advisor_id, queue_item_id, strategy, body,
                                                  requested_at, queued_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (task_id) DO NOTHING",
        )
        .bind(task.contact_id)
        .bind(task.debtor.id.as_str())
        .bind(task.credit.id.as_str())
        .bind(advisor.map(|(a, _)| a))
        .bind(queue_item)
        .bind(&task.strategy)
        .bind(&body)
        .bind(task.requested_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        r.outbox.wake();
        Ok(())
    }
}
