//! The access settings, read once at start-up. A process without a way to sign people in refuses to start: an
//! API that answers everyone is never the fallback.

use std::time::Duration;

use recaudo_runtime::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct AccessConfig {
    pub identity: Identity,
    /// Expected `aud` of bearer tokens.
    pub audience: String,
    /// Subjects that are admins by configuration (`RECAUDO_ADMIN_SUBJECTS`), whatever the directory says.
    pub admin_subjects: Vec<String>,
    /// How long audit records are kept (US Regulation F asks for three years).
    pub audit_retention: Duration,
    /// Browser sign-in (authorization-code flow with PKCE); off without a client id.
    pub browser: Option<BrowserClient>,
    pub session_ttl: Duration,
    /// Accepted clock difference for `exp` and `nbf`.
    pub leeway: Duration,
}

#[derive(Debug, Clone)]
pub enum Identity {
    /// The lender's OpenID Connect provider.
    Oidc { issuer: String, jwks_url: Option<String> },
    /// The development identity provider built into the binary, served at `/dev-idp` (`RECAUDO_DEV_IDP=on`).
    Development,
}

#[derive(Clone)]
pub struct BrowserClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back; `<public url>/auth/callback` unless set.
    pub redirect_url: Option<String>,
}

impl std::fmt::Debug for BrowserClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

/// The audience of tokens from the development provider, unless `RECAUDO_OIDC_AUDIENCE` says otherwise.
pub const DEV_AUDIENCE: &str = "recaudo";
/// The browser client of the development provider.
pub const DEV_CLIENT_ID: &str = "recaudo-console";

impl AccessConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let dev = match env.raw("RECAUDO_DEV_IDP").map(str::trim) {
            None | Some("off") | Some("false") | Some("0") => false,
            Some("on") | Some("true") | Some("1") => true,
            Some(other) => return Err(ConfigError::new("RECAUDO_DEV_IDP", other, "expected on or off")),
        };
        let issuer = env.raw("RECAUDO_OIDC_ISSUER").map(|s| s.trim().trim_end_matches('/').to_string());
        let identity = match (issuer, dev) {
            (Some(issuer), true) => {
                return Err(ConfigError::new(
                    "RECAUDO_DEV_IDP",
                    "on",
                    format!(
                        "the development identity provider is refused together with RECAUDO_OIDC_ISSUER={issuer}; \
                         unset one of them"
                    ),
                ))
            }
            (Some(issuer), false) => {
                check_url("RECAUDO_OIDC_ISSUER", &issuer)?;
                let jwks_url: Option<String> = env.optional("RECAUDO_OIDC_JWKS_URL")?;
                if let Some(url) = &jwks_url {
                    check_url("RECAUDO_OIDC_JWKS_URL", url)?;
                }
                Identity::Oidc { issuer, jwks_url }
            }
            (None, true) => Identity::Development,
            (None, false) => {
                return Err(ConfigError::new(
                    "RECAUDO_OIDC_ISSUER",
                    "",
                    "is required: the issuer URL of the lender's OpenID Connect provider \
                     (or RECAUDO_DEV_IDP=on for the development provider on a developer machine)",
                ))
            }
        };
        let audience = match (env.raw("RECAUDO_OIDC_AUDIENCE"), &identity) {
            (Some(a), _) => a.trim().to_string(),
            (None, Identity::Development) => DEV_AUDIENCE.to_string(),
            (None, Identity::Oidc { .. }) => {
                return Err(ConfigError::new(
                    "RECAUDO_OIDC_AUDIENCE",
                    "",
                    "is required with RECAUDO_OIDC_ISSUER: the `aud` your provider puts in tokens for this API",
                ))
            }
        };
        let admin_subjects = env
            .raw("RECAUDO_ADMIN_SUBJECTS")
            .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        let retention_days: u64 = env.get("RECAUDO_AUDIT_RETENTION_DAYS", 3 * 365)?;
        if retention_days == 0 {
            return Err(ConfigError::new("RECAUDO_AUDIT_RETENTION_DAYS", "0", "must be at least 1"));
        }
        let client_secret = env
            .raw("RECAUDO_OIDC_CLIENT_SECRET")
            .map(|s| recaudo_runtime::secrets::checked("RECAUDO_OIDC_CLIENT_SECRET", s.trim().to_string()))
            .transpose()?;
        let browser = match (env.raw("RECAUDO_OIDC_CLIENT_ID"), &identity) {
            (Some(id), _) => Some(id.trim().to_string()),
            (None, Identity::Development) => Some(DEV_CLIENT_ID.to_string()),
            (None, Identity::Oidc { .. }) => None,
        }
        .map(|client_id| BrowserClient {
            client_id,
            client_secret,
            redirect_url: env.raw("RECAUDO_OIDC_REDIRECT_URL").map(|s| s.trim().to_string()),
        });
        let session_hours: u64 = env.get("RECAUDO_SESSION_HOURS", 8)?;
        if !(1..=720).contains(&session_hours) {
            return Err(ConfigError::new("RECAUDO_SESSION_HOURS", &session_hours.to_string(), "expected 1 to 720"));
        }
        Ok(AccessConfig {
            identity,
            audience,
            admin_subjects,
            audit_retention: Duration::from_secs(retention_days * 86_400),
            browser,
            session_ttl: Duration::from_secs(session_hours * 3600),
            leeway: env.seconds("RECAUDO_OIDC_LEEWAY_SECS", 60)?,
        })
    }

    pub fn is_admin_subject(&self, subject: &str) -> bool {
        self.admin_subjects.iter().any(|s| s == subject)
    }
}

/// `https://`, or `http://` only on a loopback address (a provider on the same machine, in development or tests).
fn check_url(var: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::new(var, url, format!("not a URL: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::new(var, url, "a URL with user information is refused"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(ConfigError::new(var, url, "http:// is accepted only on a loopback address; use https://"))
            }
        }
        _ => Err(ConfigError::new(var, url, "expected an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_identity_provider_is_refused() {
        let err = AccessConfig::from_env(&Env::from_pairs([])).unwrap_err();
        assert_eq!(err.var, "RECAUDO_OIDC_ISSUER");
    }

    #[test]
    fn the_development_provider_is_refused_beside_a_real_one() {
        let env = Env::from_pairs([("RECAUDO_DEV_IDP", "on"), ("RECAUDO_OIDC_ISSUER", "https://id.example.com")]);
        let err = AccessConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var, "RECAUDO_DEV_IDP");
        assert!(err.reason.contains("refused"), "{err}");
    }

    #[test]
    fn issuer_must_be_https_or_loopback() {
        let env = |issuer: &str| Env::from_pairs([("RECAUDO_OIDC_ISSUER", issuer), ("RECAUDO_OIDC_AUDIENCE", "api")]);
        assert!(AccessConfig::from_env(&env("https://id.example.com")).is_ok());
        assert!(AccessConfig::from_env(&env("http://127.0.0.1:9000/realms/x")).is_ok());
        assert!(AccessConfig::from_env(&env("http://localhost:9000")).is_ok());
        assert!(AccessConfig::from_env(&env("http://[::1]:9000")).is_ok());
        let err = AccessConfig::from_env(&env("http://id.example.com")).unwrap_err();
        assert!(err.reason.contains("loopback"), "{err}");
        assert!(AccessConfig::from_env(&env("ftp://x")).is_err());
        let err = AccessConfig::from_env(&env("http://127.0.0.1:80@evil.example/")).unwrap_err();
        assert!(err.reason.contains("user information"), "{err}");
        assert!(AccessConfig::from_env(&env("http://127.0.0.1.evil.example")).is_err());
    }

    #[test]
    fn audience_is_required_with_a_real_provider_and_retention_defaults_to_three_years() {
        let err =
            AccessConfig::from_env(&Env::from_pairs([("RECAUDO_OIDC_ISSUER", "https://id.example.com")])).unwrap_err();
        assert_eq!(err.var, "RECAUDO_OIDC_AUDIENCE");
        let c = AccessConfig::from_env(&Env::from_pairs([
            ("RECAUDO_DEV_IDP", "on"),
            ("RECAUDO_ADMIN_SUBJECTS", " alice, bob ,,"),
        ]))
        .unwrap();
        assert_eq!(c.admin_subjects, vec!["alice", "bob"]);
        assert_eq!(c.audit_retention, Duration::from_secs(1095 * 86_400));
        assert_eq!(c.audience, DEV_AUDIENCE);
    }
}
