//! One send rate per provider account across replicas and restarts: two sms dispatcher processes (one of them
//! killed and started again while they send) against one Twilio simulator, which counts the message requests it
//! receives per second.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{self, Next};
use common::{serve_ready, Infra};
use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};
use recaudo_testkit::eventually;

/// Three slots a lease (a tenth of a second's worth), as at the providers' real rates.
const RATE: usize = 30;
const REQUESTS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_and_a_restart_keep_one_rate_at_the_provider() {
    // The provider, with the arrival instant of every message request it accepts.
    let sim = TwilioSimulator::new(SimConfig::demo());
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = arrivals.clone();
    let router = axum::Router::new().nest("/twilio", sim.router()).layer(middleware::from_fn(
        move |req: Request, next: Next| {
            let seen = seen.clone();
            async move {
                let sending = req.method() == "POST" && req.uri().path().ends_with("/Messages.json");
                let at = Instant::now();
                let response = next.run(req).await;
                if sending && response.status().is_success() {
                    seen.lock().unwrap().push(at);
                }
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}/twilio", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let infra = Infra::start().await;
    infra.migrate().await;
    let rate = RATE.to_string();
    let env = [
        ("RECAUDO_SMS_PROVIDER", "twilio"),
        ("RECAUDO_TWILIO_BASE_URL", sim_url.as_str()),
        ("RECAUDO_TWILIO_FROM", SimConfig::DEMO_FROM),
        ("RECAUDO_SMS_RATE_PER_SEC", rate.as_str()),
        ("RECAUDO_INTERRUPTED_AFTER_SECS", "1"),
    ];
    let (_a, _) = serve_ready(&infra, "dispatcher", "sms", &env).await;
    let (mut b, _) = serve_ready(&infra, "dispatcher", "sms", &env).await;

    let bus = recaudo_bus::Bus::connect(&infra.nats.url, recaudo_bus::Prefix::parse("recaudo").unwrap()).await.unwrap();
    for i in 0..REQUESTS {
        let request = common::contact_request(
            "sms",
            &format!("+52155{i:08}"),
            &format!("R{i:05}"),
            "MX",
            "America/Mexico_City",
            "MXN",
        );
        bus.publish(
            &recaudo_bus::RawMessage::event(bus.prefix(), "test/scheduler", chrono::Utc::now(), request).unwrap(),
        )
        .await
        .unwrap();
    }
    // One replica dies while both send and comes back: it continues after the slots already taken.
    eventually("the replicas to be sending", Duration::from_secs(30), || async {
        (arrivals.lock().unwrap().len() >= 2 * RATE).then_some(())
    })
    .await;
    b.kill();
    b = serve_ready(&infra, "dispatcher", "sms", &env).await.0;

    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    eventually("every request attempted", Duration::from_secs(60), || async {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM dispatcher.attempts WHERE status <> 'sending'")
            .fetch_one(&pool)
            .await
            .unwrap();
        (done == REQUESTS as i64).then_some(())
    })
    .await;
    b.kill();

    let mut at = arrivals.lock().unwrap().clone();
    at.sort();
    assert!(at.len() >= REQUESTS - 1, "{} messages reached the provider", at.len());
    // Every second, however it is cut: the rate, give or take the few milliseconds by which one send's own work
    // (a transaction, a request) outlasts another's; two replicas with a limit each would send twice the rate.
    let busiest = (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| t.duration_since(at[i]) < Duration::from_secs(1)).count())
        .max()
        .unwrap();
    assert!(busiest <= RATE + RATE / 10, "{busiest} messages within one second at a rate of {RATE}");
    // And over the whole run, slot after slot: no faster than the rate.
    let span = at.last().unwrap().duration_since(at[0]).as_secs_f64();
    let floor = (at.len() - 1) as f64 / RATE as f64;
    eprintln!("{} messages in {span:.2} s, at most {busiest} within a second, at a rate of {RATE}", at.len());
    assert!(span >= floor - 0.1, "{} messages in {span:.2} s; at {RATE}/s they take {floor:.2} s", at.len());
}
