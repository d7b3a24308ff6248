//! Templates managers write, on real PostgreSQL, NATS and HTTP: refused whole with every problem's path, line and
//! reason; saved as versions with the SMS segment warning; listed beside the built-in catalogue; previewed for a
//! debtor in their locale; named by strategies; and sent, as saved, by a contact by hand.

mod common;

use common::{fixture, next_with, App, Infra, WAIT};
use recaudo::Target;
use recaudo_bus::{Bus, Prefix};
use recaudo_testkit::eventually;
use serde_json::{json, Value};

// Mexico, on its most overdue credit: 7276.26 MXN due on 2026-10-06.
const DEBTOR: &str = "C0000008";

async fn put(app: &App, name: &str, body: Value) -> (u16, Value) {
    let resp = app.http.put(format!("{}/api/templates/{name}", app.base)).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn post(app: &App, path: &str, body: Value) -> (u16, Value) {
    let resp = app.http.post(format!("{}{path}", app.base)).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

fn problems(body: &Value) -> Vec<(String, Option<u64>)> {
    body["error"]["details"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems in {body}"))
        .iter()
        .map(|p| (p["path"].as_str().unwrap().to_string(), p["line"].as_u64()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_write_check_preview_and_send_templates() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut requested = bus.client().subscribe("recaudo.contact.requested.email").await.unwrap();
    let app = App::spawn(
        infra.env(&[("RECAUDO_NOW", "2026-11-23T16:00:00Z"), ("RECAUDO_SMS_SEGMENT_WARNING", "1")]),
        &Target::ALL,
    )
    .await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;

    // Refused whole: an unknown tag on line 2 and a syntax error in the subject, each with its path and line.
    let (status, body) = put(
        &app,
        "aviso_correo",
        json!({ "channel": "email", "body": "Hola {{ debtor.first_name }}\nsu {{ debtor.apodo }}",
                "subject": "Aviso {% if advisor %}" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_template");
    assert_eq!(problems(&body), [("body".to_string(), Some(2)), ("subject".to_string(), Some(1))], "{body}");
    // A WhatsApp template needs Meta's approved template, with a real language code.
    let (status, body) = put(
        &app,
        "aviso_wa",
        json!({ "channel": "whatsapp", "body": "Hola",
                "whatsapp": { "meta_name": "aviso", "language": "castellano", "params": [] } }),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problems(&body), [("whatsapp.language".to_string(), None)], "{body}");
    let (status, body) = put(&app, "aviso_wa", json!({ "channel": "whatsapp", "body": "Hola", "extra": 1 })).await;
    assert_eq!((status, problems(&body)), (422, vec![("extra".to_string(), None)]), "{body}");
    // A value the types cannot take hides nothing: the unknown tag beside it is in the same answer.
    let (status, body) = put(&app, "aviso_fax", json!({ "channel": "fax", "body": "Hola {{ debtor.nombre }}" })).await;
    assert_eq!(status, 422, "{body}");
    let found = problems(&body);
    assert!(found.iter().any(|(path, _)| path == "channel"), "{body}");
    assert!(found.iter().any(|(path, line)| path == "body" && *line == Some(1)), "{body}");
    // Not a JSON object at all: not a template.
    let (status, body) = put(&app, "aviso_wa", json!(["channel", "sms"])).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_body")), "{body}");
    // Nothing refused was kept.
    assert_eq!(app.get("/api/templates/aviso_correo").await.0, 404);

    // Saved: a long SMS with accents costs UCS-2 segments, above the limit of 1: a warning, not a refusal.
    let long = "Hola {{ debtor.first_name }}, su crédito {{ credit.id }} tiene {{ credit.overdue }} vencido desde \
                el {{ credit.due_date }}. Comuníquese hoy: {{ reply_link }}";
    let (status, saved) = put(&app, "recordatorio_largo", json!({ "channel": "sms", "body": long })).await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["sms"]["encoding"], "ucs2", "{saved}");
    assert!(saved["sms"]["segments"].as_u64().unwrap() >= 2, "{saved}");
    assert!(saved["warnings"][0]["reason"].as_str().unwrap().contains("UCS-2"), "{saved}");
    let (status, again) =
        put(&app, "recordatorio_largo", json!({ "channel": "sms", "body": "Hola {{ reply_link }}" })).await;
    assert_eq!((status, again["version"].as_i64()), (201, Some(2)), "{again}");
    assert_eq!(again["warnings"], json!([]), "{again}");
    // A name keeps its channel; a built-in name keeps the built-in one's.
    let (status, body) =
        put(&app, "recordatorio_largo", json!({ "channel": "email", "body": "Hola", "subject": "Hola" })).await;
    assert_eq!((status, problems(&body)), (422, vec![("channel".to_string(), None)]), "{body}");
    let (status, _) = put(&app, "sms_reminder_v1", json!({ "channel": "call", "body": "Llamar" })).await;
    assert_eq!(status, 422);

    // An email template in the debtor's locale: money and dates as Mexicans read them.
    let email = json!({
        "channel": "email",
        "subject": "{{ debtor.first_name }}, su {{ credit.product }}",
        "body": "Saldo vencido: {{ credit.overdue }}, desde el {{ credit.due_date }}.{% if advisor %} Su asesora \
                 {{ advisor.name }}.{% endif %} {{ reply_link }}",
    });
    assert_eq!(put(&app, "aviso_correo", email).await.0, 201);

    // Listed beside the built-in catalogue, with name, channel and version.
    let list = app.get_ok("/api/templates").await;
    let entry = |name: &str| list["templates"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned();
    let saved = entry("recordatorio_largo").expect("the saved template listed");
    assert_eq!(
        (saved["channel"].as_str(), saved["version"].as_i64(), saved["builtin"].as_bool()),
        (Some("sms"), Some(2), Some(false))
    );
    assert_eq!(entry("whatsapp_reminder_v1").expect("built-ins listed")["builtin"], true);
    let versions = app.get_ok("/api/templates/recordatorio_largo").await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2, "{versions}");

    // Preview for the debtor, as the channel sends it.
    let (status, preview) = post(&app, "/api/templates/aviso_correo/preview", json!({ "debtor_id": DEBTOR })).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["locale"], "es-MX");
    assert_eq!(preview["subject"], "Jorge, su Tarjeta");
    let text = preview["body"].as_str().unwrap();
    assert!(
        text.starts_with("Saldo vencido: $ 7,276.26, desde el 6 de octubre de 2026. Su asesora Valentina Pérez."),
        "{text}"
    );
    assert!(text.contains("Para no recibir más correos"), "the unsubscribe footer: {text}");
    let (status, sms) = post(&app, "/api/templates/sms_reminder_v1/preview", json!({ "debtor_id": DEBTOR })).await;
    assert_eq!(status, 200, "{sms}");
    assert!(sms["sms"]["segments"].as_u64().unwrap() >= 1, "{sms}");
    assert_eq!(post(&app, "/api/templates/nope/preview", json!({ "debtor_id": DEBTOR })).await.0, 404);
    assert_eq!(post(&app, "/api/templates/aviso_correo/preview", json!({ "debtor_id": "NOPE-1" })).await.0, 404);

    // A strategy may name the saved template; a template of another channel is refused at save.
    let strategy = |template: &str| {
        format!(
            "segment:\n  priority: 5\n  when: 'debtor.country == \"CL\"'\nstages:\n  - name: mora\n    days_past_due: {{ from: 1, to: 90 }}\n    steps:\n      - id: aviso\n        day: 1\n        channel: email\n        template: {template}\n"
        )
    };
    let put_strategy = |text: String| app.http.put(format!("{}/api/strategies/correo-cl", app.base)).body(text).send();
    assert_eq!(put_strategy(strategy("aviso_correo")).await.unwrap().status(), 201);
    let refused = put_strategy(strategy("recordatorio_largo")).await.unwrap();
    assert_eq!(refused.status(), 422);

    // Sent as saved: a contact by hand carries the saved version, and the email says what the preview said.
    let (status, accepted) = post(
        &app,
        &format!("/api/debtors/{DEBTOR}/contacts"),
        json!({ "channel": "email", "template": "aviso_correo" }),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let event = next_with(&mut requested, "contact_id", accepted["contact_id"].as_str().unwrap()).await;
    assert_eq!(event["data"]["template_source"]["version"], 1, "{event}");
    let attempt = eventually("the email attempt", WAIT, || async {
        let all = app.get_ok(&format!("/api/debtors/{DEBTOR}/contacts")).await;
        all["contacts"].as_array().unwrap().iter().find(|a| a["channel"] == "email").cloned()
    })
    .await;
    assert!(
        attempt["body"].as_str().unwrap().starts_with("Saldo vencido: $ 7,276.26, desde el 6 de octubre de 2026."),
        "{attempt}"
    );

    // Only managers (and admins) write templates.
    app.put_user("auditor-1", json!({ "role": "auditor" })).await;
    let auditor = infra.idp.token("auditor-1");
    let resp = app
        .anonymous
        .put(format!("{}/api/templates/otro", app.base))
        .bearer_auth(auditor)
        .json(&json!({ "channel": "sms", "body": "Hola" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    app.stop().await;
}
