//! Graph API error responses:
//! `{"error":{"message":…,"type":…,"code":…,"error_subcode":…,"error_data":{…},"fbtrace_id":…}}`.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: u32,
    subcode: Option<u32>,
    message: String,
    details: Option<String>,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// A missing or wrong bearer token.
    pub(crate) fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "OAuthException",
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// A request naming something that is not there (another phone number id).
    pub(crate) fn unknown_object(id: &str) -> Self {
        Self {
            subcode: Some(33),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "GraphMethodException",
                100,
                format!("Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"),
            )
        }
    }

    /// Meta's code 100, naming the parameter at fault.
    pub(crate) fn invalid_parameter(details: impl Into<String>) -> Self {
        Self {
            details: Some(details.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "OAuthException", 100, "(#100) Invalid parameter")
        }
    }

    pub(crate) fn server_error() -> Self {
        Self {
            details: Some("Message failed to send because of an unknown error.".into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "OAuthException", 131000, "(#131000) Something went wrong")
        }
    }

    pub(crate) fn rate_limited(retry_after: Duration) -> Self {
        Self {
            details: Some("Cloud API message throughput has been reached.".into()),
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "OAuthException", 130429, "(#130429) Rate limit hit")
        }
    }

    fn new(status: StatusCode, kind: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self { status, kind, code, subcode: None, message: message.into(), details: None, retry_after: None }
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> u32 {
        self.code
    }

    #[cfg(test)]
    pub(crate) fn details(&self) -> Option<&str> {
        self.details.as_deref()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": format!("A{}", &uuid::Uuid::new_v4().simple().to_string()[..22]),
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(details) = self.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("OAuth \"Facebook Platform\" \"invalid_token\""),
            );
        }
        response
    }
}
