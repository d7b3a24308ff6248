//! Provider webhooks: delivery statuses, inbound messages and taps, provider-reported opt-outs. The signature is
//! verified before anything is read from the request; what the request carries is stored (and its events written
//! to the outbox) before the provider gets its 2xx, so a crash after the answer loses nothing and a provider's
//! retry changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use recaudo_events::{AttemptOutcome, ContactStatus};
use recaudo_providers::{Handshake, Normalized, StatusUpdate, WebhookError, WebhookItem, WebhookKind, WebhookRequest};
use recaudo_runtime::{ApiError, Routes};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Dispatcher;

/// Public: the provider's signature is the credential, checked before anything else.
pub fn routes(d: Arc<Dispatcher>) -> Routes {
    let mut routes = Routes::new();
    // Only a provider with a subscription handshake answers a GET (any such provider answers the empty query).
    let has_handshake = d.provider.handshake(&[]).is_some();
    for route in d.provider.webhook_routes() {
        let kind = route.kind;
        let receive = post(move |State(d): State<Arc<Dispatcher>>, uri: Uri, headers: HeaderMap, body: Bytes| {
            receive(d, kind, uri, headers, body)
        });
        let method = if has_handshake { receive.get(handshake) } else { receive };
        routes = routes.public(&route.path, method);
    }
    routes.with_state(d)
}

/// A subscription handshake (Meta's `hub.challenge`).
async fn handshake(
    State(d): State<Arc<Dispatcher>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    match d.provider.handshake(&query) {
        Some(Handshake::Accept(challenge)) => Ok(challenge.into_response()),
        Some(Handshake::Refuse) => Err(ApiError::forbidden("webhook_verification_failed", "verify token mismatch")),
        None => Err(ApiError::NotFound("this webhook has no handshake".into())),
    }
}

async fn receive(
    d: Arc<Dispatcher>,
    kind: WebhookKind,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The URL the provider signed is the public one we gave it, not the one this listener sees behind a proxy.
    let url = format!("{}{}", d.public_url, uri.path_and_query().map(|p| p.as_str()).unwrap_or(""));
    let items = match d.provider.parse_webhook(kind, &WebhookRequest { url: &url, headers: &headers, body: &body }) {
        Ok(items) => items,
        Err(WebhookError::BadSignature) => return Err(ApiError::Unauthorized("invalid webhook signature".into())),
        Err(WebhookError::Malformed(m)) => return Err(ApiError::bad_request("malformed_webhook", m)),
    };
    let now = d.clock.now();
    let mut tx = d.pool.begin().await?;
    for item in items {
        match item {
            WebhookItem::Status(update) => record_status(&mut tx, &d, &update, now).await?,
            WebhookItem::Inbound(message) => crate::inbound::record(&mut tx, &d, &message, now).await?,
            WebhookItem::OptOut(opt_out) => crate::inbound::provider_opt_out(&mut tx, &d, &opt_out, now).await?,
        }
    }
    tx.commit().await?;
    d.outbox.wake();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Applies a status report, or keeps it for its attempt when the attempt has not recorded the message id yet.
pub(crate) async fn record_status(
    tx: &mut PgConnection,
    d: &Dispatcher,
    update: &StatusUpdate,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    lock_message(tx, d, &update.provider_message_id).await?;
    if apply_status(tx, d, update, now, now).await?.is_some() {
        return Ok(());
    }
    // The provider echoes our attempt id: an attempt whose send was cut off before the answer learns its message
    // id here.
    if let Some(attempt_id) = update.attempt_ref.as_deref().and_then(|r| r.parse::<Uuid>().ok()) {
        if adopt_message(tx, d, attempt_id, update, now).await? {
            apply_status(tx, d, update, now, now).await?;
            return Ok(());
        }
    }
    // Its attempt may not have recorded the message id yet: the report waits for it (see `apply_early_reports`).
    sqlx::query(
        "INSERT INTO dispatcher.early_status_reports (provider, provider_message_id, status, error_code, reported_at,
                                                      provider_status)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(d.provider.name())
    .bind(&update.provider_message_id)
    .bind(update.normalized.as_str())
    .bind(&update.error_code)
    .bind(now)
    .bind(&update.status)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM dispatcher.early_status_reports WHERE reported_at < $1")
        .bind(now - chrono::Duration::days(2))
        .execute(&mut *tx)
        .await?;
    tracing::info!(status = %update.status, "status report for a message not (yet) recorded; kept for it");
    Ok(())
}

/// Serialises, per provider message id, a status report with the recording of that id on its attempt. Without it
/// the two could overlap unseen by each other (the report finds no attempt, the recording finds no early report)
/// and the report would be kept forever instead of applied.
pub(crate) async fn lock_message(
    conn: &mut PgConnection,
    d: &Dispatcher,
    provider_message_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("dispatcher-message:{}:{provider_message_id}", d.provider.name()))
        .execute(conn)
        .await?;
    Ok(())
}

/// The rank of an attempt's stored status: statuses only move up (see [`Normalized::rank`]); `sending` and
/// `unknown` are below all of the provider's.
fn rank(status: &str) -> u8 {
    status.parse::<Normalized>().map(Normalized::rank).unwrap_or(0)
}

/// Records a provider's status report (made at `reported_at`) on its attempt and publishes it; `None` when no
/// attempt has that message id. A report that does not move the attempt forward (a repeat, a late `sent` after
/// `delivered`) changes nothing and publishes nothing.
async fn apply_status(
    conn: &mut PgConnection,
    d: &Dispatcher,
    update: &StatusUpdate,
    reported_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let attempt: Option<(Uuid, String, Option<String>, serde_json::Value)> = sqlx::query_as(
        "SELECT id, status, strategy, decision FROM dispatcher.attempts
         WHERE provider = $1 AND provider_message_id = $2 FOR UPDATE",
    )
    .bind(d.provider.name())
    .bind(&update.provider_message_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((attempt_id, current, strategy, decision)) = attempt else {
        return Ok(None);
    };
    if update.normalized.rank() <= rank(&current) {
        return Ok(Some(attempt_id));
    }
    let is_final = update.normalized.is_final();
    sqlx::query(
        "UPDATE dispatcher.attempts
         SET status = $2, provider_status = $3, error_code = coalesce($4, error_code), final = $5, updated_at = $6,
             next_check_at = CASE WHEN $5 THEN NULL ELSE next_check_at END
         WHERE id = $1",
    )
    .bind(attempt_id)
    .bind(update.normalized.as_str())
    .bind(&update.status)
    .bind(&update.error_code)
    .bind(is_final)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO dispatcher.status_reports (attempt_id, status, error_code, reported_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(attempt_id)
    .bind(&update.status)
    .bind(&update.error_code)
    .bind(reported_at)
    .execute(&mut *conn)
    .await?;
    let event = ContactStatus {
        attempt_id,
        channel: d.channel,
        strategy,
        decision: serde_json::from_value(decision).unwrap_or_default(),
        provider_message_id: update.provider_message_id.clone(),
        status: update.normalized.as_str().to_string(),
        provider_status: Some(update.status.clone()),
        error_code: update.error_code.clone(),
        is_final,
        reported_at,
    };
    d.outbox.enqueue(conn, now, event).await?;
    Ok(Some(attempt_id))
}

/// Gives an attempt without a message id (its send cut off, or its answer unreadable) the id a provider's report
/// ties to it, and the provider's own time of taking it where the report has it (not the time we found it). An
/// attempt still `sending` is published as attempted; one already published as `unknown` is settled by the status
/// that follows. False when there is no such attempt.
pub(crate) async fn adopt_message(
    conn: &mut PgConnection,
    d: &Dispatcher,
    attempt_id: Uuid,
    update: &StatusUpdate,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let provider_message_id = update.provider_message_id.as_str();
    let adopted: Option<(String,)> = sqlx::query_as(
        "UPDATE dispatcher.attempts a
         SET provider_message_id = $3, updated_at = $4, attempted_at = coalesce($6, a.attempted_at, $4),
             status = CASE WHEN a.status = 'sending' THEN 'queued' ELSE a.status END,
             next_check_at = $5
         FROM (SELECT id, status FROM dispatcher.attempts WHERE id = $1 FOR UPDATE) before
         WHERE a.id = before.id AND a.provider = $2 AND a.provider_message_id IS NULL AND a.status <> 'not_sent'
         RETURNING before.status",
    )
    .bind(attempt_id)
    .bind(d.provider.name())
    .bind(provider_message_id)
    .bind(now)
    .bind(crate::reconcile::after(d.reconcile_after))
    .bind(update.taken_at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((before,)) = adopted else {
        return Ok(false);
    };
    if before == "sending" {
        let at = update.taken_at.unwrap_or(now);
        crate::attempts::publish_attempted(conn, d, attempt_id, AttemptOutcome::Sent, None, at).await?;
    }
    Ok(true)
}

/// A stored early report: normalised status, the provider's word, error code, when reported.
type EarlyReport = (String, Option<String>, Option<String>, DateTime<Utc>);

/// Applies the status reports that arrived before the attempt recorded `provider_message_id`, in the caller's
/// transaction (after its `contact.attempted`, so consumers see the attempt first). The caller holds
/// [`lock_message`].
pub(crate) async fn apply_early_reports(
    conn: &mut PgConnection,
    d: &Dispatcher,
    provider_message_id: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut early: Vec<EarlyReport> = sqlx::query_as(
        "DELETE FROM dispatcher.early_status_reports WHERE provider = $1 AND provider_message_id = $2
         RETURNING status, provider_status, error_code, reported_at",
    )
    .bind(d.provider.name())
    .bind(provider_message_id)
    .fetch_all(&mut *conn)
    .await?;
    early.sort_by_key(|(_, _, _, at)| *at);
    for (status, provider_status, error_code, reported_at) in early {
        let Ok(normalized) = status.parse::<Normalized>() else { continue };
        let update = StatusUpdate {
            provider_message_id: provider_message_id.to_string(),
            status: provider_status.unwrap_or(status),
            normalized,
            error_code,
            attempt_ref: None,
            taken_at: None,
        };
        apply_status(conn, d, &update, reported_at, now).await?;
    }
    Ok(())
}
