//! `POST /api/cases/{id}/reply`: an advisor answers the debtor from the case. The answer is a contact like any
//! other: it goes to the scheduler's `POST /api/debtors/{id}/contacts` (the policy engine, the per-debtor lock and
//! the caps ledger live there) with the caller's own credentials, so the law holds for people as for automation and
//! a refusal (409, naming the rule) comes back as the scheduler gave it. The scheduler is this process when it runs
//! here, else `RECAUDO_SCHEDULER_URL`. An accepted reply stops the case's response timer.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use recaudo_access::{scope, Permission, Principal, Resource};
use recaudo_runtime::ApiError;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::ReplyRequest;
use crate::{cases, timeline, views, Router};

/// The headers that carry the caller's credential on to the scheduler.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "x-csrf-token"];

/// `request` with the caller's credential, for a route of the scheduler that checks it again.
pub fn with_credentials(mut request: reqwest::RequestBuilder, headers: &HeaderMap) -> reqwest::RequestBuilder {
    for name in CREDENTIAL_HEADERS {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v);
        }
    }
    request
}

pub async fn send(
    r: &Router,
    who: &Principal,
    id: Uuid,
    req: ReplyRequest,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    who.require(Permission::CasesWrite)?;
    who.require(Permission::ContactsWrite)?;
    let item = views::item(&r.pool, id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    scope::require(&r.pool, who, Resource::Case(item.holder()), &format!("case {id}")).await?;
    if item.state == "closed" {
        return Err(ApiError::Conflict(format!("case {id} is closed")));
    }
    let channel = match req.channel.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => views::reply_channel(&r.pool, &item.debtor_id).await?.unwrap_or_else(|| "sms".into()),
    };
    let outbound = r
        .http
        .post(format!("{}/api/debtors/{}/contacts", r.scheduler_url, item.debtor_id))
        .json(&json!({ "channel": channel, "template": req.template }));
    let answer = with_credentials(outbound, headers).send().await.map_err(|e| {
        tracing::warn!(error = %e, "the scheduler did not answer a case reply");
        ApiError::unavailable("scheduler_unavailable", "the scheduler cannot take the reply now; try again")
    })?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = answer.bytes().await.map_err(|e| ApiError::Internal(e.into()))?;
    if !status.is_success() {
        // The scheduler's own answer: a refusal names the rule; a 400 names the field.
        let mut response = (status, Body::from(bytes)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, "application/json".parse().expect("static"));
        return Ok(response);
    }
    let accepted: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let now = r.clock.now();
    let mut tx = r.pool.begin().await?;
    if let Some(case) = cases::lock(&mut tx, id).await? {
        sqlx::query(
            "UPDATE reply_router.cases SET timer = CASE WHEN timer = 'response' THEN NULL ELSE timer END,
                 due_at = CASE WHEN timer = 'response' THEN NULL ELSE due_at END,
                 warn_at = CASE WHEN timer = 'response' THEN NULL ELSE warn_at END,
                 last_activity_at = $2, updated_at = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let detail = json!({ "channel": channel, "template": req.template, "contact_id": accepted["contact_id"] });
        timeline::add(&mut tx, &case.debtor_id, Some(id), now, "reply_sent", Some(&who.subject), detail).await?;
        let answered = cases::lock(&mut tx, id).await?.unwrap_or(case);
        cases::announce(&mut tx, now, "case.updated", &answered).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "case_id": id, "channel": channel, "contact": accepted })))
        .into_response())
}
