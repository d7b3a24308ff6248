//! Access control on real HTTP, PostgreSQL and NATS: every token case, every route behind the gate and in the
//! OpenAPI document, service credentials, and the browser session with its CSRF token.

mod common;

use base64::Engine as _;
use common::{App, Infra, ADMIN};
use recaudo::Target;
use recaudo_testkit::idp::now;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

async fn code_of(app: &App, token: &str) -> (u16, String) {
    let (status, body) = app.get_as(token, "/api/me").await;
    (status, body["error"]["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn every_bad_token_is_refused_with_its_reason() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &[Target::Portfolio]).await;
    let idp = &infra.idp;

    // Good tokens, both algorithms.
    assert_eq!(app.get_as(&idp.token(ADMIN), "/api/me").await.0, 200);
    let (status, me) = app.get_as(&idp.sign("rs-1", &idp.claims(ADMIN)), "/api/me").await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));

    // No credential, another scheme, garbage.
    let resp = app.anonymous.get(format!("{}/api/me", app.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "no_credential");
    let basic = app.anonymous.get(format!("{}/api/me", app.base)).header("authorization", "Basic YTpi").send().await;
    assert_eq!(basic.unwrap().json::<Value>().await.unwrap()["error"]["code"], "malformed_credential");
    assert_eq!(code_of(&app, "not-a-jwt").await, (401, "malformed_token".into()));

    let claims = |patch: Value| {
        let mut c = idp.claims(ADMIN);
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let t = now();
    let expired = idp.sign("es-1", &claims(json!({ "iat": t - 7200, "nbf": t - 7200, "exp": t - 3600 })));
    assert_eq!(code_of(&app, &expired).await, (401, "token_expired".into()));
    let early = idp.sign("es-1", &claims(json!({ "nbf": t + 3600, "exp": t + 7200 })));
    assert_eq!(code_of(&app, &early).await, (401, "token_not_yet_valid".into()));
    // Within the clock-skew allowance, a token just expired still passes.
    let skewed = idp.sign("es-1", &claims(json!({ "exp": t - 5 })));
    assert_eq!(code_of(&app, &skewed).await.0, 200);
    let issuer = idp.sign("es-1", &claims(json!({ "iss": "https://evil.example" })));
    assert_eq!(code_of(&app, &issuer).await, (401, "wrong_issuer".into()));
    let audience = idp.sign("es-1", &claims(json!({ "aud": "another-api" })));
    assert_eq!(code_of(&app, &audience).await, (401, "wrong_audience".into()));

    // A valid signature over other claims.
    let good = idp.token("somebody");
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(&serde_json::to_vec(&claims(json!({}))).unwrap()), parts[2]);
    assert_eq!(code_of(&app, &forged).await, (401, "bad_signature".into()));

    // Unsigned, and HMAC-signed with the provider's public key as the secret (key confusion).
    let payload = b64(&serde_json::to_vec(&claims(json!({}))).unwrap());
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","kid":"es-1"}"#));
    assert_eq!(code_of(&app, &none).await, (401, "algorithm_refused".into()));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("rs-1".into());
    let secret = serde_json::to_vec(&idp.rsa_public_jwk()).unwrap();
    let hmac =
        jsonwebtoken::encode(&header, &claims(json!({})), &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap();
    assert_eq!(code_of(&app, &hmac).await, (401, "algorithm_refused".into()));

    // A key the provider never published: refetched once, still unknown; a second try within the minute does not
    // refetch again.
    idp.add_key("rogue", false);
    let rogue = idp.sign("rogue", &idp.claims(ADMIN));
    let before = idp.jwks_fetches();
    assert_eq!(code_of(&app, &rogue).await, (401, "unknown_key".into()));
    assert_eq!(idp.jwks_fetches(), before + 1);
    assert_eq!(code_of(&app, &rogue).await, (401, "unknown_key".into()));
    assert_eq!(idp.jwks_fetches(), before + 1, "a refetch at most once a minute");

    // Signed in, but nobody gave this subject a role.
    assert_eq!(code_of(&app, &idp.token("stranger")).await, (403, "no_role".into()));
    app.stop().await;
}

#[tokio::test]
async fn rotated_keys_are_fetched_and_cached_keys_outlive_an_outage() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let idp = &infra.idp;
    idp.add_key("es-2", false);
    let app = App::spawn(infra.env(&[]), &[Target::Portfolio]).await;
    assert_eq!(app.get_as(&idp.token(ADMIN), "/api/me").await.0, 200);

    // The provider rotates: a token with the new kid makes the process refetch the keys.
    idp.publish("es-2");
    assert_eq!(app.get_as(&idp.sign("es-2", &idp.claims(ADMIN)), "/api/me").await.0, 200);

    // The provider goes down: keys already cached keep working.
    idp.set_down(true);
    assert_eq!(app.get_as(&idp.token(ADMIN), "/api/me").await.0, 200);
    app.stop().await;

    // A process that never got a key answers 503, never 500 and never a pass.
    let dead = format!("http://127.0.0.1:{}", recaudo_testkit::free_port().unwrap());
    let lost = App::spawn(infra.env(&[("RECAUDO_OIDC_ISSUER", dead.as_str())]), &[Target::Portfolio]).await;
    let (status, body) = lost.get_as(&idp.token(ADMIN), "/api/me").await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("identity_provider_unavailable")), "{body}");
    lost.stop().await;
}

/// The paths and methods of `proto-schemas/openapi.yaml`.
fn documented() -> Vec<(String, String)> {
    common::openapi_operations().into_iter().map(|o| (o.path, o.method)).collect()
}

/// Public without a credential, and only these (DESIGN.md, "Access"); the sign-in redirects cannot need one.
fn is_public(path: &str) -> bool {
    ["/healthz", "/readyz", "/metrics", "/r/{token}", "/u/{token}", "/auth/login", "/auth/callback"].contains(&path)
        || path.starts_with("/webhooks/")
        || path.starts_with("/dev-idp/")
        || path.starts_with("/console/static/")
}

/// A console page a person opens in a browser: without a session it sends them to sign in instead of answering 401.
fn is_console_page(path: &str, method: &str) -> bool {
    path.starts_with("/console/") && method == "GET"
}

fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('x');
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn no_route_ships_unprotected_or_undocumented() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &Target::ALL).await;
    let documented = documented();
    assert!(documented.len() > 20, "the document's paths were read: {documented:?}");
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];

    for route in &app.routes {
        // The provider simulator is Twilio's API, not Recaudo's; it is mounted only with the simulator provider.
        if route.path.starts_with("/sim/") {
            continue;
        }
        assert!(documented.iter().any(|(p, _)| *p == route.path), "{} is served but not in openapi.yaml", route.path);
        match route.visibility {
            recaudo_runtime::Visibility::Public => {
                assert!(is_public(&route.path), "{} is served without a credential", route.path)
            }
            recaudo_runtime::Visibility::Protected => {
                assert!(!is_public(&route.path), "{} should be public", route.path);
                for m in methods {
                    let url = format!("{}{}", app.base, concrete(&route.path));
                    let resp = app.anonymous.request(m.parse().unwrap(), &url).send().await.unwrap();
                    let expected = if is_console_page(&route.path, m) { 303 } else { 401 };
                    assert_eq!(resp.status().as_u16(), expected, "{m} {} without a credential", route.path);
                }
            }
        }
        // Every method the route answers (with a credential) is documented.
        for m in methods {
            let url = format!("{}{}", app.base, concrete(&route.path));
            let status = app.http.request(m.parse().unwrap(), &url).send().await.unwrap().status().as_u16();
            if status != 405 {
                assert!(
                    documented.contains(&(route.path.clone(), m.to_string())),
                    "{m} {} answers {status} but is not in openapi.yaml",
                    route.path
                );
            }
        }
    }
    for (path, method) in &documented {
        if is_public(path) {
            continue;
        }
        let url = format!("{}{}", app.base, concrete(path));
        let resp = app.anonymous.request(method.parse().unwrap(), &url).send().await.unwrap();
        if is_console_page(path, method) {
            assert_eq!(resp.status().as_u16(), 303, "{method} {path} without a session");
            let to = resp.headers()["location"].to_str().unwrap();
            assert!(to.starts_with("/auth/login?return_to=%2Fconsole%2F"), "{method} {path}: {to}");
            continue;
        }
        assert_eq!(resp.status().as_u16(), 401, "{method} {path} without a credential");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "no_credential", "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn service_credentials_have_their_scopes_are_stored_hashed_and_can_be_revoked() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &Target::ALL).await;
    let url = |p: &str| format!("{}{p}", app.base);

    let refused = app.http.post(url("/api/credentials")).json(&json!({"name": "x", "scopes": ["credentials:write"]}));
    assert_eq!(refused.send().await.unwrap().status().as_u16(), 400);
    let resp = app
        .http
        .post(url("/api/credentials"))
        .json(&json!({"name": "lender ETL", "scopes": ["imports:read", "payments:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let created: Value = resp.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rcd_") && secret.len() > 40);

    // Shown once: the list never has it, and the database only has its hash.
    let list = app.http.get(url("/api/credentials")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&id) && !list.contains(&secret), "{list}");
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let dump: String = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM access.service_credentials t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!dump.contains(&secret[4..]), "the secret is stored in clear");
    let hashed: i64 = sqlx::query_scalar("SELECT count(*) FROM access.service_credentials WHERE secret_sha256 = $1")
        .bind(Sha256::digest(secret.as_bytes()).to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(hashed, 1);

    assert_eq!(app.get_as(&secret, "/api/imports").await.0, 200);
    let (status, body) = app.get_as(&secret, "/api/debtors/C0000001").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(app.get_as(&secret, "/api/audit").await.0, 403);
    let (_, me) = app.get_as(&secret, "/api/me").await;
    assert_eq!(me["kind"], "service");
    assert_eq!(me["permissions"], json!(["imports:read", "payments:write"]));
    let payment = app
        .anonymous
        .post(url("/api/payments"))
        .bearer_auth(&secret)
        .json(&json!({"credit_id": "CR-1", "paid_on": "2026-11-20", "amount": "10.00", "reference": "R-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(payment.status().as_u16(), 202);
    let mint = app
        .anonymous
        .post(url("/api/credentials"))
        .bearer_auth(&secret)
        .json(&json!({"name": "y", "scopes": ["debtors:read"]}));
    assert_eq!(mint.send().await.unwrap().status().as_u16(), 403, "a service never makes credentials");

    assert_eq!(app.http.delete(url(&format!("/api/credentials/{id}"))).send().await.unwrap().status().as_u16(), 204);
    let (status, body) = app.get_as(&secret, "/api/imports").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unknown_credential")));

    // Both changes are in the audit trail, with who made them.
    let audit = app.get_ok(&format!("/api/audit?resource_type=credential&resource_id={id}")).await;
    let actions: Vec<&str> =
        audit["records"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["credential.revoke", "credential.create"]);
    assert!(audit["records"].as_array().unwrap().iter().all(|r| r["actor"] == ADMIN && r["ip"] == "127.0.0.1"));
    assert!(!audit.to_string().contains(&secret));
    app.stop().await;
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn the_browser_signs_in_with_pkce_and_changes_need_the_csrf_token() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let env = infra.env(&[("RECAUDO_OIDC_ISSUER", ""), ("RECAUDO_OIDC_AUDIENCE", ""), ("RECAUDO_DEV_IDP", "on")]);
    let app = App::spawn(env.clone(), &[Target::Ingestion]).await;
    let browser = &app.anonymous;

    let login = browser.get(format!("{}/auth/login?return_to=/api/me", app.base)).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 302);
    let login_cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(login_cookie.starts_with("recaudo_login="), "{login_cookie}");
    let authorize = location(&login);
    assert!(authorize.starts_with(&format!("{}/dev-idp/authorize?", app.base)), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("code_challenge="));
    let picked = browser.get(format!("{authorize}&login_hint=dev-manager")).send().await.unwrap();
    assert_eq!(picked.status().as_u16(), 302);
    let callback = location(&picked);
    assert!(callback.starts_with(&format!("{}/auth/callback?code=", app.base)), "{callback}");
    // A callback link opened in another browser (login CSRF) signs nobody in.
    let elsewhere = browser.get(&callback).send().await.unwrap();
    assert_eq!(elsewhere.status().as_u16(), 400);
    let signed_in = browser.get(&callback).header("cookie", &login_cookie).send().await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    assert_eq!(location(&signed_in), "/api/me");
    let set_cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("recaudo_session="))
        .unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // The same sign-in cannot be replayed.
    let replay = browser.get(&callback).header("cookie", &login_cookie).send().await.unwrap();
    assert_eq!(replay.status().as_u16(), 400);

    let with_cookie = |path: &str| {
        let req = browser.get(format!("{}{path}", app.base)).header("cookie", &cookie);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let me = with_cookie("/api/me").await;
    assert_eq!((me["role"].as_str(), me["via"].as_str()), (Some("manager"), Some("session")));
    let session = with_cookie("/auth/session").await;
    let csrf = session["csrf_token"].as_str().unwrap().to_string();

    let put = |csrf: Option<&str>| {
        let mut req =
            browser.put(format!("{}/api/import-profiles/banco-z", app.base)).header("cookie", &cookie).json(&json!({}));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let without = put(None).await.unwrap();
    assert_eq!(without.status().as_u16(), 403);
    assert_eq!(without.json::<Value>().await.unwrap()["error"]["code"], "csrf");
    assert_eq!(put(Some("wrong")).await.unwrap().status().as_u16(), 403);
    assert_eq!(put(Some(&csrf)).await.unwrap().status().as_u16(), 200);

    let logout =
        browser.post(format!("{}/auth/logout", app.base)).header("cookie", &cookie).header("x-csrf-token", &csrf);
    assert_eq!(logout.send().await.unwrap().status().as_u16(), 204);
    let after = browser.get(format!("{}/api/me", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(after.status().as_u16(), 401);

    // `recaudo dev token --role admin` signs with the same provider.
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let config = recaudo_access::AccessConfig::from_env(&env).unwrap();
    let ttl = std::time::Duration::from_secs(3600);
    let (subject, token) =
        recaudo_access::dev_idp::cli_token(&pool, &config, &app.base, recaudo_access::Role::Admin, None, ttl)
            .await
            .unwrap();
    assert_eq!(subject, "dev-admin");
    let (status, me) = app.get_as(&token, "/api/me").await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));
    app.stop().await;
}
