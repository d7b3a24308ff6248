//! Browser sign-in for the web console: the authorization-code flow with PKCE (S256) against the identity provider,
//! then an HttpOnly, SameSite=Lax session cookie. A change made with the cookie needs the session's CSRF token in
//! `X-CSRF-Token` (read from `GET /auth/session`), so another site cannot make the browser act for its user.
//!
//! `GET /auth/login[?return_to=/path]` → the provider → `GET /auth/callback?code&state` → the session, then a
//! redirect to `return_to`. `POST /auth/logout` ends the session.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use recaudo_runtime::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::audit::{self, Entry};
use crate::principal::{Principal, Via};
use crate::{gate, Access};

pub const COOKIE: &str = "recaudo_session";
/// Binds a sign-in to the browser that started it: without it, a callback link made by someone else (login CSRF)
/// would sign the victim in as that someone.
pub const LOGIN_COOKIE: &str = "recaudo_login";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a started sign-in may take.
const LOGIN_TTL_MINUTES: i64 = 10;

/// The session a request was made with (put beside the principal by the gate).
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub id_sha256: Vec<u8>,
    pub subject: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    recaudo_runtime::http::cookie(headers, COOKIE)
}

/// A sign-in's `state` as this server makes them: base64url, so anything else is no sign-in of ours.
fn plausible_state(state: &str) -> bool {
    (1..=64).contains(&state.len()) && state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers.get(CSRF_HEADER).map(|v| v.as_bytes()) else { return false };
    // Constant time, so the token cannot be guessed byte by byte from response times.
    given.len() == expected.len() && given.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

pub async fn lookup(pool: &PgPool, session_id: &str) -> Result<Option<CurrentSession>, sqlx::Error> {
    let hash = Sha256::digest(session_id.as_bytes()).to_vec();
    let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT subject, csrf_token, expires_at FROM access.sessions WHERE id_sha256 = $1 AND expires_at > now()",
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(subject, csrf_token, expires_at)| CurrentSession { id_sha256: hash, subject, csrf_token, expires_at }))
}

fn configured(access: &Access) -> Result<&crate::config::BrowserClient, ApiError> {
    access
        .config
        .browser
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("browser sign-in is not configured (RECAUDO_OIDC_CLIENT_ID)".into()))
}

fn redirect_uri(access: &Access) -> Result<String, ApiError> {
    let client = configured(access)?;
    Ok(client.redirect_url.clone().unwrap_or_else(|| format!("{}/auth/callback", access.public_url)))
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

/// Only a path on this site: never an absolute or scheme-relative URL (an open redirect).
fn safe_return_to(raw: Option<String>) -> Result<String, ApiError> {
    let path = raw.unwrap_or_else(|| "/".into());
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && path.len() <= 2048
        && path.is_ascii()
        && !path.chars().any(|c| c.is_ascii_control());
    if ok {
        Ok(path)
    } else {
        Err(ApiError::bad_request("invalid_return_to", "return_to must be a path on this site, such as /console"))
    }
}

pub(crate) async fn login(State(access): State<Arc<Access>>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let client = configured(&access)?;
    let q: LoginQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let return_to = safe_return_to(q.return_to)?;
    let discovery = access.verifier.discovery().await?;
    let endpoint = discovery.authorization_endpoint.ok_or_else(|| {
        ApiError::unavailable("identity_provider_unavailable", "the provider's discovery has no authorization_endpoint")
    })?;
    let (state, verifier, nonce) = (random_token(24), random_token(48), random_token(24));
    sqlx::query("DELETE FROM access.logins WHERE expires_at < now()").execute(&access.pool).await?;
    sqlx::query(
        "INSERT INTO access.logins (state, code_verifier, nonce, return_to, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(mins => $5))",
    )
    .bind(&state)
    .bind(&verifier)
    .bind(&nonce)
    .bind(&return_to)
    .bind(LOGIN_TTL_MINUTES as i32)
    .execute(&access.pool)
    .await?;
    let params = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", redirect_uri(&access)?.as_str()),
        ("scope", "openid"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", pkce_challenge(&verifier).as_str()),
        ("code_challenge_method", "S256"),
    ])
    .map_err(|e| ApiError::Internal(e.into()))?;
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    let mut response = redirect(StatusCode::FOUND, &format!("{endpoint}{sep}{params}"));
    set_cookie(&mut response, &access, LOGIN_COOKIE, &state, "/auth/callback", LOGIN_TTL_MINUTES as u64 * 60)?;
    Ok(response)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

pub(crate) async fn callback(
    State(access): State<Arc<Access>>,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let client = configured(&access)?;
    let q: CallbackQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    if let Some(error) = q.error {
        let detail = q.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return Err(ApiError::unauthenticated("sign_in_failed", format!("the identity provider said {error}{detail}")));
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(ApiError::bad_request("invalid_query", "the callback needs code and state"));
    };
    let unknown =
        || ApiError::bad_request("unknown_login", "this sign-in is unknown or expired; start again at /auth/login");
    if !plausible_state(&state) {
        return Err(unknown());
    }
    if recaudo_runtime::http::cookie(&headers, LOGIN_COOKIE).as_deref() != Some(state.as_str()) {
        return Err(ApiError::bad_request(
            "unknown_login",
            "this sign-in was not started in this browser; start again at /auth/login",
        ));
    }
    let login: Option<(String, String, String)> = sqlx::query_as(
        "DELETE FROM access.logins WHERE state = $1 AND expires_at > now() RETURNING code_verifier, nonce, return_to",
    )
    .bind(&state)
    .fetch_optional(&access.pool)
    .await?;
    let Some((verifier, nonce, return_to)) = login else {
        return Err(unknown());
    };
    let discovery = access.verifier.discovery().await?;
    let token_endpoint = discovery.token_endpoint.ok_or_else(|| {
        ApiError::unavailable("identity_provider_unavailable", "the provider's discovery has no token_endpoint")
    })?;
    let redirect_uri = redirect_uri(&access)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", client.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(secret) = &client.client_secret {
        form.push(("client_secret", secret.as_str()));
    }
    let resp = access.http.post(&token_endpoint).form(&form).send().await.map_err(|e| {
        ApiError::unavailable("identity_provider_unavailable", format!("cannot reach the token endpoint: {e}"))
    })?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let error = body["error"].as_str().unwrap_or("no error code");
        return Err(ApiError::unauthenticated(
            "sign_in_failed",
            format!("the identity provider refused the code ({status}, {error})"),
        ));
    }
    let tokens: TokenResponse =
        resp.json().await.map_err(|e| ApiError::unauthenticated("sign_in_failed", format!("token response: {e}")))?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| ApiError::unauthenticated("sign_in_failed", "the token response has no id_token"))?;
    let claims = access.verifier.verify(&id_token, &client.client_id).await?;
    if claims.nonce.as_deref() != Some(nonce.as_str()) {
        return Err(ApiError::unauthenticated("sign_in_failed", "the id_token's nonce does not match this sign-in"));
    }
    let origin = gate::origin(&headers, peer.map(|Extension(p)| p.0));
    let principal = gate::resolve(&access, &claims.sub, Via::Session, origin).await?;
    let session_id = random_token(32);
    let expires_at = Utc::now() + chrono::Duration::from_std(access.config.session_ttl).unwrap_or_default();
    let mut tx = access.pool.begin().await?;
    sqlx::query(
        "INSERT INTO access.sessions (id_sha256, subject, csrf_token, created_at, expires_at)
         VALUES ($1, $2, $3, now(), $4)",
    )
    .bind(Sha256::digest(session_id.as_bytes()).to_vec())
    .bind(&claims.sub)
    .bind(random_token(32))
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM access.sessions WHERE expires_at < now()").execute(&mut *tx).await?;
    audit::record(&mut tx, &principal, Utc::now(), Entry::new("session.create", "session", None)).await?;
    tx.commit().await?;
    let mut response = redirect(StatusCode::SEE_OTHER, &return_to);
    set_cookie(&mut response, &access, COOKIE, &session_id, "/", access.config.session_ttl.as_secs())?;
    set_cookie(&mut response, &access, LOGIN_COOKIE, "", "/auth/callback", 0)?;
    Ok(response)
}

#[derive(Serialize)]
struct SessionView<'a> {
    subject: &'a str,
    role: Option<&'static str>,
    via: Via,
    csrf_token: Option<&'a str>,
    expires_at: Option<DateTime<Utc>>,
}

/// `GET /auth/session`: who is signed in, and the CSRF token for changes made with the cookie.
pub(crate) async fn session(who: Principal, session: Option<Extension<CurrentSession>>) -> Json<serde_json::Value> {
    let s = session.as_ref().map(|Extension(s)| s);
    Json(json!(SessionView {
        subject: &who.subject,
        role: who.role().map(|r| r.as_str()),
        via: who.via,
        csrf_token: s.map(|s| s.csrf_token.as_str()),
        expires_at: s.map(|s| s.expires_at),
    }))
}

/// `POST /auth/logout`: ends the session the request was made with.
pub(crate) async fn logout(
    State(access): State<Arc<Access>>,
    who: Principal,
    session: Option<Extension<CurrentSession>>,
) -> Result<Response, ApiError> {
    let Some(Extension(session)) = session else {
        return Err(ApiError::bad_request("no_session", "this request was not made with a session cookie"));
    };
    let mut tx = access.pool.begin().await?;
    sqlx::query("DELETE FROM access.sessions WHERE id_sha256 = $1").bind(&session.id_sha256).execute(&mut *tx).await?;
    audit::record(&mut tx, &who, Utc::now(), Entry::new("session.delete", "session", None)).await?;
    tx.commit().await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut response, &access, COOKIE, "", "/", 0)?;
    Ok(response)
}

/// Every cookie of the access layer: HttpOnly, SameSite=Lax, Secure when the public URL is https; `max_age` 0
/// removes it.
fn set_cookie(
    response: &mut Response,
    access: &Access,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) -> Result<(), ApiError> {
    let secure = if access.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(safe_return_to(None).unwrap(), "/");
        assert_eq!(safe_return_to(Some("/console?x=1".into())).unwrap(), "/console?x=1");
        for bad in ["https://evil.example", "//evil.example", "/\\evil", "console", "/a\nb"] {
            assert!(safe_return_to(Some(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_csrf_compares_whole() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; recaudo_session=abc; b=2"));
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        h.insert(CSRF_HEADER, HeaderValue::from_static("tok"));
        assert!(csrf_matches(&h, "tok"));
        assert!(!csrf_matches(&h, "tok2"));
        assert!(!csrf_matches(&HeaderMap::new(), "tok"));
    }
}
