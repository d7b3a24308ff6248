//! When a provider fails, the dispatcher holds back instead of pushing every request into it: after a few failures
//! in a row the circuit opens and requests wait (none lost, none sent twice) until one trial gets through; a 429's
//! `Retry-After` pauses sending for that long; and sends never exceed the channel's rate. Against Meta's
//! simulator in this test process, on real PostgreSQL, NATS and HTTP.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Infra, WAIT};
use recaudo::Target;
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_events::ContactRequested;
use recaudo_simulators::meta::{Direction, Fault, MetaSimConfig, MetaSimulator};
use recaudo_testkit::eventually;

/// A WhatsApp request for debtor number `n` of batch `batch` (each its own debtor, so no cap stops the next).
fn request(batch: &str, n: usize) -> ContactRequested {
    let to = format!("+52551{batch}{n:05}");
    common::contact_request("whatsapp", &to, &format!("O{batch}{n:05}"), "MX", "America/Mexico_City", "MXN")
}

/// When the simulator accepted each message of `batch`, in order.
fn accepted(sim: &MetaSimulator, batch: &str) -> Vec<(String, DateTime<Utc>)> {
    let prefix = format!("52551{batch}");
    let mut out: Vec<_> = sim
        .messages()
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound && m.wa_id.starts_with(&prefix))
        .map(|m| (m.wa_id, m.created))
        .collect();
    out.sort_by_key(|(_, at)| *at);
    out
}

async fn publish(bus: &Bus, batch: &str, n: usize) {
    for i in 0..n {
        let msg = RawMessage::event(bus.prefix(), "test/scheduler", Utc::now(), request(batch, i)).unwrap();
        bus.publish(&msg).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_opens_the_circuit_retry_after_pauses_and_the_rate_holds() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}", listener.local_addr().unwrap());
    let config = MetaSimConfig {
        webhook_url: Some(format!("{app_url}{}", "/webhooks/meta/whatsapp")),
        status_delay: Duration::from_millis(20),
        ..MetaSimConfig::demo()
    };
    let sim = MetaSimulator::new(config.clone());
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}/meta", sim_listener.local_addr().unwrap());
    let router = axum::Router::new().nest("/meta", sim.router());
    tokio::spawn(async move { axum::serve(sim_listener, router).await });

    let env = infra.env(&[
        ("RECAUDO_NOW", "2026-11-23T16:00:00Z"),
        ("RECAUDO_PUBLIC_URL", app_url.as_str()),
        ("RECAUDO_WHATSAPP_PROVIDER", "meta"),
        ("RECAUDO_META_BASE_URL", sim_url.as_str()),
        ("RECAUDO_META_PHONE_NUMBER_ID", config.phone_number_id.as_str()),
        ("RECAUDO_META_ACCESS_TOKEN", config.access_token.as_str()),
        ("RECAUDO_META_APP_SECRET", config.app_secret.as_str()),
        ("RECAUDO_META_VERIFY_TOKEN", "verify-token-of-the-outage-test"),
        ("RECAUDO_BREAKER_FAILURES", "3"),
        ("RECAUDO_BREAKER_COOLDOWN_SECS", "2"),
        ("RECAUDO_WHATSAPP_RATE_PER_SEC", "5"),
    ]);
    let app = common::App::spawn_on(listener, env, &[Target::Dispatcher]).await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let unknown = || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dispatcher.attempts WHERE status = 'unknown'")
            .fetch_one(&pool)
            .await
            .unwrap();
        n
    };

    // Meta fails three times (HTTP 500, unknown whether it sent): the circuit opens for two seconds, and the
    // requests that come meanwhile wait rather than go to a provider that is down.
    sim.fail_next(3, Fault::ServerError);
    publish(&bus, "0", 3).await;
    eventually("three unknown attempts", WAIT, || async { (unknown().await == 3).then_some(()) }).await;
    let opened = Utc::now();
    publish(&bus, "1", 5).await;
    let sent = eventually("five messages after the outage", WAIT, || async {
        let a = accepted(&sim, "1");
        (a.len() == 5).then_some(a)
    })
    .await;
    assert_eq!(unknown().await, 3, "the three calls Meta failed are unknown, never resent");
    let waited = sent[0].1 - opened;
    assert!(waited >= chrono::Duration::milliseconds(1500), "the first send after the failures waited {waited}");
    let mut numbers: Vec<&String> = sent.iter().map(|(n, _)| n).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 5, "no number twice: {sent:?}");

    // A 429 with Retry-After: nothing goes out for that long, and the throttled request is sent once, after it.
    sim.fail_next(1, Fault::RateLimited { retry_after: Duration::from_secs(2) });
    let throttled = Utc::now();
    publish(&bus, "2", 1).await;
    let sent = eventually("the throttled message", WAIT, || async {
        let a = accepted(&sim, "2");
        (!a.is_empty()).then_some(a)
    })
    .await;
    let waited = sent[0].1 - throttled;
    assert!(waited >= chrono::Duration::milliseconds(1900), "sent {waited} after the 429");
    // Once the dispatcher has handled every request it was given, nothing can send it again.
    common::consumer_caught_up(&infra, "contact", "dispatcher-whatsapp").await;
    assert_eq!(accepted(&sim, "2").len(), 1);
    assert_eq!(unknown().await, 3, "a 429 is not an unknown attempt");

    // Five calls a second: fifteen messages take at least two seconds beyond the first burst.
    publish(&bus, "3", 15).await;
    let sent = eventually("fifteen messages", WAIT, || async {
        let a = accepted(&sim, "3");
        (a.len() == 15).then_some(a)
    })
    .await;
    let span = sent[14].1 - sent[0].1;
    assert!(span >= chrono::Duration::milliseconds(1800), "15 messages at 5 a second went out in {span}");

    // Every request ended in exactly one attempt, and none was dead-lettered.
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM dispatcher.attempts").fetch_one(&pool).await.unwrap();
    assert_eq!(attempts, 3 + 5 + 1 + 15);
    app.stop().await;
}
