//! An OpenID provider for tests, on real HTTP: discovery and JWKS, keys the test controls (RS256 and ES256, published
//! or not, rotated), an outage switch, and a count of JWKS fetches. Tokens are signed with `jsonwebtoken`, the same
//! library the server verifies with, but with keys only this provider holds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand::RngCore;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// The checked-in RSA key (tests only; generating one per test would cost seconds).
pub const RSA_PEM: &str = include_str!("../keys/rsa-2048.pem");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    Rs256,
    Es256,
}

struct Key {
    kid: String,
    alg: KeyAlg,
    encoding: EncodingKey,
    jwk: Value,
    published: bool,
}

#[derive(Default)]
struct IdpState {
    keys: Mutex<Vec<Key>>,
    down: AtomicBool,
    jwks_fetches: AtomicUsize,
    issuer: Mutex<String>,
}

pub struct TestIdp {
    pub issuer: String,
    pub audience: String,
    state: Arc<IdpState>,
    server: tokio::task::JoinHandle<()>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn es256_key(kid: &str) -> Key {
    let signing = loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&bytes) {
            break k;
        }
    };
    let pem = signing.to_pkcs8_pem(LineEnding::LF).expect("pkcs8").to_string();
    let point = signing.verifying_key().to_encoded_point(false);
    Key {
        kid: kid.to_string(),
        alg: KeyAlg::Es256,
        encoding: EncodingKey::from_ec_pem(pem.as_bytes()).expect("ec key"),
        jwk: json!({ "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                     "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")) }),
        published: true,
    }
}

fn rs256_key(kid: &str) -> Key {
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PEM).expect("test RSA key");
    let public = private.to_public_key();
    Key {
        kid: kid.to_string(),
        alg: KeyAlg::Rs256,
        encoding: EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("rsa key"),
        jwk: json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                     "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be()) }),
        published: true,
    }
}

impl TestIdp {
    /// A provider on `127.0.0.1:<free port>` with one RS256 key (`rs-1`) and one ES256 key (`es-1`).
    pub async fn start(audience: &str) -> TestIdp {
        let state = Arc::new(IdpState::default());
        state.keys.lock().unwrap().extend([rs256_key("rs-1"), es256_key("es-1")]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        *state.issuer.lock().unwrap() = issuer.clone();
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestIdp { issuer, audience: audience.to_string(), state, server }
    }

    /// The standard claims of a valid token for `sub`, valid for an hour.
    pub fn claims(&self, sub: &str) -> Value {
        let now = now();
        json!({ "iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "nbf": now, "exp": now + 3600 })
    }

    /// A valid ES256 token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.sign("es-1", &self.claims(sub))
    }

    /// `claims` signed with the key `kid` (published or not), its `kid` in the header.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let keys = self.state.keys.lock().unwrap();
        let key = keys.iter().find(|k| k.kid == kid).unwrap_or_else(|| panic!("no test key {kid}"));
        let mut header = Header::new(match key.alg {
            KeyAlg::Rs256 => Algorithm::RS256,
            KeyAlg::Es256 => Algorithm::ES256,
        });
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
    }

    /// Adds an ES256 key; `published` says whether the JWKS lists it.
    pub fn add_key(&self, kid: &str, published: bool) {
        let mut key = es256_key(kid);
        key.published = published;
        self.state.keys.lock().unwrap().push(key);
    }

    /// Lists an unpublished key from now on (a key rotation at the provider).
    pub fn publish(&self, kid: &str) {
        for k in self.state.keys.lock().unwrap().iter_mut().filter(|k| k.kid == kid) {
            k.published = true;
        }
    }

    /// While down, discovery and JWKS answer 503.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// The public RSA key as the JWKS publishes it, for key-confusion tests (an HMAC "signed" with it).
    pub fn rsa_public_jwk(&self) -> Value {
        self.state.keys.lock().unwrap().iter().find(|k| k.alg == KeyAlg::Rs256).map(|k| k.jwk.clone()).unwrap()
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

async fn discovery(State(s): State<Arc<IdpState>>) -> Response {
    if s.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = s.issuer.lock().unwrap().clone();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<IdpState>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if s.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys: Vec<Value> = s.state_keys();
    Json(json!({ "keys": keys })).into_response()
}

impl IdpState {
    fn state_keys(&self) -> Vec<Value> {
        self.keys.lock().unwrap().iter().filter(|k| k.published).map(|k| k.jwk.clone()).collect()
    }
}
