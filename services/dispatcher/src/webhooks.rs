//! Provider webhooks: delivery statuses. The signature is verified before anything is read from the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use recaudo_events::ContactStatus;
use recaudo_providers::{StatusUpdate, WebhookError, WebhookRequest};
use recaudo_runtime::{ApiError, Routes};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Dispatcher;

/// Public: the provider's signature is the credential, checked before anything else.
pub fn routes(d: Arc<Dispatcher>) -> Routes {
    let path = format!("/webhooks/twilio/{}/status", d.channel);
    Routes::new().public(&path, post(status)).with_state(d)
}

async fn status(
    State(d): State<Arc<Dispatcher>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The URL the provider signed is the public one we gave it, not the one this listener sees behind a proxy.
    let url = format!("{}{}", d.public_url, uri.path_and_query().map(|p| p.as_str()).unwrap_or(""));
    let update = match d.provider.parse_status_webhook(&WebhookRequest { url: &url, headers: &headers, body: &body }) {
        Ok(u) => u,
        Err(WebhookError::BadSignature) => return Err(ApiError::Unauthorized("invalid webhook signature".into())),
        Err(WebhookError::Malformed(m)) => return Err(ApiError::bad_request("malformed_webhook", m)),
    };
    let now = d.clock.now();
    let mut tx = d.pool.begin().await?;
    lock_message(&mut tx, &d, &update.provider_message_id).await?;
    if apply_status(&mut tx, &d, &update, now, now).await?.is_none() {
        // Its attempt may not have recorded the message id yet: the report waits for it (see `apply_early_reports`).
        sqlx::query(
            "INSERT INTO dispatcher.early_status_reports (provider, provider_message_id, status, error_code, reported_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(d.provider.name())
        .bind(&update.provider_message_id)
        .bind(&update.status)
        .bind(&update.error_code)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM dispatcher.early_status_reports WHERE reported_at < $1")
            .bind(now - chrono::Duration::days(2))
            .execute(&mut *tx)
            .await?;
        tracing::info!(status = %update.status, "status report for a message not (yet) recorded; kept for it");
    }
    tx.commit().await?;
    d.outbox.wake();
    Ok(StatusCode::NO_CONTENT.into_response())
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

/// Records a provider's status report (made at `reported_at`) on its attempt and publishes it; `None` when no
/// attempt has that message id.
async fn apply_status(
    conn: &mut PgConnection,
    d: &Dispatcher,
    update: &StatusUpdate,
    reported_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let attempt: Option<(Uuid, Option<String>, serde_json::Value)> = sqlx::query_as(
        // Callbacks can arrive out of order: a late `sent` must not overwrite `delivered`.
        "UPDATE dispatcher.attempts
         SET status = CASE WHEN array_position($5::text[], $3) >= coalesce(array_position($5::text[], status), 0)
                           THEN $3 ELSE status END,
             updated_at = $4
         WHERE provider = $1 AND provider_message_id = $2 RETURNING id, strategy, decision",
    )
    .bind(d.provider.name())
    .bind(&update.provider_message_id)
    .bind(&update.status)
    .bind(now)
    .bind(&["accepted", "queued", "sending", "sent", "undelivered", "failed", "delivered", "read"][..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some((attempt_id, strategy, decision)) = attempt else {
        return Ok(None);
    };
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
        status: update.status.clone(),
        error_code: update.error_code.clone(),
        reported_at,
    };
    d.outbox.enqueue(conn, now, event).await?;
    Ok(Some(attempt_id))
}

/// Applies the status reports that arrived before the attempt recorded `provider_message_id`, in the caller's
/// transaction (after its `contact.attempted`, so consumers see the attempt first). The caller holds
/// [`lock_message`].
pub(crate) async fn apply_early_reports(
    conn: &mut PgConnection,
    d: &Dispatcher,
    provider_message_id: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut early: Vec<(String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "DELETE FROM dispatcher.early_status_reports WHERE provider = $1 AND provider_message_id = $2
         RETURNING status, error_code, reported_at",
    )
    .bind(d.provider.name())
    .bind(provider_message_id)
    .fetch_all(&mut *conn)
    .await?;
    early.sort_by_key(|(_, _, at)| *at);
    for (status, error_code, reported_at) in early {
        let update = StatusUpdate { provider_message_id: provider_message_id.to_string(), status, error_code };
        apply_status(conn, d, &update, reported_at, now).await?;
    }
    Ok(())
}
