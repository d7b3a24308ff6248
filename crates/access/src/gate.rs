//! The access gate: every protected route runs behind it. It finds the caller's credential (a bearer JWT from the
//! identity provider, a service credential, or a browser session cookie with its CSRF token), resolves it to a
//! [`Principal`] and hands that to the handler; anything else is answered here, before any handler runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use recaudo_runtime::ApiError;

use crate::browser;
use crate::principal::{Grant, Origin, Principal, Via};
use crate::{credentials, directory, Access};

pub async fn authenticate(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    match principal_of(&access, &mut req).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        // A person opening a console page without a session is sent to sign in, and back to the page after.
        Err(ApiError::Unauthenticated { .. }) if is_console_page(&req) => {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/console/");
            let encoded = percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC);
            axum::response::Redirect::to(&format!("/auth/login?return_to={encoded}")).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn is_console_page(req: &Request) -> bool {
    req.method() == Method::GET
        && req.uri().path().starts_with("/console/")
        && !req.headers().contains_key("hx-request")
}

async fn principal_of(access: &Access, req: &mut Request) -> Result<Principal, ApiError> {
    let origin = origin_of(req);
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = bearer(value.as_bytes())?;
        return if token.starts_with(credentials::PREFIX) {
            service(access, token, origin).await
        } else {
            person(access, token, origin).await
        };
    }
    if let Some(session_id) = browser::session_cookie(req.headers()) {
        let session = browser::lookup(&access.pool, &session_id)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("session_expired", "the session has ended; sign in again"))?;
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && !browser::csrf_matches(req.headers(), &session.csrf_token) {
            return Err(ApiError::forbidden(
                "csrf",
                "a change made with the session cookie needs the X-CSRF-Token header from GET /auth/session",
            ));
        }
        let principal = resolve(access, &session.subject, Via::Session, origin).await?;
        req.extensions_mut().insert(session);
        return Ok(principal);
    }
    Err(ApiError::unauthenticated(
        "no_credential",
        "this route needs a credential: Authorization: Bearer <token from your identity provider, or a service \
         credential>, or a browser session",
    ))
}

fn bearer(value: &[u8]) -> Result<&str, ApiError> {
    let malformed =
        || ApiError::unauthenticated("malformed_credential", "expected the header Authorization: Bearer <token>");
    let value = std::str::from_utf8(value).map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

async fn service(access: &Access, secret: &str, origin: Origin) -> Result<Principal, ApiError> {
    let (id, name, scopes) = credentials::authenticate(&access.pool, secret)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown_credential", "unknown or revoked service credential"))?;
    Ok(Principal {
        subject: format!("service:{id}"),
        name: Some(name),
        grant: Grant::Service { credential_id: id, scopes },
        via: Via::ServiceCredential,
        origin,
    })
}

async fn person(access: &Access, token: &str, origin: Origin) -> Result<Principal, ApiError> {
    let claims = access.verifier.verify(token, &access.config.audience).await?;
    resolve(access, &claims.sub, Via::BearerToken, origin).await
}

/// The role of a signed-in subject, read now: a change in the directory takes effect at the next request.
pub(crate) async fn resolve(access: &Access, subject: &str, via: Via, origin: Origin) -> Result<Principal, ApiError> {
    if crate::admin::check_subject(subject).is_err() {
        return Err(ApiError::unauthenticated("missing_claim", "the token's sub is not a usable subject"));
    }
    let (role, team) = directory::resolve(&access.pool, &access.config, subject).await?.ok_or_else(|| {
        ApiError::forbidden("no_role", "you are signed in, but no role is assigned to you; ask an admin for one")
    })?;
    Ok(Principal { subject: subject.to_string(), name: None, grant: Grant::Person { role, team }, via, origin })
}

fn origin_of(req: &Request) -> Origin {
    origin(req.headers(), req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0))
}

/// Where a request came from, for the audit trail: the peer, and what the headers say (bounded, never trusted).
pub(crate) fn origin(headers: &HeaderMap, peer: Option<SocketAddr>) -> Origin {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(256).collect());
    Origin {
        ip: peer.map(|p| p.ip().to_string()),
        forwarded_for: text("x-forwarded-for"),
        user_agent: text("user-agent"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_credentials_are_read() {
        assert_eq!(bearer(b"Bearer abc").unwrap(), "abc");
        assert_eq!(bearer(b"bearer  abc ").unwrap(), "abc");
        assert!(bearer(b"Basic dXNlcjpwYXNz").is_err());
        assert!(bearer(b"Bearer").is_err());
        assert!(bearer(b"Bearer ").is_err());
        assert!(bearer(&[0xff, 0xfe]).is_err());
    }
}
