//! The web console in a real browser (Debian's headless Chromium through WebDriver): an advisor signs in with the
//! development identity provider, sees a debtor's reply arrive without reloading, claims the case, records a
//! promise and sees it on the timeline; after a restart at a later instant, the supervisor sees the escalation of a
//! case nobody claimed and transfers it. Every page is checked with axe-core and photographed under
//! `target/screenshots/`.

mod common;

use std::time::Duration;

use common::{App, Infra, WAIT};
use fantoccini::Locator;
use recaudo::Target;
use recaudo_access::Role;
use recaudo_bus::{Bus, Prefix};
use recaudo_testkit::browser::Browser;
use serde_json::Value;
use uuid::Uuid;

const FILE: &str = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,\
moneda,saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,asesor_apellido,\
asesor_telefono,supervisor_nombre,supervisor_apellido
D1,CC,111,Ana,Uno,+573102000001,d1@example.com,CR-D1,Consumo,COP,1000000.00,200000.00,50000.00,2026-11-13,10,CO,Bogotá,Asesora,Uno,+573001000010,Super,Visora
D2,CC,222,Beto,Dos,+573102000002,d2@example.com,CR-D2,Consumo,COP,800000.00,90000.00,50000.00,2026-11-13,10,CO,Bogotá,Asesora,Uno,+573001000010,Super,Visora
D3,CC,333,Caro,Tres,+573102000003,d3@example.com,CR-D3,Consumo,COP,500000.00,50000.00,50000.00,2026-11-13,10,CO,Bogotá,Asesor,Dos,+573001000020,Super,Visora";

const SEE: Duration = Duration::from_secs(20);

fn env(infra: &Infra, now: &str) -> recaudo_runtime::Env {
    infra.env(&[
        ("RECAUDO_OIDC_ISSUER", ""),
        ("RECAUDO_OIDC_AUDIENCE", ""),
        ("RECAUDO_DEV_IDP", "on"),
        ("RECAUDO_NOW", now),
        ("RECAUDO_CASE_TIMER_TICK_MS", "100"),
    ])
}

async fn token(infra: &Infra, app: &App, now: &str, role: Role, record: Option<String>) -> (String, String) {
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let config = recaudo_access::AccessConfig::from_env(&env(infra, now)).unwrap();
    let ttl = Duration::from_secs(3600);
    let record = record.map(|r| r.parse::<Uuid>().unwrap());
    recaudo_access::dev_idp::cli_token(&pool, &config, &app.base, role, record, ttl).await.unwrap()
}

/// Signs in through `/console/` and the development provider's list of users.
async fn sign_in(browser: &Browser, app: &App, subject: &str) {
    browser.goto(&format!("{}/console/", app.base)).await.unwrap();
    let link = browser.wait_for(&format!("a[href*='login_hint={subject}']"), SEE).await.unwrap();
    link.click().await.unwrap();
    browser.wait_for("main h1", SEE).await.unwrap();
}

async fn get(app: &App, token: &str, path: &str) -> Value {
    let (status, body) = app.get_as(token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisors_and_supervisors_work_cases_in_the_browser() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let monday = "2026-11-23T15:00:00Z";
    let app = App::spawn(env(&infra, monday), &Target::ALL).await;
    let (_, admin) = token(&infra, &app, monday, Role::Admin, None).await;
    let resp = app
        .http
        .post(format!("{}/api/imports?as_of=2026-11-23", app.base))
        .bearer_auth(&admin)
        .body(FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let advisors = recaudo_testkit::eventually("the advisors", WAIT, || async {
        let a = get(&app, &admin, "/api/advisors").await;
        (a["advisors"].as_array().unwrap().len() == 2).then_some(a)
    })
    .await;
    let by_phone =
        |phone: &str| advisors["advisors"].as_array().unwrap().iter().find(|a| a["phone"] == phone).cloned().unwrap();
    let (uno, dos) = (by_phone("+573001000010"), by_phone("+573001000020"));
    let uno_id = uno["id"].as_str().unwrap().to_string();
    let supervisor_id = uno["supervisor"]["id"].as_str().unwrap().to_string();
    let (advisor_subject, advisor) = token(&infra, &app, monday, Role::Advisor, Some(uno_id.clone())).await;
    recaudo_testkit::eventually("the router to know the advisor", WAIT, || async {
        (app.get_as(&advisor, &format!("/api/advisors/{uno_id}/queue")).await.0 == 200).then_some(())
    })
    .await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();

    // The advisor signs in and sees an empty queue...
    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &app, &advisor_subject).await;
    assert!(browser.current_url().await.unwrap().path().ends_with(&format!("/console/advisors/{uno_id}")));
    browser.wait_for_text("main", "No hay casos abiertos", SEE).await.unwrap();
    browser.wait_for("body[data-stream='open']", SEE).await.unwrap();
    browser.screenshot("advisor-queue-empty").await;
    browser.assert_accessible("advisor queue").await;

    // ... and the debtor's reply arrives without a reload.
    common::publish_reply(&bus, "D1", "Hola, quiero ponerme al día").await;
    common::publish_reply(&bus, "D2", "¿Me llaman?").await;
    browser.wait_for_text("#queue", "Hola, quiero ponerme al día", SEE).await.unwrap();
    browser.wait_for_text("#queue", "Beto Dos", SEE).await.unwrap();
    browser.screenshot("advisor-queue-live").await;

    // The case: claim, then a promise, which lands on the timeline.
    browser.find(Locator::LinkText("Ana Uno")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#case-state", "Sin tomar", SEE).await.unwrap();
    // The debtor's contact plan, from the scheduler, in the page's language.
    browser.wait_for_text("#plan", "Estrategia", SEE).await.unwrap();
    let plan = browser.find(Locator::Css("#plan")).await.unwrap().text().await.unwrap();
    assert!(plan.contains("Próximos contactos") && plan.contains("Ley aplicada"), "{plan}");
    assert!(!plan.contains("no está disponible"), "{plan}");
    browser.assert_accessible("case").await;
    browser.wait_for("#claim", SEE).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#case-state", "Tomado", SEE).await.unwrap();
    browser.find(Locator::Css("#outcome-amount")).await.unwrap().send_keys("150000").await.unwrap();
    browser.execute("document.getElementById('outcome-date').value = '2026-11-20'", vec![]).await.unwrap();
    browser.find(Locator::Css("#record-outcome")).await.unwrap().click().await.unwrap();
    // A promise dated in the past is refused, naming the field.
    browser.wait_for_text("#case-errors", "date:", SEE).await.unwrap();
    browser.screenshot("case-refused").await;
    browser.execute("document.getElementById('outcome-date').value = '2026-11-30'", vec![]).await.unwrap();
    browser.find(Locator::Css("#record-outcome")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#case-state", "Cerrado", SEE).await.unwrap();
    browser.wait_for_text(".timeline", "Promesa de pago", SEE).await.unwrap();
    browser.wait_for("li[data-kind='promise_made']", SEE).await.unwrap();
    browser.screenshot("case-promise").await;
    browser.set_viewport(390, 844).await.unwrap();
    browser.screenshot("case-promise-phone").await;
    browser.assert_accessible("case on a phone").await;
    browser.close().await.unwrap();
    app.stop().await;

    // 10:20: nobody claimed Beto's case in 15 working minutes; its timer fired while the system was down.
    let later = "2026-11-23T15:20:00Z";
    let app = App::spawn(env(&infra, later), &Target::ALL).await;
    let (sup_subject, _sup) = token(&infra, &app, later, Role::Supervisor, Some(supervisor_id.clone())).await;
    let browser = Browser::start().await.unwrap();
    sign_in(&browser, &app, &sup_subject).await;
    assert!(browser.current_url().await.unwrap().path().ends_with(&format!("/console/supervisors/{supervisor_id}")));
    browser.wait_for_text("#team", "Beto Dos", SEE).await.unwrap();
    browser.wait_for_text("#team", "Escalado", SEE).await.unwrap();
    browser.screenshot("supervisor-team").await;
    browser.assert_accessible("supervisor").await;
    browser.find(Locator::LinkText("Beto Dos")).await.unwrap().click().await.unwrap();
    browser.wait_for("#transfer-to", SEE).await.unwrap();
    let dos_id = dos["id"].as_str().unwrap();
    browser.execute(&format!("document.getElementById('transfer-to').value = '{dos_id}'"), vec![]).await.unwrap();
    browser.find(Locator::Css("#transfer")).await.unwrap().click().await.unwrap();
    // The timeline names both advisors.
    browser.wait_for_text("li[data-kind='transfer']", "Asesora Uno → Asesor Dos", SEE).await.unwrap();
    browser.screenshot("case-transferred").await;
    let (_, admin) = token(&infra, &app, later, Role::Admin, None).await;
    let queue = get(&app, &admin, &format!("/api/advisors/{dos_id}/queue")).await;
    assert!(
        queue["items"].as_array().unwrap().iter().any(|i| i["debtor_id"] == "D2" && i["state"] == "open"),
        "{queue}"
    );

    // English on request.
    browser.goto(&format!("{}/console/supervisors/{supervisor_id}?lang=en", app.base)).await.unwrap();
    browser.wait_for_text("main h1", "My team", SEE).await.unwrap();
    browser.screenshot("supervisor-team-en").await;
    browser.close().await.unwrap();
    app.stop().await;
}
