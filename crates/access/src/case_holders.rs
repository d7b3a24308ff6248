//! What the access layer learns from reply-router's cases: the advisor who holds an open case of a debtor (a
//! supervisor transferred it to them, or they claimed it from the team pool) sees that debtor while the case is
//! open, although the client file assigns the debtor to someone else. A closed case gives that back. Events of one case are applied in their order of occurrence, whatever their order of arrival.

use chrono::{DateTime, Utc};
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{CaseClaimed, CaseClosed, CaseTransferred, Event};
use sqlx::PgConnection;
use sqlx::PgPool;

use crate::SCHEMA;

pub const CONSUMER: &str = "access-cases";
/// The subjects it reads.
pub const FILTER: &str = "case.>";

pub struct CaseHolders {
    pub pool: PgPool,
}

impl Handler for CaseHolders {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, CONSUMER, msg.envelope.id).await? {
            return Ok(());
        }
        match msg.envelope.ty.as_str() {
            CaseTransferred::TYPE => {
                let e = msg.envelope.decode::<CaseTransferred>()?.data;
                hold(&mut tx, e.case_id, e.debtor_id.as_str(), e.to_advisor_id.0, e.transferred_at).await?;
            }
            CaseClaimed::TYPE => {
                let e = msg.envelope.decode::<CaseClaimed>()?.data;
                hold(&mut tx, e.case_id, e.debtor_id.as_str(), e.advisor_id.0, e.claimed_at).await?;
            }
            CaseClosed::TYPE => {
                let e = msg.envelope.decode::<CaseClosed>()?.data;
                // A tombstone rather than a deletion, so that a transfer arriving late cannot bring the case back.
                sqlx::query(
                    "INSERT INTO access.case_holders (case_id, debtor_id, advisor_id, updated_at, closed)
                     VALUES ($1, $2, $3, $4, true)
                     ON CONFLICT (case_id) DO UPDATE SET closed = true, updated_at = greatest(case_holders.updated_at, $4)",
                )
                .bind(e.case_id)
                .bind(e.debtor_id.as_str())
                .bind(e.advisor_id.0)
                .bind(e.closed_at)
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }
}

/// `advisor` holds the open case from `at` on (a later change of holder already applied wins).
async fn hold(
    conn: &mut PgConnection,
    case_id: uuid::Uuid,
    debtor_id: &str,
    advisor: uuid::Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access.case_holders (case_id, debtor_id, advisor_id, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (case_id) DO UPDATE SET advisor_id = EXCLUDED.advisor_id, updated_at = EXCLUDED.updated_at
         WHERE case_holders.updated_at <= EXCLUDED.updated_at AND NOT case_holders.closed",
    )
    .bind(case_id)
    .bind(debtor_id)
    .bind(advisor)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
