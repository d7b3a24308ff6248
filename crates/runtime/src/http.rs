//! The HTTP surface every process shares: one error type for every API, the probes, and `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::process::Infra;

/// The error of every HTTP handler. Renders as `{"error": {"code": ..., "message": ...}}` with a fitting status;
/// internal errors are logged and answered without their details.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A missing or invalid credential, with a code saying which (`no_credential`, `token_expired`, ...).
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// The caller is known but their role or scopes do not allow this route.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// A dependency (the identity provider, say) cannot answer now; worth a retry.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but unacceptable input, with every problem found (`details`), such as a strategy document's.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String, details: serde_json::Value },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A document (a strategy, a template) refused whole: 422 with every problem in `details.problems`.
    pub fn refused_whole<P: std::fmt::Display + serde::Serialize>(
        code: &'static str,
        what: &str,
        problems: &[P],
    ) -> Self {
        ApiError::Unprocessable {
            code,
            message: format!(
                "{what} was refused whole: {}",
                problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
            ),
            details: json!({ "problems": problems }),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthenticated { code, message: message.into() }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden { code, message: message.into() }
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unavailable { code, message: message.into() }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// The message the caller is told: an internal error's details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; see the server logs".to_string(),
            other => other.to_string(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Unauthenticated { code, .. } => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::Unavailable { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "internal error");
        }
        let message = self.public_message();
        let mut error = json!({ "code": code, "message": message });
        if let ApiError::Unprocessable { details, .. } = &self {
            error["details"] = details.clone();
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme the client should use.
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Around every route: a handler that panics answers 500 with the JSON error body, and the panic is logged with the
/// method and the route's pattern (never the path, which may carry a token), instead of the client's connection
/// being dropped with no answer.
pub async fn answer_panics(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures::FutureExt;
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string());
    let method = req.method().clone();
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        // The panic's own message is left out: it may quote the request's data.
        Err(_) => {
            tracing::error!(%method, route = route.as_deref().unwrap_or("?"), "a handler panicked");
            metrics::counter!("recaudo_http_handler_panics_total").increment(1);
            ApiError::Internal(anyhow::anyhow!("the handler panicked")).into_response()
        }
    }
}

/// The value of cookie `name` in a request's `Cookie` headers, if set and not empty.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Who may reach a route without a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Needs a credential: the access gate runs before the handler.
    Protected,
    /// Reachable by anyone; the route carries its own proof (a probe, an unguessable link token, a provider's
    /// signature, the sign-in redirect itself).
    Public,
}

/// A route as the process serves it, for the checks that no route ships unprotected or undocumented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub path: String,
    pub visibility: Visibility,
}

/// A service's routes, each declared protected or public. The process puts every protected route behind the access
/// gate; there is no other way to add a route, so none can be served by mistake without a credential.
pub struct Routes<S = ()> {
    pub(crate) protected: Router<S>,
    pub(crate) public: Router<S>,
    pub(crate) table: Vec<RouteEntry>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes { protected: Router::new(), public: Router::new(), table: Vec::new() }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn protected(mut self, path: &str, methods: axum::routing::MethodRouter<S>) -> Self {
        self.protected = self.protected.route(path, methods);
        self.table.push(RouteEntry { path: path.to_string(), visibility: Visibility::Protected });
        self
    }

    pub fn public(mut self, path: &str, methods: axum::routing::MethodRouter<S>) -> Self {
        self.public = self.public.route(path, methods);
        self.table.push(RouteEntry { path: path.to_string(), visibility: Visibility::Public });
        self
    }

    /// A whole public router (a provider simulator) mounted under `prefix`.
    pub fn public_nest(mut self, prefix: &str, router: Router<S>) -> Self {
        self.public = self.public.nest(prefix, router);
        self.table.push(RouteEntry { path: format!("{prefix}/{{*rest}}"), visibility: Visibility::Public });
        self
    }

    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            protected: self.protected.with_state(state.clone()),
            public: self.public.with_state(state),
            table: self.table,
        }
    }
}

impl Routes<()> {
    pub fn merge(mut self, other: Routes<()>) -> Self {
        self.protected = self.protected.merge(other.protected);
        self.public = self.public.merge(other.public);
        self.table.extend(other.table);
        self
    }

    pub fn table(&self) -> &[RouteEntry] {
        &self.table
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn probes(infra: Infra) -> Routes {
    Routes::new()
        .public("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .public("/readyz", get(readyz))
        .public("/metrics", get(metrics))
        .with_state(infra)
}

/// Ready when NATS is connected, PostgreSQL answers and every service in the process has its migrations applied.
async fn readyz(State(infra): State<Infra>) -> Response {
    let nats = infra.bus.is_connected();
    let postgres = sqlx::query("SELECT 1").execute(&infra.pool).await.is_ok();
    let mut migrations = serde_json::Map::new();
    for (schema, list) in infra.schemas.iter() {
        let ok = crate::db::is_migrated(&infra.pool, schema, list).await.unwrap_or(false);
        migrations.insert((*schema).to_string(), json!(ok));
    }
    let ready = nats && postgres && migrations.values().all(|v| v == &json!(true));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let notices = infra.notices.lock().map(|n| n.clone()).unwrap_or_default();
    let body =
        json!({ "ready": ready, "nats": nats, "postgres": postgres, "migrations": migrations, "notices": notices });
    (status, Json(body)).into_response()
}

async fn metrics() -> Response {
    match crate::telemetry::prometheus() {
        Some(handle) => ([("content-type", "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder not installed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Over real HTTP: a route whose handler panics answers 500 with the JSON error body, and the server goes on.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_error_body() {
        let app = axum::Router::new()
            .route("/boom/{n}", get(|axum::extract::Path(n): axum::extract::Path<i32>| async move { (-n).to_string() }))
            .route("/fine", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn(super::answer_panics));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let ask = |path: &'static str| async move {
            let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
            conn.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            conn.read_to_string(&mut answer).await.unwrap();
            answer
        };
        // `-i32::MIN` overflows: a panic wherever overflow checks are on, as they are in tests and release builds.
        let answer = ask("/boom/-2147483648").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains(r#""code":"internal""#), "{answer}");
        assert!(ask("/fine").await.ends_with("fine"));
    }
}
