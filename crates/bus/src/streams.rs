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

/// One stream per domain: each holds `<prefix>.<domain>.>`, except that an import's row batches have a stream of
/// their own (below).
pub const DOMAINS: &[&str] =
    &["import", "portfolio", "payment", "contact", "reply", "queue", "case", "consent", "promise", "strategy", "dlq"];

/// The stream of import row batches, `<prefix>.import.rows.<import_id>`: the bulk of an import, kept apart so that
/// the import stream (the audit trail of imports) holds only their small control events, and so that rows, which
/// are transport rather than record, are kept for days instead of a year.
pub const IMPORT_ROWS: &str = "import_rows";
const IMPORT_ROWS_SUBJECTS: &str = "import.rows.*";
/// Long enough to replay an import that a portfolio outage interrupted; its outcome is recorded elsewhere.
const IMPORT_ROWS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long JetStream remembers a `Nats-Msg-Id` to drop a duplicate publish. The outbox relay republishes only
/// rows it could not confirm, within seconds, so an hour is ample; consumers' inboxes cover anything older.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);

pub fn stream_config(prefix: &Prefix, domain: &str, replicas: usize) -> stream::Config {
    // The import stream holds `import.started`, `import.completed` and `import.failed`; their row batches, one token
    // longer, go to the import rows stream.
    let subjects = match domain {
        "import" => vec![prefix.subject("import.*")],
        IMPORT_ROWS => vec![prefix.subject(IMPORT_ROWS_SUBJECTS)],
        _ => vec![prefix.subject(&format!("{domain}.>"))],
    };
    stream::Config {
        name: prefix.stream_name(domain),
        subjects,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: replicas,
        duplicate_window: DUPLICATE_WINDOW,
        // Events are the audit trail: keep them for a year unless the operator sets limits on the stream.
        max_age: if domain == IMPORT_ROWS { IMPORT_ROWS_MAX_AGE } else { Duration::from_secs(365 * 24 * 3600) },
        ..Default::default()
    }
}

/// Creates or updates every stream. Safe to run from every process at every start. The import stream is narrowed
/// to `import.*` before the import rows stream is created: streams may not share subjects.
pub async fn apply(
    js: &jetstream::Context,
    prefix: &Prefix,
    replicas: usize,
) -> Result<Vec<String>, async_nats::Error> {
    let mut names = Vec::new();
    for domain in DOMAINS.iter().copied().chain([IMPORT_ROWS]) {
        let config = stream_config(prefix, domain, replicas);
        names.push(config.name.clone());
        js.create_or_update_stream(config).await?;
    }
    Ok(names)
}

/// The stream that holds a subject suffix such as `contact.requested.sms` or a consumer filter such as `import.>`.
pub fn stream_for(prefix: &Prefix, suffix: &str) -> String {
    if suffix.starts_with("import.rows.") {
        return prefix.stream_name(IMPORT_ROWS);
    }
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
        assert_eq!(stream_for(&p, "import.started"), "STAGING_RECAUDO_IMPORT");
        assert_eq!(stream_for(&p, "import.rows.0190"), "STAGING_RECAUDO_IMPORT_ROWS");
        assert_eq!(stream_config(&p, "import", 1).subjects, ["staging.recaudo.import.*"]);
    }

    #[test]
    fn rejects_prefixes_that_are_not_subject_tokens() {
        assert!(Prefix::parse("").is_err());
        assert!(Prefix::parse("a..b").is_err());
        assert!(Prefix::parse("a.*").is_err());
        assert!(Prefix::parse("a b").is_err());
    }
}
