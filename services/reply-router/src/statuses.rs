//! `contact.status.*`: each delivery status of an attempt on the debtor's timeline (sent, delivered, read, failed),
//! found through the attempt's reply link, which every attempt has from the moment it is prepared.

use std::sync::Arc;

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::ContactStatus;
use serde_json::json;

use crate::{timeline, Router, SCHEMA};

pub const CONSUMER: &str = "reply-router-statuses";

pub struct StatusHandler(pub Arc<Router>);

impl Handler for StatusHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let r = &self.0;
        let status = msg.envelope.decode::<ContactStatus>()?.data;
        let mut tx = r.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let debtor: Option<String> =
            sqlx::query_scalar("SELECT debtor_id FROM reply_router.links WHERE attempt_id = $1 LIMIT 1")
                .bind(status.attempt_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(debtor_id) = debtor {
            let detail = json!({
                "attempt_id": status.attempt_id,
                "channel": status.channel.as_str(),
                "status": status.status,
                "provider_status": status.provider_status,
                "error_code": status.error_code,
            });
            timeline::add(&mut tx, &debtor_id, None, status.reported_at, "status", None, detail).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
