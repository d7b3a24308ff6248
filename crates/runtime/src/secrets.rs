//! Secrets that are really secret. A process refuses to start with a placeholder (`CHANGE_ME` from
//! `deploy/k8s/secret.example.yaml`, `ACxxxx...`, `your-token`) or a secret shorter than its issuer makes them,
//! naming the variable and never showing the value: a webhook verified with `CHANGE_ME` accepts anyone's forgery.

use crate::ConfigError;

/// What a secret looks like when its issuer made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// Text of at least this many characters: a secret the lender chooses, or one whose form varies by issuer.
    AtLeast(usize),
    /// Exactly this many hexadecimal digits (Twilio's auth token, Meta's app secret).
    Hex(usize),
    /// A prefix, and at least this many characters in all (SendGrid's `SG.` keys have 69).
    Prefixed(&'static str, usize),
}

/// Every secret variable the processes read, with the form its issuer gives it.
pub const RULES: &[(&str, Issued)] = &[
    ("RECAUDO_TWILIO_ACCOUNT_SID", Issued::Prefixed("AC", 34)),
    ("RECAUDO_TWILIO_AUTH_TOKEN", Issued::Hex(32)),
    ("RECAUDO_META_ACCESS_TOKEN", Issued::AtLeast(32)),
    ("RECAUDO_META_APP_SECRET", Issued::Hex(32)),
    ("RECAUDO_META_VERIFY_TOKEN", Issued::AtLeast(16)),
    ("RECAUDO_SENDGRID_API_KEY", Issued::Prefixed("SG.", 69)),
    ("RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY", Issued::AtLeast(40)),
    ("RECAUDO_SENDGRID_INBOUND_PASSWORD", Issued::AtLeast(16)),
    ("RECAUDO_PAYMENTS_SECRET", Issued::AtLeast(32)),
    ("RECAUDO_OIDC_CLIENT_SECRET", Issued::AtLeast(8)),
];

/// Words that mark a value someone meant to replace.
const PLACEHOLDER_MARKS: &[&str] = &[
    "change_me",
    "changeme",
    "change-me",
    "replace_me",
    "replace-me",
    "placeholder",
    "your_",
    "your-",
    "xxxxxxxx",
    "...",
];
/// Values that are words, not secrets.
const WEAK: &[&str] = &["secret", "password", "token", "test", "admin", "default", "example", "none", "null"];

fn placeholder(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    let mut chars = lower.chars();
    let first = chars.next();
    PLACEHOLDER_MARKS.iter().any(|m| lower.contains(m))
        || WEAK.contains(&lower.as_str())
        || (lower.starts_with('<') && lower.ends_with('>'))
        || (lower.len() > 1 && chars.all(|c| Some(c) == first))
}

/// Refuses `value` of the secret variable `var` (one of `RULES`; any other passes) if it is a placeholder or not of
/// the form its issuer gives it. The error names the variable and says what is expected, never the value.
pub fn check(var: &str, value: &str) -> Result<(), ConfigError> {
    let refuse = |why: String| Err(ConfigError::new(var, "<redacted>", why));
    let Some(issued) = RULES.iter().find(|(name, _)| *name == var).map(|(_, issued)| *issued) else {
        return Ok(());
    };
    if placeholder(value) {
        return refuse(
            "is a placeholder; set the secret the provider issued (see deploy/k8s/secret.example.yaml)".into(),
        );
    }
    let value = value.trim();
    match issued {
        Issued::AtLeast(n) if value.chars().count() < n => {
            refuse(format!("is shorter than such a secret is ({n} characters at least)"))
        }
        Issued::Hex(n) if value.len() != n || !value.bytes().all(|b| b.is_ascii_hexdigit()) => {
            refuse(format!("is not what the provider issues ({n} hexadecimal digits)"))
        }
        Issued::Prefixed(prefix, n) if !value.starts_with(prefix) || value.len() < n => {
            refuse(format!("is not what the provider issues ({prefix}..., {n} characters at least)"))
        }
        _ => Ok(()),
    }
}

/// `value` of `var`, checked with [`check`]: for a secret read where it is used.
pub fn checked(var: &str, value: String) -> Result<String, ConfigError> {
    check(var, &value)?;
    Ok(value)
}

/// Refuses a URL whose password (`scheme://user:password@host`) is a placeholder, as in the example Secret's
/// `DATABASE_URL`.
pub fn check_url_password(var: &str, url: &str) -> Result<(), ConfigError> {
    let Some((_, rest)) = url.split_once("://") else { return Ok(()) };
    let Some((credentials, _)) = rest.rsplit_once('@') else { return Ok(()) };
    match credentials.split_once(':') {
        Some((_, password)) if placeholder(password) => Err(ConfigError::new(
            var,
            "<redacted>",
            "has a placeholder password; set the real one (see deploy/k8s/secret.example.yaml)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_words_are_refused_naming_the_variable_never_the_value() {
        for value in
            ["CHANGE_ME", "SG.CHANGE_ME", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "<token>", "secret", "aaaaaaaa"]
        {
            let e = check("RECAUDO_META_VERIFY_TOKEN", value).unwrap_err();
            assert_eq!(e.var, "RECAUDO_META_VERIFY_TOKEN");
            assert!(e.reason.contains("placeholder"), "{value}: {e}");
            assert_eq!(e.value, "<redacted>");
        }
        // A variable that is no secret (a sender, a user name) is not judged here.
        assert!(check("RECAUDO_SENDGRID_FROM_NAME", "Cobranzas <cobranza@lender.example>").is_ok());
        // A secret the lender chose may hold any character.
        assert!(check("RECAUDO_SENDGRID_INBOUND_PASSWORD", "k<3]x>Vq!9#w?L2z").is_ok());
    }

    #[test]
    fn a_secret_must_have_the_form_its_issuer_gives_it() {
        let twilio = "0123456789abcdef0123456789abcdef";
        assert!(check("RECAUDO_TWILIO_AUTH_TOKEN", twilio).is_ok());
        assert!(check("RECAUDO_TWILIO_AUTH_TOKEN", &twilio[..31]).is_err());
        assert!(check("RECAUDO_TWILIO_AUTH_TOKEN", &format!("{}g", &twilio[..31])).is_err());
        let sendgrid = format!("SG.{}.{}", "a1".repeat(11), "b2c".repeat(14) + "d");
        assert_eq!(sendgrid.len(), 69);
        assert!(check("RECAUDO_SENDGRID_API_KEY", &sendgrid).is_ok());
        assert!(check("RECAUDO_SENDGRID_API_KEY", &sendgrid[..40]).is_err());
        assert!(check("RECAUDO_SENDGRID_API_KEY", &sendgrid.replacen("SG.", "XX.", 1)).is_err());
        let e = check("RECAUDO_PAYMENTS_SECRET", "shared-with-the-lender").unwrap_err();
        assert!(e.reason.contains("32 characters"), "{e}");
        assert!(check("RECAUDO_PAYMENTS_SECRET", "a-long-random-secret-shared-with-the-lender").is_ok());
    }

    #[test]
    fn a_placeholder_password_in_a_url_is_refused() {
        let e = check_url_password("DATABASE_URL", "postgres://recaudo:CHANGE_ME@db:5432/recaudo").unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
        assert!(check_url_password("DATABASE_URL", "postgres://recaudo:s3cr3t-Long@db/recaudo").is_ok());
        assert!(check_url_password("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/recaudo").is_ok());
    }

    /// Every value the example Secret carries is one a process refuses: a copy of it never runs.
    #[test]
    fn the_example_secret_starts_nothing() {
        let example = include_str!("../../../deploy/k8s/secret.example.yaml");
        let mut checked = 0;
        for line in example.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some((var, value)) = line.trim().split_once(": ") else { continue };
            let value = value.trim().trim_matches('"');
            if value.is_empty() || !(var.starts_with("RECAUDO_") || var == "DATABASE_URL") {
                continue;
            }
            let refused = if var == "DATABASE_URL" { check_url_password(var, value) } else { check(var, value) };
            // The senders (a phone number, a user name) are not secrets.
            if RULES.iter().any(|(name, _)| *name == var) || var == "DATABASE_URL" {
                assert!(refused.is_err(), "{var}: {value:?} was accepted");
                checked += 1;
            }
        }
        assert!(checked >= 9, "only {checked} secrets found in the example");
    }
}
