//! Provider webhooks: delivery statuses. The signature is verified before anything is read from the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use recaudo_events::ContactStatus;
use recaudo_providers::{WebhookError, WebhookRequest};
use recaudo_runtime::ApiError;
use uuid::Uuid;

use crate::Dispatcher;

pub fn router(d: Arc<Dispatcher>) -> Router {
    let path = format!("/webhooks/twilio/{}/status", d.channel);
    Router::new().route(&path, post(status)).with_state(d)
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
    let attempt: Option<Uuid> = sqlx::query_scalar(
        // Callbacks can arrive out of order: a late `sent` must not overwrite `delivered`.
        "UPDATE dispatcher.attempts
         SET status = CASE WHEN array_position($5::text[], $3) >= coalesce(array_position($5::text[], status), 0)
                           THEN $3 ELSE status END,
             updated_at = $4
         WHERE provider = $1 AND provider_message_id = $2 RETURNING id",
    )
    .bind(d.provider.name())
    .bind(&update.provider_message_id)
    .bind(&update.status)
    .bind(now)
    .bind(&["accepted", "queued", "sending", "sent", "undelivered", "failed", "delivered", "read"][..])
    .fetch_optional(&mut *tx)
    .await?;
    let Some(attempt_id) = attempt else {
        // Not ours, or its attempt not yet recorded; acknowledged so the provider does not retry forever.
        tracing::warn!(status = %update.status, "status report for an unknown message");
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    sqlx::query(
        "INSERT INTO dispatcher.status_reports (attempt_id, status, error_code, reported_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(attempt_id)
    .bind(&update.status)
    .bind(&update.error_code)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = ContactStatus {
        attempt_id,
        channel: d.channel,
        provider_message_id: update.provider_message_id,
        status: update.status,
        error_code: update.error_code,
        reported_at: now,
    };
    d.outbox.enqueue(&mut tx, now, event).await?;
    tx.commit().await?;
    d.outbox.wake();
    Ok(StatusCode::NO_CONTENT.into_response())
}
