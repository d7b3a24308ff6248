//! One thing wrong with a document a user wrote (a strategy, a template): where, on which line, and why. A refused
//! document lists every problem at once, so its author mends them in one go.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where, as `stages[1].steps[0].channel`; empty for the document as a whole.
    pub path: String,
    /// The line it is on (1-based), when known.
    pub line: Option<usize>,
    pub reason: String,
}

impl Problem {
    pub fn at(path: impl Into<String>, reason: impl Into<String>) -> Problem {
        Problem { path: path.into(), line: None, reason: reason.into() }
    }

    /// A value a document's types could not take, at its path under `prefix` (empty: the document itself), with
    /// serde's reason.
    pub fn from_path_error<E: fmt::Display>(prefix: &str, e: serde_path_to_error::Error<E>) -> Problem {
        let inner = e.path().to_string();
        let path = match inner.as_str() {
            "." => prefix.to_string(),
            _ if prefix.is_empty() => inner,
            _ => format!("{prefix}.{inner}"),
        };
        Problem::at(path, e.into_inner().to_string())
    }
}

/// Whether `name` can name a document (a strategy, a template): it is a URL path segment and a stable key.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not 1 to 64 lower-case letters, digits, '-' or '_'"))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.as_str(), self.line) {
            ("", Some(l)) => write!(f, "line {l}: {}", self.reason),
            ("", None) => f.write_str(&self.reason),
            (p, Some(l)) => write!(f, "{p} (line {l}): {}", self.reason),
            (p, None) => write!(f, "{p}: {}", self.reason),
        }
    }
}
