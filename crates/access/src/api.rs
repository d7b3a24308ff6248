//! `/api/me`, `/api/users`, `/api/credentials`, `/api/audit`, the browser sign-in at `/auth/*`, and the
//! development provider at `/dev-idp/*` when it is on.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use recaudo_runtime::{ApiError, Routes};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::audit::{self, Filter};
use crate::directory::{self, Assignment};
use crate::principal::{Permission, Principal, Team};
use crate::{admin, browser, credentials, dev_idp, scope, Access};

pub fn routes(access: Arc<Access>) -> Routes {
    let mut routes = Routes::new()
        .protected("/api/me", get(me))
        .protected("/api/users", get(list_users))
        .protected("/api/users/{subject}", get(show_user).put(put_user).delete(delete_user))
        .protected("/api/credentials", get(list_credentials).post(create_credential))
        .protected("/api/credentials/{id}", axum::routing::delete(revoke_credential))
        .protected("/api/audit", get(read_audit))
        .public("/auth/login", get(browser::login))
        .public("/auth/callback", get(browser::callback))
        .protected("/auth/session", get(browser::session))
        .protected("/auth/logout", post(browser::logout));
    if access.dev_idp.is_some() {
        let p = dev_idp::PATH;
        routes = routes
            .public(&format!("{p}/.well-known/openid-configuration"), get(dev_idp::discovery))
            .public(&format!("{p}/jwks"), get(dev_idp::jwks))
            .public(&format!("{p}/authorize"), get(dev_idp::authorize))
            .public(&format!("{p}/token"), post(dev_idp::token));
    }
    routes.with_state(access)
}

/// `GET /api/me`: who the caller is, their role and what they see.
async fn me(State(access): State<Arc<Access>>, who: Principal) -> Result<Json<Value>, ApiError> {
    let scope = match who.team() {
        Team::Everyone => json!({ "kind": "everyone" }),
        Team::Advisor(a) => json!({ "kind": "advisor", "advisor_id": a.0 }),
        Team::Supervisor(s) => json!({
            "kind": "supervisor", "supervisor_id": s.0,
            "advisor_ids": scope::visible_advisors(&access.pool, &who).await?.unwrap_or_default(),
        }),
    };
    let permissions: Vec<&str> = Permission::ALL.iter().filter(|p| who.may(**p)).map(|p| p.as_str()).collect();
    Ok(Json(json!({
        "subject": who.subject,
        "kind": who.kind(),
        "name": who.name,
        "role": who.role(),
        "via": who.via,
        "scope": scope,
        "permissions": permissions,
    })))
}

async fn list_users(State(access): State<Arc<Access>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::UsersRead)?;
    let configured: Vec<Value> = access
        .config
        .admin_subjects
        .iter()
        .map(|s| json!({ "subject": s, "role": "admin", "source": "RECAUDO_ADMIN_SUBJECTS" }))
        .collect();
    let stored: Vec<Value> = directory::list(&access.pool)
        .await?
        .into_iter()
        .filter(|u| !access.config.is_admin_subject(&u.subject))
        .map(|u| {
            let mut v = json!(u);
            v["source"] = json!("directory");
            v
        })
        .collect();
    Ok(Json(json!({ "users": configured.into_iter().chain(stored).collect::<Vec<_>>() })))
}

async fn show_user(
    State(access): State<Arc<Access>>,
    who: Principal,
    Path(subject): Path<String>,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::UsersRead)?;
    admin::check_subject(&subject)?;
    if access.config.is_admin_subject(&subject) {
        return Ok(Json(json!({ "subject": subject, "role": "admin", "source": "RECAUDO_ADMIN_SUBJECTS" })));
    }
    let user = directory::get(&access.pool, &subject)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {subject}")))?;
    Ok(Json(json!(user)))
}

async fn put_user(
    State(access): State<Arc<Access>>,
    who: Principal,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::UsersWrite)?;
    let assignment: Assignment = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected {{\"role\": ..., \"advisor_id\"|\"supervisor_id\": ...}}: {e}"),
        )
    })?;
    let user = admin::put_user(&access.pool, &access.config, &who, &subject, &assignment).await?;
    Ok(Json(json!(user)))
}

async fn delete_user(
    State(access): State<Arc<Access>>,
    who: Principal,
    Path(subject): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::UsersWrite)?;
    admin::delete_user(&access.pool, &access.config, &who, &subject).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    name: String,
    scopes: Vec<String>,
}

async fn create_credential(
    State(access): State<Arc<Access>>,
    who: Principal,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require(Permission::CredentialsWrite)?;
    let req: NewCredential = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_body", format!("expected {{\"name\": ..., \"scopes\": [...]}}: {e}"))
    })?;
    let created = admin::create_credential(&access.pool, &who, &req.name, &req.scopes).await?;
    Ok((StatusCode::CREATED, Json(json!(created))))
}

async fn list_credentials(State(access): State<Arc<Access>>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(Permission::CredentialsWrite)?;
    Ok(Json(json!({ "credentials": credentials::list(&access.pool).await? })))
}

async fn revoke_credential(
    State(access): State<Arc<Access>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require(Permission::CredentialsWrite)?;
    let id: Uuid = id.parse().map_err(|_| ApiError::bad_request("invalid_id", "expected a credential id (a UUID)"))?;
    admin::revoke_credential(&access.pool, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/audit?actor=&action=&resource_type=&resource_id=&from=&to=&before_id=&limit=`, newest first.
async fn read_audit(
    State(access): State<Arc<Access>>,
    who: Principal,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    who.require(Permission::AuditRead)?;
    let filter: Filter = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("{e}; filters: actor, action, resource_type, resource_id, from, to (RFC 3339), before_id, limit"),
        )
    })?;
    for (field, value) in [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("resource_type", &filter.resource_type),
        ("resource_id", &filter.resource_id),
    ] {
        if let Some(v) = value {
            recaudo_domain::text::check_text(v, 255)
                .map_err(|e| ApiError::bad_request("invalid_query", format!("{field} {e}")))?;
        }
    }
    let records = audit::query(&access.pool, &filter).await?;
    let next = records
        .last()
        .map(|r| r.id)
        .filter(|_| records.len() as i64 == filter.limit.unwrap_or(100).clamp(1, audit::MAX_PAGE));
    Ok(Json(json!({ "records": records, "next_before_id": next })))
}
