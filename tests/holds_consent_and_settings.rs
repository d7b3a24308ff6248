//! What stops a contact besides the clock, on real PostgreSQL and NATS: holds set by case outcomes, withdrawn
//! consent, the debtor's city (its time zone), and the lender's settings, which may only tighten the law.

mod common;

use common::{fixture, App, Infra, WAIT};
use futures::StreamExt;
use recaudo::Target;
use recaudo_bus::RawMessage;
use recaudo_bus::{Bus, Prefix};
use recaudo_domain::DebtorId;
use recaudo_events::{CaseOutcomeRecorded, ConsentVia, ConsentWithdrawn, Event, Outcome};
use recaudo_testkit::eventually;
use serde_json::Value;
use uuid::Uuid;

async fn contacts(app: &App, debtor: &str) -> usize {
    app.get_ok(&format!("/api/debtors/{debtor}/contacts")).await["contacts"].as_array().map(Vec::len).unwrap_or(0)
}

async fn publish<E: Event>(bus: &Bus, event: E) {
    let msg = RawMessage::event(bus.prefix(), "test/advisor-workspace", chrono::Utc::now(), event).unwrap();
    bus.publish(&msg).await.unwrap();
}

fn outcome(debtor: &str, at: &str, outcome: Outcome) -> CaseOutcomeRecorded {
    CaseOutcomeRecorded {
        outcome_id: Uuid::now_v7(),
        debtor_id: DebtorId::parse(debtor).unwrap(),
        credit_id: None,
        advisor_id: None,
        recorded_by: "advisor-1".into(),
        recorded_at: at.parse().unwrap(),
        outcome,
    }
}

fn rules(plan: &Value, channel: &str) -> Vec<String> {
    plan["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["channel"] == channel)
        .map(|s| s["rule"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_and_opt_outs_stop_contacts_until_they_end_and_the_plan_says_why() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    // Colombia (C0000006 Medellín, C0000009 Cali) and Mexico (C0000005, C0000008): one SMS each on Monday.
    let (call_back, deceased, opted_out, control) = ("C0000006", "C0000009", "C0000005", "C0000008");
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T16:00:00Z")]), &Target::ALL).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    for debtor in [call_back, deceased, opted_out, control] {
        eventually("Monday's SMS", WAIT, || async { (contacts(&app, debtor).await == 1).then_some(()) }).await;
    }
    // The advisor records outcomes; the debtor texts STOP. Call back on Wednesday at 15:00 in Bogotá.
    let monday = "2026-11-23T16:30:00Z";
    publish(&bus, outcome(call_back, monday, Outcome::CallBack { at: "2026-11-25T20:00:00Z".parse().unwrap() })).await;
    publish(&bus, outcome(deceased, monday, Outcome::Deceased)).await;
    publish(
        &bus,
        ConsentWithdrawn {
            consent_event_id: Uuid::now_v7(),
            debtor_id: DebtorId::parse(opted_out).unwrap(),
            channel: recaudo_events::Channel::Sms,
            via: ConsentVia::Keyword,
            attempt_id: None,
            withdrawn_at: monday.parse().unwrap(),
        },
    )
    .await;
    eventually("the holds and the opt-out in the plans", WAIT, || async {
        let a = rules(&app.get_ok(&format!("/api/debtors/{call_back}/plan")).await, "sms");
        let b = rules(&app.get_ok(&format!("/api/debtors/{deceased}/plan")).await, "sms");
        let c = rules(&app.get_ok(&format!("/api/debtors/{opted_out}/plan")).await, "sms");
        (a.contains(&"hold.call_back".to_string())
            && b.contains(&"hold.deceased".to_string())
            && c.contains(&"consent.withdrawn".to_string()))
        .then_some(())
    })
    .await;
    let plan = app.get_ok(&format!("/api/debtors/{call_back}/plan")).await;
    assert_eq!(plan["holds"][0]["rule"], "hold.call_back", "{plan}");
    assert_eq!(plan["next_contacts"][0]["earliest_allowed"], "2026-11-25T20:00:00Z", "{plan}");
    assert_eq!(plan["holds"][0]["until"], "2026-11-25T20:00:00Z", "{plan}");
    let plan = app.get_ok(&format!("/api/debtors/{opted_out}/plan")).await;
    assert_eq!(plan["consent_withdrawn"], serde_json::json!(["sms"]), "{plan}");
    // An advisor's call is still allowed for the debtor who only stopped SMS.
    assert!(!rules(&plan, "call").contains(&"consent.withdrawn".to_string()), "{plan}");
    app.stop().await;

    // Tuesday: only the control debtor is contacted; the others' planned contacts are stopped by events naming
    // their rules.
    let mut suppressed = bus.client().subscribe("recaudo.contact.suppressed").await.unwrap();
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-24T16:00:00Z")]), &Target::ALL).await;
    eventually("Tuesday's SMS to the control debtor", WAIT, || async {
        (contacts(&app, control).await == 2).then_some(())
    })
    .await;
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 3 {
        let msg = tokio::time::timeout(WAIT, suppressed.next()).await.expect("contact.suppressed").unwrap();
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        let debtor = e["data"]["debtor_id"].as_str().unwrap().to_string();
        if [call_back, deceased, opted_out].contains(&debtor.as_str()) {
            seen.insert(debtor, e["data"]["rule"].clone());
        }
    }
    assert_eq!(seen[call_back], "hold.call_back");
    assert_eq!(seen[deceased], "hold.deceased");
    assert_eq!(seen[opted_out], "consent.withdrawn");
    for debtor in [call_back, deceased, opted_out] {
        assert_eq!(contacts(&app, debtor).await, 1, "{debtor} is held");
    }
    app.stop().await;

    // Wednesday 16:00 in Bogotá, after the call-back time: contacted again. The others stay held.
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-25T21:00:00Z")]), &Target::ALL).await;
    eventually("the SMS after the call-back time", WAIT, || async {
        (contacts(&app, call_back).await == 2 && contacts(&app, control).await == 3).then_some(())
    })
    .await;
    // Decided and still held: the planner's own record that it requested nothing more for them.
    let requested = (
        common::requested_once_planned(&infra, deceased, "2026-11-25T21:00:00Z").await,
        common::requested_once_planned(&infra, opted_out, "2026-11-25T21:00:00Z").await,
    );
    assert_eq!(requested, (1, 1));
    assert_eq!((contacts(&app, deceased).await, contacts(&app, opted_out).await), (1, 1));
    let violations = "/api/compliance/violations?from=2026-11-23T00:00:00Z&to=2026-11-26T00:00:00Z";
    assert_eq!(app.get_ok(violations).await["violations"], serde_json::json!([]));
    app.stop().await;
}

/// Two Mexican debtors, one in Tijuana (UTC-8 in November), one in Mexico City (UTC-6).
fn two_mexican_cities() -> Vec<u8> {
    let header = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,\
                  moneda,saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,\
                  asesor_apellido,asesor_telefono,supervisor_nombre,supervisor_apellido";
    let row = |id: &str, phone: &str, city: &str| {
        format!(
            "{id},CURP,1{phone},Ana,Prueba,+52{phone},,CR-{id},Consumo,MXN,1000.00,500.00,100.00,2026-10-01,53,MX,\
             {city},Valentina,Pérez,+525544939092,José,Martínez"
        )
    };
    format!("{header}\n{}\n{}\n", row("TJ1", "6641234567", "Tijuana"), row("CDMX1", "5512345678", "Ciudad de México"))
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debtors_city_picks_the_zone_for_the_planner_and_the_dispatcher() {
    let infra = Infra::start().await;
    infra.migrate().await;
    // Monday 04:30 UTC: Sunday 20:30 in Tijuana (allowed, 07:00–22:00), 22:30 in Mexico City (not).
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T04:30:00Z")]), &Target::ALL).await;
    app.import(two_mexican_cities(), "as_of=2026-11-22").await;
    eventually("the SMS in Tijuana", WAIT, || async { (contacts(&app, "TJ1").await == 1).then_some(()) }).await;
    let requested = common::requested_once_planned(&infra, "CDMX1", "2026-11-23T04:30:00Z").await;
    assert_eq!(requested, 0, "22:30 in Mexico City is after CONDUSEF's hours");
    assert_eq!(contacts(&app, "CDMX1").await, 0);
    let plan = app.get_ok("/api/debtors/TJ1/plan").await;
    assert_eq!(plan["time_zone"], "America/Tijuana", "{plan}");
    let plan = app.get_ok("/api/debtors/CDMX1/plan").await;
    assert_eq!(plan["time_zone"], "America/Mexico_City", "{plan}");
    assert_eq!(rules(&plan, "sms"), ["mx.hours"], "{plan}");
    // 07:00 in Mexico City.
    assert_eq!(plan["next_contacts"][0]["earliest_allowed"], "2026-11-23T13:00:00Z", "{plan}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lender_tightens_the_law_and_a_looser_setting_stops_the_process() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let dir = tempfile::tempdir().unwrap();
    // The lender contacts Mexico only 09:00–20:00 and never on Sundays.
    let tight = dir.path().join("tight.yaml");
    std::fs::write(
        &tight,
        "countries:\n  MX:\n    hours: { mon: \"09:00-20:00\", tue: \"09:00-20:00\", wed: \"09:00-20:00\", \
         thu: \"09:00-20:00\", fri: \"09:00-20:00\", sat: \"09:00-20:00\", sun: closed }\n",
    )
    .unwrap();
    let path = tight.to_str().unwrap();
    // Sunday 20:30 in Tijuana: the law allows it, the lender does not.
    let app = App::spawn(
        infra.env(&[("RECAUDO_NOW", "2026-11-23T04:30:00Z"), ("RECAUDO_CONTACT_POLICY_FILE", path)]),
        &Target::ALL,
    )
    .await;
    app.import(two_mexican_cities(), "as_of=2026-11-22").await;
    eventually("the lender's rule in the plan", WAIT, || async {
        let (status, plan) = app.get("/api/debtors/TJ1/plan").await;
        (status == 200 && rules(&plan, "sms") == ["lender.hours"]).then_some(plan)
    })
    .await;
    let plan = app.get_ok("/api/debtors/TJ1/plan").await;
    assert_eq!(plan["preset"]["lender_settings"], true, "{plan}");
    // Monday 09:00 in Tijuana.
    assert_eq!(plan["next_contacts"][0]["earliest_allowed"], "2026-11-23T17:00:00Z", "{plan}");
    assert_eq!(contacts(&app, "TJ1").await, 0);
    app.stop().await;

    // A setting looser than the law: the process does not start, and says which rule and which setting.
    let loose = dir.path().join("loose.yaml");
    std::fs::write(&loose, "countries:\n  CO:\n    hours: { sun: \"10:00-12:00\" }\n").unwrap();
    let env = infra.env(&[("RECAUDO_CONTACT_POLICY_FILE", loose.to_str().unwrap())]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let err = match recaudo::build(env, &[Target::Scheduler], &[], listener, shutdown).await {
        Ok(_) => panic!("a looser setting was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("co.hours") && err.contains("countries.CO") && err.contains("Sun"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_set_while_a_request_waits_in_the_stream_stops_it_before_the_provider() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let now = [("RECAUDO_NOW", "2026-11-23T16:00:00Z")];
    // The scheduler requests Monday's SMS; no dispatcher runs yet.
    let planners = [Target::Ingestion, Target::Portfolio, Target::Scheduler, Target::ReplyRouter, Target::Metrics];
    let app = App::spawn(infra.env(&now), &planners).await;
    let mut cancelled = bus.client().subscribe("recaudo.contact.cancelled.sms.*").await.unwrap();
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let ledger = |debtor: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM scheduler.contact_ledger WHERE debtor_id = $1")
                .bind(debtor)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    for debtor in ["C0000006", "C0000009"] {
        eventually("the requests", WAIT, || async { (ledger(debtor).await == 1).then_some(()) }).await;
    }
    // The advisor learns C0000006 has died; the request is withdrawn.
    publish(&bus, outcome("C0000006", "2026-11-23T16:00:00Z", Outcome::Deceased)).await;
    let msg = tokio::time::timeout(WAIT, cancelled.next()).await.expect("contact.cancelled.sms").unwrap();
    let e: Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        (e["data"]["debtor_id"].as_str(), e["data"]["rule"].as_str()),
        (Some("C0000006"), Some("hold.deceased"))
    );
    app.stop().await;

    // The dispatcher comes up: C0000009's SMS goes out, C0000006's is suppressed with the hold's rule.
    let mut suppressed = bus.client().subscribe("recaudo.contact.suppressed").await.unwrap();
    let dispatcher = App::spawn(infra.env(&now), &[Target::Dispatcher]).await;
    eventually("C0000009's SMS", WAIT, || async { (contacts(&dispatcher, "C0000009").await == 1).then_some(()) }).await;
    let event = common::next_with(&mut suppressed, "debtor_id", "C0000006").await;
    assert_eq!(event["data"]["rule"], "hold.deceased", "{event}");
    assert_eq!(contacts(&dispatcher, "C0000006").await, 0);
    dispatcher.stop().await;
}
