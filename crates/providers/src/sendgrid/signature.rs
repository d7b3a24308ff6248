//! The Signed Event Webhook: SendGrid signs each post with ECDSA over P-256 and SHA-256, the signed message being
//! the `X-Twilio-Email-Event-Webhook-Timestamp` header's text followed by the raw body bytes, and sends the DER
//! signature in base64 as `X-Twilio-Email-Event-Webhook-Signature`.
//!
//! The same module signs (the simulator) and verifies (our webhooks), so both ends agree by construction; the
//! known-answer test below pins verification to SendGrid's own SDK test vector so they cannot agree on something
//! wrong.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::{DigestSigner, DigestVerifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// Reads the Verification Key as SendGrid shows it: base64 of a DER SubjectPublicKeyInfo. PEM armour and line
/// breaks, as a key pasted from a file may have, are tolerated.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let base64: String =
        text.lines().map(str::trim).filter(|line| !line.starts_with("-----")).collect::<Vec<_>>().concat();
    let der = STANDARD.decode(base64).ok()?;
    VerifyingKey::from_public_key_der(&der).ok()
}

/// The key as SendGrid shows it, for configuring a verifier with a simulator's key.
pub fn public_key_base64(key: &VerifyingKey) -> String {
    let der = key.to_public_key_der().expect("a P-256 public key always encodes");
    STANDARD.encode(der.as_bytes())
}

/// Checks a signature header against the timestamp header and the raw body.
pub fn verify(key: &VerifyingKey, timestamp: &str, body: &[u8], signature_header: &str) -> bool {
    let Ok(der) = STANDARD.decode(signature_header.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&der) else {
        return false;
    };
    key.verify_digest(signed_digest(timestamp, body), &signature).is_ok()
}

/// Signs as SendGrid does: base64 of the DER signature over the timestamp followed by the body.
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let signature: Signature = key.sign_digest(signed_digest(timestamp, body));
    let der: DerSignature = signature.to_der();
    STANDARD.encode(der.as_bytes())
}

// Hashing the two parts in turn signs their concatenation without copying the body.
fn signed_digest(timestamp: &str, body: &[u8]) -> Sha256 {
    Sha256::new().chain_update(timestamp.as_bytes()).chain_update(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // SendGrid's own test vector for the Signed Event Webhook, from sendgrid/sendgrid-python,
    // test/test_eventwebhook.py (the same constants are in its other SDKs' tests). The payload is Python's
    // `json.dumps(..., sort_keys=True, separators=(',', ':'))` of the test's dict.
    pub(crate) const SDK_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    const SDK_SIGNATURE: &str =
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    const SDK_TIMESTAMP: &str = "1588788367";
    const SDK_PAYLOAD: &str = r#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    /// The SDK test's "bad key": a valid P-256 key that did not sign the vector.
    const SDK_OTHER_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

    fn sdk_key() -> VerifyingKey {
        parse_public_key(SDK_PUBLIC_KEY).expect("the SDK's key parses")
    }

    #[test]
    fn verifies_sendgrids_published_test_vector() {
        assert!(verify(&sdk_key(), SDK_TIMESTAMP, SDK_PAYLOAD.as_bytes(), SDK_SIGNATURE));
    }

    #[test]
    fn refuses_a_tampered_payload_a_wrong_timestamp_another_key_or_a_changed_signature() {
        let key = sdk_key();
        let tampered = SDK_PAYLOAD.replace("test_event", "test_evenT");
        assert!(!verify(&key, SDK_TIMESTAMP, tampered.as_bytes(), SDK_SIGNATURE));
        assert!(!verify(&key, "1588788368", SDK_PAYLOAD.as_bytes(), SDK_SIGNATURE));
        assert!(!verify(&key, "timestamp", SDK_PAYLOAD.as_bytes(), SDK_SIGNATURE));
        let other = parse_public_key(SDK_OTHER_KEY).expect("a valid key");
        assert!(!verify(&other, SDK_TIMESTAMP, SDK_PAYLOAD.as_bytes(), SDK_SIGNATURE));
        // The SDK's "bad signature": one digit changed near the end.
        let changed =
            "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
        assert!(!verify(&key, SDK_TIMESTAMP, SDK_PAYLOAD.as_bytes(), changed));
        assert!(!verify(&key, SDK_TIMESTAMP, SDK_PAYLOAD.as_bytes(), ""));
        assert!(!verify(&key, SDK_TIMESTAMP, SDK_PAYLOAD.as_bytes(), "not base64!"));
    }

    #[test]
    fn what_sign_produces_verifies_and_the_key_round_trips() {
        let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let shown = public_key_base64(signing.verifying_key());
        let key = parse_public_key(&shown).expect("own key parses");
        let signature = sign(&signing, "1700000000", b"[]");
        assert!(verify(&key, "1700000000", b"[]", &signature));
        assert!(!verify(&key, "1700000001", b"[]", &signature));
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n", &shown[..64], &shown[64..]);
        assert_eq!(parse_public_key(&pem), Some(key));
    }
}
