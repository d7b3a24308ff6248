//! The law of the debtor's country on the whole path, on real PostgreSQL and NATS: the caps count what was sent
//! before a restart, day after day, as the clock (`RECAUDO_NOW`) moves on over the same database and streams.

mod common;

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
    // Decided, and nothing requested: the planner's own record, not a pause that hopes it ran.
    let requested = common::requested_once_planned(&infra, chilean, "2026-11-24T15:00:00Z").await;
    assert_eq!(requested, 1, "Chile: at least two days apart");
    assert_eq!(contacts(&app, chilean).await, 1);
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
    let requested = common::requested_once_planned(&infra, chilean, "2026-11-27T15:00:00Z").await;
    assert_eq!(requested, 2, "Chile: at most twice in any 7 days");
    assert_eq!(contacts(&app, chilean).await, 2);
    app.stop().await;

    // Sunday: nobody in either country.
    let app = day(&infra, "2026-11-29T15:00:00Z").await;
    let requested = (
        common::requested_once_planned(&infra, colombian, "2026-11-29T15:00:00Z").await,
        common::requested_once_planned(&infra, chilean, "2026-11-29T15:00:00Z").await,
    );
    assert_eq!(requested, (4, 2), "never on Sundays");
    assert_eq!((contacts(&app, colombian).await, contacts(&app, chilean).await), (4, 2));
    // The plan says why, and when: Monday 07:00 in Bogotá, Monday 08:00 in Santiago (UTC-3 in summer).
    let plan = app.get_ok(&format!("/api/debtors/{colombian}/plan")).await;
    assert_eq!(plan["preset"]["id"], "co", "{plan}");
    assert_eq!(plan["suppressions"][0]["rule"], "co.hours", "{plan}");
    assert_eq!(plan["next_contacts"][0]["earliest_allowed"], "2026-11-30T12:00:00Z", "{plan}");
    let plan = app.get_ok(&format!("/api/debtors/{chilean}/plan")).await;
    assert_eq!(plan["next_contacts"][0]["earliest_allowed"], "2026-11-30T11:00:00Z", "{plan}");
    assert_eq!(app.get("/api/debtors/NOBODY/plan").await.0, 404);
    app.stop().await;

    // Monday 30 Nov: Chile's week has moved on.
    let app = day(&infra, "2026-11-30T15:00:00Z").await;
    for (debtor, n) in [(colombian, 5), (chilean, 3)] {
        eventually("the next Monday's SMS", WAIT, || async { (contacts(&app, debtor).await == n).then_some(()) }).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_held_past_the_window_is_not_sent_and_no_attempt_breaks_the_law() {
    let infra = Infra::start().await;
    infra.migrate().await;
    // 18:59 on Monday in Bogotá: the scheduler requests the Colombian debtors' SMS, but no dispatcher runs.
    let planners = App::spawn(
        infra.env(&[("RECAUDO_NOW", "2026-11-23T23:59:00Z")]),
        &[Target::Ingestion, Target::Portfolio, Target::Scheduler, Target::ReplyRouter, Target::Metrics],
    )
    .await;
    planners.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    eventually("the request for C0000006", WAIT, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduler.contact_ledger WHERE debtor_id = 'C0000006'")
            .fetch_one(&pool)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    planners.stop().await;

    // 19:05: the dispatcher comes up, finds the request waiting in the stream, and re-checks the law.
    let bus = recaudo_bus::Bus::connect(&infra.nats.url, recaudo_bus::Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut suppressed = bus.client().subscribe("recaudo.contact.suppressed").await.unwrap();
    let dispatcher = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-24T00:05:00Z")]), &[Target::Dispatcher]).await;
    let event = common::next_with(&mut suppressed, "debtor_id", "C0000006").await;
    assert_eq!(event["data"]["rule"], "co.hours", "{event}");
    assert!(event["data"]["detail"].as_str().unwrap().contains("Ley 2300"), "{event}");
    assert_eq!(contacts(&dispatcher, "C0000006").await, 0, "nothing was sent after 19:00");

    let violations = "/api/compliance/violations?from=2026-11-23T00:00:00Z&to=2026-11-30T00:00:00Z";
    let report = dispatcher.get_ok(violations).await;
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");

    // The check is real: an attempt made on a Sunday (planted here) is reported with its rule.
    sqlx::query(
        "INSERT INTO dispatcher.attempts (id, contact_id, channel, debtor_id, credit_id, to_address, body, reply_token,
                                          provider, status, created_at, attempted_at, updated_at, country)
         VALUES ($1, $2, 'sms', 'C0000009', 'CR-X', '+573000000000', 'x', 'planted-token', 'simulator', 'sent',
                 '2026-11-29T15:00:00Z', '2026-11-29T15:00:00Z', '2026-11-29T15:00:00Z', 'CO')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();
    let report = dispatcher.get_ok(violations).await;
    let found = report["violations"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!((found[0]["debtor_id"].as_str(), found[0]["rule"].as_str()), (Some("C0000009"), Some("co.hours")));
    assert_eq!(dispatcher.get("/api/compliance/violations?from=x").await.0, 400);
    dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduler_replicas_never_exceed_a_cap_nor_request_a_contact_twice() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let rest = [Target::Ingestion, Target::Portfolio, Target::Dispatcher, Target::ReplyRouter, Target::Metrics];
    // (C0000007 has no phone; C0000001 and C0000004 owe nothing overdue.)
    let eligible = ["C0000002", "C0000003", "C0000005", "C0000006", "C0000008", "C0000009", "C0000010"];
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let mut expected: Vec<usize> = vec![1; eligible.len()];
    for (n, now) in ["2026-11-23T15:00:00Z", "2026-11-24T15:00:00Z"].into_iter().enumerate() {
        let app = App::spawn(infra.env(&[("RECAUDO_NOW", now)]), &rest).await;
        let a = App::spawn(infra.env(&[("RECAUDO_NOW", now)]), &[Target::Scheduler]).await;
        let b = App::spawn(infra.env(&[("RECAUDO_NOW", now)]), &[Target::Scheduler]).await;
        if n == 0 {
            app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
        } else {
            // Tuesday: one a day everywhere but Chile, whose messages must be two days apart.
            expected = eligible.iter().map(|d| if ["C0000003", "C0000010"].contains(d) { 1 } else { 2 }).collect();
        }
        for (debtor, n) in eligible.iter().zip(&expected) {
            eventually(&format!("{debtor}'s SMS number {n} on {now}"), WAIT, || async {
                (contacts(&app, debtor).await >= *n).then_some(())
            })
            .await;
        }
        // Exactly that many: the planner decided each debtor with no more requests (the dispatcher attempts a
        // request at most once).
        for (debtor, n) in eligible.iter().zip(&expected) {
            assert_eq!(common::requested_once_planned(&infra, debtor, now).await, *n as i64, "{debtor} on {now}");
            assert_eq!(contacts(&app, debtor).await, *n, "{debtor} on {now}");
        }
        // Never two attempts for one debtor on one local day, nor two requests for one contact.
        let doubled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT debtor_id, (created_at AT TIME ZONE 'America/Bogota')::date
                                   FROM dispatcher.attempts GROUP BY 1, 2 HAVING count(*) > 1) d",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(doubled, 0);
        for app in [app, a, b] {
            app.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_back_after_a_day_sends_one_of_two_waiting_requests_where_the_law_allows_one_a_day() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let planners = [Target::Ingestion, Target::Portfolio, Target::Scheduler, Target::ReplyRouter, Target::Metrics];
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let requested = |debtor: &'static str, n: i64| {
        let pool = pool.clone();
        async move {
            let got: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduler.contact_ledger WHERE debtor_id = $1")
                .bind(debtor)
                .fetch_one(&pool)
                .await
                .unwrap();
            (got == n).then_some(())
        }
    };
    // Monday and Tuesday the scheduler requests Colombia's daily SMS; no dispatcher runs (an outage).
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T15:00:00Z")]), &planners).await;
    app.import(fixture("clientes_asesores.csv"), "as_of=2026-11-20").await;
    eventually("Monday's request", WAIT, || requested("C0000006", 1)).await;
    app.stop().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-24T15:00:00Z")]), &planners).await;
    eventually("Tuesday's request", WAIT, || requested("C0000006", 2)).await;
    app.stop().await;

    // Tuesday 10:30 in Bogotá the dispatcher is back: both requests are waiting, but Colombia allows one a day.
    let bus = recaudo_bus::Bus::connect(&infra.nats.url, recaudo_bus::Prefix::parse("recaudo").unwrap()).await.unwrap();
    let mut suppressed = bus.client().subscribe("recaudo.contact.suppressed").await.unwrap();
    let dispatcher = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-24T15:30:00Z")]), &[Target::Dispatcher]).await;
    let event = common::next_with(&mut suppressed, "debtor_id", "C0000006").await;
    assert_eq!(event["data"]["rule"], "co.one_contact_a_day", "{event}");
    // Both requests are accounted for (one suppressed above, one sent): there is nothing left to wait for.
    eventually("one SMS sent", WAIT, || async { (contacts(&dispatcher, "C0000006").await == 1).then_some(()) }).await;
    let violations = "/api/compliance/violations?from=2026-11-23T00:00:00Z&to=2026-11-30T00:00:00Z";
    assert_eq!(dispatcher.get_ok(violations).await["violations"], serde_json::json!([]));
    dispatcher.stop().await;
}
