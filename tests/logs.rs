//! Tokens, secrets and personal data never reach the logs: the real `recaudo serve` binary runs a whole session
//! (an import, reads, a click, refused credentials, a service credential, a file with bad rows), and its output is
//! searched for the tokens used and for every debtor's personal data the file carried.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fixture, Infra, ADMIN, WAIT};
use recaudo_testkit::{eventually, free_port};
use serde_json::{json, Value};

/// `needle` in `hay` as a whole word (not inside a longer run of letters or digits, such as a UUID).
fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
    })
}

#[tokio::test]
async fn no_token_secret_or_personal_data_is_logged() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let port = free_port().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let log = std::fs::File::create(&log_path).unwrap();
    let env =
        infra.env(&[("RECAUDO_HTTP_ADDR", &format!("127.0.0.1:{port}")), ("RECAUDO_NOW", "2026-11-23T15:00:00Z")]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recaudo"));
    cmd.args(["serve", "--target", "all"]).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    // At debug level, so that a path or query logged by the HTTP layer would show here too.
    cmd.env(
        "RECAUDO_LOG",
        "debug,sqlx=warn,async_nats=warn,hyper=warn,hyper_util=warn,h2=warn,rustls=warn,reqwest=warn",
    );
    for var in [
        "DATABASE_URL",
        "NATS_URL",
        "RECAUDO_HTTP_ADDR",
        "RECAUDO_NOW",
        "RECAUDO_OIDC_ISSUER",
        "RECAUDO_OIDC_AUDIENCE",
        "RECAUDO_ADMIN_SUBJECTS",
        "RECAUDO_SCHEDULER_TICK_MS",
        "RECAUDO_SMS_PROVIDER",
        "RECAUDO_WHATSAPP_PROVIDER",
        "RECAUDO_EMAIL_PROVIDER",
        "RECAUDO_TWILIO_ACCOUNT_SID",
        "RECAUDO_TWILIO_AUTH_TOKEN",
    ] {
        if let Some(v) = env.raw(var) {
            cmd.env(var, v);
        }
    }
    let mut server = cmd.stdout(log.try_clone().unwrap()).stderr(log).stdin(Stdio::null()).spawn().unwrap();

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    eventually("recaudo serve to be ready", WAIT, || async {
        http.get(format!("{base}/readyz")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    let admin = infra.idp.token(ADMIN);
    let get = |path: String, token: String| {
        let req = http.get(format!("{base}{path}")).bearer_auth(token);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap_or(Value::Null) }
    };

    let created: Value = http
        .post(format!("{base}/api/imports?as_of=2026-11-20"))
        .bearer_auth(&admin)
        .body(fixture("clientes_asesores.csv"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    eventually("the import to finish", WAIT, || async {
        (get(format!("/api/imports/{id}"), admin.clone()).await["state"] == "completed").then_some(())
    })
    .await;
    let contacts = eventually("a contact to be sent", WAIT, || async {
        let c = get("/api/debtors/C0000003/contacts".into(), admin.clone()).await;
        (!c["contacts"].as_array()?.is_empty()).then_some(c)
    })
    .await;
    let _ = get("/api/debtors/C0000003".into(), admin.clone()).await;
    // The debtor clicks (the link is a credential too: it must not be logged either).
    if let Some(link) = common::reply_link(&contacts.to_string()) {
        let _ = http.get(link).send().await;
    }
    let bad_import = http.post(format!("{base}/api/imports?as_of=2026-11-20")).bearer_auth(&admin);
    let _ = bad_import.body(fixture("clientes_con_errores.csv")).send().await;

    // Refused credentials: an expired token, a forged one, one without a role, an unknown service credential.
    let mut expired = infra.idp.claims(ADMIN);
    expired["exp"] = json!(recaudo_testkit::idp::now() - 3600);
    let expired = infra.idp.sign("es-1", &expired);
    let forged = format!("{}x", &admin[..admin.len() - 1]);
    let stranger = infra.idp.token("stranger@example.com");
    for t in [&expired, &forged, &stranger, &"rcd_notarealsecretnotarealsecretnotarealsecret".to_string()] {
        let _ = get("/api/debtors/C0000003".into(), t.clone()).await;
    }
    let credential: Value = http
        .post(format!("{base}/api/credentials"))
        .bearer_auth(&admin)
        .json(&json!({"name": "warehouse", "scopes": ["debtors:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = credential["secret"].as_str().unwrap().to_string();
    let _ = get("/api/debtors/C0000001".into(), secret.clone()).await;

    // SIGTERM, and read everything the process wrote.
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("recaudo is up") && logs.lines().count() > 5, "the logs were captured: {logs}");

    for t in [&admin, &expired, &forged, &stranger, &secret] {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token or secret is in the logs");
    }
    assert!(!logs.contains("stranger@example.com"));
    let file = String::from_utf8(fixture("clientes_asesores.csv")).unwrap();
    let mut checked = 0;
    for line in file.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (document, first, last, phone, email) = (f[2], f[3], f[4], f[5], f[6]);
        let digits: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
        for value in [document, &format!("{first} {last}"), last, email, &digits] {
            if value.len() >= 4 {
                assert!(!contains_word(&logs, value), "personal data {value:?} is in the logs");
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "the fixture's personal data was read ({checked} values)");
}
