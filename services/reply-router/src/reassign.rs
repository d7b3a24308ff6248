//! A new client file that gives a debtor another advisor moves the debtor's open cases with it: the case waits,
//! unclaimed, in the new advisor's queue with a fresh pick-up timer, and the timeline says who had it before.

use chrono::{DateTime, Utc};
use recaudo_access::scope::CaseHolder;
use recaudo_domain::{AdvisorId, DebtorId};
use recaudo_events::CaseTransferred;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::cases::{self, Case};
use crate::desk::{self, Change};
use crate::{timeline, Router};

/// Moves the open cases of `debtors` whose credit now has another advisor.
pub async fn follow_assignments(
    conn: &mut PgConnection,
    r: &Router,
    debtors: &[&str],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let moves: Vec<(Uuid, Uuid, Option<Uuid>)> = sqlx::query_as(
        "SELECT c.id, a.advisor_id, v.supervisor_id
         FROM reply_router.cases c
         JOIN reply_router.accounts a ON a.credit_id = c.credit_id
         LEFT JOIN reply_router.advisors v ON v.id = a.advisor_id
         WHERE c.debtor_id = ANY($1) AND c.state <> 'closed' AND a.advisor_id IS NOT NULL
           AND a.advisor_id <> c.advisor_id
         ORDER BY c.id FOR UPDATE OF c",
    )
    .bind(debtors)
    .fetch_all(&mut *conn)
    .await?;
    for (case_id, to, supervisor) in moves {
        let Some(case) = cases::lock(conn, case_id).await? else { continue };
        move_case(conn, r, &case, to, supervisor, "reassignment", "service:portfolio", now).await?;
    }
    Ok(())
}

/// Gives `case` to advisor `to`, unclaimed, with a fresh pick-up timer. `false` when `to` already has an open case
/// of the debtor (the two are not merged; the caller says so).
#[allow(clippy::too_many_arguments)]
pub async fn move_case(
    conn: &mut PgConnection,
    r: &Router,
    case: &Case,
    to: Uuid,
    supervisor: Option<Uuid>,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM reply_router.cases WHERE advisor_id = $1 AND debtor_id = $2 AND state <> 'closed')",
    )
    .bind(to)
    .bind(&case.debtor_id)
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        tracing::warn!(case_id = %case.id, "the new advisor already has an open case of the debtor; not moved");
        return Ok(false);
    }
    let country = cases::country_of(conn, &case.debtor_id).await?;
    let (due_at, warn_at) = cases::deadline(r, country, now, r.config.pickup_minutes);
    sqlx::query(
        "UPDATE reply_router.cases SET advisor_id = $2, supervisor_id = $3, queue = 'advisor', state = 'open',
             claimed_by = NULL, claimed_at = NULL, snoozed_until = NULL, timer = 'pickup', due_at = $4, warn_at = $5,
             escalations = 0, updated_at = $6, last_activity_at = $6
         WHERE id = $1",
    )
    .bind(case.id)
    .bind(to)
    .bind(supervisor)
    .bind(due_at)
    .bind(warn_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // The names as they are today, so the timeline reads the same after a later file renames or drops an advisor.
    let name_of = |id: uuid::Uuid| {
        sqlx::query_scalar::<_, String>(
            "SELECT first_name || ' ' || last_name FROM reply_router.advisors WHERE id = $1",
        )
        .bind(id)
    };
    let from_name = name_of(case.advisor_id).fetch_optional(&mut *conn).await?;
    let to_name = name_of(to).fetch_optional(&mut *conn).await?;
    let detail = json!({
        "from_advisor_id": case.advisor_id, "from_advisor": from_name,
        "to_advisor_id": to, "to_advisor": to_name, "reason": reason,
    });
    timeline::add(conn, &case.debtor_id, Some(case.id), now, "transfer", Some(actor), detail).await?;
    let debtor_id = DebtorId::parse(&case.debtor_id).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
    let event = CaseTransferred {
        case_id: case.id,
        debtor_id,
        from_advisor_id: AdvisorId(case.advisor_id),
        to_advisor_id: AdvisorId(to),
        reason: reason.to_string(),
        transferred_by: actor.to_string(),
        transferred_at: now,
    };
    r.outbox.enqueue(conn, now, event).await?;
    let moved = cases::lock(conn, case.id).await?.ok_or(sqlx::Error::RowNotFound)?;
    // The previous holder's desk drops the case; the new holder's shows it.
    let mut gone = case.summary();
    gone["state"] = json!("transferred");
    let changes = [
        Change { kind: "case.transferred", case_id: case.id, holder: case.holder(), data: gone },
        Change {
            kind: "case.transferred",
            case_id: case.id,
            holder: CaseHolder { advisor_id: to, supervisor_id: supervisor, pooled: false },
            data: moved.summary(),
        },
    ];
    desk::append(conn, now, &changes).await?;
    Ok(true)
}
