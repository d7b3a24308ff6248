//! `GET /api/debtors/{id_cliente}/contacts`: every attempt to contact the debtor, with its rendered body.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::DebtorId;
use recaudo_runtime::{ApiError, Routes};
use serde_json::{json, Value};

use crate::attempts;

pub fn routes(pool: sqlx::PgPool) -> Routes {
    Routes::new().protected("/api/debtors/{id}/contacts", get(contacts)).with_state(pool)
}

async fn contacts(
    State(pool): State<sqlx::PgPool>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let id = DebtorId::parse(&id).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))?;
    let id = id.as_str();
    scope::require(&pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let list = attempts::for_debtor(&pool, id).await?;
    audit::record_now(&pool, &who, AuditEntry::new("debtor.contacts.read", "debtor", Some(id))).await?;
    Ok(Json(json!({ "debtor_id": id, "contacts": list })))
}
