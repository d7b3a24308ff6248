//! WhatsApp, email and SMS end to end on real PostgreSQL, NATS and HTTP, each through its provider's simulator
//! speaking the provider's wire format and signing its webhooks: statuses, replies routed to the advisor's queue,
//! opt-outs withdrawing consent, and forged webhooks refused.

mod common;

use common::{fixture, next_with, App, Infra, WAIT};
use recaudo::Target;
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_events::ContactRequested;
use recaudo_testkit::eventually;
use serde_json::{json, Value};
use uuid::Uuid;

// Mexico: CONDUSEF's hours, and no daily cap that would stop a second channel on the same day.
const DEBTOR: &str = "C0000008";
const CREDIT: &str = "CR-0000008-1";
const PHONE: &str = "+525579878556";
const EMAIL: &str = "jorge.gonzalez@example.com";

fn request(channel: &str, template: &str, to: &str) -> ContactRequested {
    serde_json::from_value(json!({
        "contact_id": Uuid::now_v7(),
        "channel": channel,
        "strategy": "manual-test",
        "template": template,
        "to": to,
        "country": "MX",
        "debtor": { "id": DEBTOR, "first_name": "Jorge", "last_name": "González Díaz" },
        "credit": { "id": CREDIT, "product": "Tarjeta", "currency": "MXN", "balance_overdue": "7276.26",
                    "days_past_due": 45 },
        "advisor": null,
        "time_zone": "America/Mexico_City",
        "requested_at": "2026-11-23T16:00:00Z"
    }))
    .expect("a contact request")
}

async fn attempts(app: &App, channel: &str) -> Vec<Value> {
    let all = app.get_ok(&format!("/api/debtors/{DEBTOR}/contacts")).await;
    all["contacts"].as_array().unwrap().iter().filter(|a| a["channel"] == channel).cloned().collect()
}

async fn delivered(app: &App, channel: &str) -> Value {
    eventually(&format!("the {channel} attempt to be delivered"), WAIT, || async {
        attempts(app, channel).await.into_iter().find(|a| a["status"] == "delivered")
    })
    .await
}

async fn simulate(app: &App, provider: &str, body: Value) -> u16 {
    let url = format!("{}/api/simulators/{provider}/inbound", app.base);
    app.http.post(url).json(&body).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_email_and_sms_send_report_route_replies_and_honour_opt_outs() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut replies = bus.client().subscribe("recaudo.reply.received.>").await.unwrap();
    let mut routed = bus.client().subscribe("recaudo.reply.routed").await.unwrap();
    let mut consent = bus.client().subscribe("recaudo.consent.withdrawn").await.unwrap();
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T16:00:00Z")]), &Target::ALL).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    // The default strategy's SMS reaches the debtor first.
    let sms = delivered(&app, "sms").await;
    assert_eq!(sms["provider"], "twilio");

    for r in [request("whatsapp", "whatsapp_reminder_v1", PHONE), request("email", "email_reminder_v1", EMAIL)] {
        let msg = RawMessage::event(bus.prefix(), "test/scheduler", chrono::Utc::now(), r).unwrap();
        bus.publish(&msg).await.unwrap();
    }

    // WhatsApp: outside the 24-hour window, the approved template goes out; Meta's signed statuses arrive.
    let whatsapp = delivered(&app, "whatsapp").await;
    assert_eq!(whatsapp["provider"], "meta");
    assert!(whatsapp["provider_message_id"].as_str().unwrap().starts_with("wamid."), "{whatsapp}");
    assert!(whatsapp["body"].as_str().unwrap().contains("Jorge"), "{whatsapp}");
    // The debtor answers: the reply reaches the queue of the credit's advisor.
    assert_eq!(simulate(&app, "meta", json!({ "from": PHONE, "body": "Quiero un acuerdo de pago" })).await, 202);
    let reply = next_with(&mut replies, "debtor_id", DEBTOR).await;
    assert_eq!(reply["data"]["channel"], "whatsapp", "{reply}");
    assert_eq!(reply["data"]["attempt_id"], whatsapp["attempt_id"], "{reply}");
    assert_eq!(reply["data"]["opt_out"], false);
    let item = next_with(&mut routed, "debtor_id", DEBTOR).await;
    assert_eq!(item["data"]["kind"], "message", "{item}");

    // Email: SendGrid's signed events, and an unsubscribe link in the text that withdraws consent for email in
    // one click (RFC 8058).
    let email = delivered(&app, "email").await;
    assert_eq!(email["provider"], "sendgrid");
    let body = email["body"].as_str().unwrap();
    let unsubscribe = body.split_whitespace().find(|w| w.contains("/u/")).expect("an unsubscribe link").to_string();
    let one_click = app.anonymous.post(&unsubscribe).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(one_click.status(), 200);
    let withdrawn = next_with(&mut consent, "channel", "email").await;
    assert_eq!(withdrawn["data"]["debtor_id"], DEBTOR);
    assert_eq!(withdrawn["data"]["via"], "list_unsubscribe");

    // SMS: "BAJA" is an opt-out for SMS.
    assert_eq!(simulate(&app, "twilio", json!({ "from": PHONE, "body": "Baja." })).await, 202);
    let withdrawn = next_with(&mut consent, "channel", "sms").await;
    assert_eq!(withdrawn["data"]["via"], "keyword", "{withdrawn}");
    assert_eq!(withdrawn["data"]["attempt_id"], sms["attempt_id"], "{withdrawn}");

    // A contact by hand passes the same policy engine: email is closed since the unsubscribe, WhatsApp is not.
    let manual = |channel: &str, template: &str| {
        let url = format!("{}/api/debtors/{DEBTOR}/contacts", app.base);
        app.http.post(url).json(&json!({ "channel": channel, "template": template })).send()
    };
    let refused = manual("email", "email_reminder_v1").await.unwrap();
    assert_eq!(refused.status(), 409);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["rule"], "consent.withdrawn", "{refused}");
    let wrong = manual("whatsapp", "sms_reminder_v1").await.unwrap();
    assert_eq!(wrong.status(), 400, "a template of another channel");
    let accepted = manual("whatsapp", "whatsapp_reminder_v1").await.unwrap();
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    let contact_id = accepted["contact_id"].as_str().unwrap().to_string();
    eventually("the manual WhatsApp to be attempted", WAIT, || async {
        attempts(&app, "whatsapp").await.into_iter().find(|a| a["contact_id"] == contact_id.as_str())
    })
    .await;

    // Forged, unsigned and unauthenticated requests change nothing.
    let forged = app
        .anonymous
        .post(format!("{}/webhooks/meta/whatsapp", app.base))
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(r#"{"object":"whatsapp_business_account","entry":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let unsigned =
        app.anonymous.post(format!("{}/webhooks/sendgrid/events", app.base)).body("[]").send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let handshake = app
        .anonymous
        .get(format!("{}/webhooks/meta/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), 403);
    let control = app.anonymous.post(format!("{}/api/simulators/meta/inbound", app.base)).json(&json!({})).send();
    assert_eq!(control.await.unwrap().status(), 401);
    app.stop().await;
}
