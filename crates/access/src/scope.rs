//! Scope: which debtors and advisors a principal sees. Decided here and only here; every route, live stream and
//! export asks these functions. Outside the scope a resource answers 404 (its existence is not revealed).
//!
//! Assignments come from portfolio's events (`access.accounts`, `access.advisors`), read at every request: an
//! advisor reassigned away from a debtor loses access as soon as the reassignment is published, with nothing
//! cached in a token or a session.

use recaudo_runtime::ApiError;
use sqlx::PgPool;
use uuid::Uuid;

use crate::principal::{Principal, Team};

/// Something whose visibility depends on who asks.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// A debtor (`id_cliente`), with their credits, contacts and cases.
    Debtor(&'a str),
    /// An advisor, with their queue.
    Advisor(Uuid),
    /// A supervisor, with their queue and team: only the supervisor themself (and people who see everyone).
    Supervisor(Uuid),
    /// A case of reply-router: held by `advisor_id`, escalated to (or pooled under) `supervisor_id`.
    Case(CaseHolder),
}

/// Who holds a case, as far as visibility goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseHolder {
    pub advisor_id: Uuid,
    pub supervisor_id: Option<Uuid>,
    /// In the supervisor's team pool, where any advisor of that supervisor may see and claim it.
    pub pooled: bool,
}

/// What a principal sees of cases, read once and applied to many (a live stream's events, a list's rows). A
/// stream re-reads it for every batch, so a reassignment takes effect at the next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseScope {
    Everything,
    /// An advisor: their own cases, and the pool of their supervisor.
    Advisor {
        me: Uuid,
        supervisor: Option<Uuid>,
    },
    /// A supervisor: cases escalated or pooled to them, and every case of their advisors.
    Supervisor {
        me: Uuid,
        advisors: Vec<Uuid>,
    },
}

impl CaseScope {
    pub fn allows(&self, case: &CaseHolder) -> bool {
        match self {
            CaseScope::Everything => true,
            CaseScope::Advisor { me, supervisor } => {
                case.advisor_id == *me || (case.pooled && supervisor.is_some() && case.supervisor_id == *supervisor)
            }
            CaseScope::Supervisor { me, advisors } => {
                case.supervisor_id == Some(*me) || advisors.contains(&case.advisor_id)
            }
        }
    }
}

/// The case scope of `who`.
pub async fn case_scope(pool: &PgPool, who: &Principal) -> Result<CaseScope, sqlx::Error> {
    Ok(match who.team() {
        Team::Everyone => CaseScope::Everything,
        Team::Advisor(me) => {
            let supervisor: Option<Uuid> =
                sqlx::query_scalar("SELECT supervisor_id FROM access.advisors WHERE advisor_id = $1")
                    .bind(me.0)
                    .fetch_optional(pool)
                    .await?
                    .flatten();
            CaseScope::Advisor { me: me.0, supervisor }
        }
        Team::Supervisor(me) => {
            let advisors = visible_advisors(pool, who).await?.unwrap_or_default();
            CaseScope::Supervisor { me: me.0, advisors }
        }
    })
}

/// Whether `who` may see `resource`.
pub async fn allows(pool: &PgPool, who: &Principal, resource: Resource<'_>) -> Result<bool, sqlx::Error> {
    match (who.team(), resource) {
        (Team::Everyone, _) => Ok(true),
        (_, Resource::Case(case)) => Ok(case_scope(pool, who).await?.allows(&case)),
        (Team::Supervisor(me), Resource::Supervisor(id)) => Ok(me.0 == id),
        (Team::Advisor(_), Resource::Supervisor(_)) => Ok(false),
        (Team::Advisor(me), Resource::Advisor(id)) => Ok(me.0 == id),
        (Team::Supervisor(me), Resource::Advisor(id)) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM access.advisors WHERE advisor_id = $1 AND supervisor_id = $2)",
            )
            .bind(id)
            .bind(me.0)
            .fetch_one(pool)
            .await
        }
        // The debtor's advisor by the client file, or the advisor an open case of the debtor was transferred to.
        (Team::Advisor(me), Resource::Debtor(id)) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM access.accounts WHERE debtor_id = $1 AND advisor_id = $2)
                     OR EXISTS (SELECT 1 FROM access.case_holders WHERE debtor_id = $1 AND advisor_id = $2 AND NOT closed)",
            )
            .bind(id)
            .bind(me.0)
            .fetch_one(pool)
            .await
        }
        (Team::Supervisor(me), Resource::Debtor(id)) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM access.accounts c JOIN access.advisors a ON a.advisor_id = c.advisor_id
                                WHERE c.debtor_id = $1 AND a.supervisor_id = $2)
                     OR EXISTS (SELECT 1 FROM access.case_holders h JOIN access.advisors a ON a.advisor_id = h.advisor_id
                                WHERE h.debtor_id = $1 AND a.supervisor_id = $2 AND NOT h.closed)",
            )
            .bind(id)
            .bind(me.0)
            .fetch_one(pool)
            .await
        }
    }
}

/// 404 unless `who` may see `resource`; `what` names it in the message ("debtor C001").
pub async fn require(pool: &PgPool, who: &Principal, resource: Resource<'_>, what: &str) -> Result<(), ApiError> {
    if allows(pool, who, resource).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no {what}")))
    }
}

/// The advisors `who` sees, for lists: `None` means every advisor.
pub async fn visible_advisors(pool: &PgPool, who: &Principal) -> Result<Option<Vec<Uuid>>, sqlx::Error> {
    match who.team() {
        Team::Everyone => Ok(None),
        Team::Advisor(me) => Ok(Some(vec![me.0])),
        Team::Supervisor(me) => {
            let ids = sqlx::query_scalar("SELECT advisor_id FROM access.advisors WHERE supervisor_id = $1")
                .bind(me.0)
                .fetch_all(pool)
                .await?;
            Ok(Some(ids))
        }
    }
}
