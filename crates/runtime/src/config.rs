//! Configuration from environment variables. Each service has one typed config struct built from an [`Env`] and
//! validated at start-up; a bad value stops the process with a message that names the variable and says what
//! is expected.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Clock;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

/// A source of variables: the process environment, or a map in tests (so tests never mutate the process's
/// environment, which is shared by every test thread).
#[derive(Debug, Clone)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// Every variable, for handing the same environment to a child process.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_string(), value.into());
    }

    pub fn raw(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// The parsed value of `var`, or `default` when unset or empty.
    pub fn get<T: FromStr>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: Display,
    {
        Ok(self.optional(var)?.unwrap_or(default))
    }

    pub fn optional<T: FromStr>(&self, var: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: Display,
    {
        match self.raw(var) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|e: T::Err| ConfigError::new(var, v, e)),
        }
    }

    pub fn seconds(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.get(var, default)?))
    }
}

impl ConfigError {
    pub fn new(var: &str, value: &str, reason: impl Display) -> Self {
        ConfigError { var: var.to_string(), value: value.to_string(), reason: reason.to_string() }
    }
}

/// Settings every process needs, whatever services it runs.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub database_url: String,
    pub nats_url: String,
    pub http_addr: SocketAddr,
    /// Base URL the outside world reaches this process at (reply links, provider webhooks). Defaults to the HTTP
    /// listener's own address.
    pub public_url: Option<String>,
    pub subject_prefix: recaudo_bus::Prefix,
    pub stream_replicas: usize,
    pub now: Option<DateTime<Utc>>,
    pub db_max_connections: u32,
    pub shutdown_grace: Duration,
    /// The lender's contact-policy settings (`recaudo_policy::settings`), read by every process that asks the
    /// policy engine; `None`: the law's presets as they are.
    pub contact_policy_file: Option<std::path::PathBuf>,
}

impl CommonConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let prefix_raw: String = env.get("RECAUDO_SUBJECT_PREFIX", "recaudo".to_string())?;
        let subject_prefix = recaudo_bus::Prefix::parse(&prefix_raw)
            .map_err(|e| ConfigError::new("RECAUDO_SUBJECT_PREFIX", &prefix_raw, e))?;
        let now = match env.raw("RECAUDO_NOW") {
            None => None,
            Some(v) => Some(
                DateTime::parse_from_rfc3339(v.trim())
                    .map_err(|e| {
                        ConfigError::new(
                            "RECAUDO_NOW",
                            v,
                            format!("{e}; expected RFC 3339 such as 2026-11-23T14:00:00Z"),
                        )
                    })?
                    .with_timezone(&Utc),
            ),
        };
        let public_url: Option<String> = env.optional("RECAUDO_PUBLIC_URL")?;
        if let Some(url) = &public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::new("RECAUDO_PUBLIC_URL", url, "expected an http:// or https:// URL"));
            }
        }
        let stream_replicas = env.get("RECAUDO_STREAM_REPLICAS", 1usize)?;
        if !(1..=5).contains(&stream_replicas) {
            return Err(ConfigError::new("RECAUDO_STREAM_REPLICAS", &stream_replicas.to_string(), "expected 1 to 5"));
        }
        let database_url: String = env.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/recaudo".to_string())?;
        crate::secrets::check_url_password("DATABASE_URL", &database_url)?;
        Ok(CommonConfig {
            database_url,
            nats_url: env.get("NATS_URL", "nats://127.0.0.1:4222".to_string())?,
            http_addr: env.get("RECAUDO_HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            subject_prefix,
            stream_replicas,
            now,
            db_max_connections: env.get("RECAUDO_DB_MAX_CONNECTIONS", 10u32)?,
            shutdown_grace: env.seconds("RECAUDO_SHUTDOWN_GRACE_SECS", 20)?,
            contact_policy_file: env.optional("RECAUDO_CONTACT_POLICY_FILE")?,
        })
    }

    pub fn clock(&self) -> Clock {
        match self.now {
            Some(at) => Clock::fixed(at),
            None => Clock::system(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_a_developer_machine() {
        let c = CommonConfig::from_env(&Env::from_pairs([])).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.subject_prefix.as_str(), "recaudo");
        assert!(c.now.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = CommonConfig::from_env(&Env::from_pairs([("RECAUDO_NOW", "tomorrow")])).unwrap_err();
        assert_eq!(err.var, "RECAUDO_NOW");
        assert!(err.to_string().contains("RFC 3339"), "{err}");
        let err = CommonConfig::from_env(&Env::from_pairs([("RECAUDO_HTTP_ADDR", "8080")])).unwrap_err();
        assert_eq!(err.var, "RECAUDO_HTTP_ADDR");
    }

    #[test]
    fn now_fixes_the_clock() {
        let c = CommonConfig::from_env(&Env::from_pairs([("RECAUDO_NOW", "2026-11-23T14:00:00-05:00")])).unwrap();
        assert_eq!(c.clock().now().to_rfc3339(), "2026-11-23T19:00:00+00:00");
    }
}
