//! Streams, declared in code and applied idempotently at start-up (and by `recaudo streams apply`).

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// The environment's subject prefix (`recaudo` by default), so several environments can share one NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(String);

#[derive(Debug, thiserror::Error)]
#[error("subject prefix {0:?} must be one or more NATS tokens of letters, digits, '-' or '_' separated by '.'")]
pub struct InvalidPrefix(String);

impl Prefix {
    pub fn parse(s: &str) -> Result<Self, InvalidPrefix> {
        let ok = !s.is_empty()
            && s.split('.')
                .all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidPrefix(s.to_string()))
        }
    }

    /// `recaudo` + `contact.requested.sms` → `recaudo.contact.requested.sms`.
    pub fn subject(&self, suffix: &str) -> String {
        format!("{}.{}", self.0, suffix)
    }

    /// Stream names cannot contain '.', so the prefix becomes upper-case with '_' (`RECAUDO_CONTACT`).
    pub fn stream_name(&self, domain: &str) -> String {
        let p: String =
            self.0.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        format!("{p}_{}", domain.to_ascii_uppercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Prefix {
    fn default() -> Self {
        Self("recaudo".into())
    }
}

/// One stream per domain: each holds `<prefix>.<domain>.>`.
pub const DOMAINS: &[&str] = &["import", "portfolio", "payment", "contact", "reply", "queue", "dlq"];

/// How long JetStream remembers a `Nats-Msg-Id` to drop a duplicate publish. The outbox relay republishes only
/// rows it could not confirm, within seconds, so an hour is ample; consumers' inboxes cover anything older.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

pub fn stream_config(prefix: &Prefix, domain: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: prefix.stream_name(domain),
        subjects: vec![prefix.subject(&format!("{domain}.>"))],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: replicas,
        duplicate_window: DUPLICATE_WINDOW,
        // Events are the audit trail: keep them for a year unless the operator sets limits on the stream.
        max_age: Duration::from_secs(365 * 24 * 3600),
        ..Default::default()
    }
}

/// Creates or updates every stream. Safe to run from every process at every start.
pub async fn apply(
    js: &jetstream::Context,
    prefix: &Prefix,
    replicas: usize,
) -> Result<Vec<String>, async_nats::Error> {
    let mut names = Vec::new();
    for domain in DOMAINS {
        let config = stream_config(prefix, domain, replicas);
        names.push(config.name.clone());
        js.create_or_update_stream(config).await?;
    }
    Ok(names)
}

/// The stream that holds a subject suffix such as `contact.requested.sms`.
pub fn stream_for(prefix: &Prefix, suffix: &str) -> String {
    let domain = suffix.split('.').next().unwrap_or(suffix);
    prefix.stream_name(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let p = Prefix::parse("staging.recaudo").unwrap();
        assert_eq!(p.subject("payment.received"), "staging.recaudo.payment.received");
        assert_eq!(p.stream_name("contact"), "STAGING_RECAUDO_CONTACT");
        assert_eq!(stream_for(&p, "contact.requested.sms"), "STAGING_RECAUDO_CONTACT");
    }

    #[test]
    fn rejects_prefixes_that_are_not_subject_tokens() {
        assert!(Prefix::parse("").is_err());
        assert!(Prefix::parse("a..b").is_err());
        assert!(Prefix::parse("a.*").is_err());
        assert!(Prefix::parse("a b").is_err());
    }
}
