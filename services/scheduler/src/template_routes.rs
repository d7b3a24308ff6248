//! `/api/templates`: the templates managers write and everyone in scope reads. `PUT /api/templates/{name}` checks
//! a template whole and saves it as a new version (422 with every problem's path, line and reason; warnings, such
//! as more SMS segments than `RECAUDO_SMS_SEGMENT_WARNING`, come back with the saved version), and
//! `POST /api/templates/{name}/preview` renders the template in force for one debtor, as their channel would send
//! it.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use recaudo_access::{audit, scope, AuditEntry, Permission, Principal, Resource};
use recaudo_domain::sms as segments;
use recaudo_domain::DebtorId;
use recaudo_events::{Channel, TemplateSource};
use recaudo_runtime::{ApiError, Routes};
use recaudo_templates::{MessageContext, BUILTIN};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::strategy_routes::{name, StrategyState};
use crate::templates::{self, SaveError};

pub(crate) fn routes(state: Arc<StrategyState>) -> Routes {
    Routes::new()
        .protected("/api/templates", get(list))
        .protected("/api/templates/{name}", get(show).put(put))
        .protected("/api/templates/{name}/preview", post(preview))
        .with_state(state)
}

impl From<SaveError> for ApiError {
    fn from(e: SaveError) -> Self {
        match e {
            SaveError::Invalid(problems) => ApiError::refused_whole("invalid_template", "the template", &problems),
            SaveError::Db(e) => e.into(),
        }
    }
}

/// A saved version, with who saved it and when.
fn saved_view(name: &str, v: &templates::Version) -> Value {
    let mut t = view(name, &v.source, false);
    t["saved_at"] = json!(v.saved_at);
    t["saved_by"] = json!(v.saved_by);
    t
}

fn view(name: &str, source: &TemplateSource, builtin: bool) -> Value {
    json!({
        "name": name,
        "channel": source.channel,
        "version": source.version,
        "body": source.body,
        "subject": source.subject,
        "whatsapp": source.whatsapp,
        "builtin": builtin,
    })
}

async fn list(State(s): State<Arc<StrategyState>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let saved = templates::latest(&s.pool).await?;
    let mut out: Vec<Value> = saved.iter().map(|(name, v)| saved_view(name, v)).collect();
    out.extend(
        BUILTIN.iter().filter(|b| !saved.iter().any(|(n, _)| n == b.name)).map(|b| view(b.name, &b.source(), true)),
    );
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(json!({ "templates": out })))
}

async fn show(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let name = name(&raw)?;
    let versions = templates::versions(&s.pool, name).await?;
    let mut out: Vec<Value> = versions.iter().map(|v| saved_view(name, v)).collect();
    if let Some(b) = recaudo_templates::builtin(name) {
        out.push(view(name, &b.source(), true));
    }
    if out.is_empty() {
        return Err(ApiError::NotFound(format!("no template {name}")));
    }
    Ok(Json(json!({ "name": name, "in_force": out[0]["version"], "versions": out })))
}

/// At most this much JSON for one template.
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

async fn put(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::TemplatesWrite)?;
    let name = name(&raw)?;
    if body.len() > MAX_TEMPLATE_BYTES {
        return Err(ApiError::PayloadTooLarge(format!("a template is at most {MAX_TEMPLATE_BYTES} bytes of JSON")));
    }
    let source: TemplateSource = match serde_json::from_slice(&body) {
        Ok(source) => source,
        // A JSON object of the wrong shape is a template with problems: every one of them at once, as for one that
        // reads. Anything else is not a template at all.
        Err(e) => match serde_json::from_slice::<Value>(&body) {
            Ok(object @ Value::Object(_)) => {
                let problems = recaudo_templates::validate::check_unreadable(name, &object);
                return Err(ApiError::refused_whole("invalid_template", "the template", &problems));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("{e}; expected {{\"channel\", \"body\", \"subject\" (email), \"whatsapp\" (whatsapp)}}"),
                ))
            }
        },
    };
    if source.version != 0 {
        return Err(ApiError::bad_request("invalid_body", "version: is given by the server on save; leave it out"));
    }
    let saved = templates::save(&s.pool, name, source, &who.subject, s.clock.now(), s.sms_segment_warning).await?;
    let entry = AuditEntry::new("template.put", "template", Some(name))
        .details(json!({ "version": saved.version, "channel": saved.channel }));
    audit::record_now(&s.pool, &who, entry).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(&saved).map_err(|e| ApiError::Internal(e.into()))?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    debtor_id: String,
}

/// A reply link as long as the real ones (their token is 22 characters), so an SMS preview costs what the send will.
const PREVIEW_TOKEN: &str = "vista-previa-000000000";

async fn preview(
    State(s): State<Arc<StrategyState>>,
    who: Principal,
    Path(raw): Path<String>,
    body: Result<Json<PreviewRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::DebtorsRead)?;
    let name = name(&raw)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    let id =
        DebtorId::parse(&req.debtor_id).map_err(|e| ApiError::bad_request("invalid_id", format!("debtor_id: {e}")))?;
    let id = id.as_str();
    scope::require(&s.pool, &who, Resource::Debtor(id), &format!("debtor {id}")).await?;
    let mut conn = s.pool.acquire().await?;
    let catalogue = templates::catalogue(&mut conn).await?;
    let Some(template) = catalogue.get(name).map(|t| t.into_owned()) else {
        return Err(ApiError::NotFound(format!("no template {name}")));
    };
    let Some(target) = crate::manual::target(&mut conn, id).await? else {
        return Err(ApiError::NotFound(format!("debtor {id}")));
    };
    let now = s.clock.now();
    let request = target.request(channel_for_policy(template.channel)?, name, &catalogue, uuid::Uuid::nil(), now)?;
    let ctx = MessageContext::for_request(&request, format!("{}/r/{PREVIEW_TOKEN}", s.public_url));
    let rendered = recaudo_templates::render(name, &template, &ctx).map_err(|e| ApiError::Unprocessable {
        code: "template_not_rendered",
        message: e.to_string(),
        details: json!({}),
    })?;
    let mut out = json!({
        "template": name,
        "version": template.version,
        "channel": template.channel,
        "debtor_id": id,
        "credit_id": request.credit.id,
        "locale": recaudo_templates::Locale::for_country(request.country).tag(),
    });
    match template.channel {
        Channel::Sms => {
            let text = recaudo_templates::text_message(&rendered.body, request.country);
            let cost = segments::count(&text);
            let mut warnings = Vec::new();
            if cost.segments > s.sms_segment_warning {
                warnings.push(format!("{} SMS segments, above the limit of {}", cost.segments, s.sms_segment_warning));
            }
            out["body"] = json!(text);
            out["sms"] = json!(cost);
            out["warnings"] = json!(warnings);
        }
        Channel::Email => {
            let unsubscribe = format!("{}/u/{PREVIEW_TOKEN}", s.public_url);
            let (text, html) = recaudo_templates::email_parts(&rendered.body, request.country, &unsubscribe);
            out["subject"] = json!(rendered.subject);
            out["body"] = json!(text);
            out["html"] = json!(html);
        }
        Channel::Whatsapp => {
            out["body"] = json!(rendered.body);
            out["whatsapp"] = json!({
                "meta_name": template.whatsapp.as_ref().map(|w| &w.meta_name),
                "language": template.whatsapp.as_ref().map(|w| &w.language),
                "params": rendered.whatsapp_params,
            });
        }
        _ => out["body"] = json!(rendered.body),
    }
    Ok(Json(out))
}

fn channel_for_policy(c: Channel) -> Result<recaudo_policy::Channel, ApiError> {
    recaudo_policy::Channel::parse(c.as_str())
        .ok_or_else(|| ApiError::bad_request("invalid_channel", format!("{c} templates cannot be previewed")))
}
