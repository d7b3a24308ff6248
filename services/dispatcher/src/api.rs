//! `GET /api/debtors/{id_cliente}/contacts`: every attempt to contact the debtor, with its rendered body.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use recaudo_runtime::ApiError;
use serde_json::{json, Value};

use crate::{attempts, Dispatcher};

pub fn router(d: Arc<Dispatcher>) -> Router {
    Router::new().route("/api/debtors/{id}/contacts", get(contacts)).with_state(d)
}

async fn contacts(State(d): State<Arc<Dispatcher>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let list = attempts::for_debtor(&d.pool, &id).await?;
    Ok(Json(json!({ "debtor_id": id, "contacts": list })))
}
