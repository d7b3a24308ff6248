//! The development identity provider (`RECAUDO_DEV_IDP=on`, never beside `RECAUDO_OIDC_ISSUER`): a small OpenID
//! provider at `/dev-idp` so that `make run` signs people in without a real one. It speaks the same protocol as
//! the real thing (discovery, JWKS, authorization code with PKCE, ES256 tokens), so the rest of the access layer
//! has no development path of its own.
//!
//! Anyone who can reach it can sign in as any user in the directory: that is its purpose, and why it is off unless
//! explicitly enabled.

use recaudo_domain::text::html_escape;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::RngCore;
use recaudo_runtime::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::browser::{pkce_challenge, random_token};
use crate::Access;

pub const PATH: &str = "/dev-idp";

/// The demo users every development directory starts with (advisors and supervisors come from the portfolio;
/// `recaudo dev token --role advisor` makes one).
pub const DEMO_USERS: [(&str, crate::Role); 3] =
    [("dev-admin", crate::Role::Admin), ("dev-manager", crate::Role::Manager), ("dev-auditor", crate::Role::Auditor)];

pub struct DevIdp {
    pub issuer: String,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    codes: Mutex<HashMap<String, PendingCode>>,
}

struct PendingCode {
    subject: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    expires: Instant,
}

impl DevIdp {
    /// The provider with its signing key, made on first use and kept in the database so that tokens outlive a
    /// restart and `recaudo dev token` signs with the same key.
    pub async fn load(pool: &PgPool, public_url: &str) -> anyhow::Result<DevIdp> {
        let existing: Option<(String, String)> =
            sqlx::query_as("SELECT kid, pkcs8_pem FROM access.dev_idp_key ORDER BY created_at LIMIT 1")
                .fetch_optional(pool)
                .await?;
        let (kid, pem) = match existing {
            Some(found) => found,
            None => {
                let key = loop {
                    let mut bytes = [0u8; 32];
                    rand::rng().fill_bytes(&mut bytes);
                    if let Ok(k) = SigningKey::from_slice(&bytes) {
                        break k;
                    }
                };
                let pem = key.to_pkcs8_pem(LineEnding::LF)?.to_string();
                let point = key.verifying_key().to_encoded_point(false);
                let kid = hex_prefix(&Sha256::digest(point.as_bytes()));
                sqlx::query("INSERT INTO access.dev_idp_key (kid, pkcs8_pem) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&kid)
                    .bind(&pem)
                    .execute(pool)
                    .await?;
                // Another process may have won the race; use whichever key is stored first.
                sqlx::query_as("SELECT kid, pkcs8_pem FROM access.dev_idp_key ORDER BY created_at LIMIT 1")
                    .fetch_one(pool)
                    .await?
            }
        };
        let key = SigningKey::from_pkcs8_pem(&pem)?;
        let point = key.verifying_key().to_encoded_point(false);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": b64(point.x().map(|x| x.as_slice()).unwrap_or_default()),
            "y": b64(point.y().map(|y| y.as_slice()).unwrap_or_default()),
        });
        Ok(DevIdp {
            issuer: format!("{}{PATH}", public_url.trim_end_matches('/')),
            kid,
            encoding: EncodingKey::from_ec_pem(pem.as_bytes())?,
            jwk,
            codes: Mutex::new(HashMap::new()),
        })
    }

    /// A signed token for `subject`, meant for `audience`.
    pub fn mint(&self, subject: &str, audience: &str, ttl: Duration, nonce: Option<&str>) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer, "sub": subject, "aud": audience,
            "iat": now, "nbf": now, "exp": now + ttl.as_secs() as i64,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Puts the demo users in the directory if they are not there yet.
pub async fn seed_demo_users(pool: &PgPool) -> Result<(), sqlx::Error> {
    for (subject, role) in DEMO_USERS {
        sqlx::query(
            "INSERT INTO access.users (subject, role, updated_at, updated_by) VALUES ($1, $2, now(), 'dev-idp')
             ON CONFLICT (subject) DO NOTHING",
        )
        .bind(subject)
        .bind(role.as_str())
        .execute(pool)
        .await?;
    }
    Ok(())
}

fn dev(access: &Access) -> Result<&DevIdp, ApiError> {
    access.dev_idp.as_ref().ok_or_else(|| ApiError::NotFound("the development identity provider is off".into()))
}

pub(crate) async fn discovery(State(access): State<Arc<Access>>) -> Result<Json<Value>, ApiError> {
    let idp = dev(&access)?;
    Ok(Json(json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code"],
    })))
}

pub(crate) async fn jwks(State(access): State<Arc<Access>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "keys": [dev(&access)?.jwk] })))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// The demo user to sign in as; without it, a page lists them.
    login_hint: Option<String>,
}

/// Signs the chosen user in at once (there is no password: this is the development provider).
pub(crate) async fn authorize(
    State(access): State<Arc<Access>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let idp = dev(&access)?;
    let raw = raw.unwrap_or_default();
    let q: AuthorizeQuery =
        serde_urlencoded::from_str(&raw).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    let client = access.config.browser.as_ref().ok_or_else(|| ApiError::NotFound("no browser client".into()))?;
    let expected_redirect =
        client.redirect_url.clone().unwrap_or_else(|| format!("{}/auth/callback", access.public_url));
    if q.response_type != "code" || q.client_id != client.client_id || q.redirect_uri != expected_redirect {
        return Err(ApiError::bad_request("invalid_request", "unknown client, redirect_uri or response_type"));
    }
    let (Some(challenge), Some("S256")) = (q.code_challenge.clone(), q.code_challenge_method.as_deref()) else {
        return Err(ApiError::bad_request("invalid_request", "PKCE with S256 is required"));
    };
    let Some(subject) = q.login_hint.filter(|s| !s.is_empty()) else {
        let users = crate::directory::list(&access.pool).await?;
        let mut subjects: Vec<String> = access.config.admin_subjects.clone();
        subjects.extend(users.into_iter().map(|u| u.subject));
        let links: String = subjects
            .iter()
            .map(|s| {
                let href = format!(
                    "{PATH}/authorize?{raw}&{}",
                    serde_urlencoded::to_string([("login_hint", s)]).unwrap_or_default()
                );
                format!("<li><a href=\"{}\">{}</a></li>", html_escape(&href), html_escape(s))
            })
            .collect();
        return Ok(Html(format!(
            "<!doctype html><title>Recaudo development sign-in</title><h1>Sign in as</h1><ul>{links}</ul>"
        ))
        .into_response());
    };
    let code = random_token(24);
    idp.codes.lock().map_err(|_| ApiError::Internal(anyhow::anyhow!("code store poisoned")))?.insert(
        code.clone(),
        PendingCode {
            subject,
            client_id: q.client_id,
            redirect_uri: q.redirect_uri.clone(),
            challenge,
            nonce: q.nonce,
            expires: Instant::now() + Duration::from_secs(60),
        },
    );
    let params = serde_urlencoded::to_string([("code", code.as_str()), ("state", q.state.as_str())])
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(crate::browser::redirect(StatusCode::FOUND, &format!("{}?{params}", q.redirect_uri)))
}

#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: String,
    code: String,
    code_verifier: String,
    client_id: String,
    redirect_uri: String,
}

#[derive(Serialize)]
struct TokenAnswer {
    id_token: String,
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

pub(crate) async fn token(State(access): State<Arc<Access>>, Form(req): Form<TokenRequest>) -> Response {
    let idp = match dev(&access) {
        Ok(idp) => idp,
        Err(e) => return e.into_response(),
    };
    let refuse = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    if req.grant_type != "authorization_code" {
        return refuse("unsupported_grant_type");
    }
    let pending = idp.codes.lock().ok().and_then(|mut codes| codes.remove(&req.code));
    let Some(p) = pending else { return refuse("invalid_grant") };
    let valid = p.expires > Instant::now()
        && p.client_id == req.client_id
        && p.redirect_uri == req.redirect_uri
        && pkce_challenge(&req.code_verifier) == p.challenge;
    if !valid {
        return refuse("invalid_grant");
    }
    let ttl = Duration::from_secs(3600);
    let tokens = idp
        .mint(&p.subject, &p.client_id, ttl, p.nonce.as_deref())
        .and_then(|id_token| Ok((id_token, idp.mint(&p.subject, &access.config.audience, ttl, None)?)));
    match tokens {
        Ok((id_token, access_token)) => {
            Json(TokenAnswer { id_token, access_token, token_type: "Bearer", expires_in: ttl.as_secs() })
                .into_response()
        }
        Err(e) => ApiError::Internal(e).into_response(),
    }
}

/// `recaudo dev token --role R`: a token from the development provider for a demo user of that role, put in the
/// directory if needed. Advisors and supervisors are bound to `record` (an id from `GET /api/advisors`), or to the
/// first one the access layer knows. Returns the subject and the token.
pub async fn cli_token(
    pool: &PgPool,
    config: &crate::AccessConfig,
    public_url: &str,
    role: crate::Role,
    record: Option<uuid::Uuid>,
    ttl: Duration,
) -> anyhow::Result<(String, String)> {
    use crate::directory::Assignment;
    use crate::Role;
    if !matches!(config.identity, crate::Identity::Development) {
        anyhow::bail!("the development identity provider is off; set RECAUDO_DEV_IDP=on (never in production)");
    }
    let pick = |sql: &'static str| async move {
        match record {
            Some(id) => Ok::<_, anyhow::Error>(id),
            None => sqlx::query_scalar::<_, uuid::Uuid>(sql).fetch_optional(pool).await?.ok_or_else(|| {
                anyhow::anyhow!("no advisors are known yet: import a client file first (`make run` does)")
            }),
        }
    };
    let (subject, assignment) = match role {
        Role::Advisor => {
            let id = pick("SELECT advisor_id FROM access.advisors ORDER BY advisor_id LIMIT 1").await?;
            (format!("dev-advisor-{id}"), Assignment { role, advisor_id: Some(id), supervisor_id: None })
        }
        Role::Supervisor => {
            let id = pick(
                "SELECT supervisor_id FROM access.advisors WHERE supervisor_id IS NOT NULL ORDER BY supervisor_id LIMIT 1",
            )
            .await?;
            (format!("dev-supervisor-{id}"), Assignment { role, advisor_id: None, supervisor_id: Some(id) })
        }
        other => (format!("dev-{other}"), Assignment { role: other, advisor_id: None, supervisor_id: None }),
    };
    if crate::directory::get(pool, &subject).await?.is_none() {
        crate::admin::put_user(pool, config, &crate::admin::cli_principal(), &subject, &assignment).await?;
    }
    let idp = DevIdp::load(pool, public_url).await?;
    let token = idp.mint(&subject, &config.audience, ttl, None)?;
    Ok((subject, token))
}
