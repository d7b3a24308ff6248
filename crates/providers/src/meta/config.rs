//! Settings for the Meta WhatsApp client, checked once at construction so a bad deploy fails at start-up rather
//! than on the first debtor we try to reach.

use std::fmt;

pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version the wire types were written against.
pub const DEFAULT_API_VERSION: &str = "v21.0";

#[derive(Clone)]
pub struct MetaConfig {
    /// Where the Graph API lives; `https://graph.facebook.com` in production, the simulator's address in demos and
    /// tests.
    pub base_url: String,
    /// The Graph API version in every path, `v21.0`.
    pub api_version: String,
    /// The WhatsApp Business phone number's id (not the number itself): messages are sent from it, and webhooks
    /// for other numbers of the same business account are ignored.
    pub phone_number_id: String,
    /// A system user's access token, sent as `Authorization: Bearer`.
    pub access_token: String,
    /// The app secret Meta signs webhooks with (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The token we chose when subscribing the webhook; Meta echoes it in the `hub.verify_token` handshake.
    pub verify_token: String,
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_version: DEFAULT_API_VERSION.to_string(),
            phone_number_id: String::new(),
            access_token: String::new(),
            app_secret: String::new(),
            verify_token: String::new(),
        }
    }
}

// Hand-written so the token and secrets never reach a log through `{:?}`.
impl fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaConfig")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &"<redacted>")
            .field("app_secret", &"<redacted>")
            .field("verify_token", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaConfigError {
    #[error("Meta phone number id must be non-empty digits")]
    InvalidPhoneNumberId,
    #[error("Meta API version must look like v21.0")]
    InvalidApiVersion,
    #[error("Meta {0} is empty")]
    MissingSecret(&'static str),
    #[error("Meta base URL is not an http(s) URL: {0}")]
    InvalidBaseUrl(String),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

impl MetaConfig {
    pub(crate) fn validated(mut self) -> Result<Self, MetaConfigError> {
        // The id and the version go into the request path, so anything else could change the URL.
        if self.phone_number_id.is_empty() || !self.phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MetaConfigError::InvalidPhoneNumberId);
        }
        if !is_api_version(&self.api_version) {
            return Err(MetaConfigError::InvalidApiVersion);
        }
        for (name, value) in [
            ("access token", &self.access_token),
            ("app secret", &self.app_secret),
            ("verify token", &self.verify_token),
        ] {
            if value.trim().is_empty() {
                return Err(MetaConfigError::MissingSecret(name));
            }
        }
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(MetaConfigError::InvalidBaseUrl(self.base_url)),
        }
        self.base_url = self.base_url.trim_end_matches('/').to_string();
        Ok(self)
    }
}

/// `v` then digits, a dot, digits: `v21.0`.
fn is_api_version(version: &str) -> bool {
    let Some((major, minor)) = version.strip_prefix('v').and_then(|rest| rest.split_once('.')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MetaConfig {
        MetaConfig {
            phone_number_id: "106540352242922".into(),
            access_token: "EAAG-token".into(),
            app_secret: "app-secret".into(),
            verify_token: "verify-me".into(),
            ..MetaConfig::default()
        }
    }

    #[test]
    fn accepts_a_complete_config_with_defaults_and_trims_the_base_url() {
        let validated = config().validated().expect("valid");
        assert_eq!((validated.base_url.as_str(), validated.api_version.as_str()), (DEFAULT_BASE_URL, "v21.0"));
        let nested = MetaConfig { base_url: "http://127.0.0.1:8080/sim/meta/".into(), ..config() };
        assert_eq!(nested.validated().map(|c| c.base_url), Ok("http://127.0.0.1:8080/sim/meta".to_string()));
    }

    #[test]
    fn rejects_ids_and_versions_that_would_change_the_path() {
        for id in ["", "1065/../x", "abc"] {
            let bad = MetaConfig { phone_number_id: id.into(), ..config() };
            assert_eq!(bad.validated().err(), Some(MetaConfigError::InvalidPhoneNumberId), "{id:?}");
        }
        for version in ["21.0", "v21", "v21.0/x", "v.0"] {
            let bad = MetaConfig { api_version: version.into(), ..config() };
            assert_eq!(bad.validated().err(), Some(MetaConfigError::InvalidApiVersion), "{version:?}");
        }
    }

    #[test]
    fn rejects_empty_secrets_and_bad_urls() {
        let token = MetaConfig { access_token: " ".into(), ..config() };
        assert_eq!(token.validated().err(), Some(MetaConfigError::MissingSecret("access token")));
        let secret = MetaConfig { app_secret: String::new(), ..config() };
        assert_eq!(secret.validated().err(), Some(MetaConfigError::MissingSecret("app secret")));
        let verify = MetaConfig { verify_token: String::new(), ..config() };
        assert_eq!(verify.validated().err(), Some(MetaConfigError::MissingSecret("verify token")));
        let url = MetaConfig { base_url: "ftp://example.com".into(), ..config() };
        assert!(matches!(url.validated(), Err(MetaConfigError::InvalidBaseUrl(_))));
    }

    #[test]
    fn debug_output_hides_the_token_and_secrets() {
        let shown = format!("{:?}", config());
        assert!(shown.contains("106540352242922"));
        for secret in ["EAAG-token", "app-secret", "verify-me"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
