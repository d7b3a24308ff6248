//! `/u/{token}`: an email's unsubscribe link. `GET` shows a page with a button (mail scanners fetch links, so a
//! fetch alone must not unsubscribe anyone); `POST` withdraws consent for email, both from that button and as the
//! one-click `List-Unsubscribe-Post` of RFC 8058 that mail clients send with the body `List-Unsubscribe=One-Click`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use recaudo_domain::DebtorId;
use recaudo_events::ConsentVia;
use recaudo_runtime::{ApiError, Routes};
use uuid::Uuid;

use crate::Dispatcher;
use recaudo_domain::text::html_escape;

/// Public: the unguessable token (the attempt's reply token) is the credential.
pub fn routes(d: Arc<Dispatcher>) -> Routes {
    Routes::new().public("/u/{token}", get(page).post(unsubscribe)).with_state(d)
}

fn valid(token: &str) -> Result<(), ApiError> {
    if token.is_empty()
        || token.len() > 128
        || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request("invalid_token", "token: not an unsubscribe link token"));
    }
    Ok(())
}

async fn page(Path(token): Path<String>) -> Result<Response, ApiError> {
    valid(&token)?;
    let token = html_escape(&token);
    Ok(Html(format!(
        "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><title>Cancelar suscripción</title></head>\
         <body><h1>Dejar de recibir correos</h1><form method=\"post\" action=\"/u/{token}\">\
         <button type=\"submit\">No quiero recibir más correos</button></form></body></html>"
    ))
    .into_response())
}

async fn unsubscribe(
    State(d): State<Arc<Dispatcher>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    valid(&token)?;
    let attempt: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, debtor_id FROM dispatcher.attempts WHERE reply_token = $1 AND channel = $2")
            .bind(&token)
            .bind(d.channel.as_str())
            .fetch_optional(&d.pool)
            .await?;
    let Some((attempt_id, debtor_id)) = attempt else {
        return Err(ApiError::NotFound("no such unsubscribe link".into()));
    };
    let debtor_id =
        DebtorId::parse(&debtor_id).map_err(|e| ApiError::Internal(anyhow::anyhow!("stored debtor id: {e}")))?;
    let one_click = body.as_ref() == b"List-Unsubscribe=One-Click";
    let via = if one_click { ConsentVia::ListUnsubscribe } else { ConsentVia::UnsubscribeLink };
    let now = d.clock.now();
    let mut tx = d.pool.begin().await?;
    crate::inbound::withdraw(&mut tx, &d, debtor_id, via, Some(attempt_id), now).await?;
    tx.commit().await?;
    d.outbox.wake();
    tracing::info!(%attempt_id, one_click, "email consent withdrawn");
    if one_click {
        return Ok(StatusCode::OK.into_response());
    }
    Ok(Html(
        "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><title>Listo</title></head>\
         <body><h1>Listo</h1><p>No le enviaremos más correos.</p></body></html>",
    )
    .into_response())
}
