//! Signed API calls: `Recaudo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The
//! timestamp bounds replays to the tolerance window; several `v1` values may be sent while a secret is rotated.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "Recaudo-Signature";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {HEADER} header is missing")]
    Missing,
    #[error("the {HEADER} header is malformed; expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is outside the accepted window of {0} seconds")]
    Expired(i64),
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The header value for `body` signed at `t` (what a lender's system sends).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now.timestamp() - t).abs() > tolerance_secs {
        return Err(SignatureError::Expired(tolerance_secs));
    }
    // `verify_slice` compares in constant time.
    if candidates.iter().any(|sig| mac(secret, t, body).verify_slice(sig).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    #[test]
    fn accepts_a_fresh_signature_and_rejects_the_rest() {
        let body = br#"{"reference":"R-1"}"#;
        let header = sign("s3cret", 1_800_000_000, body);
        assert_eq!(verify("s3cret", Some(&header), body, at(1_800_000_100), 300), Ok(()));
        assert_eq!(verify("s3cret", Some(&header), body, at(1_800_000_301), 300), Err(SignatureError::Expired(300)));
        assert_eq!(verify("other", Some(&header), body, at(1_800_000_000), 300), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", Some(&header), b"{}", at(1_800_000_000), 300), Err(SignatureError::Mismatch));
        assert_eq!(verify("s3cret", None, body, at(1_800_000_000), 300), Err(SignatureError::Missing));
        assert_eq!(verify("s3cret", Some("v1=zz"), body, at(1_800_000_000), 300), Err(SignatureError::Malformed));
        // During a rotation the sender signs with both secrets.
        let old = sign("old", 1_800_000_000, body);
        let rotated = format!("{header},{}", old.split(',').nth(1).unwrap());
        assert_eq!(verify("old", Some(&rotated), body, at(1_800_000_000), 300), Ok(()));
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256("key", "1.{}") computed independently (Python's hmac module).
        assert_eq!(sign("key", 1, b"{}"), "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224");
    }
}
