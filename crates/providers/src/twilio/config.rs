//! Account settings for the Twilio client, checked once at construction so a bad deploy fails at start-up rather
//! than on the first debtor we try to reach.

use std::fmt;

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

#[derive(Clone)]
pub struct TwilioConfig {
    /// Where the REST API lives; `https://api.twilio.com` in production, the simulator's address in demos and tests.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Our sending number (E.164) or alphanumeric sender id.
    pub from: Option<String>,
    /// A Messaging Service picks the sender from its pool; used when `from` is not set.
    pub messaging_service_sid: Option<String>,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            account_sid: String::new(),
            auth_token: String::new(),
            from: None,
            messaging_service_sid: None,
        }
    }
}

// Hand-written so the auth token never reaches a log through `{:?}`.
impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioConfigError {
    #[error("Twilio account SID must be non-empty ASCII letters and digits")]
    InvalidAccountSid,
    #[error("Twilio auth token is empty")]
    MissingAuthToken,
    #[error("Twilio needs a sender: set `from` or `messaging_service_sid`")]
    MissingSender,
    #[error("Twilio base URL is not an http(s) URL: {0}")]
    InvalidBaseUrl(String),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

impl TwilioConfig {
    /// Checks the settings and returns them with blank optional values turned into `None` (an empty environment
    /// variable means "not set").
    pub(crate) fn validated(mut self) -> Result<Self, TwilioConfigError> {
        // The SID goes into the request path, so anything but letters and digits could change the URL.
        if self.account_sid.is_empty() || !self.account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TwilioConfigError::InvalidAccountSid);
        }
        if self.auth_token.is_empty() {
            return Err(TwilioConfigError::MissingAuthToken);
        }
        self.from = self.from.filter(|s| !s.trim().is_empty());
        self.messaging_service_sid = self.messaging_service_sid.filter(|s| !s.trim().is_empty());
        if self.from.is_none() && self.messaging_service_sid.is_none() {
            return Err(TwilioConfigError::MissingSender);
        }
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(TwilioConfigError::InvalidBaseUrl(self.base_url)),
        }
        self.base_url = self.base_url.trim_end_matches('/').to_string();
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TwilioConfig {
        TwilioConfig {
            account_sid: "AC0123".into(),
            auth_token: "secret".into(),
            from: Some("+15005550006".into()),
            ..TwilioConfig::default()
        }
    }

    #[test]
    fn accepts_a_complete_config_and_trims_the_base_url() {
        let config = TwilioConfig { base_url: "http://127.0.0.1:8080/sim/twilio/".into(), ..config() };
        assert_eq!(config.validated().map(|c| c.base_url), Ok("http://127.0.0.1:8080/sim/twilio".to_string()));
    }

    #[test]
    fn requires_a_sender() {
        let blank = TwilioConfig { from: Some(" ".into()), messaging_service_sid: None, ..config() };
        assert_eq!(blank.validated().err(), Some(TwilioConfigError::MissingSender));
        let service = TwilioConfig { from: None, messaging_service_sid: Some("MG1".into()), ..config() };
        assert!(service.validated().is_ok());
    }

    #[test]
    fn rejects_sids_that_would_change_the_path_tokens_and_bad_urls() {
        let sid = TwilioConfig { account_sid: "AC/../x".into(), ..config() };
        assert_eq!(sid.validated().err(), Some(TwilioConfigError::InvalidAccountSid));
        let token = TwilioConfig { auth_token: String::new(), ..config() };
        assert_eq!(token.validated().err(), Some(TwilioConfigError::MissingAuthToken));
        let url = TwilioConfig { base_url: "ftp://example.com".into(), ..config() };
        assert!(matches!(url.validated(), Err(TwilioConfigError::InvalidBaseUrl(_))));
    }

    #[test]
    fn debug_output_hides_the_auth_token() {
        assert!(!format!("{:?}", config()).contains("secret"));
    }
}
