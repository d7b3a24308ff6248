//! Bearer tokens from the OpenID Connect provider: signature against the issuer's JWKS (found through discovery,
//! cached, refetched at most once a minute for an unknown `kid`), `iss`, `aud`, `exp` and `nbf`.
//!
//! Only asymmetric algorithms are accepted (RS256, ES256), and the algorithm must match the key's type: a token
//! that says `none` or `HS256` is refused before any key is looked at, so a public key can never be used as an HMAC
//! secret.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use recaudo_runtime::ApiError;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// The least time between two JWKS fetches caused by unknown `kid`s.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// With no key at all, how long a failed fetch is remembered before the next try (so an unreachable provider
/// does not make every request wait for a timeout of its own).
const RETRY_WHEN_EMPTY: Duration = Duration::from_secs(5);

/// The provider's endpoints, from `<issuer>/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
}

/// Why a token was refused; each is a 401 with its code, except `Unavailable` (503).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("unsigned tokens (alg none) are refused")]
    Unsigned,
    #[error("{0}-signed tokens are refused: only RS256 and ES256 from the identity provider are accepted")]
    Symmetric(String),
    #[error("algorithm {0:?} is not accepted; expected RS256 or ES256")]
    UnsupportedAlgorithm(String),
    #[error("the token's key {0:?} is not among the identity provider's keys{1}")]
    UnknownKey(String, &'static str),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was not issued by the configured issuer")]
    WrongIssuer,
    #[error("the token is not meant for this API (aud)")]
    WrongAudience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
    #[error("the identity provider cannot be reached and no keys are cached: {0}")]
    Unavailable(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed_token",
            TokenError::Unsigned | TokenError::Symmetric(_) | TokenError::UnsupportedAlgorithm(_) => {
                "algorithm_refused"
            }
            TokenError::UnknownKey(..) => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "token_expired",
            TokenError::NotYetValid => "token_not_yet_valid",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::MissingClaim(_) => "missing_claim",
            TokenError::Unavailable(_) => "identity_provider_unavailable",
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Unavailable(_) => ApiError::unavailable(e.code(), e.to_string()),
            other => ApiError::unauthenticated(other.code(), other.to_string()),
        }
    }
}

/// The claims Recaudo reads; the rest of the token is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub nonce: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    discovery: Option<Discovery>,
    /// When the last fetch caused by an unknown `kid` was tried.
    last_refetch: Option<Instant>,
    /// The last failed fetch, while no key is known.
    last_failure: Option<(Instant, String)>,
}

/// Verifies tokens of one issuer. Cheap to share: keys are cached behind a lock that readers rarely wait for.
pub struct Verifier {
    issuer: String,
    jwks_url: Option<String>,
    leeway: Duration,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// One fetch at a time; others wait for it and then use what it found.
    fetching: Mutex<()>,
}

impl Verifier {
    /// `jwks_url` skips discovery for the keys (the browser flow still needs discovery for its endpoints).
    pub fn new(issuer: String, jwks_url: Option<String>, leeway: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        Verifier { issuer, jwks_url, leeway, http, cache: RwLock::new(KeyCache::default()), fetching: Mutex::new(()) }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The provider's discovery document, fetched once and kept.
    pub async fn discovery(&self) -> Result<Discovery, TokenError> {
        if let Some(d) = self.cache.read().await.discovery.clone() {
            return Ok(d);
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let d: Discovery = self.fetch_json(&url).await?;
        if d.issuer.trim_end_matches('/') != self.issuer {
            return Err(TokenError::Unavailable(format!(
                "the discovery document at {url} names issuer {:?}, not the configured one",
                d.issuer
            )));
        }
        self.cache.write().await.discovery = Some(d.clone());
        Ok(d)
    }

    /// Checks `token` for an API call: audience `audience`.
    pub async fn verify(&self, token: &str, audience: &str) -> Result<Claims, TokenError> {
        let (alg, kid) = read_header(token)?;
        let key = self.key_for(&kid, alg).await?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[self.issuer.as_str(), &format!("{}/", self.issuer)]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway.as_secs();
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(classify)?;
        if data.claims.sub.trim().is_empty() {
            return Err(TokenError::MissingClaim("sub"));
        }
        Ok(data.claims)
    }

    /// Fetches the keys now (at start-up, so the first request does not wait); failure is only logged.
    pub async fn prefetch(&self) {
        if let Err(e) = self.refresh().await {
            tracing::warn!(issuer = %self.issuer, error = %e, "cannot fetch the identity provider's keys yet");
        }
    }

    async fn key_for(&self, kid: &Option<String>, alg: Algorithm) -> Result<DecodingKey, TokenError> {
        let kid_name = kid.clone().unwrap_or_default();
        {
            let cache = self.cache.read().await;
            if let Some(found) = lookup(&cache.keys, kid, alg) {
                return Ok(found);
            }
        }
        // Unknown kid (or nothing cached yet): refetch, at most once a minute once keys are known.
        let _one_at_a_time = self.fetching.lock().await;
        let (have_keys, may_refetch) = {
            let cache = self.cache.read().await;
            if let Some(found) = lookup(&cache.keys, kid, alg) {
                return Ok(found);
            }
            if let (true, Some((at, why))) = (cache.keys.is_empty(), &cache.last_failure) {
                if at.elapsed() < RETRY_WHEN_EMPTY {
                    return Err(TokenError::Unavailable(why.clone()));
                }
            }
            let recent = cache.last_refetch.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL);
            (!cache.keys.is_empty(), !recent || cache.keys.is_empty())
        };
        if !may_refetch {
            return Err(TokenError::UnknownKey(kid_name, " (keys were refetched less than a minute ago)"));
        }
        self.cache.write().await.last_refetch = Some(Instant::now());
        match self.refresh().await {
            Ok(()) => {}
            Err(e) if !have_keys => {
                if let TokenError::Unavailable(why) = &e {
                    self.cache.write().await.last_failure = Some((Instant::now(), why.clone()));
                }
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "cannot refetch the identity provider's keys");
                return Err(TokenError::UnknownKey(
                    kid_name,
                    " (and the provider could not be reached to refetch them)",
                ));
            }
        }
        let cache = self.cache.read().await;
        lookup(&cache.keys, kid, alg).ok_or(TokenError::UnknownKey(kid_name, " (even after refetching them)"))
    }

    async fn refresh(&self) -> Result<(), TokenError> {
        let url = match &self.jwks_url {
            Some(url) => url.clone(),
            None => self.discovery().await?.jwks_uri,
        };
        let set: JwkSet = self.fetch_json(&url).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if format!("{:?}", ec.curve) == "P256" => Algorithm::ES256,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(jwk.common.key_id.clone().unwrap_or_default(), (alg, key));
            }
        }
        if keys.is_empty() {
            return Err(TokenError::Unavailable(format!("{url} lists no RS256 or ES256 key")));
        }
        self.cache.write().await.keys = keys;
        Ok(())
    }

    async fn fetch_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, TokenError> {
        let resp = self.http.get(url).send().await.map_err(|e| TokenError::Unavailable(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(TokenError::Unavailable(format!("{url} answered {}", resp.status())));
        }
        resp.json().await.map_err(|e| TokenError::Unavailable(format!("{url}: {e}")))
    }
}

fn lookup(
    keys: &HashMap<String, (Algorithm, DecodingKey)>,
    kid: &Option<String>,
    alg: Algorithm,
) -> Option<DecodingKey> {
    match kid {
        Some(kid) => keys.get(kid).filter(|(a, _)| *a == alg).map(|(_, k)| k.clone()),
        // A token without `kid` is accepted only when exactly one key of its algorithm is known.
        None => {
            let mut of_alg = keys.values().filter(|(a, _)| *a == alg);
            match (of_alg.next(), of_alg.next()) {
                (Some((_, k)), None) => Some(k.clone()),
                _ => None,
            }
        }
    }
}

/// The header's `alg` and `kid`, read before anything else so that refused algorithms never reach a key.
fn read_header(token: &str) -> Result<(Algorithm, Option<String>), TokenError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(TokenError::Malformed(format!("expected 3 dot-separated parts, found {}", parts.len())));
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0].trim_end_matches('='))
        .map_err(|_| TokenError::Malformed("the header is not base64url".into()))?;
    #[derive(Deserialize)]
    struct Header {
        alg: Option<String>,
        kid: Option<String>,
    }
    let header: Header =
        serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed("the header is not a JSON object".into()))?;
    let alg = header.alg.ok_or_else(|| TokenError::Malformed("the header has no alg".into()))?;
    let alg = match alg.as_str() {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        a if a.eq_ignore_ascii_case("none") => return Err(TokenError::Unsigned),
        a if a.starts_with("HS") => return Err(TokenError::Symmetric(a.to_string())),
        a => return Err(TokenError::UnsupportedAlgorithm(a.to_string())),
    };
    if parts[2].is_empty() {
        return Err(TokenError::Unsigned);
    }
    Ok((alg, header.kid))
}

fn classify(e: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => TokenError::Expired,
        ImmatureSignature => TokenError::NotYetValid,
        InvalidIssuer => TokenError::WrongIssuer,
        InvalidAudience => TokenError::WrongAudience,
        InvalidSignature | InvalidEcdsaKey | InvalidRsaKey(_) | InvalidAlgorithm => TokenError::BadSignature,
        MissingRequiredClaim(c) => TokenError::MissingClaim(match c.as_str() {
            "exp" => "exp",
            "iss" => "iss",
            "aud" => "aud",
            _ => "sub",
        }),
        _ => TokenError::Malformed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn refused_algorithms_are_refused_before_any_key_is_read() {
        let token = |alg: &str| format!("{}.{}.sig", segment(&format!(r#"{{"alg":"{alg}"}}"#)), segment("{}"));
        assert!(matches!(read_header(&token("none")), Err(TokenError::Unsigned)));
        assert!(matches!(read_header(&token("HS256")), Err(TokenError::Symmetric(_))));
        assert!(matches!(read_header(&token("PS512")), Err(TokenError::UnsupportedAlgorithm(_))));
        assert!(matches!(read_header(&token("RS256")), Ok((Algorithm::RS256, None))));
        let unsigned = format!("{}.{}.", segment(r#"{"alg":"RS256"}"#), segment("{}"));
        assert!(matches!(read_header(&unsigned), Err(TokenError::Unsigned)));
        assert!(matches!(read_header("abc"), Err(TokenError::Malformed(_))));
        assert!(matches!(read_header("!!.a.b"), Err(TokenError::Malformed(_))));
    }
}
