//! Sign-in against a real, certified OpenID provider (the `oidc-provider` package, in `tests/oidc-provider/`, on
//! the machine's Node.js) that the test starts itself: a bearer token from the client-credentials grant, and the
//! browser's authorization-code flow with PKCE through the provider's login to a session.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use common::{App, Infra};
use recaudo::Target;
use serde_json::{json, Value};

/// The provider process; it exits when its stdin closes, so a test that dies leaves no orphan.
struct Provider {
    issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(audience: &str, redirect_uri: &str) -> Provider {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
    if !dir.join("node_modules/oidc-provider").exists() {
        // Installed from the lockfile, like every other dependency of the project (make test does it too).
        let status = Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).status();
        assert!(status.map(|s| s.success()).unwrap_or(false), "npm ci --prefix tests/oidc-provider failed");
    }
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .args(["--port", "0", "--audience", audience, "--redirect-uri", redirect_uri])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node (Node.js) must be installed to run the OpenID provider tests");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("provider output");
    let issuer = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("provider said {line:?}")).to_string();
    Provider { issuer, child, _stdin: stdin }
}

/// `name=value` of each `Set-Cookie`.
fn cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect()
}

fn cookie(list: &[String], name: &str) -> String {
    list.iter().find(|c| c.starts_with(&format!("{name}="))).cloned().unwrap_or_else(|| panic!("no {name} in {list:?}"))
}

fn location(resp: &reqwest::Response, base: &str) -> String {
    let l = resp.headers()["location"].to_str().unwrap();
    if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l.to_string()
    }
}

#[tokio::test]
async fn people_and_systems_sign_in_with_a_certified_provider() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = start_provider(common::AUDIENCE, &format!("{base}/auth/callback"));
    let env = infra.env(&[
        ("RECAUDO_OIDC_ISSUER", provider.issuer.as_str()),
        ("RECAUDO_OIDC_CLIENT_ID", "recaudo-console"),
        ("RECAUDO_OIDC_CLIENT_SECRET", "console-secret"),
        ("RECAUDO_ADMIN_SUBJECTS", "recaudo-etl"),
    ]);
    let app = App::spawn_on(listener, env, &[Target::Portfolio]).await;
    let http = &app.anonymous;

    // An internal system: the client-credentials grant gives a JWT access token for this API.
    let resp = http
        .post(format!("{}/token", provider.issuer))
        .basic_auth("recaudo-etl", Some("etl-secret"))
        .form(&[("grant_type", "client_credentials"), ("resource", common::AUDIENCE)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let (status, me) = app.get_as(&token, "/api/me").await;
    assert_eq!(
        (status, me["subject"].as_str(), me["role"].as_str()),
        (200, Some("recaudo-etl"), Some("admin")),
        "{me}"
    );
    // A character in the middle of the signature (the last one may only change base64 padding bits).
    let mut tampered: Vec<char> = token.chars().collect();
    let i = token.rfind('.').unwrap() + 10;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    assert_eq!(app.get_as(&tampered, "/api/me").await.0, 401);
    let put = http.put(format!("{base}/api/users/ana")).bearer_auth(&token).json(&json!({"role": "manager"}));
    assert_eq!(put.send().await.unwrap().status().as_u16(), 200);

    // A person in a browser: authorization code with PKCE, through the provider's login page.
    let login = http.get(format!("{base}/auth/login")).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 302);
    let login_cookie = cookie(&cookies(&login), "recaudo_login");
    let authorize = location(&login, &base);
    assert!(authorize.starts_with(&format!("{}/auth?", provider.issuer)), "{authorize}");
    let to_interaction = http.get(&authorize).send().await.unwrap();
    assert_eq!(to_interaction.status().as_u16(), 303);
    let jar = cookies(&to_interaction);
    let interaction = location(&to_interaction, &provider.issuer);
    let form = http.get(&interaction).header("cookie", cookie(&jar, "_interaction")).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 200);
    let logged_in = http
        .post(format!("{interaction}/login"))
        .header("cookie", cookie(&jar, "_interaction"))
        .form(&[("login", "ana")])
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status().as_u16(), 303);
    let resume = location(&logged_in, &provider.issuer);
    let back = http.get(&resume).header("cookie", cookie(&jar, "_interaction_resume")).send().await.unwrap();
    assert_eq!(back.status().as_u16(), 303);
    let callback = location(&back, &base);
    assert!(callback.starts_with(&format!("{base}/auth/callback?code=")), "{callback}");
    let signed_in = http.get(&callback).header("cookie", &login_cookie).send().await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 303, "{:?}", signed_in.text().await);
    let session = cookie(&cookies(&signed_in), "recaudo_session");
    let me: Value =
        http.get(format!("{base}/api/me")).header("cookie", &session).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (me["subject"].as_str(), me["role"].as_str(), me["via"].as_str()),
        (Some("ana"), Some("manager"), Some("session"))
    );

    app.stop().await;
}
