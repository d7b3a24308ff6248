//! `GET /api/debtors/{id_cliente}` and `GET /api/advisors`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use chrono::NaiveDate;
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::DebtorId;
use recaudo_runtime::{ApiError, Routes};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

type Db = Arc<PgPool>;

pub fn routes(pool: Db) -> Routes {
    Routes::new().protected("/api/debtors/{id}", get(debtor)).protected("/api/advisors", get(advisors)).with_state(pool)
}

/// A debtor id from a path: checked where it enters, so that no byte PostgreSQL refuses reaches a query.
pub fn debtor_id(raw: &str) -> Result<DebtorId, ApiError> {
    DebtorId::parse(raw).map_err(|e| ApiError::bad_request("invalid_id", e.to_string()))
}

#[derive(Serialize, FromRow)]
struct DebtorRow {
    id: String,
    document_type: String,
    document_number: String,
    first_name: String,
    last_name: String,
    phone: Option<String>,
    email: Option<String>,
    country: String,
    city: String,
    attributes: Value,
}

#[derive(Serialize, FromRow)]
struct CreditRow {
    id: String,
    product: String,
    currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    balance_total: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    balance_overdue: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    installment: Decimal,
    due_date: NaiveDate,
    days_past_due: i32,
    status: String,
    advisor_id: Option<Uuid>,
}

#[derive(Serialize, FromRow)]
struct AdvisorRow {
    id: Uuid,
    first_name: String,
    last_name: String,
    phone: String,
    supervisor_id: Option<Uuid>,
    supervisor_first_name: Option<String>,
    supervisor_last_name: Option<String>,
    open_credits: i64,
}

impl AdvisorRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "whatsapp": self.phone,
            "supervisor": self.supervisor_id.map(|id| json!({
                "id": id,
                "first_name": self.supervisor_first_name,
                "last_name": self.supervisor_last_name,
            })),
            "open_credits": self.open_credits,
        })
    }
}

const ADVISOR_SELECT: &str = "
    SELECT a.id, a.first_name, a.last_name, a.phone, a.supervisor_id,
           s.first_name AS supervisor_first_name, s.last_name AS supervisor_last_name,
           (SELECT count(*) FROM portfolio.credits c WHERE c.advisor_id = a.id AND c.status = 'open') AS open_credits
    FROM portfolio.advisors a LEFT JOIN portfolio.supervisors s ON s.id = a.supervisor_id";

/// The debtor with their credits; `advisor` and `supervisor` are those of the debtor's most overdue open credit
/// (a debtor's credits normally share one advisor; each credit also names its own).
async fn debtor(State(pool): State<Db>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let id = debtor_id(&id)?;
    let id = id.as_str();
    scope::require(&pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let debtor: DebtorRow = sqlx::query_as(
        "SELECT id, document_type, document_number, first_name, last_name, phone, email, country, city, attributes
         FROM portfolio.debtors WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&*pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no debtor {id}")))?;
    audit::record_now(&pool, &who, AuditEntry::new("debtor.read", "debtor", Some(id))).await?;
    let credits: Vec<CreditRow> = sqlx::query_as(
        "SELECT id, product, currency, balance_total, balance_overdue, installment, due_date, days_past_due, status,
                advisor_id
         FROM portfolio.credits WHERE debtor_id = $1
         ORDER BY (status = 'open') DESC, days_past_due DESC, id",
    )
    .bind(id)
    .fetch_all(&*pool)
    .await?;
    let advisor_ids: Vec<Uuid> = credits.iter().filter_map(|c| c.advisor_id).collect();
    let advisors: Vec<AdvisorRow> =
        sqlx::query_as(&format!("{ADVISOR_SELECT} WHERE a.id = ANY($1)")).bind(&advisor_ids).fetch_all(&*pool).await?;
    let main = advisor_ids.first().and_then(|id| advisors.iter().find(|a| a.id == *id));
    let mut body = serde_json::to_value(&debtor).map_err(|e| ApiError::Internal(e.into()))?;
    body["credits"] = credits
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["advisor"] = c
                .advisor_id
                .and_then(|id| advisors.iter().find(|a| a.id == id))
                .map(|a| json!({ "id": a.id, "first_name": a.first_name, "last_name": a.last_name, "phone": a.phone }))
                .unwrap_or(Value::Null);
            v
        })
        .collect();
    body["advisor"] = main.map(AdvisorRow::to_json).unwrap_or(Value::Null);
    body["supervisor"] = main.map(|a| a.to_json()["supervisor"].clone()).unwrap_or(Value::Null);
    Ok(Json(body))
}

/// The advisors the caller sees: all of them, a supervisor's team, or an advisor's own record.
async fn advisors(State(pool): State<Db>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::AdvisorsRead)?;
    let visible = scope::visible_advisors(&pool, &who).await?;
    let rows: Vec<AdvisorRow> = sqlx::query_as(&format!(
        "{ADVISOR_SELECT} WHERE $1::uuid[] IS NULL OR a.id = ANY($1) ORDER BY a.last_name, a.first_name, a.id"
    ))
    .bind(visible)
    .fetch_all(&*pool)
    .await?;
    Ok(Json(json!({ "advisors": rows.iter().map(AdvisorRow::to_json).collect::<Vec<_>>() })))
}
