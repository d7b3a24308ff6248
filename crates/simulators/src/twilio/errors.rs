//! Twilio's error responses: `{"code":…,"message":…,"more_info":"https://www.twilio.com/docs/errors/…","status":…}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A free-form WhatsApp message sent outside the customer-service window. Twilio accepts the request and reports
/// this later, on the message, rather than refusing it.
pub(crate) const OUTSIDE_WINDOW: u32 = 63016;

/// Twilio's description of an error a message failed with, for the Message resource's `error_message`.
pub(crate) fn delivery_error_message(code: u32) -> Option<&'static str> {
    match code {
        OUTSIDE_WINDOW => Some(
            "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, \
             please use a Message Template.",
        ),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl ApiError {
    /// Wrong or missing credentials, or an account SID in the path that is not the authenticated one.
    pub(crate) fn unauthenticated() -> Self {
        Self { status: StatusCode::UNAUTHORIZED, code: 20003, message: "Authenticate".to_string() }
    }

    /// `path` is the Twilio path asked for, which Twilio quotes in the message.
    pub(crate) fn not_found(path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: 20404,
            message: format!("The requested resource {path} was not found"),
        }
    }

    pub(crate) fn invalid(code: u32, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> u32 {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
        }
        response
    }
}
