//! Twilio's request signature, sent as `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL followed by every
//! POST parameter sorted by name, each written as name then value with no separators)).
//!
//! The same function signs (the simulator) and verifies (our webhooks), so both ends agree by construction; the
//! known-answer test below pins it to Twilio's published example so they cannot agree on something wrong.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The header Twilio puts the signature in (HTTP header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

type HmacSha1 = Hmac<Sha1>;

/// Signs a request Twilio-style. `url` is the full URL called, query string included.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac_over(auth_token, url, params).finalize().into_bytes())
}

/// Checks a signature header against the request, comparing in constant time so the expected signature cannot be
/// guessed byte by byte from response timings.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature_header: &str) -> bool {
    let Ok(claimed) = STANDARD.decode(signature_header) else {
        return false;
    };
    mac_over(auth_token, url, params).verify_slice(&claimed).is_ok()
}

/// Verifies as Twilio's official helper libraries do (`RequestValidator.validate`): a signature over the URL
/// without its port or with the scheme's default port added both pass. Twilio signs the URL it was configured
/// with, and a proxy or load balancer in front of us may add or drop `:443`, which must not turn Twilio's genuine
/// callbacks away.
pub fn verify_any_port_form(auth_token: &str, url: &str, params: &[(String, String)], signature_header: &str) -> bool {
    let (without, with) = port_forms(url);
    verify(auth_token, &without, params, signature_header) || verify(auth_token, &with, params, signature_header)
}

/// Verifies a request whose body is not form parameters (JSON), as Twilio's helper libraries do (`validate` with a
/// body): Twilio then signs the URL alone, and the URL carries `bodySHA256`, the hex SHA-256 of the body, which
/// must match the body received. Port forms as in [`verify_any_port_form`].
pub fn verify_body(auth_token: &str, url: &str, body: &[u8], signature_header: &str) -> bool {
    let Some(claimed_hash) = body_sha256(url) else { return false };
    let actual = format!("{:x}", Sha256::digest(body));
    crate::constant_time_eq(actual.as_bytes(), claimed_hash.to_ascii_lowercase().as_bytes())
        && verify_any_port_form(auth_token, url, &[], signature_header)
}

/// The `bodySHA256` query parameter of a signed URL: present when Twilio signed a body that is not form parameters.
pub fn body_sha256(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(name, _)| name == "bodySHA256").map(|(_, value)| value)
}

/// `url` without an explicit port, and with the scheme's default port (`443` for https, `80` for http) where it had
/// none; a URL with another port keeps it in the second form.
fn port_forms(url: &str) -> (String, String) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_string(), url.to_string()) };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The host starts after any user information; an IPv6 host is in brackets, with colons of its own.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_and_port = &authority[host_start..];
    let port_colon = host_and_port.rfind(':').filter(|&i| {
        let port = &host_and_port[i + 1..];
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !host_and_port[i..].contains(']')
    });
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => "",
    };
    let (bare, port) = match port_colon {
        Some(i) => (&authority[..host_start + i], Some(&host_and_port[i + 1..])),
        None => (authority, None),
    };
    let without = format!("{scheme}://{bare}{tail}");
    let with = match port {
        Some(p) => format!("{scheme}://{bare}:{p}{tail}"),
        None if default_port.is_empty() => without.clone(),
        None => format!("{scheme}://{bare}:{default_port}{tail}"),
    };
    (without, with)
}

fn mac_over(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    // Twilio sorts by name, byte-wise (so case-sensitive). A repeated name has its values sorted too, as Twilio's
    // helper libraries do, so the signature never depends on the order parameters arrived in.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_unstable();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The worked example in Twilio's "Webhooks security" guide: auth token 12345, this URL and these parameters
    /// sign to `0/KCTR6DLpKmkAf8muzZqo1nDgQ=` (also recomputed with Python's hmac/hashlib to be sure).
    fn twilio_documented_example() -> (&'static str, &'static str, Vec<(String, String)>) {
        let params = pairs(&[
            // Deliberately not in sorted order: signing must sort.
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("Caller", "+12349013030"),
        ]);
        ("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
    }

    #[test]
    fn matches_twilios_published_example() {
        let (token, url, params) = twilio_documented_example();
        assert_eq!(sign(token, url, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify(token, url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn rejects_any_change_to_token_url_params_or_signature() {
        let (token, url, params) = twilio_documented_example();
        let good = sign(token, url, &params);

        assert!(!verify("54321", url, &params, &good));
        assert!(!verify(token, "https://mycompany.com/myapp.php?foo=1&bar=3", &params, &good));

        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert!(!verify(token, url, &tampered, &good));

        let mut extra = params.clone();
        extra.push(("Body".into(), "hi".into()));
        assert!(!verify(token, url, &extra, &good));

        assert!(!verify(token, url, &params, ""));
        assert!(!verify(token, url, &params, "not base64!"));
        assert!(!verify(token, url, &params, &good[..good.len() - 4]));
    }

    /// Twilio's helper libraries accept a signature over the URL with or without the default port (their own test
    /// suites check both), so a proxy that adds or drops `:443` does not turn genuine callbacks away.
    #[test]
    fn the_url_with_or_without_its_default_port_verifies_as_twilios_libraries_do() {
        let (token, url, params) = twilio_documented_example();
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        // Twilio signed the URL it was configured with, without a port; we received it with one, and vice versa.
        assert!(verify_any_port_form(token, with_port, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        let signed_with_port = sign(token, with_port, &params);
        assert_ne!(signed_with_port, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify_any_port_form(token, url, &params, &signed_with_port));
        assert!(verify_any_port_form(token, url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        // Another port is another URL.
        let other = sign(token, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", &params);
        assert!(!verify_any_port_form(token, url, &params, &other));
    }

    #[test]
    fn port_forms_keep_user_information_ipv6_hosts_and_the_rest_of_the_url() {
        let forms = |u: &str| port_forms(u);
        assert_eq!(
            forms("https://user:pass@example.com/hook?x=1"),
            ("https://user:pass@example.com/hook?x=1".into(), "https://user:pass@example.com:443/hook?x=1".into())
        );
        assert_eq!(forms("http://example.com:80/h"), ("http://example.com/h".into(), "http://example.com:80/h".into()));
        assert_eq!(forms("https://[::1]:8443/h"), ("https://[::1]/h".into(), "https://[::1]:8443/h".into()));
        assert_eq!(forms("https://[::1]/h"), ("https://[::1]/h".into(), "https://[::1]:443/h".into()));
        assert_eq!(forms("https://example.com"), ("https://example.com".into(), "https://example.com:443".into()));
    }

    #[test]
    fn signs_a_request_without_parameters_over_the_url_alone() {
        let a = sign("token", "https://example.com/hook", &[]);
        assert!(verify("token", "https://example.com/hook", &[], &a));
        assert_ne!(a, sign("token", "https://example.com/hook2", &[]));
    }

    /// Twilio's helper libraries' own vectors for a JSON body (twilio-python, -csharp, -php, -go tests): token
    /// `12345`, the body's SHA-256 in the URL's `bodySHA256`, the signature over the URL alone.
    const BODY: &str = r#"{"property": "value", "boolean": true}"#;
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    #[test]
    fn verifies_twilios_published_json_body_vectors() {
        let url = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={BODY_HASH}");
        assert!(verify_body("12345", &url, BODY.as_bytes(), "a9nBmqA0ju/hNViExpshrM61xv4="));
        let only_hash = format!("https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}");
        assert!(verify_body("12345", &only_hash, BODY.as_bytes(), "y77kIzt2vzLz71DgmJGsen2scGs="));
        // The port forms pass as for form callbacks.
        let with_port = format!("https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256={BODY_HASH}");
        assert!(verify_body("12345", &with_port, BODY.as_bytes(), "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn a_json_body_is_refused_when_anything_changes() {
        let url = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={BODY_HASH}");
        // A tampered body no longer has the signed hash.
        assert!(!verify_body(
            "12345",
            &url,
            br#"{"property": "evil", "boolean": true}"#,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        // The form signature of the URL without the hash is not a body signature (the libraries' "without signature").
        let plain = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(!verify_body("12345", plain, BODY.as_bytes(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!verify_body("54321", &url, BODY.as_bytes(), "a9nBmqA0ju/hNViExpshrM61xv4="));
        assert_eq!(body_sha256(&url).as_deref(), Some(BODY_HASH));
        assert_eq!(body_sha256(plain), None);
    }
}
