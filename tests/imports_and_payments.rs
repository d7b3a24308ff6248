//! Client files as lenders send them and payments, end to end on real NATS and PostgreSQL: profiles, full
//! snapshots, the error-rate threshold, dias_atraso warnings, reassignments, and payments by signed API and by file.

mod common;

use std::time::Duration;

use common::{fixture, App, Infra, WAIT};
use recaudo::Target;
use recaudo_testkit::eventually;
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T15:00:00Z";

async fn kpis(app: &App, check: impl Fn(&Value) -> bool) -> Value {
    eventually("the KPIs", WAIT, || async {
        let k = app.get_ok("/api/kpis").await;
        check(&k).then_some(k)
    })
    .await
}

fn asesores() -> String {
    String::from_utf8(fixture("clientes_asesores.csv")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_snapshots_thresholds_and_reassignments() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", NOW)]), &Target::ALL).await;

    // Above the error-rate limit nothing of the file is applied, not even its valid rows.
    let failed = app.import(fixture("clientes_con_errores.csv"), "as_of=2026-11-20&max_error_rate=0.1").await;
    assert_eq!(failed["state"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("above the limit of 10.0%"), "{failed}");
    assert_eq!(failed["errors_total"], 11);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.get("/api/debtors/C0000099").await.0, 404);

    // A profile names columns the aliases do not know.
    let profile =
        json!({ "columns": { "Nro Deudor": "id_cliente", "Operación": "id_credito" }, "default_country": "CO" });
    let resp = app.http.put(format!("{}/api/import-profiles/banco-x", app.base)).json(&profile).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bad = json!({ "columns": { "X": "colour" } });
    let resp = app.http.put(format!("{}/api/import-profiles/bad", app.base)).json(&bad).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let file = "Nro Deudor,nombre,Operación,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais,telefono\n\
                P1,Rosa,OP-1,COP,1000,100,2026-11-10,,3001112233\n";
    let import = app.import(file.as_bytes().to_vec(), "profile=banco-x&as_of=2026-11-20").await;
    assert_eq!(import["state"], "completed", "{import}");
    assert_eq!(import["profile"], "banco-x");
    let p1 = app.get_ok("/api/debtors/P1").await;
    assert_eq!((p1["country"].as_str(), p1["credits"][0]["id"].as_str()), (Some("CO"), Some("OP-1")));
    let unknown = app.http.post(format!("{}/api/imports?profile=nope", app.base)).body("x").send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 400);

    // The portfolio, then a full snapshot without C0000010's credit and with C0000003 moved to another advisor.
    app.import(asesores().into_bytes(), "as_of=2026-11-20").await;
    let alvaro = app.get_ok("/api/debtors/C0000003").await["advisor"]["id"].as_str().unwrap().to_string();
    let sms = eventually("C0000003's SMS", WAIT, || async {
        let c = app.get_ok("/api/debtors/C0000003/contacts").await;
        c["contacts"][0]["body"].as_str().map(str::to_string)
    })
    .await;
    let link = sms[sms.find("http").unwrap()..].to_string();
    let snapshot: String = asesores()
        .lines()
        .filter(|l| !l.starts_with("C0000010,"))
        .map(|l| {
            if l.starts_with("C0000003,") {
                l.replace("Álvaro,Díaz,+51985878400", "Mónica,Ruiz,+573001234567")
            } else {
                l.to_string()
            }
        })
        .map(|l| if l.starts_with("C0000005,") { l.replace(",2026-11-13,7,", ",2026-11-13,9,") } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let full = app.import(snapshot.into_bytes(), "mode=full&as_of=2026-11-20").await;
    assert_eq!(full["state"], "completed", "{full}");
    assert_eq!(full["rows_rejected"], 0);
    let warnings = full["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{full}");
    assert_eq!(warnings[0]["column"], "dias_atraso");
    assert!(warnings[0]["reason"].as_str().unwrap().contains("give 7"));

    let c10 = app.get_ok("/api/debtors/C0000010").await;
    assert_eq!(c10["credits"][0]["status"], "closed", "credits missing from a full snapshot are closed, not deleted");
    let p1 = app.get_ok("/api/debtors/P1").await;
    assert_eq!(p1["credits"][0]["status"], "closed");
    let c3 = app.get_ok("/api/debtors/C0000003").await;
    assert_eq!(c3["advisor"]["first_name"], "Mónica");
    let monica = c3["advisor"]["id"].as_str().unwrap().to_string();
    assert_ne!(monica, alvaro);
    kpis(&app, |k| k["assignments_changed"] == 1).await;

    // The link sent while Álvaro had the debtor now reaches Mónica, the current advisor.
    let resp = eventually("the click to reach the new advisor", WAIT, || async {
        let r = app.http.get(&link).send().await.ok()?;
        let location = r.headers().get("location")?.to_str().ok()?.to_string();
        location.starts_with("https://wa.me/573001234567").then_some(location)
    })
    .await;
    assert!(resp.contains("Hola%20M%C3%B3nica"), "{resp}");
    // (Queues also hold the default strategy's call tasks, from 30 days past due.)
    let of_c3 =
        |queue: Value| queue["items"].as_array().unwrap().iter().filter(|i| i["debtor_id"] == "C0000003").count();
    // The queue item moves with the debtor: reply-router applies the assignment on its own consumer, which the
    // click's route may run ahead of, so the move is waited for.
    eventually("the debtor's queue item to move to the new advisor", WAIT, || async {
        let new = of_c3(app.get_ok(&format!("/api/advisors/{monica}/queue")).await);
        let old = of_c3(app.get_ok(&format!("/api/advisors/{alvaro}/queue")).await);
        (new == 1 && old == 0).then_some(())
    })
    .await;

    // A balance update without the advisor columns keeps every assignment.
    let update = "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\n\
                  C0000003,Ana,CR-0000003-1,COP,1000,100,2026-11-10,CO\n";
    assert_eq!(app.import(update.as_bytes().to_vec(), "as_of=2026-11-21").await["state"], "completed");
    let c3 = app.get_ok("/api/debtors/C0000003").await;
    let credit = c3["credits"].as_array().unwrap().iter().find(|c| c["id"] == "CR-0000003-1").unwrap();
    assert_eq!(credit["balance_total"], "1000", "{c3}");
    assert_eq!(credit["advisor_id"].as_str(), Some(monica.as_str()), "{c3}");
    kpis(&app, |k| k["assignments_changed"] == 1).await;
    app.stop().await;
}

/// Row batches never exceed what the NATS server accepts (wide rows are split over more messages), and every
/// character of a field arrives, tabs and backslashes included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_batches_are_split_and_applied_intact() {
    let infra = Infra::start_with_nats_config("max_payload: 65536").await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", NOW), ("RECAUDO_IMPORT_BATCH_ROWS", "5000")]), &Target::ALL).await;

    let mut file =
        String::from("id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais,nota\n");
    for i in 0..1500 {
        file.push_str(&format!(
            "W{i},Nombre {i},WC-{i},COP,1000,100,2026-11-10,CO,\"tab\there \\N back\\slash, line\nbreak {i}\"\n"
        ));
    }
    let import = app.import(file.into_bytes(), "as_of=2026-11-20").await;
    assert_eq!((import["state"].as_str(), import["rows_valid"].as_i64()), (Some("completed"), Some(1500)), "{import}");
    // 1500 such rows are about 600 KiB as JSON: without splitting, JetStream would refuse the batch and the import
    // would fail.
    kpis(&app, |k| k["credits_imported"] == 1500).await;
    let debtor = app.get_ok("/api/debtors/W1499").await;
    assert_eq!(debtor["attributes"]["nota"], "tab\there \\N back\\slash, line\nbreak 1499", "{debtor}");

    // A row that cannot fit one message even alone fails the import with its line, and the counts read so far.
    let huge = format!(
        "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais,nota\n\
         H1,Ok,HC-1,COP,1,1,2026-11-10,CO,x\nH2,Big,HC-2,COP,1,1,2026-11-10,CO,{}\n",
        "y".repeat(70_000)
    );
    let failed = app.import(huge.into_bytes(), "as_of=2026-11-20").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().starts_with("line 3 is too large"), "{failed}");
    assert_eq!(failed["rows_total"], 2, "{failed}");
    assert_eq!(app.get("/api/debtors/H1").await.0, 404, "nothing of a failed import is applied");

    app.stop().await;
}

/// An import read while portfolio is down waits in JetStream, and is applied whole when portfolio comes back: the
/// replica that takes `import.started` replays the import's batches from the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_read_while_portfolio_is_down_is_applied_when_it_returns() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let env = || infra.env(&[("RECAUDO_NOW", NOW), ("RECAUDO_IMPORT_BATCH_ROWS", "100")]);
    let ingestion = App::spawn(env(), &[Target::Ingestion]).await;

    let mut file =
        String::from("id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\n");
    for i in 0..1050 {
        // Two credits per debtor, and the last line of R7's first credit repeated with a new balance: the later wins.
        file.push_str(&format!("R{},Nombre {i},RC-{i},COP,{},100,2026-11-10,CO\n", i / 2, 1000 + i));
    }
    file.push_str("R0,Nombre 0,RC-0,COP,4242,100,2026-11-10,CO\n");
    let resp = ingestion.http.post(format!("{}/api/imports?as_of=2026-11-20", ingestion.base)).body(file).send().await;
    let id = resp.unwrap().json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let read = eventually("the file to be read", WAIT, || async {
        let body = ingestion.get_ok(&format!("/api/imports/{id}")).await;
        (body["stage"] == "applying").then_some(body)
    })
    .await;
    assert_eq!((read["state"].as_str(), read["rows_valid"].as_i64()), (Some("processing"), Some(1051)), "{read}");
    let db = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let credits =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM portfolio.credits").fetch_one(&db).await };
    assert_eq!(credits().await.unwrap(), 0);

    let portfolio = App::spawn(env(), &[Target::Portfolio]).await;
    let done = ingestion.wait_import(&id).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(credits().await.unwrap(), 1050);
    let r0 = portfolio.get_ok("/api/debtors/R0").await;
    let balances: Vec<&str> =
        r0["credits"].as_array().unwrap().iter().map(|c| c["balance_total"].as_str().unwrap()).collect();
    assert_eq!(balances, ["4242", "1001"], "{r0}");
    portfolio.stop().await;
    ingestion.stop().await;
}

async fn pay(app: &App, secret: &str, body: &Value) -> (u16, Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().timestamp();
    let sig = recaudo_ingestion::signature::sign(secret, t, &raw);
    let resp = app
        .http
        .post(format!("{}/api/payments", app.base))
        .header("content-type", "application/json")
        .header("Recaudo-Signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_applied_once_by_reference() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let env = infra.env(&[
        ("RECAUDO_NOW", NOW),
        ("RECAUDO_PAYMENTS_SECRET", "payments-secret-shared-with-the-lender-in-the-test"),
    ]);
    let app = App::spawn(env.clone(), &Target::ALL).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;

    let payments = json!([
        { "credit_id": "CR-0000002-1", "paid_on": "2026-11-22", "amount": "1000.00", "method": "PSE", "reference": "R-1" },
        { "credit_id": "CR-0000005-1", "paid_on": "2026-11-22", "amount": "89963.25", "method": "OXXO", "reference": "R-2" },
        { "credit_id": "CR-0000006-1", "paid_on": "2026-11-22", "amount": "70000", "method": "PSE", "reference": "R-3" },
        { "credit_id": "CR-NOPE", "paid_on": "2026-11-22", "amount": "5", "method": "PSE", "reference": "R-4" }
    ]);
    assert_eq!(pay(&app, "wrong-secret", &payments).await.0, 401);
    let (status, body) = pay(&app, "payments-secret-shared-with-the-lender-in-the-test", &payments).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 4);
    // The same reference again changes nothing.
    let again = json!({ "credit_id": "CR-0000002-1", "paid_on": "2026-11-22", "amount": "1000.00", "method": "PSE", "reference": "R-1" });
    assert_eq!(pay(&app, "payments-secret-shared-with-the-lender-in-the-test", &again).await.0, 202);
    let (status, body) = pay(
        &app,
        "payments-secret-shared-with-the-lender-in-the-test",
        &json!([{ "credit_id": "CR-1", "paid_on": "2026-11-22", "amount": "-3", "reference": "" }]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_payments");
    assert!(body["error"]["message"].as_str().unwrap().contains("\"field\":\"amount\""), "{body}");

    let k = kpis(&app, |k| {
        k["payments_received"] == 5 && k["payments_rejected"] == 1 && k["payments_applied"]["excess"] == 1
    })
    .await;
    assert_eq!(k["payments_applied"], json!({ "partial": 1, "full": 1, "excess": 1 }));
    assert_eq!(k["collected"]["PEN"], "1000.00");

    let partial = app.get_ok("/api/debtors/C0000002").await;
    assert_eq!(partial["credits"][0]["balance_total"], "96803.72");
    assert_eq!(partial["credits"][0]["balance_overdue"], "31601.24");
    assert_eq!(partial["credits"][0]["status"], "open");
    let full = app.get_ok("/api/debtors/C0000005").await;
    assert_eq!(
        (full["credits"][0]["status"].as_str(), full["credits"][0]["balance_total"].as_str()),
        (Some("closed"), Some("0"))
    );
    let excess = app.get_ok("/api/debtors/C0000006").await;
    assert_eq!(excess["credits"][0]["days_past_due"], 0);

    // A payments file through the CLI: valid rows published, the bad one reported.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pagos.csv");
    std::fs::write(&path, "id_credito;fecha_pago;monto;medio_pago;referencia\r\nCR-0000009-1;22/11/2026;1.000,00;PSE;F-1\r\nCR-0000009-1;22/11/2026;mil;PSE;F-2\r\n").unwrap();
    let action = recaudo::import::PaymentsAction::Import { file: path, encoding: None, delimiter: None, decimal: None };
    recaudo::import::payments(&env, action).await.unwrap();
    kpis(&app, |k| k["payments_applied"]["partial"] == 2).await;
    let c9 = app.get_ok("/api/debtors/C0000009").await;
    assert_eq!(c9["credits"][0]["balance_overdue"], "16012.61");
    app.stop().await;
}

/// Account snapshots can reach a consumer out of the order of the changes they show (an import's page read while a
/// payment was committing is published after the payment's snapshot, with a later time). Projections keep the
/// highest version, not the latest time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_keep_the_newest_account_version_whatever_the_arrival_order() {
    use recaudo_events::AccountsUpserted;

    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", NOW)]), &Target::ALL).await;
    app.import(asesores().into_bytes(), "as_of=2026-11-20").await;
    let advisors = app.get_ok("/api/advisors").await;
    let ids: Vec<String> =
        advisors["advisors"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    let current = app.get_ok("/api/debtors/C0000003").await["advisor"]["id"].as_str().unwrap().to_string();
    let other = ids.iter().find(|id| **id != current).unwrap().clone();

    let snapshot = |advisor: &str, version: u64| -> AccountsUpserted {
        serde_json::from_value(json!({
            "import_id": null,
            "accounts": [{
                "credit_id": "CR-0000003-1", "debtor_id": "C0000003", "status": "open",
                "debtor_first_name": "Tomás", "debtor_last_name": "Ibáñez Rojas", "phone": "+56973529474",
                "email": null, "country": "CL", "product": "Tarjeta", "currency": "CLP",
                "balance_total": "10071936.00", "balance_overdue": "4091724.00", "due_date": "2025-11-20",
                "days_past_due": 365, "advisor_id": advisor, "version": version
            }]
        }))
        .unwrap()
    };
    let bus = recaudo_bus::Bus::connect(&infra.nats.url, recaudo_bus::Prefix::parse("recaudo").unwrap()).await.unwrap();
    let t: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let newer = recaudo_bus::RawMessage::event(bus.prefix(), "test", t, snapshot(&other, 100)).unwrap();
    let stale =
        recaudo_bus::RawMessage::event(bus.prefix(), "test", t + chrono::Duration::minutes(5), snapshot(&current, 50))
            .unwrap();
    bus.publish(&newer).await.unwrap();
    bus.publish(&stale).await.unwrap();

    let db = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    for (schema, consumer) in [("reply_router", "reply-router-portfolio"), ("scheduler", "scheduler-portfolio")] {
        eventually("the stale snapshot to be handled", WAIT, || async {
            let seen: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM {schema}.inbox WHERE consumer = $1 AND event_id = $2::uuid"
            ))
            .bind(consumer)
            .bind(&stale.event_id)
            .fetch_one(&db)
            .await
            .unwrap();
            (seen == 1).then_some(())
        })
        .await;
        let (advisor, version): (Option<uuid::Uuid>, i64) = sqlx::query_as(&format!(
            "SELECT advisor_id, snapshot_version FROM {schema}.accounts WHERE credit_id = 'CR-0000003-1'"
        ))
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!((advisor.map(|a| a.to_string()), version), (Some(other.clone()), 100), "{schema}");
    }
    app.stop().await;
}
