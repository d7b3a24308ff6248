//! Bad input never gets a 500, and "accepted" always means it will be applied (or rejected with a reason): NUL
//! bytes and oversized text at every entry, payments portfolio cannot store, a failed import that says why,
//! dead letters that can be seen and replayed, and random bytes in every path and query parameter of the OpenAPI
//! document.

mod common;

use std::time::Duration;

use common::{fixture, fixture_path, App, Infra, WAIT};
use futures::StreamExt;
use recaudo::Target;
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_testkit::eventually;
use serde_json::{json, Value};

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn nul_bytes_and_oversized_text_answer_400_naming_the_field() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &Target::ALL).await;
    let url = |p: &str| format!("{}{p}", app.base);

    for path in [
        "/api/debtors/%00",
        "/api/debtors/C%00X/contacts",
        "/api/import-profiles/%00",
        "/r/%00",
        "/api/audit?actor=%00",
        "/api/audit?resource_id=a%00b",
        "/api/users/a%00b",
    ] {
        let (status, body) = error_of(app.http.get(url(path)).send().await.unwrap()).await;
        assert_eq!(status, 400, "GET {path}: {body}");
        assert!(body.starts_with("{\"error\""), "GET {path}: {body}");
    }
    for (query, field) in [
        ("file_name=a%00b", "file_name"),
        ("profile=%00", "profile"),
        ("delimiter=%00", "delimiter"),
        ("as_of=-5000-01-01", "as_of"),
    ] {
        let body = "id_cliente,nombre\nC1,Ana\n";
        let resp = app.http.post(url(&format!("/api/imports?{query}"))).body(body).send().await.unwrap();
        let (status, body) = error_of(resp).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(field), "{query}: {body}");
    }
    let profile = json!({ "columns": { "Nro\u{0}Cliente": "id_cliente" } });
    let resp = app.http.put(url("/api/import-profiles/banco")).json(&profile).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = app.http.put(url("/api/import-profiles/banco")).json(&json!({"delimiter": "\u{0}"})).send().await;
    assert_eq!(resp.unwrap().status().as_u16(), 400);
    let ancient = json!({"credit_id": "CR-1", "paid_on": "-5000-01-01", "amount": "1", "reference": "R-9"});
    let (status, body) = error_of(app.http.post(url("/api/payments")).json(&ancient).send().await.unwrap()).await;
    assert!(status == 400 && body.contains("paid_on"), "{status} {body}");

    // Payments that could never be applied are refused whole, with the index and the field.
    let good = json!({"credit_id": "CR-1", "paid_on": "2026-11-20", "amount": "10.00", "reference": "R-1"});
    let huge =
        json!({"credit_id": "CR-1", "paid_on": "2026-11-20", "amount": "10.00", "reference": "R".repeat(1 << 20)});
    let nul = json!({"credit_id": "CR-1", "paid_on": "2026-11-20", "amount": "1", "reference": "R\u{0}2", "method": "caja\u{0}"});
    let resp = app.http.post(url("/api/payments")).json(&json!([good, huge, nul])).send().await.unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, 400, "{body}");
    let message = serde_json::from_str::<Value>(&body).unwrap()["error"]["message"].as_str().unwrap().to_string();
    for expected in
        [r#""field":"reference","index":1"#, r#""field":"reference","index":2"#, r#""field":"method","index":2"#]
    {
        assert!(message.contains(expected), "{expected} in {message}");
    }
    assert!(message.len() < 4096, "the error does not repeat a megabyte of input");
    app.stop().await;

    // A sign-in callback with a state no sign-in could have: 400, not a query with a NUL in it.
    let env = infra.env(&[("RECAUDO_OIDC_ISSUER", ""), ("RECAUDO_OIDC_AUDIENCE", ""), ("RECAUDO_DEV_IDP", "on")]);
    let dev = App::spawn(env, &[Target::Portfolio]).await;
    for state in ["%00", "a%00b", "%F0%9F%92%A9"] {
        let resp = dev.anonymous.get(format!("{}/auth/callback?code=x&state={state}", dev.base)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "state {state}");
    }
    let login = dev.anonymous.get(format!("{}/auth/login?return_to=/caf%C3%A9", dev.base)).send().await.unwrap();
    assert_eq!(login.status().as_u16(), 400, "a non-ASCII return_to is refused, not a redirect without Location");
    dev.stop().await;
}

#[tokio::test]
async fn a_payment_portfolio_cannot_store_is_rejected_with_its_reason() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &Target::ALL).await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut rejected = bus.client().subscribe("recaudo.payment.rejected").await.unwrap();
    // From another producer than ingestion (an older version, a lender's own publisher): nothing checked it.
    let payment = recaudo_events::PaymentReceived {
        payment_id: uuid::Uuid::now_v7(),
        credit_id: recaudo_domain::CreditId::parse("CR-1").unwrap(),
        paid_on: "2026-11-20".parse().unwrap(),
        amount: "10.00".parse().unwrap(),
        method: "caja".into(),
        reference: "R\u{0}1".into(),
        source: recaudo_events::PaymentSource::Api,
        received_at: chrono::Utc::now(),
    };
    let msg = RawMessage::event(bus.prefix(), "test/elsewhere", chrono::Utc::now(), payment.clone()).unwrap();
    bus.publish(&msg).await.unwrap();
    let event = tokio::time::timeout(WAIT, rejected.next()).await.expect("payment.rejected").unwrap();
    let event: Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["data"]["payment_id"], payment.payment_id.to_string());
    let reason = event["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("reference") && reason.contains("control character"), "{reason}");
    assert_eq!(event["data"]["reference"], "R1");
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_are_counted_listed_and_replayed_by_admins() {
    recaudo_runtime::telemetry::init("test", recaudo_runtime::telemetry::LogFormat::Json);
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[]), &Target::ALL).await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let garbage = RawMessage {
        subject: "recaudo.payment.received".into(),
        event_id: "not-an-event".into(),
        headers: Default::default(),
        payload: "{ not json".into(),
    };
    bus.publish(&garbage).await.unwrap();

    let letter = eventually("the poison message in the dead letters", WAIT, || async {
        let list = app.get_ok("/api/dead-letters").await;
        list["dead_letters"].as_array()?.iter().find(|l| l["consumer"] == "portfolio-payments").cloned()
    })
    .await;
    assert_eq!(letter["original_subject"], "recaudo.payment.received");
    assert!(letter["reason"].as_str().unwrap().contains("not a CloudEvents JSON envelope"), "{letter}");
    let metrics = app.anonymous.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"recaudo_dead_letters_total{consumer="portfolio-payments"}"#), "{metrics}");

    // Only admins see or replay them.
    let manager = infra.idp.token("mgr");
    app.put_user("mgr", json!({"role": "manager"})).await;
    assert_eq!(app.get_as(&manager, "/api/dead-letters").await.0, 403);
    let id = letter["id"].as_u64().unwrap();
    let by_manager =
        app.anonymous.post(format!("{}/api/dead-letters/{id}/replay", app.base)).bearer_auth(&manager).send().await;
    assert_eq!(by_manager.unwrap().status().as_u16(), 403);
    // Beyond any id (the documented range is a signed 64-bit one): a clear refusal, not an overflow.
    let overflow = app.get("/api/dead-letters?after=18446744073709551615").await;
    assert_eq!(overflow.0, 400);
    assert_eq!(overflow.1["error"]["code"], "invalid_query");

    let replay = app.http.post(format!("{}/api/dead-letters/{id}/replay", app.base)).send().await.unwrap();
    assert_eq!(replay.status().as_u16(), 202);
    // Still poison: it is dead-lettered again, under a new id; the old one is gone.
    eventually("the replayed message to be dead-lettered again", WAIT, || async {
        let list = app.get_ok("/api/dead-letters").await;
        let ids: Vec<u64> = list["dead_letters"]
            .as_array()?
            .iter()
            .filter(|l| l["consumer"] == "portfolio-payments")
            .filter_map(|l| l["id"].as_u64())
            .collect();
        (!ids.contains(&id) && !ids.is_empty()).then_some(())
    })
    .await;
    let again = app.http.post(format!("{}/api/dead-letters/{id}/replay", app.base)).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 404);
    let audit = app.get_ok("/api/audit?action=dead_letter.replay").await;
    assert_eq!(audit["records"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_import_says_why_and_that_nothing_was_applied() {
    let mut infra = Infra::start().await;
    infra.migrate().await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let prefix = Prefix::parse("recaudo").unwrap();
    let bus = Bus::connect(&infra.nats.url, prefix.clone()).await.unwrap();
    bus.apply_streams(1).await.unwrap();
    let outbox = recaudo_bus::outbox::Outbox::new(recaudo_ingestion::SCHEMA, "recaudo/ingestion", prefix);
    let importer =
        recaudo_ingestion::Importer::new(pool.clone(), bus, outbox, recaudo_runtime::Clock::system(), 1000, 0.5);
    let request = recaudo_ingestion::ImportRequest {
        file_name: None,
        mode: recaudo_events::ImportMode::Delta,
        as_of: Some("2026-11-20".parse().unwrap()),
        options: Default::default(),
        profile: None,
        max_error_rate: None,
    };
    let upload = recaudo_ingestion::Importer::upload_from_path(&fixture_path("clientes_asesores.csv")).await.unwrap();
    let recaudo_ingestion::Created::New(id) = importer.create(&request, &upload).await.unwrap() else {
        panic!("a new import")
    };
    // NATS goes away while the file is being sent.
    infra.nats.kill();
    tokio::time::timeout(Duration::from_secs(60), importer.run(id, &request, &upload, None)).await.unwrap().unwrap();
    let view = recaudo_ingestion::imports_view(&pool, id).await.unwrap();
    assert_eq!(view.state, "failed");
    assert_eq!(view.rows_applied, Some(0), "nothing was applied");
    let error = view.error.unwrap();
    assert!(error.contains("JetStream") && error.contains("Nothing was applied") && error.contains("again"), "{error}");
    assert!(!error.contains("see the server logs"));
    let _ = fixture("clientes_asesores.csv");
}

fn encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn random_bytes_in_any_path_or_query_parameter_never_give_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    // As in production: /metrics serves the process's recorder (without one it answers a documented 503).
    recaudo_runtime::telemetry::init("test", recaudo_runtime::telemetry::LogFormat::Json);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_infra, app) = rt.block_on(async {
        let infra = Infra::start().await;
        infra.migrate().await;
        let app = App::spawn(infra.env(&[]), &Target::ALL).await;
        let import = app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
        assert_eq!(import["state"], "completed");
        (infra, app)
    });
    let ops: Vec<(String, String, Vec<String>)> =
        common::openapi_operations().into_iter().map(|o| (o.path, o.method, o.query)).collect();
    assert!(ops.len() > 30 && ops.iter().any(|o| !o.2.is_empty()), "the document was read: {ops:?}");
    // Biased toward the bytes that break things: NUL, other controls, '%', '/', invalid UTF-8.
    let byte = prop_oneof![4 => any::<u8>(), 1 => Just(0u8), 1 => Just(b'%'), 1 => Just(b'/'), 1 => Just(0xffu8)];
    let bytes = move || prop::collection::vec(byte.clone(), 0..24);
    let strategy = (
        any::<prop::sample::Index>(),
        prop::collection::vec(bytes(), 3),
        prop::collection::vec((any::<prop::sample::Index>(), bytes()), 0..4),
    );
    let mut runner = TestRunner::new(Config { cases: 1000, failure_persistence: None, ..Config::default() });
    let result = runner.run(&strategy, |(op, params, query)| {
        let (path, method, names) = &ops[op.index(ops.len())];
        let mut filled = String::new();
        let mut params = params.iter();
        let mut in_param = false;
        for c in path.chars() {
            match c {
                '{' => in_param = true,
                '}' => {
                    in_param = false;
                    filled.push_str(&encode(params.next().map(Vec::as_slice).unwrap_or(b"x")));
                }
                _ if !in_param => filled.push(c),
                _ => {}
            }
        }
        let pairs: Vec<String> = if names.is_empty() {
            Vec::new()
        } else {
            query.iter().map(|(i, v)| format!("{}={}", names[i.index(names.len())], encode(v))).collect()
        };
        let url = format!("{}{filled}?{}", app.base, pairs.join("&"));
        let status = rt.block_on(async {
            app.http.request(method.parse().unwrap(), &url).body(Vec::new()).send().await.unwrap().status().as_u16()
        });
        prop_assert!(status < 500, "{method} {url} answered {status}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(app.stop());
}
