//! `POST /api/debtors/{id}/contacts`: a manager, a supervisor or the debtor's advisor asks for one contact now, on
//! a channel with a template. It passes the same policy engine as the planner's contacts (hours, holidays, caps,
//! holds, withdrawn consent, the lender's settings), under the same per-debtor lock, is recorded in the same ledger
//! (so the caps count it), and goes to the channel's dispatcher as a `contact.requested` with strategy `manual`.
//! A refusal is a 409 naming the rule.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use chrono::{DateTime, Utc};
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::{Country, DebtorId};
use recaudo_events::ContactRequested;
use recaudo_policy::{Channel as PolicyChannel, Debtor, Policy};
use recaudo_runtime::{ApiError, Routes};
use recaudo_templates::Catalogue;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::planner::{self, Account, ACCOUNTS};
use crate::strategy_routes::StrategyState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualContact {
    channel: String,
    template: String,
}

pub(crate) fn routes(state: Arc<StrategyState>) -> Routes {
    Routes::new().protected("/api/debtors/{id}/contacts", post(request)).with_state(state)
}

/// Whom a contact by hand (or a template preview) is about: the debtor's most overdue credit, as the planner picks,
/// and the debtor's contact state.
pub(crate) struct Target {
    pub account: Account,
    pub country: Country,
    pub debtor: Debtor,
}

pub(crate) async fn target(conn: &mut PgConnection, id: &str) -> Result<Option<Target>, ApiError> {
    let accounts: Vec<Account> = sqlx::query_as(ACCOUNTS).bind(id).fetch_all(&mut *conn).await?;
    let Some(account) = accounts.into_iter().max_by(|a, b| a.balance_overdue.cmp(&b.balance_overdue)) else {
        return Ok(None);
    };
    let country: Country =
        account.country.parse().map_err(|_| ApiError::Internal(anyhow::anyhow!("stored country of {id}")))?;
    let debtor =
        crate::debtor_state::load(conn, id, country, account.city.as_deref(), account.phone.as_deref()).await?;
    Ok(Some(Target { account, country, debtor }))
}

impl Target {
    /// The request for a contact by hand on `channel` with `template`.
    pub fn request(
        &self,
        channel: PolicyChannel,
        template: &str,
        templates: &Catalogue,
        contact_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<ContactRequested, sqlx::Error> {
        let today = Policy::local_date(self.debtor.zone, now);
        planner::manual_request(
            &self.account,
            channel,
            template,
            templates,
            self.country,
            &self.debtor,
            contact_id,
            today,
            now,
        )
    }
}

fn refused(rule: &str, detail: String) -> Response {
    let body = json!({ "error": { "code": "contact_refused", "message": detail, "rule": rule } });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

async fn request(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<Json<ManualContact>, JsonRejection>,
) -> Result<Response, ApiError> {
    who.require(Permission::ContactsWrite)?;
    let id = DebtorId::parse(&id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?;
    let id = id.as_str();
    scope::require(&s.pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let Json(req) = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    let channel = PolicyChannel::parse(&req.channel).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_channel",
            format!("channel: {:?} is not sms, whatsapp, email or call", req.channel),
        )
    })?;
    if !matches!(channel, PolicyChannel::Sms | PolicyChannel::Whatsapp | PolicyChannel::Email | PolicyChannel::Call) {
        return Err(ApiError::bad_request("invalid_channel", format!("channel: {} has no dispatcher", req.channel)));
    }
    let now = s.clock.now();
    let mut tx = s.pool.begin().await?;
    let catalogue = crate::templates::catalogue(&mut tx).await?;
    match catalogue.channel_of(&req.template) {
        None => {
            return Err(ApiError::bad_request(
                "unknown_template",
                format!("template: {:?} does not exist", req.template),
            ))
        }
        Some(c) if c.as_str() != channel.as_str() => {
            return Err(ApiError::bad_request(
                "template_channel",
                format!("template: {} is written for {c}, not {}", req.template, channel.as_str()),
            ))
        }
        Some(_) => {}
    }
    planner::lock_debtor(&mut tx, id).await?;
    let Some(target) = target(&mut tx, id).await? else {
        return Err(ApiError::NotFound(format!("debtor {id}")));
    };
    let (account, debtor, country) = (&target.account, &target.debtor, target.country);
    if planner::address(account, channel).is_none() {
        return Ok(refused("no_channel_address", format!("the debtor has no address for {}", channel.as_str())));
    }
    let history = planner::ledger_history(&mut tx, id, now).await?;
    if let Err(stop) = s.policies.for_country(country).check(debtor, &history, channel, now) {
        return Ok(refused(stop.rule, format!("{} ({})", stop.reason, stop.source)));
    }
    let contact_id = Uuid::now_v7();
    let today = Policy::local_date(debtor.zone, now);
    // A step of its own per contact, so the ledger's one-per-step-and-day key never merges two manual contacts.
    let step = format!("manual-{contact_id}");
    sqlx::query(
        "INSERT INTO scheduler.contact_ledger (contact_id, debtor_id, credit_id, channel, strategy, strategy_version,
                                               stage, step, variant, local_date, requested_at)
         VALUES ($1, $2, $3, $4, $5, 0, NULL, $6, NULL, $7, $8)",
    )
    .bind(contact_id)
    .bind(id)
    .bind(&account.credit_id)
    .bind(channel.as_str())
    .bind(planner::MANUAL)
    .bind(&step)
    .bind(today)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = target.request(channel, &req.template, &catalogue, contact_id, now)?;
    s.outbox.enqueue(&mut tx, now, event).await?;
    tx.commit().await?;
    s.outbox.wake();
    let entry = AuditEntry::new("debtor.contact.requested", "debtor", Some(id))
        .details(json!({ "channel": channel.as_str(), "template": req.template, "contact_id": contact_id }));
    audit::record_now(&s.pool, &who, entry).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "contact_id": contact_id, "debtor_id": id }))).into_response())
}
