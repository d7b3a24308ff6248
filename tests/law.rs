//! The law of the debtor's country on the whole path, on real PostgreSQL and NATS: the caps count what was sent
//! before a restart, day after day, as the clock (`RECAUDO_NOW`) moves on over the same database and streams.

mod common;

use std::time::Duration;

use common::{fixture, App, Infra, WAIT};
use recaudo::Target;
use recaudo_testkit::eventually;

async fn contacts(app: &App, debtor: &str) -> usize {
    app.get_ok(&format!("/api/debtors/{debtor}/contacts")).await["contacts"].as_array().map(Vec::len).unwrap_or(0)
}

async fn day(infra: &Infra, now: &str) -> App {
    App::spawn(infra.env(&[("RECAUDO_NOW", now)]), &Target::ALL).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_count_what_was_sent_before_a_restart() {
    let infra = Infra::start().await;
    infra.migrate().await;
    // Colombia: one contact a day. Chile: messages twice a week, at least two days apart.
    let (colombian, chilean) = ("C0000006", "C0000003");

    // Monday 23 Nov 2026, 10:00 in Bogotá, 12:00 in Santiago: both are contacted.
    let app = day(&infra, "2026-11-23T15:00:00Z").await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    for debtor in [colombian, chilean] {
        eventually("Monday's SMS", WAIT, || async { (contacts(&app, debtor).await == 1).then_some(()) }).await;
    }
    app.stop().await;

    // Tuesday: Colombia again; Chile not (one day apart).
    let app = day(&infra, "2026-11-24T15:00:00Z").await;
    eventually("Tuesday's SMS in Colombia", WAIT, || async { (contacts(&app, colombian).await == 2).then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(contacts(&app, chilean).await, 1, "Chile: at least two days apart");
    app.stop().await;

    // Wednesday: both.
    let app = day(&infra, "2026-11-25T15:00:00Z").await;
    for (debtor, n) in [(colombian, 3), (chilean, 2)] {
        eventually("Wednesday's SMS", WAIT, || async { (contacts(&app, debtor).await == n).then_some(()) }).await;
    }
    app.stop().await;

    // Friday: Colombia; Chile has had its two this week (Monday and Wednesday).
    let app = day(&infra, "2026-11-27T15:00:00Z").await;
    eventually("Friday's SMS in Colombia", WAIT, || async { (contacts(&app, colombian).await == 4).then_some(()) })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(contacts(&app, chilean).await, 2, "Chile: at most twice in any 7 days");
    app.stop().await;

    // Sunday: nobody in either country.
    let app = day(&infra, "2026-11-29T15:00:00Z").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((contacts(&app, colombian).await, contacts(&app, chilean).await), (4, 2), "never on Sundays");
    app.stop().await;

    // Monday 30 Nov: Chile's week has moved on.
    let app = day(&infra, "2026-11-30T15:00:00Z").await;
    for (debtor, n) in [(colombian, 5), (chilean, 3)] {
        eventually("the next Monday's SMS", WAIT, || async { (contacts(&app, debtor).await == n).then_some(()) }).await;
    }
    app.stop().await;
}
