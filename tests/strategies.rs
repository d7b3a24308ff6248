//! Strategies end to end, on real HTTP, PostgreSQL and NATS: a manager writes and activates versions, a bad
//! document is refused whole with every problem's path and line, the segment picks the strategy, and every
//! decision names the version, stage, step and A/B variant that made it, the same for a debtor whatever happens.

mod common;

#[allow(unused_imports)]
use common::fixture;
use common::{App, Infra, WAIT};
use futures::StreamExt;
use recaudo::Target;
use recaudo_testkit::eventually;
use serde_json::{json, Value};

const CONSUMER_CREDIT: &str = include_str!("../examples/consumer-credit.yaml");

/// Colombian debtors, three days past due, with the file's extra column `segmento`: a consumer credit and a
/// micro-credit (which no active segment takes until the micro-credit strategy is activated).
fn portfolio() -> Vec<u8> {
    let header = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,\
                  moneda,saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,\
                  asesor_apellido,asesor_telefono,supervisor_nombre,supervisor_apellido,segmento";
    let mut rows = vec![header.to_string()];
    for i in 0..20 {
        rows.push(format!(
            "D{i:02},CC,9{i:07},Ana,Prueba,+57300{i:07},,CR-D{i:02},Consumo,COP,1000.00,100.00,50.00,2026-11-20,3,\
             CO,Bogotá,Mónica,Ruiz,+573001234567,Lucía,Flores,A"
        ));
    }
    rows.push(
        "M01,CC,80000001,Luis,Micro,+573009999999,,CR-M01,Microcrédito,COP,500.00,50.00,50.00,2026-11-20,3,CO,\
         Bogotá,Mónica,Ruiz,+573001234567,Lucía,Flores,micro"
            .to_string(),
    );
    (rows.join("\n") + "\n").into_bytes()
}

async fn put(app: &App, token: &str, name: &str, body: &str) -> (u16, Value) {
    let resp = app
        .http
        .put(format!("{}/api/strategies/{name}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn activate(app: &App, token: &str, name: &str, version: i32) -> (u16, Value) {
    let url = format!("{}/api/strategies/{name}/versions/{version}/activate", app.base);
    let resp = app.http.post(url).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_writes_and_activates_strategies_and_every_decision_names_its_variant() {
    let infra = Infra::start().await;
    infra.migrate().await;
    // Monday 10:00 in Bogotá.
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T15:00:00Z")]), &Target::ALL).await;
    let manager = infra.idp.token("mgr-1");
    let advisor = infra.idp.token("adv-1");
    app.put_user("mgr-1", json!({ "role": "manager" })).await;

    // A bad document is refused whole, with every problem's path and line; nothing is stored.
    let bad = CONSUMER_CREDIT
        .replace("template: sms_preventive_v1", "template: no_such_template")
        .replace("channel: email", "channel: fax");
    let (status, body) = put(&app, &manager, "consumer-credit", &bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_strategy");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    assert!(problems.iter().all(|p| p["line"].as_u64().is_some()), "{body}");
    // The channel the parser cannot take does not hide the missing template beside it: one answer has both.
    let reasons: Vec<&str> = problems.iter().map(|p| p["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("fax")), "{body}");
    assert!(reasons.iter().any(|r| r.contains("no template is called \"no_such_template\"")), "{body}");
    let bad = CONSUMER_CREDIT.replace("template: sms_preventive_v1", "template: no_such_template");
    let (status, body) = put(&app, &manager, "consumer-credit", &bad).await;
    assert_eq!(status, 422, "{body}");
    let problem = &body["error"]["details"]["problems"][0];
    assert_eq!(problem["path"], "stages[0].steps[0].template", "{body}");
    assert_eq!(problem["line"], 19, "{body}");
    // An integer at the edge of its type is a problem like any other, not a dropped connection.
    let extreme = CONSUMER_CREDIT.replacen("to: 0 }", "to: -2147483648 }", 1);
    assert_ne!(extreme, CONSUMER_CREDIT);
    let (status, body) = put(&app, &manager, "consumer-credit", &extreme).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("stages[0].days_past_due.to"), "{body}");
    assert_eq!(app.get("/api/strategies/consumer-credit").await.0, 404, "nothing of a refused document is kept");
    // Only managers (and admins) write strategies.
    assert_eq!(put(&app, &advisor, "consumer-credit", CONSUMER_CREDIT).await.0, 403);

    // Before any strategy is active, the built-in default decides: one SMS a day.
    let mut requested = infra_subscribe(&infra, "recaudo.contact.requested.*").await;
    app.import(portfolio(), "as_of=2026-11-23").await;
    let first = next_event(&mut requested, "D00").await;
    assert_eq!((first["strategy"].as_str(), first["step"].as_str()), (Some("default"), Some("daily-sms-reminder")));
    assert_eq!(first["strategy_version"], 0);

    // The manager puts the consumer-credit strategy (a draft) and activates it.
    let (status, created) = put(&app, &manager, "consumer-credit", CONSUMER_CREDIT).await;
    assert_eq!((status, created["version"].as_i64(), created["status"].as_str()), (201, Some(1), Some("draft")));
    let list = app.get_ok("/api/strategies").await;
    assert_eq!(list["builtin_default_in_force"], true, "{list}");
    assert_eq!(list["strategies"][0]["active_version"], Value::Null, "{list}");
    let (status, active) = activate(&app, &manager, "consumer-credit", 1).await;
    assert_eq!((status, active["status"].as_str()), (200, Some("active")), "{active}");
    assert_eq!(activate(&app, &manager, "consumer-credit", 1).await.0, 200, "activating again changes nothing");

    // The strategy's A/B step fires on days 3, 6, 9, ... past due (day 2 of a stage that starts at 1, then every
    // 3): Thursday, 6 days past due.
    app.stop().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-26T15:00:00Z")]), &Target::ALL).await;
    let mut events = std::collections::BTreeMap::new();
    while events.len() < 20 {
        let msg = tokio::time::timeout(WAIT, requested.next()).await.expect("contact.requested").unwrap();
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        if e["data"]["strategy"] == "consumer-credit" {
            events.insert(e["data"]["debtor"]["id"].as_str().unwrap().to_string(), e["data"].clone());
        }
    }
    let mut variants = std::collections::BTreeMap::new();
    for (debtor, e) in events {
        assert_eq!(e["strategy"], "consumer-credit", "{e}");
        assert_eq!((e["strategy_version"].as_i64(), e["stage"].as_str()), (Some(1), Some("administrative")), "{e}");
        assert_eq!(e["step"], "sms-wording-test", "{e}");
        let variant = e["variant"].as_str().unwrap().to_string();
        let template = e["template"].as_str().unwrap();
        assert_eq!(template, if variant == "friendly" { "sms_reminder_friendly_v1" } else { "sms_reminder_v1" });
        // The plan names the same.
        assert_eq!(e["channel"], "sms", "{e}");
        let plan = app.get_ok(&format!("/api/debtors/{debtor}/plan")).await;
        assert_eq!(plan["strategy"], json!({ "name": "consumer-credit", "version": 1 }), "{plan}");
        assert_eq!(plan["stage"]["name"], "administrative", "{plan}");
        assert_eq!(plan["segment"]["priority"], 10, "{plan}");
        assert_eq!(plan["next_contacts"][0]["variant"], variant.as_str(), "{plan}");
        variants.insert(debtor, variant);
    }
    let friendly = variants.values().filter(|v| *v == "friendly").count();
    assert!((3..=17).contains(&friendly), "a 50/50 split of 20 debtors gave {friendly} friendly");
    // The micro-credit matches no active segment: the default strategy still takes it.
    let plan = app.get_ok("/api/debtors/M01/plan").await;
    assert_eq!(plan["strategy"]["name"], "default", "{plan}");

    // A new version replaces the active one; a debtor keeps their variant; a retired version cannot come back.
    let v2 = CONSUMER_CREDIT.replace("stop_when: \"step.sent >= 6\"", "stop_when: \"step.sent >= 8\"");
    let (status, created) = put(&app, &manager, "consumer-credit", &v2).await;
    assert_eq!((status, created["version"].as_i64()), (201, Some(2)));
    assert_eq!(activate(&app, &manager, "consumer-credit", 2).await.0, 200);
    let (status, body) = activate(&app, &manager, "consumer-credit", 1).await;
    assert_eq!(status, 409, "{body}");
    let versions = app.get_ok("/api/strategies/consumer-credit").await;
    assert_eq!(versions["versions"][0]["status"], "active");
    assert_eq!(versions["versions"][1]["status"], "retired");
    assert!(versions["versions"][1]["source"].as_str().unwrap().contains("# Consumer credit"), "the text as written");
    eventually("the plans on version 2", WAIT, || async {
        let plan = app.get_ok("/api/debtors/D05/plan").await;
        (plan["strategy"]["version"] == 2).then_some(())
    })
    .await;
    for (debtor, variant) in &variants {
        let plan = app.get_ok(&format!("/api/debtors/{debtor}/plan")).await;
        assert_eq!(plan["next_contacts"][0]["variant"], variant.as_str(), "{debtor} changed variant: {plan}");
    }
    // Two strategies cannot share a priority.
    let same_priority = include_str!("../examples/microcredit.yaml").replace("priority: 20", "priority: 10");
    assert_eq!(put(&app, &manager, "microcredit", &same_priority).await.0, 201);
    let (status, body) = activate(&app, &manager, "microcredit", 1).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("priority 10"), "{body}");
    app.stop().await;
}

async fn infra_subscribe(infra: &Infra, subject: &str) -> async_nats::Subscriber {
    let client = async_nats::connect(&infra.nats.url).await.unwrap();
    client.subscribe(subject.to_string()).await.unwrap()
}

/// The next `contact.requested` event for `debtor` (others are skipped).
async fn next_event(sub: &mut async_nats::Subscriber, debtor: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, sub.next()).await.expect("contact.requested").unwrap();
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        if e["data"]["debtor"]["id"] == debtor {
            return e["data"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strategies_command_puts_checks_and_activates_like_the_api() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_recaudo"))
            .args(["strategies"])
            .args(args)
            .env("DATABASE_URL", &infra.db.url)
            .env("NATS_URL", &infra.nats.url)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(&["put", "microcredit", "examples/microcredit.yaml"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("\"version\": 1") && out.contains("\"draft\""), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, include_str!("../examples/microcredit.yaml").replace("every: 2", "every: 0")).unwrap();
    let (code, _, err) = run(&["put", "microcredit", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("stages[2].steps[0].every (line 25): must be at least 1"), "{err}");
    let (code, out, err) = run(&["activate", "microcredit", "1"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("\"active\""), "{out}");
    let (_, out, _) = run(&["list"]);
    assert!(out.contains("\"active_version\": 1") && out.contains("\"builtin_default_in_force\": true"), "{out}");
    // The activation is audited, by the operator.
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT actor FROM access.audit_log WHERE action LIKE 'strategy.%' ORDER BY at")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    assert_eq!(actors.len(), 2, "{actors:?}");
    assert!(actors.iter().all(|a| a.starts_with("cli:")), "{actors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_strategys_call_task_lands_in_the_assigned_advisors_queue() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T16:00:00Z")]), &Target::ALL).await;
    let mut calls = infra_subscribe(&infra, "recaudo.contact.requested.call").await;
    app.import(common::fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    // C0000006 (30 days past due) and C0000009 (61) are Mónica's; C0000005 (7 days) is Valentina's.
    let monica = app.get_ok("/api/debtors/C0000006").await["advisor"]["id"].as_str().unwrap().to_string();
    let task = next_event(&mut calls, "C0000006").await;
    assert_eq!((task["strategy"].as_str(), task["step"].as_str()), (Some("default"), Some("call_task")), "{task}");
    assert_eq!(task["template"], "call_task_v1");
    let queue = eventually("the call tasks in Mónica's queue", WAIT, || async {
        let q = app.get_ok(&format!("/api/advisors/{monica}/queue")).await;
        let tasks: Vec<String> = q["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "call_task")
            .map(|i| i["debtor_id"].as_str().unwrap().to_string())
            .collect();
        (tasks.len() == 2).then_some(tasks)
    })
    .await;
    // The queue is ordered by priority, deadline and overdue amount; which debtors got a task is what counts here.
    let mut queue = queue;
    queue.sort();
    assert_eq!(queue, ["C0000006", "C0000009"]);
    let valentina = app.get_ok("/api/debtors/C0000005").await["advisor"]["id"].as_str().unwrap().to_string();
    let q = app.get_ok(&format!("/api/advisors/{valentina}/queue")).await;
    assert!(!q["items"].as_array().unwrap().iter().any(|i| i["debtor_id"] == "C0000005"), "7 days: no call yet {q}");
    // A task is not a contact: Colombia's one-a-day still lets the SMS go out.
    eventually("C0000006's SMS", WAIT, || async {
        let c = app.get_ok("/api/debtors/C0000006/contacts").await;
        (c["contacts"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    app.stop().await;
}

/// Monday 11:00 in New York, with `strategy` active for US debtors (as `name`), run by a manager.
async fn new_york_monday_with(infra: &Infra, name: &str, strategy: &str) -> App {
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T16:00:00Z")]), &Target::ALL).await;
    let manager = infra.idp.token("mgr-1");
    app.put_user("mgr-1", json!({ "role": "manager" })).await;
    assert_eq!(put(&app, &manager, name, strategy).await.0, 201);
    assert_eq!(activate(&app, &manager, name, 1).await.0, 200);
    app
}

/// A client file of one US debtor in New York, 22 days past due.
fn new_york_debtor(id: &str, phone: &str, email: &str) -> Vec<u8> {
    format!(
        "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,moneda,\
         saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad\n\
         {id},SSN,123456789,John,Doe,{phone},{email},CR-{id},Card,USD,500.00,100.00,50.00,2026-11-01,22,US,New York\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_contact_falls_back_to_the_steps_next_channel_at_once() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let strategy = r#"
segment: { priority: 5, when: 'debtor.country == "US"' }
stages:
  - name: overdue
    days_past_due: { from: 1 }
    steps:
      - id: daily-sms
        every: 1
        channel: sms
        template: sms_reminder_v1
        fallbacks:
          - { channel: email, template: email_reminder_v1 }
"#;
    let app = new_york_monday_with(&infra, "us-sms-then-email", strategy).await;
    let mut email = infra_subscribe(&infra, "recaudo.contact.requested.email").await;
    // Twilio's test number +15005550002 is "not currently reachable via SMS" (error 21612): refused at once.
    app.import(new_york_debtor("U1", "+15005550002", "john.doe@example.com"), "as_of=2026-11-23").await;
    let e = next_event(&mut email, "U1").await;
    assert_eq!((e["step"].as_str(), e["strategy"].as_str()), (Some("daily-sms#fallback-1"), Some("us-sms-then-email")));
    assert_eq!((e["to"].as_str(), e["template"].as_str()), (Some("john.doe@example.com"), Some("email_reminder_v1")));
    let attempts = app.get_ok("/api/debtors/U1/contacts").await;
    assert_eq!(attempts["contacts"][0]["status"], "failed", "{attempts}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_runs_the_planner_over_the_portfolio_and_keeps_nothing() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T15:00:00Z")]), &Target::ALL).await;
    let manager = infra.idp.token("mgr-1");
    app.put_user("mgr-1", json!({ "role": "manager" })).await;
    app.import(portfolio(), "as_of=2026-11-23").await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let ledger = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM scheduler.contact_ledger").fetch_one(&pool).await.unwrap()
    };
    eventually("Monday's default SMS", WAIT, || async { (ledger().await == 21).then_some(()) }).await;
    assert_eq!(put(&app, &manager, "consumer-credit", CONSUMER_CREDIT).await.0, 201);

    let url = format!("{}/api/strategies/consumer-credit/versions/1/simulate?days=10", app.base);
    let resp = app.http.post(&url).bearer_auth(&manager).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let report: Value = resp.json().await.unwrap();
    let days = report["per_day"].as_array().unwrap();
    assert!((10..=11).contains(&days.len()), "{report}");
    // Thursday (6 days past due) the A/B step reaches every consumer debtor: 20 SMS split between the variants.
    let thursday = days.iter().find(|d| d["date"] == "2026-11-26").expect("Thursday");
    let ab: u64 = ["formal", "friendly"]
        .iter()
        .map(|v| thursday["by_variant"][format!("consumer-credit/sms-wording-test/{v}")].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(ab, 20, "{thursday}");
    // Monday's step waits on Colombia's one contact a day (the default SMS went out); Sunday's on the hours.
    assert!(report["suppressions_by_rule"]["co.one_contact_a_day"].as_u64().unwrap_or(0) >= 20, "{report}");
    assert!(report["suppressions_by_rule"]["co.hours"].as_u64().unwrap_or(0) >= 20, "{report}");
    // The micro-credit stays with the default strategy: a daily SMS except Sunday.
    assert!(report["contacts_by"]["sms/overdue/default"].as_u64().unwrap_or(0) >= 7, "{report}");

    // Nothing of it was kept: the ledger, the draft, the live plans.
    assert_eq!(ledger().await, 21);
    let versions = app.get_ok("/api/strategies/consumer-credit").await;
    assert_eq!(versions["versions"][0]["status"], "draft");
    let plan = app.get_ok("/api/debtors/D03/plan").await;
    assert_eq!(plan["strategy"]["name"], "default", "{plan}");
    let (status, _) = {
        let resp = app.http.post(url.replace("days=10", "days=0")).bearer_auth(&manager).send().await.unwrap();
        (resp.status().as_u16(), ())
    };
    assert_eq!(status, 400);

    // The command prints the same run as a table.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recaudo"))
        .args(["strategies", "simulate", "consumer-credit", "--days", "5"])
        .env("DATABASE_URL", &infra.db.url)
        .env("RECAUDO_NOW", "2026-11-23T15:00:00Z")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("consumer-credit@1 over 5 day(s)") && text.contains("suppressions by rule:"), "{text}");
    assert_eq!(ledger().await, 21);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_waits_for_its_hour_does_not_hold_back_the_next_one() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let strategy = r#"
segment: { priority: 5, when: 'debtor.country == "US"' }
stages:
  - name: overdue
    days_past_due: { from: 1 }
    steps:
      - { id: evening-sms, every: 1, at: "20:00", channel: sms, template: sms_reminder_v1 }
      - { id: daily-email, every: 1, channel: email, template: email_reminder_v1 }
"#;
    let app = new_york_monday_with(&infra, "us-two-steps", strategy).await;
    let mut email = infra_subscribe(&infra, "recaudo.contact.requested.email").await;
    app.import(new_york_debtor("U2", "+12025550123", "jane.roe@example.com"), "as_of=2026-11-23").await;
    let e = next_event(&mut email, "U2").await;
    assert_eq!(e["step"], "daily-email", "{e}");
    // The evening SMS waits for 20:00 in New York (01:00 UTC).
    eventually("the plan to wait for 20:00", WAIT, || async {
        let plan = app.get_ok("/api/debtors/U2/plan").await;
        (plan["next_contacts"][0]["planned_at"] == "2026-11-24T01:00:00Z").then_some(())
    })
    .await;
    let contacts = app.get_ok("/api/debtors/U2/contacts").await;
    let sms = contacts["contacts"].as_array().unwrap().iter().filter(|a| a["channel"] == "sms").count();
    assert_eq!(sms, 0, "the evening SMS is not sent before its hour: {contacts}");
    app.stop().await;
}
