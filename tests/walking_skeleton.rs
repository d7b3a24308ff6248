//! The walking skeleton end to end, on real NATS JetStream and PostgreSQL: the client file → portfolio → the
//! scheduler's SMS reminder → the dispatcher through the Twilio simulator → the debtor's click → the advisor's
//! queue → the KPIs; and a second import of the same file sends nothing twice.

mod common;

use std::time::Duration;

use common::{fixture, fixture_path, App, Infra, WAIT};
use recaudo::Target;
use recaudo_testkit::eventually;
use serde_json::Value;

/// 10:00 in Bogotá and Lima, 09:00 in Mexico City, 12:00 in Santiago: every debtor's window is open.
const MONDAY_MORNING: &str = "2026-11-23T15:00:00Z";

/// Debtors of the fixture with a credit at least one day past due and a phone number.
const CONTACTED: [&str; 7] = ["C0000002", "C0000003", "C0000005", "C0000006", "C0000008", "C0000009", "C0000010"];
/// Up to date (C0000001, C0000004) or without a phone (C0000007).
const NOT_CONTACTED: [&str; 3] = ["C0000001", "C0000004", "C0000007"];

async fn contacts(app: &App, debtor: &str) -> Vec<Value> {
    app.get_ok(&format!("/api/debtors/{debtor}/contacts")).await["contacts"].as_array().cloned().unwrap_or_default()
}

async fn kpis_settled(app: &App, check: impl Fn(&Value) -> bool) -> Value {
    eventually("the KPIs", WAIT, || async {
        let k = app.get_ok("/api/kpis").await;
        check(&k).then_some(k)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debtor_goes_from_the_client_file_to_the_advisors_queue() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let env = infra.env(&[("RECAUDO_NOW", MONDAY_MORNING)]);
    let app = App::spawn(env.clone(), &Target::ALL).await;

    // 1. ingestion: the file is accepted and every row is valid.
    let import = app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20&file_name=clientes_asesores.csv").await;
    assert_eq!(import["state"], "completed", "{import}");
    assert_eq!(
        (import["rows_total"].as_i64(), import["rows_valid"].as_i64(), import["rows_rejected"].as_i64()),
        (Some(12), Some(12), Some(0))
    );
    assert_eq!(import["errors"], serde_json::json!([]));

    // 2. portfolio: the debtor with credits, advisor and supervisor.
    let debtor = app.get_ok("/api/debtors/C0000003").await;
    assert_eq!(debtor["first_name"], "Tomás");
    assert_eq!(debtor["phone"], "+56973529474");
    let credits = debtor["credits"].as_array().unwrap();
    assert_eq!(credits.len(), 2);
    assert_eq!(credits[0]["id"], "CR-0000003-1");
    assert_eq!(credits[0]["balance_overdue"], "4091724.00");
    assert_eq!(debtor["advisor"]["first_name"], "Álvaro");
    assert_eq!(debtor["advisor"]["phone"], "+51985878400");
    assert_eq!(debtor["supervisor"]["last_name"], "Martínez");
    assert_eq!(app.get("/api/debtors/C9999999").await.0, 404);
    let advisor_id = debtor["advisor"]["id"].as_str().unwrap().to_string();
    let advisors = app.get_ok("/api/advisors").await;
    assert_eq!(advisors["advisors"].as_array().unwrap().len(), 3);

    // 3–4. scheduler and dispatcher: one SMS to each debtor with an overdue credit and a phone, nobody else.
    for debtor in CONTACTED {
        let list = eventually("the debtor's SMS", WAIT, || async {
            let c = contacts(&app, debtor).await;
            c.iter().any(|a| a["status"] == "delivered").then_some(c)
        })
        .await;
        assert_eq!(list.len(), 1, "{debtor}: {list:?}");
        assert_eq!(list[0]["channel"], "sms");
    }
    for debtor in NOT_CONTACTED {
        assert!(contacts(&app, debtor).await.is_empty(), "{debtor} must not be contacted");
    }
    let attempt = &contacts(&app, "C0000003").await[0];
    let body = attempt["body"].as_str().unwrap();
    let (text, token) = body.split_once(&format!("{}/r/", app.base)).expect("reply link in the body");
    assert_eq!(
        text,
        "Hola Tomás, su Tarjeta CR-0000003-1 tiene $ 4.091.724 vencido (365 días). Su asesor Álvaro Díaz (+51985878400) le ayuda: "
    );
    assert_eq!(token.len(), 22);
    assert_eq!(attempt["to"], "+56973529474");

    // The provider really received them: ask the simulator through Twilio's own list API.
    let sim = recaudo_simulators::twilio::SimConfig::demo();
    let listed: Value = app
        .http
        .get(format!("{}/sim/twilio/2010-04-01/Accounts/{}/Messages.json?PageSize=50", app.base, sim.account_sid))
        .basic_auth(&sim.account_sid, Some(&sim.auth_token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["messages"].as_array().unwrap().len(), 7);

    // 5. reply-router: a messaging app fetching the link for its preview changes nothing...
    let queue_before_preview = app.get_ok(&format!("/api/advisors/{advisor_id}/queue")).await;
    let preview = app
        .http
        .get(format!("{}/r/{token}", app.base))
        .header("user-agent", "WhatsApp/2.23.20.0 A")
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status().as_u16(), 200);
    // (The queue may already hold the debtor: the default strategy's call task from 30 days past due.)
    let items_of = |queue: &serde_json::Value, debtor: &str| -> Vec<serde_json::Value> {
        queue["items"].as_array().unwrap().iter().filter(|i| i["debtor_id"] == debtor).cloned().collect()
    };
    let after_preview = app.get_ok(&format!("/api/advisors/{advisor_id}/queue")).await;
    assert_eq!(after_preview, queue_before_preview, "a preview changes nothing");
    // ... the debtor's click lands in the advisor's queue and redirects to the advisor's WhatsApp.
    let resp = app.http.get(format!("{}/r/{token}", app.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(
        resp.headers()["location"],
        "https://wa.me/51985878400?text=Hola%20%C3%81lvaro%2C%20soy%20Tom%C3%A1s%20Ib%C3%A1%C3%B1ez%20Rojas%20%28cliente%20C0000003%29%2E%20Quiero%20hablar%20sobre%20mi%20cr%C3%A9dito%20CR%2D0000003%2D1%2E"
    );
    let queue = app.get_ok(&format!("/api/advisors/{advisor_id}/queue")).await;
    let items = items_of(&queue, "C0000003");
    assert_eq!(items.len(), 1, "one open item per debtor: {queue}");
    assert_eq!(items[0]["credit_id"], "CR-0000003-1");
    // Opened by the click, or by the call task it joined.
    assert!(["click", "call_task"].contains(&items[0]["kind"].as_str().unwrap()), "{queue}");
    // A second click joins the open item instead of opening another.
    assert_eq!(app.http.get(format!("{}/r/{token}", app.base)).send().await.unwrap().status().as_u16(), 302);
    let queue = app.get_ok(&format!("/api/advisors/{advisor_id}/queue")).await;
    assert_eq!(items_of(&queue, "C0000003").len(), 1, "{queue}");
    assert_eq!(app.http.get(format!("{}/r/not-a-token", app.base)).send().await.unwrap().status().as_u16(), 404);

    // 6. metrics, from the events alone.
    let k = kpis_settled(&app, |k| {
        // Each of the default strategy's call tasks (30 days past due and more) opens its debtor's item; the
        // click joins C0000003's.
        let calls = k["contacts_requested"]["call"].as_u64().unwrap_or(0);
        k["clicks"] == 2 && k["contacts_attempted"]["sms"] == 7 && calls > 0 && k["queue_items_opened"] == calls
    })
    .await;
    assert_eq!(k["debtors_imported"], 10);
    assert_eq!(k["credits_imported"], 12);
    assert_eq!(k["contacts_requested"]["sms"], 7);
    assert_eq!(k["contacts_suppressed"]["no_channel_address"], 1);
    assert_eq!(k["replies_routed"], 2);

    // The same file again: as a delta it is recognised by its content and nothing is done.
    let resp = app
        .http
        .post(format!("{}/api/imports?as_of=2026-11-20", app.base))
        .body(fixture("clientes_asesores.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let dup: Value = resp.json().await.unwrap();
    assert_eq!((dup["duplicate"].as_bool(), dup["id"].as_str()), (Some(true), import["id"].as_str()));
    // As a full snapshot, through the CLI, it is applied again, and still nothing is sent twice.
    let mut args = recaudo::import::ImportArgs::for_file(fixture_path("clientes_asesores.csv"), "2026-11-20");
    args.mode = "full".into();
    let code = recaudo::import::run(&env, args).await.expect("recaudo import");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    kpis_settled(&app, |k| k["imports_completed"] == 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let k = app.get_ok("/api/kpis").await;
    assert_eq!(k["contacts_requested"]["sms"], 7, "{k}");
    assert_eq!(k["contacts_attempted"]["sms"], 7);
    assert_eq!(k["debtors_imported"], 10);
    for debtor in CONTACTED {
        assert_eq!(contacts(&app, debtor).await.len(), 1, "{debtor} contacted twice");
    }

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_and_the_good_ones_imported() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", MONDAY_MORNING)]), &Target::ALL).await;
    let import = app.import(fixture("clientes_con_errores.csv"), "as_of=2026-11-20").await;
    assert_eq!(import["state"], "completed", "{import}");
    let expected: Vec<(i64, String)> = String::from_utf8(fixture("clientes_con_errores.expected.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("bad line "))
        .map(|l| {
            let (line, column) = l.split_once(": ").unwrap();
            (line.parse().unwrap(), column.to_string())
        })
        .collect();
    let got: Vec<(i64, String)> = import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected);
    assert!(import["errors"].as_array().unwrap().iter().all(|e| !e["reason"].as_str().unwrap().is_empty()));
    assert_eq!(import["rows_rejected"].as_i64().unwrap() as usize, expected.len());
    // The multi-line quoted row is among the valid ones and reached portfolio.
    let debtor = app.get_ok("/api/debtors/C0000099").await;
    assert_eq!(debtor["city"], "Santiago, \"centro\"\nsegunda línea");
    // Bad requests get a 4xx with a JSON body.
    let resp = app.http.post(format!("{}/api/imports?mode=sometimes", app.base)).body("x").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_parameter");
    let header_only = app
        .import(b"id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\n".to_vec(), "")
        .await;
    assert_eq!(header_only["state"], "failed");
    assert_eq!(header_only["error"], "the file has a header but no data rows");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_is_contacted_outside_their_local_window() {
    let infra = Infra::start().await;
    infra.migrate().await;
    // 06:30 in Bogotá and Lima, 05:30 in Mexico City (Colombia opens at 07:00, Mexico at 07:00, the default at
    // 08:00), but 08:30 in Santiago, open from 08:00.
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T11:30:00Z")]), &Target::ALL).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    for debtor in ["C0000003", "C0000010"] {
        eventually("the Chilean debtors' SMS", WAIT, || async {
            (!contacts(&app, debtor).await.is_empty()).then_some(())
        })
        .await;
    }
    // Each decided, with nothing requested: the planner's record, not a pause that hopes it ran.
    for debtor in ["C0000002", "C0000005", "C0000006", "C0000008", "C0000009"] {
        let requested = common::requested_once_planned(&infra, debtor, "2026-11-23T11:30:00Z").await;
        assert_eq!(requested, 0, "{debtor} requested before the law of its country allows");
        assert!(contacts(&app, debtor).await.is_empty(), "{debtor} contacted before the law of its country allows");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_IMPORT_MAX_BYTES", "1000")]), &Target::ALL).await;
    let resp =
        app.http.post(format!("{}/api/imports", app.base)).body(fixture("clientes_asesores.csv")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(app.get_ok("/api/imports").await["imports"], serde_json::json!([]));
    let binary = app.import(b"PK\x03\x04\x14\x00\x00\x00\x08\x00garbage".to_vec(), "").await;
    assert_eq!(binary["state"], "failed");
    assert!(binary["error"].as_str().unwrap().contains("binary"), "{binary}");
    app.stop().await;
}

/// Twilio's status callbacks can overtake its answer to the request that sent the message; the dispatcher keeps
/// them until the attempt records the message id, so the attempt still ends `delivered`. Here the app talks to a
/// separate simulator, as it would to Twilio (`RECAUDO_SMS_PROVIDER=twilio`), that calls back before it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_callbacks_that_overtake_the_api_response_are_kept() {
    use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};

    let sim_config = SimConfig { status_delay: Duration::ZERO, callbacks_before_response: true, ..SimConfig::demo() };
    let sim = TwilioSimulator::new(sim_config.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}/twilio", listener.local_addr().unwrap());
    let router = axum::Router::new().nest("/twilio", sim.router());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let infra = Infra::start().await;
    infra.migrate().await;
    let env = infra.env(&[
        ("RECAUDO_NOW", MONDAY_MORNING),
        ("RECAUDO_SMS_PROVIDER", "twilio"),
        ("RECAUDO_TWILIO_BASE_URL", &sim_url),
        ("RECAUDO_TWILIO_ACCOUNT_SID", &sim_config.account_sid),
        ("RECAUDO_TWILIO_AUTH_TOKEN", &sim_config.auth_token),
        ("RECAUDO_TWILIO_FROM", SimConfig::DEMO_FROM),
    ]);
    let app = App::spawn(env, &Target::ALL).await;
    let file = "id_cliente,nombre,telefono,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\n\
                R1,Rosa,3001112233,RC-1,COP,1000,100,2026-11-10,CO\n";
    assert_eq!(app.import(file.as_bytes().to_vec(), "as_of=2026-11-20").await["state"], "completed");
    let attempt = eventually("the attempt to be delivered", WAIT, || async {
        let c = contacts(&app, "R1").await;
        c.into_iter().find(|a| a["status"] == "delivered")
    })
    .await;
    assert!(attempt["provider_message_id"].as_str().unwrap().starts_with("SM"), "{attempt}");
    app.stop().await;
}
