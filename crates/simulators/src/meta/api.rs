//! Meta's send route: `POST /{version}/{phone_number_id}/messages`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use chrono::Utc;
use recaudo_providers::constant_time_eq;
use serde_json::{json, Value};

use crate::meta::errors::ApiError;
use crate::meta::faults::Fault;
use crate::meta::store::{new_message_id, Direction, SimMessage};
use crate::meta::validation::validate;
use crate::meta::webhooks::{self, Plan};
use crate::meta::{MetaSimConfig, MetaSimulator};

pub(crate) async fn send_message(
    State(sim): State<MetaSimulator>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let config = sim.config();
    authorize(config, &headers)?;
    if phone_number_id != config.phone_number_id || !is_version(&version) {
        return Err(ApiError::unknown_object(&phone_number_id));
    }
    let fault = sim.shared.faults.next();
    match &fault {
        Some(Fault::Latency(delay)) => tokio::time::sleep(*delay).await,
        Some(Fault::ServerError) => return Err(ApiError::server_error()),
        Some(Fault::RateLimited { retry_after }) => return Err(ApiError::rate_limited(*retry_after)),
        _ => {}
    }
    let valid = validate(&body)?;

    let now = Utc::now();
    // Meta accepts a free-form message outside the window and only later reports it failed, with 131047.
    let plan = if valid.is_free_form() && !sim.shared.store.window_open(&valid.to, now) {
        Plan::ReEngagementRequired
    } else {
        match fault {
            Some(Fault::DuplicateCallbacks) => Plan::Duplicated,
            Some(Fault::OutOfOrderCallbacks) => Plan::OutOfOrder,
            _ => Plan::Normal,
        }
    };
    let message = SimMessage {
        id: new_message_id(&valid.to),
        direction: Direction::Outbound,
        wa_id: valid.to.clone(),
        kind: valid.kind.to_string(),
        body: valid.body,
        button: None,
        status: "accepted".to_string(),
        error_code: None,
        biz_opaque_callback_data: valid.callback_data,
        created: now,
    };
    sim.shared.store.insert(message.clone());
    tracing::info!(message_id = %message.id, kind = %message.kind, "simulated Meta accepted a message");
    webhooks::spawn_statuses(sim.clone(), message.id.clone(), plan);
    Ok(Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": message.wa_id, "wa_id": message.wa_id }],
        "messages": [{ "id": message.id, "message_status": "accepted" }],
    })))
}

/// `Authorization: Bearer <token>` with the configured token, compared in constant time.
fn authorize(config: &MetaSimConfig, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        Some(token) if constant_time_eq(token.as_bytes(), config.access_token.as_bytes()) => Ok(()),
        _ => Err(ApiError::invalid_token()),
    }
}

/// `v21.0` and the like.
fn is_version(version: &str) -> bool {
    version.strip_prefix('v').and_then(|rest| rest.split_once('.')).is_some_and(|(major, minor)| {
        [major, minor].iter().all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    })
}
