//! HTTP basic auth as Twilio's REST API does it: the account SID as user name, the auth token as password.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::twilio::errors::ApiError;
use crate::twilio::SimConfig;

/// Accepts the request only with the configured credentials and the configured account in the path.
pub(crate) fn authorize(config: &SimConfig, headers: &HeaderMap, path_account_sid: &str) -> Result<(), ApiError> {
    let (user, password) = basic_credentials(headers).ok_or_else(ApiError::unauthenticated)?;
    if user != config.account_sid || password != config.auth_token || path_account_sid != config.account_sid {
        return Err(ApiError::unauthenticated());
    }
    Ok(())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers_with(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).expect("ascii header"));
        headers
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn accepts_only_the_configured_account_and_token() {
        let config = SimConfig::demo();
        let good = headers_with(&basic(&config.account_sid, &config.auth_token));
        assert_eq!(authorize(&config, &good, &config.account_sid), Ok(()));

        let wrong_token = headers_with(&basic(&config.account_sid, "nope"));
        assert_eq!(authorize(&config, &wrong_token, &config.account_sid), Err(ApiError::unauthenticated()));
        assert_eq!(authorize(&config, &good, "AC00000000000000000000000000000000"), Err(ApiError::unauthenticated()));
        assert_eq!(authorize(&config, &HeaderMap::new(), &config.account_sid), Err(ApiError::unauthenticated()));
        assert_eq!(
            authorize(&config, &headers_with("Bearer abc"), &config.account_sid),
            Err(ApiError::unauthenticated())
        );
        assert_eq!(
            authorize(&config, &headers_with("Basic %%%"), &config.account_sid),
            Err(ApiError::unauthenticated())
        );
    }
}
