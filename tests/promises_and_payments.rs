//! Promises and payments pause, stop and cancel contacts, on real PostgreSQL and NATS: portfolio turns a promise
//! outcome into `promise.made` and settles it (`promise.kept` by payments, `promise.broken` after the grace days);
//! the scheduler pauses the debtor while it is in force, resumes when it is broken, stops when it is kept; a payment
//! that clears the overdue amount withdraws a request still waiting in the stream.

mod common;

use std::time::Duration;

use common::{fixture, next_with, App, Infra, WAIT};
use recaudo::Target;
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_domain::{CreditId, DebtorId};
use recaudo_events::{CaseOutcomeRecorded, Outcome};
use recaudo_testkit::eventually;
use serde_json::json;
use uuid::Uuid;

async fn contacts(app: &App, debtor: &str) -> usize {
    app.get_ok(&format!("/api/debtors/{debtor}/contacts")).await["contacts"].as_array().map(Vec::len).unwrap_or(0)
}

async fn promise(bus: &Bus, debtor: &str, credit: &str, amount: &str, due_on: &str) -> Uuid {
    let outcome = CaseOutcomeRecorded {
        outcome_id: Uuid::now_v7(),
        debtor_id: DebtorId::parse(debtor).unwrap(),
        credit_id: Some(CreditId::parse(credit).unwrap()),
        advisor_id: None,
        recorded_by: "advisor-1".into(),
        recorded_at: "2026-11-23T16:30:00Z".parse().unwrap(),
        outcome: Outcome::Promise {
            credit_id: CreditId::parse(credit).unwrap(),
            amount: amount.parse().unwrap(),
            due_on: due_on.parse().unwrap(),
        },
    };
    let id = outcome.outcome_id;
    let msg = RawMessage::event(bus.prefix(), "test/advisor-workspace", chrono::Utc::now(), outcome).unwrap();
    bus.publish(&msg).await.unwrap();
    id
}

async fn pay(app: &App, credit: &str, amount: &str, paid_on: &str, reference: &str) {
    let body =
        json!([{ "credit_id": credit, "paid_on": paid_on, "amount": amount, "method": "PSE", "reference": reference }]);
    let resp = app.http.post(format!("{}/api/payments", app.base)).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202, "{:?}", resp.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promise_pauses_contacts_a_kept_one_stops_them_a_broken_one_resumes_them() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut promises = bus.client().subscribe("recaudo.promise.>").await.unwrap();
    // No grace: a promise not paid by its date is broken the next day.
    let env = |now: &str| infra.env(&[("RECAUDO_NOW", now), ("RECAUDO_PROMISE_GRACE_DAYS", "0")]);
    let app = App::spawn(env("2026-11-23T16:00:00Z"), &Target::ALL).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    for debtor in ["C0000006", "C0000009"] {
        eventually("Monday's SMS", WAIT, || async { (contacts(&app, debtor).await == 1).then_some(()) }).await;
    }
    // Both promise to pay by Tuesday: C0000006 all its overdue amount, C0000009 part of it.
    let kept = promise(&bus, "C0000006", "CR-0000006-1", "4477.97", "2026-11-24").await;
    let broken = promise(&bus, "C0000009", "CR-0000009-1", "1000", "2026-11-24").await;
    for id in [kept, broken] {
        let e = next_with(&mut promises, "promise_id", &id.to_string()).await;
        assert_eq!(e["type"], "recaudo.promise.made.v1", "{e}");
    }
    for debtor in ["C0000006", "C0000009"] {
        eventually("the pause in the plan", WAIT, || async {
            let plan = app.get_ok(&format!("/api/debtors/{debtor}/plan")).await;
            (plan["holds"][0]["rule"] == "hold.promise_in_force").then_some(())
        })
        .await;
    }
    app.stop().await;

    // Tuesday: neither is contacted; C0000006 pays what it promised, and the promise is kept.
    let app = App::spawn(env("2026-11-24T16:00:00Z"), &Target::ALL).await;
    pay(&app, "CR-0000006-1", "4477.97", "2026-11-24", "PROMISED-1").await;
    let e = next_with(&mut promises, "promise_id", &kept.to_string()).await;
    assert_eq!((e["type"].as_str(), e["data"]["paid"].as_str()), (Some("recaudo.promise.kept.v1"), Some("4477.97")));
    let requested = (
        common::requested_once_planned(&infra, "C0000006", "2026-11-24T16:00:00Z").await,
        common::requested_once_planned(&infra, "C0000009", "2026-11-24T16:00:00Z").await,
    );
    assert_eq!(requested, (1, 1), "paused");
    assert_eq!((contacts(&app, "C0000006").await, contacts(&app, "C0000009").await), (1, 1), "paused");
    app.stop().await;

    // Wednesday: C0000009's promise is broken, and its strategy resumes at once (the pause would otherwise last
    // until Friday); C0000006 owes nothing overdue, so nothing more is sent.
    let app = App::spawn(env("2026-11-25T16:00:00Z"), &Target::ALL).await;
    let e = next_with(&mut promises, "promise_id", &broken.to_string()).await;
    assert_eq!((e["type"].as_str(), e["data"]["paid"].as_str()), (Some("recaudo.promise.broken.v1"), Some("0")));
    eventually("the SMS after the broken promise", WAIT, || async {
        (contacts(&app, "C0000009").await == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(contacts(&app, "C0000006").await, 1, "a kept promise that cleared the debt stops contacts");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_that_clears_the_overdue_amount_withdraws_a_request_waiting_in_the_stream() {
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
    for debtor in ["C0000006", "C0000009"] {
        eventually("the requests", WAIT, || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduler.contact_ledger WHERE debtor_id = $1")
                .bind(debtor)
                .fetch_one(&pool)
                .await
                .unwrap();
            (n == 1).then_some(())
        })
        .await;
    }
    // C0000006 pays its overdue amount (and more) before the SMS goes out.
    pay(&app, "CR-0000006-1", "5000", "2026-11-23", "PAID-BEFORE-SMS").await;
    let e = next_with(&mut cancelled, "debtor_id", "C0000006").await;
    assert_eq!(e["data"]["rule"], "paid", "{e}");
    assert_eq!(
        (e["data"]["strategy"].as_str(), e["data"]["step"].as_str()),
        (Some("default"), Some("daily-sms-reminder"))
    );
    app.stop().await;

    let mut suppressed = bus.client().subscribe("recaudo.contact.suppressed").await.unwrap();
    let dispatcher = App::spawn(infra.env(&now), &[Target::Dispatcher]).await;
    eventually("C0000009's SMS", WAIT, || async { (contacts(&dispatcher, "C0000009").await == 1).then_some(()) }).await;
    let e = next_with(&mut suppressed, "debtor_id", "C0000006").await;
    assert_eq!(e["data"]["rule"], "paid", "{e}");
    assert_eq!(contacts(&dispatcher, "C0000006").await, 0, "no reminder after the debt was paid");
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_payment_does_not_set_the_days_past_due_back() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T16:00:00Z")]), &Target::ALL).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    eventually("C0000006's plan", WAIT, || async {
        let (status, plan) = app.get("/api/debtors/C0000006/plan").await;
        (status == 200 && plan["stage"]["days_past_due"] == 30).then_some(())
    })
    .await;
    app.stop().await;

    // Thursday: 33 days past due. A partial payment republishes the account, with the file's 30 days in it.
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-26T16:00:00Z")]), &Target::ALL).await;
    assert_eq!(app.get_ok("/api/debtors/C0000006/plan").await["stage"]["days_past_due"], 33);
    pay(&app, "CR-0000006-1", "100", "2026-11-26", "PARTIAL-1").await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    eventually("the payment in the scheduler's projection", WAIT, || async {
        let overdue: rust_decimal::Decimal =
            sqlx::query_scalar("SELECT balance_overdue FROM scheduler.accounts WHERE credit_id = 'CR-0000006-1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        (overdue == "4377.97".parse::<rust_decimal::Decimal>().unwrap()).then_some(())
    })
    .await;
    let plan = app.get_ok("/api/debtors/C0000006/plan").await;
    assert_eq!(plan["stage"]["days_past_due"], 33, "{plan}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_snapshot_of_a_credit_not_yet_due_does_not_withdraw_its_reminder() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let manager = infra.idp.token("mgr-1");
    let planners = [Target::Ingestion, Target::Portfolio, Target::Scheduler, Target::ReplyRouter, Target::Metrics];
    // Monday 11:00 in Bogotá; the credit is due on Thursday, nothing is overdue: a preventive reminder today.
    let now = [("RECAUDO_NOW", "2026-11-23T16:00:00Z")];
    let app = App::spawn(infra.env(&now), &planners).await;
    app.put_user("mgr-1", json!({ "role": "manager" })).await;
    let strategy = "segment: { priority: 1, when: 'debtor.country == \"CO\"' }\nstages:\n  - name: preventive\n    \
                    days_past_due: { from: -5, to: 0 }\n    steps:\n      - { id: reminder, day: 2, channel: sms, \
                    template: sms_preventive_v1 }\n";
    let put = app
        .http
        .put(format!("{}/api/strategies/preventive", app.base))
        .bearer_auth(&manager)
        .body(strategy)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);
    let activate = format!("{}/api/strategies/preventive/versions/1/activate", app.base);
    assert_eq!(app.http.post(activate).bearer_auth(&manager).send().await.unwrap().status().as_u16(), 200);
    let file = |total: &str| {
        format!(
            "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,moneda,\
             saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad\n\
             P1,CC,55555555,Ana,Previa,+573005555555,,CR-P1,Consumo,COP,{total},0.00,100.00,2026-11-26,0,CO,Bogotá\n"
        )
        .into_bytes()
    };
    app.import(file("1000.00"), "as_of=2026-11-23").await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let ledger = || async {
        sqlx::query_as::<_, (String, Option<chrono::DateTime<chrono::Utc>>)>(
            "SELECT step, cancelled_at FROM scheduler.contact_ledger WHERE debtor_id = 'P1'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    eventually("the preventive request", WAIT, || async { (ledger().await.len() == 1).then_some(()) }).await;
    // The next file changes the balance: a new snapshot, still nothing overdue. The reminder is not "paid".
    app.import(file("900.00"), "as_of=2026-11-23").await;
    eventually("the new snapshot in the projection", WAIT, || async {
        let total: rust_decimal::Decimal =
            sqlx::query_scalar("SELECT balance_total FROM scheduler.accounts WHERE credit_id = 'CR-P1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        (total == "900.00".parse::<rust_decimal::Decimal>().unwrap()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = ledger().await;
    assert_eq!(rows[0].0, "reminder");
    assert_eq!(rows[0].1, None, "a reminder before the due date is not withdrawn as paid");
    app.stop().await;
    let dispatcher = App::spawn(infra.env(&now), &[Target::Dispatcher]).await;
    eventually("the reminder sent", WAIT, || async { (contacts(&dispatcher, "P1").await == 1).then_some(()) }).await;
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_with_a_promise_reminder_sends_one_the_day_before_the_promise_is_due() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut requests = bus.client().subscribe("recaudo.contact.requested.sms").await.unwrap();
    let env = |now: &str| infra.env(&[("RECAUDO_NOW", now)]);
    // Monday 11:00 in Bogotá: the manager's default strategy is the built-in one with a promise reminder at 10:00.
    let app = App::spawn(env("2026-11-23T16:00:00Z"), &Target::ALL).await;
    app.put_user("mgr-1", json!({ "role": "manager" })).await;
    let manager = infra.idp.token("mgr-1");
    let document = format!(
        "{}promise_reminder: {{ channel: sms, template: sms_promise_reminder_v1, at: \"10:00\" }}\n",
        recaudo_strategy::BUILTIN_DEFAULT
    );
    let put = app.http.put(format!("{}/api/strategies/default", app.base)).bearer_auth(&manager);
    let resp = put.header("content-type", "application/yaml").body(document).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text().await);
    let activate = format!("{}/api/strategies/default/versions/1/activate", app.base);
    assert_eq!(app.http.post(activate).bearer_auth(&manager).send().await.unwrap().status().as_u16(), 200);
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    eventually("Monday's SMS", WAIT, || async { (contacts(&app, "C0000009").await == 1).then_some(()) }).await;
    // A promise to pay 1,000 by Wednesday: Monday's pause, no reminder yet.
    promise(&bus, "C0000009", "CR-0000009-1", "1000", "2026-11-25").await;
    eventually("the pause in the plan", WAIT, || async {
        let plan = app.get_ok("/api/debtors/C0000009/plan").await;
        (plan["holds"][0]["rule"] == "hold.promise_in_force").then_some(())
    })
    .await;
    app.stop().await;

    // Tuesday at 9:00: the reminder waits for 10:00.
    let app = App::spawn(env("2026-11-24T14:00:00Z"), &Target::ALL).await;
    let requested = common::requested_once_planned(&infra, "C0000009", "2026-11-24T14:00:00Z").await;
    assert_eq!(requested, 1, "not before the reminder's time");
    assert_eq!(contacts(&app, "C0000009").await, 1, "not before the reminder's time");
    app.stop().await;

    // Tuesday at 11:00: the day before the promise is due, one reminder naming the promise; the steps stay paused.
    let app = App::spawn(env("2026-11-24T16:00:00Z"), &Target::ALL).await;
    let reminder = next_with(&mut requests, "step", "promise_reminder").await;
    let data = &reminder["data"];
    assert_eq!(data["debtor"]["id"], "C0000009", "{reminder}");
    assert_eq!(
        (data["promise"]["amount"].as_str(), data["promise"]["due_on"].as_str()),
        (Some("1000"), Some("2026-11-25"))
    );
    assert_eq!(
        (data["template"].as_str(), data["strategy"].as_str()),
        (Some("sms_promise_reminder_v1"), Some("default"))
    );
    let sent = eventually("the reminder sent", WAIT, || async {
        let c = app.get_ok("/api/debtors/C0000009/contacts").await;
        let list = c["contacts"].as_array().cloned().unwrap_or_default();
        (list.len() == 2).then(|| list.into_iter().find(|a| a["contact_id"] == data["contact_id"]).unwrap())
    })
    .await;
    let body = sent["body"].as_str().unwrap();
    assert!(body.contains("compromiso de pago de $ 1.000,00 para el 25 de noviembre de 2026"), "{body}");
    app.stop().await;

    // Later that Tuesday, and on Wednesday, the due day: nothing more while the promise is in force.
    for now in ["2026-11-24T20:00:00Z", "2026-11-25T16:00:00Z"] {
        let app = App::spawn(env(now), &Target::ALL).await;
        assert_eq!(common::requested_once_planned(&infra, "C0000009", now).await, 2, "one reminder, at {now}");
        assert_eq!(contacts(&app, "C0000009").await, 2, "one reminder, at {now}");
        app.stop().await;
    }
}
