//! `POST /api/debtors/{id}/contacts` is the scheduler's (the policy engine, the per-debtor lock and the ledger live
//! there); the listing on the same path, `GET`, is the dispatcher's. An Ingress routes by path, not by method, so
//! in a split deployment the path goes to the dispatcher, which passes the `POST` on to the scheduler
//! (`RECAUDO_SCHEDULER_URL`) with the caller's own credentials: the scheduler authorises and audits it exactly as
//! if called directly. When the scheduler runs in the same process it serves the `POST` itself.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use recaudo_access::Principal;
use recaudo_runtime::{ApiError, Routes};

/// The most a contact request's body may be.
const MAX_BODY_BYTES: usize = 64 * 1024;

struct Forward {
    scheduler_url: String,
    http: reqwest::Client,
}

pub(crate) fn routes(scheduler_url: String) -> Routes {
    let state = Arc::new(Forward { scheduler_url, http: reqwest::Client::new() });
    Routes::new().protected("/api/debtors/{id}/contacts", post(forward)).with_state(state)
}

/// Headers that describe one hop, not the request (RFC 9110 7.6.1), and the host, which is the scheduler's now.
fn passes_on(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

// The gate has authenticated the caller already (`Principal`); the scheduler checks the permission and scope.
async fn forward(State(f): State<Arc<Forward>>, _who: Principal, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(format!("a contact request is at most {MAX_BODY_BYTES} bytes")))?;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(parts.uri.path());
    let mut outbound = f.http.post(format!("{}{path}", f.scheduler_url)).body(body);
    for (name, value) in parts.headers.iter().filter(|(n, _)| passes_on(n)) {
        outbound = outbound.header(name, value);
    }
    let answer = outbound.send().await.map_err(|e| {
        tracing::warn!(error = %e, "the scheduler did not answer a forwarded contact request");
        ApiError::Internal(anyhow::anyhow!("the scheduler is unavailable"))
    })?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = (status, Body::from(bytes)).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}
