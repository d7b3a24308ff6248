//! What people do to a case: claim, note, snooze, transfer, record an outcome; and marking an advisor away. The
//! JSON API (`api.rs`) and the console (`console.rs`) both call these, so a rule holds the same on either.
//! Each action checks the caller's permission and the case's scope (outside it, 404), locks the case, and commits
//! the change with its timeline entry, desk event, outbox events and audit record in one transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource, Team};
use recaudo_domain::{AdvisorId, CreditId, DebtorId};
use recaudo_events::{CaseClaimed, CaseClosed, CaseOutcomeRecorded, Outcome};
use recaudo_runtime::ApiError;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::cases::{self, Case};
use crate::{reassign, timeline, Router};

/// The longest note, in characters.
pub const MAX_NOTE: usize = 4000;
/// The furthest a snooze may reach.
pub const MAX_SNOOZE_DAYS: i64 = 90;

/// The case, locked, if `who` may work it; 404 outside the caller's scope.
async fn in_scope(tx: &mut PgConnection, r: &Router, who: &Principal, id: Uuid) -> Result<Case, ApiError> {
    let case = cases::lock(tx, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    scope::require(&r.pool, who, Resource::Case(case.holder()), &format!("case {id}")).await?;
    Ok(case)
}

fn open_or_conflict(case: &Case) -> Result<(), ApiError> {
    if case.state == "closed" {
        return Err(ApiError::Conflict(format!("case {} is closed", case.id)));
    }
    Ok(())
}

async fn begin(r: &Router) -> Result<Transaction<'static, Postgres>, ApiError> {
    Ok(r.pool.begin().await?)
}

async fn finish(tx: Transaction<'static, Postgres>, r: &Router) -> Result<(), ApiError> {
    tx.commit().await?;
    r.outbox.wake();
    Ok(())
}

fn debtor_id(case: &Case) -> Result<DebtorId, ApiError> {
    DebtorId::parse(&case.debtor_id).map_err(|e| ApiError::Internal(anyhow::anyhow!("stored debtor id: {e}")))
}

/// Claims the case for the caller. An advisor claiming from the team pool takes it over; a second claimant gets
/// 409. Claiming again a case one holds changes nothing.
pub async fn claim(r: &Router, who: &Principal, id: Uuid) -> Result<(), ApiError> {
    who.require(Permission::CasesWrite)?;
    let now = r.clock.now();
    let mut tx = begin(r).await?;
    let case = in_scope(&mut tx, r, who, id).await?;
    open_or_conflict(&case)?;
    if case.state == "claimed" {
        return match case.claimed_by.as_deref() {
            Some(by) if by == who.subject => Ok(()),
            _ => Err(ApiError::Conflict(format!("case {id} is already claimed by someone else"))),
        };
    }
    let mut advisor_id = case.advisor_id;
    if let Team::Advisor(me) = who.team() {
        if me.0 != case.advisor_id {
            // Only a pooled case reaches here (scope): the claimant takes it over.
            let taken: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM reply_router.cases
                                WHERE advisor_id = $1 AND debtor_id = $2 AND state <> 'closed' AND id <> $3)",
            )
            .bind(me.0)
            .bind(&case.debtor_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if taken {
                return Err(ApiError::Conflict(format!(
                    "you already have an open case of debtor {}; work that one",
                    case.debtor_id
                )));
            }
            advisor_id = me.0;
        }
    }
    sqlx::query(
        "UPDATE reply_router.cases SET state = 'claimed', claimed_by = $2, claimed_at = $3, advisor_id = $4,
             queue = CASE WHEN $4 <> advisor_id OR queue = 'pool' THEN 'advisor' ELSE queue END,
             timer = NULL, due_at = NULL, warn_at = NULL, snoozed_until = NULL, updated_at = $3, last_activity_at = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(&who.subject)
    .bind(now)
    .bind(advisor_id)
    .execute(&mut *tx)
    .await?;
    let detail = json!({ "advisor_id": advisor_id, "from_pool": case.queue == "pool" });
    timeline::add(&mut tx, &case.debtor_id, Some(id), now, "claim", Some(&who.subject), detail).await?;
    let event = CaseClaimed {
        case_id: id,
        debtor_id: debtor_id(&case)?,
        advisor_id: AdvisorId(advisor_id),
        claimed_by: who.subject.clone(),
        claimed_at: now,
    };
    r.outbox.enqueue(&mut tx, now, event).await?;
    let claimed = cases::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    cases::announce(&mut tx, now, "case.claimed", &claimed).await?;
    if claimed.advisor_id != case.advisor_id {
        // The pool's other desks drop it.
        cases::announce(&mut tx, now, "case.claimed", &Case { state: "claimed".into(), ..case.clone() }).await?;
    }
    let sid = id.to_string();
    audit::record(&mut tx, who, now, AuditEntry::new("case.claim", "case", Some(&sid))).await?;
    finish(tx, r).await
}

/// A note on the case's timeline.
pub async fn note(r: &Router, who: &Principal, id: Uuid, text: &str) -> Result<(), ApiError> {
    who.require(Permission::CasesWrite)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("invalid_note", "text: a note needs some text"));
    }
    if text.chars().count() > MAX_NOTE {
        return Err(ApiError::bad_request("invalid_note", format!("text: a note is at most {MAX_NOTE} characters")));
    }
    let now = r.clock.now();
    let mut tx = begin(r).await?;
    let case = in_scope(&mut tx, r, who, id).await?;
    sqlx::query("UPDATE reply_router.cases SET last_activity_at = $2, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    timeline::add(&mut tx, &case.debtor_id, Some(id), now, "note", Some(&who.subject), json!({ "text": text })).await?;
    cases::announce(&mut tx, now, "case.updated", &case).await?;
    let sid = id.to_string();
    audit::record(&mut tx, who, now, AuditEntry::new("case.note", "case", Some(&sid))).await?;
    finish(tx, r).await
}

/// Puts the case aside until `until`; the debtor writing wakes it early.
pub async fn snooze(r: &Router, who: &Principal, id: Uuid, until: DateTime<Utc>) -> Result<(), ApiError> {
    who.require(Permission::CasesWrite)?;
    let now = r.clock.now();
    if until <= now {
        return Err(ApiError::bad_request(
            "invalid_snooze",
            format!("until: {until} is not in the future (now is {now})"),
        ));
    }
    if until > now + Duration::days(MAX_SNOOZE_DAYS) {
        return Err(ApiError::bad_request(
            "invalid_snooze",
            format!("until: a case may be snoozed for at most {MAX_SNOOZE_DAYS} days"),
        ));
    }
    let mut tx = begin(r).await?;
    let case = in_scope(&mut tx, r, who, id).await?;
    open_or_conflict(&case)?;
    put_aside(&mut tx, &case, until, now).await?;
    timeline::add(&mut tx, &case.debtor_id, Some(id), now, "snooze", Some(&who.subject), json!({ "until": until }))
        .await?;
    let snoozed = cases::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    cases::announce(&mut tx, now, "case.updated", &snoozed).await?;
    let sid = id.to_string();
    audit::record(&mut tx, who, now, AuditEntry::new("case.snooze", "case", Some(&sid))).await?;
    finish(tx, r).await
}

async fn put_aside(
    conn: &mut PgConnection,
    case: &Case,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reply_router.cases SET state = 'snoozed', snoozed_until = $2, timer = 'wake', due_at = $2,
             warn_at = NULL, updated_at = $3, last_activity_at = $3
         WHERE id = $1",
    )
    .bind(case.id)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A supervisor gives the case to another advisor of the team, unclaimed, with a fresh pick-up timer.
pub async fn transfer(r: &Router, who: &Principal, id: Uuid, to: Uuid) -> Result<(), ApiError> {
    who.require(Permission::TeamsManage)?;
    let now = r.clock.now();
    let mut tx = begin(r).await?;
    let case = in_scope(&mut tx, r, who, id).await?;
    open_or_conflict(&case)?;
    scope::require(&r.pool, who, Resource::Advisor(to), &format!("advisor {to}")).await?;
    let Some(supervisor) = cases::supervisor_of(&mut *tx, to).await? else {
        return Err(ApiError::NotFound(format!("no advisor {to}")));
    };
    if to == case.advisor_id && case.queue == "advisor" {
        return Err(ApiError::Conflict(format!("case {id} is already with advisor {to}")));
    }
    if !reassign::move_case(&mut tx, r, &case, to, supervisor, "transfer", &who.subject, now).await? {
        return Err(ApiError::Conflict(format!(
            "advisor {to} already has an open case of debtor {}; close one of them first",
            case.debtor_id
        )));
    }
    let sid = id.to_string();
    let entry = AuditEntry::new("case.transfer", "case", Some(&sid)).details(json!({ "to_advisor_id": to }));
    audit::record(&mut tx, who, now, entry).await?;
    finish(tx, r).await
}

/// An outcome as people write it: `{"kind": "promise", "credit_id": ..., "amount": "...", "date": "yyyy-mm-dd"}`,
/// `{"kind": "claimed_payment", "amount"?, "date"?}`, `{"kind": "dispute", "reason": ...}`,
/// `{"kind": "call_back", "at": rfc3339}`, or a bare kind: `cant_pay`, `wont_pay`, `wrong_number`,
/// `refinancing_request`, `legal_representation`, `deceased`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutcomeRequest {
    Promise {
        credit_id: String,
        amount: String,
        date: String,
    },
    ClaimedPayment {
        #[serde(default)]
        amount: Option<String>,
        #[serde(default)]
        date: Option<String>,
    },
    Dispute {
        reason: String,
    },
    CallBack {
        at: String,
    },
    CantPay,
    WontPay,
    WrongNumber,
    RefinancingRequest,
    LegalRepresentation,
    Deceased,
}

fn bad(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_outcome", format!("{field}: {reason}"))
}

fn amount(field: &str, text: &str) -> Result<Decimal, ApiError> {
    let value: Decimal =
        text.trim().parse().map_err(|_| bad(field, format!("{text:?} is not an amount such as 150000.00")))?;
    if value <= Decimal::ZERO {
        return Err(bad(field, "must be more than 0"));
    }
    if value.scale() > 4 {
        return Err(bad(field, "has more than 4 decimals"));
    }
    Ok(value)
}

fn date(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| bad(field, format!("{text:?} is not a date yyyy-mm-dd")))
}

/// Checks an outcome against the debtor's credits and local date: a promise in the past, or above the credit's
/// balance, is refused naming the field.
async fn validate(
    conn: &mut PgConnection,
    case: &Case,
    req: OutcomeRequest,
    now: DateTime<Utc>,
) -> Result<Outcome, ApiError> {
    let country = cases::country_of(conn, &case.debtor_id).await?;
    let today = now.with_timezone(&country.time_zone()).date_naive();
    Ok(match req {
        OutcomeRequest::Promise { credit_id, amount: a, date: d } => {
            let balance: Option<Option<Decimal>> = sqlx::query_scalar(
                "SELECT balance_total FROM reply_router.accounts WHERE credit_id = $1 AND debtor_id = $2",
            )
            .bind(credit_id.trim())
            .bind(&case.debtor_id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(balance) = balance else {
                return Err(bad("credit_id", format!("{credit_id:?} is not a credit of debtor {}", case.debtor_id)));
            };
            let amount = amount("amount", &a)?;
            if let Some(balance) = balance {
                if amount > balance {
                    return Err(bad("amount", format!("{amount} is above the credit's balance of {balance}")));
                }
            }
            let due_on = date("date", &d)?;
            if due_on < today {
                return Err(bad("date", format!("{due_on} is in the past (today is {today} where the debtor lives)")));
            }
            if due_on > today + Duration::days(365) {
                return Err(bad("date", "a promise is at most a year ahead"));
            }
            let credit_id = CreditId::parse(&credit_id).map_err(|e| bad("credit_id", e))?;
            Outcome::Promise { credit_id, amount, due_on }
        }
        OutcomeRequest::ClaimedPayment { amount: a, date: d } => {
            let amount = a.filter(|a| !a.trim().is_empty()).map(|a| amount("amount", &a)).transpose()?;
            let paid_on = d.filter(|d| !d.trim().is_empty()).map(|d| date("date", &d)).transpose()?;
            if paid_on.is_some_and(|p| p > today) {
                return Err(bad("date", "a payment already made cannot be dated in the future"));
            }
            Outcome::ClaimedPayment { amount, paid_on }
        }
        OutcomeRequest::Dispute { reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() || reason.chars().count() > 1000 {
                return Err(bad("reason", "a dispute needs a reason of 1 to 1000 characters"));
            }
            Outcome::Dispute { reason }
        }
        OutcomeRequest::CallBack { at } => {
            let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at.trim())
                .map_err(|_| bad("at", format!("{at:?} is not an instant such as 2026-11-24T15:00:00-05:00")))?
                .with_timezone(&Utc);
            if at <= now {
                return Err(bad("at", format!("{at} is not in the future")));
            }
            if at > now + Duration::days(MAX_SNOOZE_DAYS) {
                return Err(bad("at", format!("a call-back is at most {MAX_SNOOZE_DAYS} days ahead")));
            }
            Outcome::CallBack { at }
        }
        OutcomeRequest::CantPay => Outcome::CantPay,
        OutcomeRequest::WontPay => Outcome::WontPay,
        OutcomeRequest::WrongNumber => Outcome::WrongNumber,
        OutcomeRequest::RefinancingRequest => Outcome::RefinancingRequest,
        OutcomeRequest::LegalRepresentation => Outcome::LegalRepresentation,
        OutcomeRequest::Deceased => Outcome::Deceased,
    })
}

/// Records the outcome (`case.outcome.recorded`, which the strategy and portfolio act on) and closes the case; a
/// call-back instead puts the case aside until its instant, with the same advisor.
pub async fn outcome(r: &Router, who: &Principal, id: Uuid, req: OutcomeRequest) -> Result<Uuid, ApiError> {
    who.require(Permission::CasesWrite)?;
    let now = r.clock.now();
    let mut tx = begin(r).await?;
    let case = in_scope(&mut tx, r, who, id).await?;
    open_or_conflict(&case)?;
    let outcome = validate(&mut tx, &case, req, now).await?;
    let outcome_id = Uuid::now_v7();
    let credit_id = match &outcome {
        Outcome::Promise { credit_id, .. } => Some(credit_id.clone()),
        _ => CreditId::parse(&case.credit_id).ok(),
    };
    let kind = outcome.kind();
    let recorded = CaseOutcomeRecorded {
        outcome_id,
        debtor_id: debtor_id(&case)?,
        credit_id,
        advisor_id: Some(AdvisorId(case.advisor_id)),
        recorded_by: who.subject.clone(),
        recorded_at: now,
        outcome: outcome.clone(),
    };
    r.outbox.enqueue(&mut tx, now, recorded).await?;
    let detail = json!({ "outcome_id": outcome_id, "outcome": outcome });
    timeline::add(&mut tx, &case.debtor_id, Some(id), now, "outcome", Some(&who.subject), detail).await?;
    if let Outcome::CallBack { at } = outcome {
        put_aside(&mut tx, &case, at, now).await?;
        let aside = cases::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
        cases::announce(&mut tx, now, "case.updated", &aside).await?;
    } else {
        sqlx::query(
            "UPDATE reply_router.cases SET state = 'closed', closed_at = $2, outcome = $3, timer = NULL, due_at = NULL,
                 warn_at = NULL, updated_at = $2, last_activity_at = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
        let closed = CaseClosed {
            case_id: id,
            debtor_id: debtor_id(&case)?,
            advisor_id: AdvisorId(case.advisor_id),
            outcome: kind.to_string(),
            outcome_id,
            closed_by: who.subject.clone(),
            closed_at: now,
        };
        r.outbox.enqueue(&mut tx, now, closed).await?;
        cases::announce(&mut tx, now, "case.closed", &Case { state: "closed".into(), ..case.clone() }).await?;
    }
    let sid = id.to_string();
    let entry = AuditEntry::new("case.outcome", "case", Some(&sid)).details(json!({ "kind": kind }));
    audit::record(&mut tx, who, now, entry).await?;
    finish(tx, r).await?;
    Ok(outcome_id)
}

/// An advisor's away mark: while away (until `until`, or until cleared), new cases go to the supervisor's queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwayRequest {
    pub away: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

pub async fn set_away(r: &Router, who: &Principal, advisor: Uuid, req: AwayRequest) -> Result<(), ApiError> {
    who.require(Permission::TeamsManage)?;
    scope::require(&r.pool, who, Resource::Advisor(advisor), &format!("advisor {advisor}")).await?;
    let now = r.clock.now();
    let mut tx = begin(r).await?;
    let Some(supervisor) = cases::supervisor_of(&mut *tx, advisor).await? else {
        return Err(ApiError::NotFound(format!("no advisor {advisor}")));
    };
    // Checked whether away or back: a request out of bounds is refused, not silently ignored.
    if req.reason.as_deref().is_some_and(|r| r.chars().count() > 200) {
        return Err(ApiError::bad_request("invalid_away", "reason: at most 200 characters"));
    }
    if req.away {
        let reason = req.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("away");
        if req.until.is_some_and(|u| u <= now) {
            return Err(ApiError::bad_request("invalid_away", "until: must be in the future"));
        }
        sqlx::query(
            "INSERT INTO reply_router.advisor_away (advisor_id, reason, until, marked_by, marked_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (advisor_id) DO UPDATE SET reason = EXCLUDED.reason, until = EXCLUDED.until,
                 marked_by = EXCLUDED.marked_by, marked_at = EXCLUDED.marked_at",
        )
        .bind(advisor)
        .bind(reason)
        .bind(req.until)
        .bind(&who.subject)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query("DELETE FROM reply_router.advisor_away WHERE advisor_id = $1")
            .bind(advisor)
            .execute(&mut *tx)
            .await?;
    }
    let holder = recaudo_access::scope::CaseHolder { advisor_id: advisor, supervisor_id: supervisor, pooled: false };
    let data = json!({ "advisor_id": advisor, "away": req.away, "until": req.until });
    crate::desk::append(
        &mut tx,
        now,
        &[crate::desk::Change { kind: "advisor.away", case_id: Uuid::nil(), holder, data }],
    )
    .await?;
    let sid = advisor.to_string();
    let entry = AuditEntry::new("advisor.away", "advisor", Some(&sid)).details(json!({ "away": req.away }));
    audit::record(&mut tx, who, now, entry).await?;
    finish(tx, r).await
}
