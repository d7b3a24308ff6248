//! `GET /api/kpis`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use recaudo_access::{Permission, Principal};
use recaudo_runtime::{ApiError, Routes};
use serde_json::{json, Map, Value};
use sqlx::PgPool;

pub fn routes(pool: PgPool) -> Routes {
    Routes::new().protected("/api/kpis", get(kpis)).with_state(pool)
}

async fn kpis(State(pool): State<PgPool>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::ReportsRead)?;
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, label, value FROM metrics.counters").fetch_all(&pool).await?;
    let debtors: i64 = sqlx::query_scalar("SELECT count(*) FROM metrics.debtors").fetch_one(&pool).await?;
    let credits: i64 = sqlx::query_scalar("SELECT count(*) FROM metrics.credits").fetch_one(&pool).await?;
    let mut by_name: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for (name, label, value) in &rows {
        by_name.entry(name).or_default().insert(label, *value);
    }
    let total = |name: &str| by_name.get(name).map(|m| m.values().sum::<i64>()).unwrap_or(0);
    let labelled = |name: &str| -> Value {
        let m: Map<String, Value> =
            by_name.get(name).map(|m| m.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()).unwrap_or_default();
        Value::Object(m)
    };
    let collected: Vec<(String, rust_decimal::Decimal)> =
        sqlx::query_as("SELECT currency, amount FROM metrics.collected ORDER BY currency").fetch_all(&pool).await?;
    let collected: Map<String, Value> = collected.into_iter().map(|(c, a)| (c, json!(a.to_string()))).collect();
    let attempted = total("contacts_attempted");
    let clicks = total("clicks");
    Ok(Json(json!({
        "debtors_imported": debtors,
        "credits_imported": credits,
        "imports_completed": total("imports_completed"),
        "imports_failed": total("imports_failed"),
        "rows_imported": total("rows_imported"),
        "rows_rejected": total("rows_rejected"),
        "assignments_changed": total("assignments_changed"),
        "contacts_requested": labelled("contacts_requested"),
        "contacts_attempted": labelled("contacts_attempted"),
        "contacts_failed": labelled("contacts_failed"),
        "contacts_not_sent": labelled("contacts_not_sent"),
        "contacts_suppressed": labelled("contacts_suppressed"),
        "delivery_statuses": labelled("delivery_statuses"),
        "clicks": clicks,
        "clicks_by_channel": labelled("clicks"),
        "replies_routed": total("replies_routed"),
        "queue_items_opened": total("queue_items_opened"),
        "payments_received": total("payments_received"),
        "payments_applied": labelled("payments_applied"),
        "payments_rejected": total("payments_rejected"),
        "collected": collected,
        "click_rate": if attempted > 0 { json!(clicks as f64 / attempted as f64) } else { Value::Null },
    })))
}
