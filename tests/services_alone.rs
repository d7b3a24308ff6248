//! Every service also runs alone, one per process, as deployed on Kubernetes: the same path as the walking
//! skeleton, with each step asked of the process that owns it.

mod common;

use common::{fixture, App, Infra, WAIT};
use recaudo::Target;
use recaudo_testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_runs_in_its_own_process() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let now = [("RECAUDO_NOW", "2026-11-23T15:00:00Z")];
    let reply_router = App::spawn(infra.env(&now), &[Target::ReplyRouter]).await;
    let ingestion = App::spawn(infra.env(&now), &[Target::Ingestion]).await;
    let portfolio = App::spawn(infra.env(&now), &[Target::Portfolio]).await;
    let scheduler = App::spawn(infra.env(&now), &[Target::Scheduler]).await;
    // Reply links must reach the reply-router: in a cluster the ingress routes `/r/` there.
    let dispatcher_env = infra.env(&[now[0], ("RECAUDO_PUBLIC_URL", reply_router.base.as_str())]);
    let dispatcher = App::spawn(dispatcher_env, &[Target::Dispatcher]).await;
    let metrics = App::spawn(infra.env(&now), &[Target::Metrics]).await;

    // Each process serves only its own routes, plus the probes and the access layer every process runs.
    assert_eq!(ingestion.get("/api/kpis").await.0, 404);
    let ready = scheduler.get_ok("/readyz").await;
    assert_eq!(ready["migrations"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["access", "scheduler"]);
    assert_eq!(ready["notices"], serde_json::json!([]), "{ready}");

    let import = ingestion.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    assert_eq!(import["state"], "completed");
    let debtor = portfolio.get_ok("/api/debtors/C0000003").await;
    let advisor_id = debtor["advisor"]["id"].as_str().unwrap().to_string();

    let body = eventually("the SMS", WAIT, || async {
        let c = dispatcher.get_ok("/api/debtors/C0000003/contacts").await;
        c["contacts"][0]["body"].as_str().map(str::to_string)
    })
    .await;
    let link = &body[body.find("http").unwrap()..];
    assert!(link.starts_with(&format!("{}/r/", reply_router.base)), "{link}");
    let link = link.to_string();
    eventually("the click to redirect", WAIT, || async {
        let resp = reply_router.http.get(&link).send().await.ok()?;
        (resp.status().as_u16() == 302).then_some(())
    })
    .await;
    let queue = reply_router.get_ok(&format!("/api/advisors/{advisor_id}/queue")).await;
    // One open item for the debtor (the click, or the default strategy's call task it joined).
    let of_debtor = queue["items"].as_array().unwrap().iter().filter(|i| i["debtor_id"] == "C0000003").count();
    assert_eq!(of_debtor, 1, "{queue}");
    eventually("the KPIs", WAIT, || async {
        let k = metrics.get_ok("/api/kpis").await;
        (k["clicks"] == 1 && k["contacts_attempted"]["sms"] == 7 && k["debtors_imported"] == 10).then_some(())
    })
    .await;

    for app in [reply_router, ingestion, portfolio, scheduler, dispatcher, metrics] {
        app.stop().await;
    }
}

/// The clock moved into the holiday calendar's last year: the scheduler says, ready as it is, that the calendar ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_warns_of_the_holiday_calendars_end_a_year_ahead() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let scheduler = App::spawn(infra.env(&[("RECAUDO_NOW", "2060-06-01T15:00:00Z")]), &[Target::Scheduler]).await;
    let ready = scheduler.get_ok("/readyz").await;
    assert_eq!(ready["ready"], true, "{ready}");
    let notice = ready["notices"][0].as_str().unwrap_or_default();
    assert!(notice.contains("holiday calendar ends on 2060-12-31"), "{ready}");
}
