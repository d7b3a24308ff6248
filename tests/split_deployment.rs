//! Services in processes of their own, as Kubernetes runs them: an Ingress routes `/api/debtors/{id}/contacts` by
//! path to the dispatcher, which serves the listing (`GET`) and passes a contact requested by hand (`POST`) on to
//! the scheduler with the caller's credentials.

mod common;

use common::{fixture, App, Infra, WAIT};
use recaudo::Target;
use recaudo_testkit::eventually;
use serde_json::{json, Value};

const DEBTOR: &str = "C0000008";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_requested_at_the_dispatcher_is_decided_by_the_scheduler() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let now = ("RECAUDO_NOW", "2026-11-23T16:00:00Z");
    let rest = App::spawn(
        infra.env(&[now]),
        &[Target::Ingestion, Target::Portfolio, Target::Scheduler, Target::ReplyRouter, Target::Metrics],
    )
    .await;
    let dispatcher =
        App::spawn(infra.env(&[now, ("RECAUDO_SCHEDULER_URL", rest.base.as_str())]), &[Target::Dispatcher]).await;
    rest.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    let url = format!("{}/api/debtors/{DEBTOR}/contacts", dispatcher.base);

    // Refusals come back as the scheduler gave them: no credential, a template of another channel.
    assert_eq!(dispatcher.anonymous.post(&url).json(&json!({})).send().await.unwrap().status(), 401);
    let wrong = dispatcher.http.post(&url).json(&json!({ "channel": "whatsapp", "template": "sms_reminder_v1" }));
    let wrong = wrong.send().await.unwrap();
    assert_eq!(wrong.status(), 400);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "template_channel", "{body}");

    let accepted = eventually("the scheduler to know the debtor", WAIT, || async {
        let resp = dispatcher
            .http
            .post(&url)
            .json(&json!({ "channel": "whatsapp", "template": "whatsapp_reminder_v1" }))
            .send()
            .await
            .ok()?;
        (resp.status() == 202).then_some(resp)
    })
    .await;
    let accepted: Value = accepted.json().await.unwrap();
    let contact_id = accepted["contact_id"].as_str().expect("a contact id").to_string();
    // The dispatcher sends it and lists it.
    eventually("the manual WhatsApp to be attempted", WAIT, || async {
        let list = dispatcher.get_ok(&format!("/api/debtors/{DEBTOR}/contacts")).await;
        list["contacts"].as_array()?.iter().find(|a| a["contact_id"] == contact_id.as_str()).cloned()
    })
    .await;
    dispatcher.stop().await;
    rest.stop().await;
}
