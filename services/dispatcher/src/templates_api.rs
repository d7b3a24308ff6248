//! `GET /api/templates`: the message templates the dispatchers render, each with the channel it is written for.
//! Today these are the built-in catalogue; templates written by managers come later on the same listing.

use axum::routing::get;
use axum::Json;
use recaudo_access::{Permission, Principal};
use recaudo_runtime::{ApiError, Routes};
use serde_json::{json, Value};

pub fn routes() -> Routes {
    Routes::new().protected("/api/templates", get(list))
}

async fn list(who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let templates: Vec<Value> = recaudo_templates::BUILTIN
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "channel": t.channel,
                "source": t.source(),
                "subject": t.subject,
                "whatsapp": t.whatsapp.as_ref().map(|w| json!({
                    "meta_name": w.meta_name,
                    "language": w.language,
                    "params": w.params,
                    "quick_replies": w.quick_replies,
                })),
                "builtin": true,
            })
        })
        .collect();
    Ok(Json(json!({ "templates": templates })))
}
