//! What the access layer learns from portfolio: each credit's debtor and advisor, and each advisor's supervisor.
//! The same ordering rules as every other projection: account snapshots by version, then time; a reassignment is
//! applied as soon as it is published, ahead of the snapshot pages that follow it.

use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{AccountsUpserted, AdvisorUpserted, AssignmentChanged, Event};
use serde::Serialize;
use sqlx::PgPool;

use crate::SCHEMA;

pub const CONSUMER: &str = "access-portfolio";

pub struct Projection {
    pub pool: PgPool,
}

#[derive(Serialize)]
struct AccountRow<'a> {
    credit_id: &'a str,
    debtor_id: &'a str,
    advisor_id: Option<uuid::Uuid>,
    snapshot_version: u64,
}

impl Handler for Projection {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        let at = msg.envelope.time;
        match msg.envelope.ty.as_str() {
            AdvisorUpserted::TYPE => {
                let e = msg.envelope.decode::<AdvisorUpserted>()?.data;
                sqlx::query(
                    "INSERT INTO access.advisors (advisor_id, supervisor_id, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (advisor_id) DO UPDATE SET supervisor_id = EXCLUDED.supervisor_id,
                         updated_at = EXCLUDED.updated_at
                     WHERE advisors.updated_at <= EXCLUDED.updated_at",
                )
                .bind(e.advisor_id.0)
                .bind(e.supervisor.map(|s| s.supervisor_id.0))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            AccountsUpserted::TYPE => {
                let e = msg.envelope.decode::<AccountsUpserted>()?.data;
                let rows: Vec<AccountRow<'_>> = e
                    .accounts
                    .iter()
                    .map(|a| AccountRow {
                        credit_id: a.credit_id.as_str(),
                        debtor_id: a.debtor_id.as_str(),
                        advisor_id: a.advisor_id.map(|id| id.0),
                        snapshot_version: a.version,
                    })
                    .collect();
                sqlx::query(
                    "INSERT INTO access.accounts (credit_id, debtor_id, advisor_id, snapshot_version, updated_at)
                     SELECT r.*, $2 FROM jsonb_to_recordset($1)
                         AS r(credit_id TEXT, debtor_id TEXT, advisor_id UUID, snapshot_version BIGINT)
                     ON CONFLICT (credit_id) DO UPDATE SET debtor_id = EXCLUDED.debtor_id,
                         advisor_id = EXCLUDED.advisor_id, snapshot_version = EXCLUDED.snapshot_version,
                         updated_at = EXCLUDED.updated_at
                     WHERE (accounts.snapshot_version, accounts.updated_at)
                           <= (EXCLUDED.snapshot_version, EXCLUDED.updated_at)",
                )
                .bind(serde_json::to_value(&rows).map_err(HandleError::reject)?)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            AssignmentChanged::TYPE => {
                // Published in the import's own transaction, before its snapshot pages: the old advisor loses the
                // debtor now rather than when the page with these credits arrives.
                let e = msg.envelope.decode::<AssignmentChanged>()?.data;
                let credits: Vec<&str> = e.credit_ids.iter().map(|c| c.as_str()).collect();
                sqlx::query(
                    "INSERT INTO access.accounts (credit_id, debtor_id, advisor_id, snapshot_version, updated_at)
                     SELECT c, $2, $3, 0, $4 FROM unnest($1::text[]) AS c
                     ON CONFLICT (credit_id) DO UPDATE SET advisor_id = EXCLUDED.advisor_id,
                         updated_at = EXCLUDED.updated_at
                     WHERE accounts.updated_at <= EXCLUDED.updated_at",
                )
                .bind(&credits)
                .bind(e.debtor_id.as_str())
                .bind(e.to_advisor_id.map(|a| a.0))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }
}
