//! Account settings for the SendGrid client, checked once at construction so a bad deploy fails at start-up rather
//! than on the first debtor we try to reach. The webhook key is parsed here too: a key we cannot read would make
//! every event look forged.

use std::fmt;

use p256::ecdsa::VerifyingKey;

use crate::sendgrid::signature;

pub const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";

#[derive(Clone)]
pub struct SendGridConfig {
    /// Where the API lives; `https://api.sendgrid.com` in production (`https://api.eu.sendgrid.com` for EU
    /// subusers), the simulator's address in demos and tests.
    pub base_url: String,
    pub api_key: String,
    /// Our sending address; its domain must be authenticated in SendGrid.
    pub from_email: String,
    pub from_name: Option<String>,
    /// The "Verification Key" SendGrid shows for the Signed Event Webhook: base64 of a DER SubjectPublicKeyInfo of
    /// a P-256 key (the PEM armour is tolerated).
    pub webhook_public_key: String,
    /// HTTP Basic credentials written into the Inbound Parse URL (`https://user:password@host/...`): Inbound Parse
    /// has no signature, so they are all that tells SendGrid's posts from anyone else's.
    pub inbound_user: String,
    pub inbound_password: String,
}

impl Default for SendGridConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: String::new(),
            from_email: String::new(),
            from_name: None,
            webhook_public_key: String::new(),
            inbound_user: String::new(),
            inbound_password: String::new(),
        }
    }
}

// Hand-written so the API key and the inbound password never reach a log through `{:?}`. The webhook key is public.
impl fmt::Debug for SendGridConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendGridConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("from_email", &self.from_email)
            .field("from_name", &self.from_name)
            .field("webhook_public_key", &self.webhook_public_key)
            .field("inbound_user", &self.inbound_user)
            .field("inbound_password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendGridConfigError {
    #[error("SendGrid API key is empty or not a valid header value")]
    InvalidApiKey,
    #[error("SendGrid sender address is not an email address")]
    InvalidFromEmail,
    #[error("SendGrid webhook public key is not a base64 DER P-256 public key (the Signed Event Webhook's Verification Key)")]
    InvalidWebhookPublicKey,
    #[error("SendGrid Inbound Parse credentials are missing (the user name may not contain ':')")]
    InvalidInboundCredentials,
    #[error("SendGrid base URL is not an http(s) URL: {0}")]
    InvalidBaseUrl(String),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

impl SendGridConfig {
    /// Checks the settings and returns them, blank optional values turned into `None`, with the parsed webhook key.
    pub(crate) fn validated(mut self) -> Result<(Self, VerifyingKey), SendGridConfigError> {
        // The key goes into a header: anything reqwest would refuse there fails now, not on the first send.
        if self.api_key.is_empty() || !self.api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SendGridConfigError::InvalidApiKey);
        }
        if !is_address(&self.from_email) {
            return Err(SendGridConfigError::InvalidFromEmail);
        }
        self.from_name = self.from_name.filter(|s| !s.trim().is_empty());
        let key = signature::parse_public_key(&self.webhook_public_key)
            .ok_or(SendGridConfigError::InvalidWebhookPublicKey)?;
        // Basic auth cannot carry a ':' in the user name, so such a user could never match.
        if self.inbound_user.is_empty() || self.inbound_user.contains(':') || self.inbound_password.is_empty() {
            return Err(SendGridConfigError::InvalidInboundCredentials);
        }
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(SendGridConfigError::InvalidBaseUrl(self.base_url)),
        }
        self.base_url = self.base_url.trim_end_matches('/').to_string();
        Ok((self, key))
    }
}

/// A plausible single address: one `@` with something on each side and no spaces or angle brackets. SendGrid has
/// the last word; this only catches a display name or a blank pasted into the setting.
pub(crate) fn is_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sendgrid::signature::tests::SDK_PUBLIC_KEY;

    pub(crate) fn config() -> SendGridConfig {
        SendGridConfig {
            api_key: "SG.test-key".into(),
            from_email: "cobranza@recaudo.example".into(),
            from_name: Some("Recaudo".into()),
            webhook_public_key: SDK_PUBLIC_KEY.into(),
            inbound_user: "sendgrid".into(),
            inbound_password: "inbound-secret".into(),
            ..SendGridConfig::default()
        }
    }

    #[test]
    fn accepts_a_complete_config_and_trims_the_base_url() {
        let config = SendGridConfig { base_url: "http://127.0.0.1:8080/sim/sendgrid/".into(), ..config() };
        let (config, _) = config.validated().expect("valid");
        assert_eq!(config.base_url, "http://127.0.0.1:8080/sim/sendgrid");
        let blank_name = SendGridConfig { from_name: Some(" ".into()), ..config.clone() };
        assert_eq!(blank_name.validated().map(|(c, _)| c.from_name), Ok(None));
    }

    #[test]
    fn fails_clearly_on_a_key_that_does_not_parse() {
        for key in ["", "not base64!", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", "aGVsbG8="] {
            let bad = SendGridConfig { webhook_public_key: key.into(), ..config() };
            assert_eq!(bad.validated().err(), Some(SendGridConfigError::InvalidWebhookPublicKey), "{key:?}");
        }
    }

    #[test]
    fn rejects_missing_secrets_bad_senders_and_bad_urls() {
        let key = SendGridConfig { api_key: "SG.with space".into(), ..config() };
        assert_eq!(key.validated().err(), Some(SendGridConfigError::InvalidApiKey));
        for from in ["", "Recaudo <cobranza@recaudo.example>", "cobranza", "a@b@c"] {
            let bad = SendGridConfig { from_email: from.into(), ..config() };
            assert_eq!(bad.validated().err(), Some(SendGridConfigError::InvalidFromEmail), "{from:?}");
        }
        let user = SendGridConfig { inbound_user: "a:b".into(), ..config() };
        assert_eq!(user.validated().err(), Some(SendGridConfigError::InvalidInboundCredentials));
        let password = SendGridConfig { inbound_password: String::new(), ..config() };
        assert_eq!(password.validated().err(), Some(SendGridConfigError::InvalidInboundCredentials));
        let url = SendGridConfig { base_url: "ftp://example.com".into(), ..config() };
        assert!(matches!(url.validated(), Err(SendGridConfigError::InvalidBaseUrl(_))));
    }

    #[test]
    fn debug_output_hides_the_api_key_and_the_inbound_password() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("SG.test-key") && !shown.contains("inbound-secret"), "{shown}");
    }
}
