//! At most one provider call per attempt, whatever is killed when: the sms dispatcher runs in a process of its own
//! that is killed with SIGKILL again and again while it sends, against a Twilio simulator in this test process that
//! survives every kill and counts what it received. No debtor gets the message twice, and every attempt ends
//! settled: the messages a killed process sent are found in the provider's records while the next one runs, and the
//! statuses whose callbacks were lost converge from the provider's message resource. And on every channel, the
//! dispatcher aborted exactly between the provider's answer and the commit (`RECAUDO_CRASH_AT`) again and again
//! never sends twice, and every message the providers took is tied to its attempt.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ready, serve_child, Infra, ADMIN};
use recaudo_simulators::twilio::{SimConfig, TwilioSimulator};
use recaudo_testkit::{eventually, free_port};

/// Mexico (no daily cap): the default strategy sends each overdue debtor one SMS on the planning day.
const DEBTORS: usize = 1500;

fn client_file() -> Vec<u8> {
    let mut file =
        String::from("id_cliente,nombre,telefono,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\n");
    for i in 0..DEBTORS {
        file.push_str(&format!("K{i:05},Deudor,55{i:08},KC-{i:05},MXN,1000,100,2026-11-10,MX\n"));
    }
    file.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_dispatcher_again_and_again_never_sends_twice_and_settles_every_attempt() {
    // The provider: outside the processes that are killed.
    let sim = TwilioSimulator::new(SimConfig { status_delay: Duration::from_millis(50), ..SimConfig::demo() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}/twilio", listener.local_addr().unwrap());
    let router = axum::Router::new().nest("/twilio", sim.router());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let infra = Infra::start().await;
    infra.migrate().await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    // Everything but the dispatcher, in a process that stays up.
    let rest_port = free_port().unwrap();
    let mut rest = serve_child(&infra, rest_port, "ingestion,portfolio,scheduler,reply-router,metrics", "sms", &[]);
    ready(rest_port).await;
    let dispatcher_env = [
        ("RECAUDO_SMS_PROVIDER", "twilio"),
        ("RECAUDO_TWILIO_BASE_URL", sim_url.as_str()),
        ("RECAUDO_TWILIO_FROM", SimConfig::DEMO_FROM),
        // Cut-off attempts count as such one second after they were recorded, so the test does not wait long.
        ("RECAUDO_INTERRUPTED_AFTER_SECS", "1"),
        // Statuses whose callbacks came while no dispatcher listened are looked up a second after the send.
        ("RECAUDO_RECONCILE_AFTER_SECS", "1"),
    ];
    let dispatcher_port = free_port().unwrap();
    let mut dispatcher = serve_child(&infra, dispatcher_port, "dispatcher", "sms", &dispatcher_env);
    ready(dispatcher_port).await;

    let import = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{rest_port}/api/imports?as_of=2026-11-20"))
        .bearer_auth(infra.idp.token(ADMIN))
        .header("content-type", "text/csv")
        .body(client_file())
        .send()
        .await
        .unwrap();
    assert!(import.status().is_success(), "{}", import.status());

    // Kill the dispatcher while it sends, at varying points, and start it again each time.
    let mut kills = 0;
    for pause in [700u64, 450, 900, 300, 650, 1100] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        dispatcher.kill();
        kills += 1;
        dispatcher = serve_child(&infra, dispatcher_port, "dispatcher", "sms", &dispatcher_env);
        ready(dispatcher_port).await;
    }
    let sent_before_the_end: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dispatcher.attempts").fetch_one(&pool).await.unwrap();
    assert!(sent_before_the_end < DEBTORS as i64, "the kills came while sending ({sent_before_the_end} attempts)");

    // The last dispatcher finishes: every debtor attempted, and no attempt left `sending`.
    eventually("every attempt recorded and settled", Duration::from_secs(120), || async {
        let (all, sending): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE status = 'sending') FROM dispatcher.attempts")
                .fetch_one(&pool)
                .await
                .unwrap();
        (all == DEBTORS as i64 && sending == 0).then_some(())
    })
    .await;

    // What the provider received: never two messages to one debtor, and each one known to its attempt.
    let mut per_number: BTreeMap<String, usize> = BTreeMap::new();
    for m in sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
        *per_number.entry(m.to).or_default() += 1;
    }
    let twice: Vec<_> = per_number.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice after {kills} kills: {twice:?}");
    let received = per_number.len() as i64;
    tied_to_attempts(&pool, received).await;
    // Callbacks lost while a dispatcher was down: the statuses converge from the provider's records anyway.
    // An attempt cut off before its request reached the provider stays `unknown`: the provider has no such
    // message, and it is never resent. Every other one ends delivered.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT to_address, status, final FROM dispatcher.attempts").fetch_all(&pool).await.unwrap();
        let unsettled: Vec<_> = rows
            .iter()
            .filter(|(to, status, is_final)| {
                !(status == "delivered" && *is_final || status == "unknown" && !per_number.contains_key(to))
            })
            .collect();
        if unsettled.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "attempts not settled as the provider says: {unsettled:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM dispatcher.attempts GROUP BY status ORDER BY status")
            .fetch_all(&pool)
            .await
            .unwrap();
    eprintln!("after {kills} kills: {received} messages at the provider; attempts by status {statuses:?}");
    dispatcher.kill();
    rest.kill();
}

/// Waits until as many attempts know their provider message as the providers received.
async fn tied_to_attempts(pool: &sqlx::PgPool, received: i64) {
    eventually("every message the providers took tied to its attempt", Duration::from_secs(60), || async {
        let known: i64 =
            sqlx::query_scalar("SELECT count(*) FROM dispatcher.attempts WHERE provider_message_id IS NOT NULL")
                .fetch_one(pool)
                .await
                .unwrap();
        (known == received).then_some(())
    })
    .await;
}

/// Requests for 20 debtors on each channel, each its own debtor (no cap stops one because of another).
fn requests(bus: &recaudo_bus::Bus) -> Vec<recaudo_bus::RawMessage> {
    let mut out = Vec::new();
    for i in 0..60usize {
        let channel = ["sms", "whatsapp", "email"][i % 3];
        let to = if channel == "email" { format!("d{i}@example.com") } else { format!("+52155{i:08}") };
        let request = common::contact_request(channel, &to, &format!("X{i:05}"), "MX", "America/Mexico_City", "MXN");
        out.push(recaudo_bus::RawMessage::event(bus.prefix(), "test/scheduler", chrono::Utc::now(), request).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_between_the_providers_answer_and_the_commit_every_channel_sends_once() {
    use recaudo_simulators::meta::{Direction, MetaSimConfig, MetaSimulator};
    use recaudo_simulators::sendgrid::{SendGridSimConfig, SendGridSimulator};

    let port = free_port().unwrap();
    let app = format!("http://127.0.0.1:{port}");
    // The providers, outside the process that aborts. Meta's and SendGrid's reports come late enough for the next
    // dispatcher to hear them: they name the attempt, which is how a cut-off attempt is settled there.
    let twilio = TwilioSimulator::new(SimConfig { status_delay: Duration::from_millis(50), ..SimConfig::demo() });
    let meta_config = MetaSimConfig {
        webhook_url: Some(format!("{app}/webhooks/meta/whatsapp")),
        status_delay: Duration::from_millis(2500),
        ..MetaSimConfig::demo()
    };
    let meta = MetaSimulator::new(meta_config.clone());
    let sendgrid_config = SendGridSimConfig {
        events_url: Some(format!("{app}/webhooks/sendgrid/events")),
        event_delay: Duration::from_millis(2500),
        ..SendGridSimConfig::demo()
    };
    let sendgrid = SendGridSimulator::new(sendgrid_config.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sims = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .nest("/twilio", twilio.router())
        .nest("/meta", meta.router())
        .nest("/sendgrid", sendgrid.router());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let infra = Infra::start().await;
    infra.migrate().await;
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let (twilio_url, meta_url, sendgrid_url) =
        (format!("{sims}/twilio"), format!("{sims}/meta"), format!("{sims}/sendgrid"));
    let key = sendgrid.public_key_base64();
    let env = [
        ("RECAUDO_PUBLIC_URL", app.as_str()),
        ("RECAUDO_SMS_PROVIDER", "twilio"),
        ("RECAUDO_TWILIO_BASE_URL", twilio_url.as_str()),
        ("RECAUDO_TWILIO_FROM", SimConfig::DEMO_FROM),
        ("RECAUDO_WHATSAPP_PROVIDER", "meta"),
        ("RECAUDO_META_BASE_URL", meta_url.as_str()),
        ("RECAUDO_META_PHONE_NUMBER_ID", meta_config.phone_number_id.as_str()),
        ("RECAUDO_META_ACCESS_TOKEN", meta_config.access_token.as_str()),
        ("RECAUDO_META_APP_SECRET", meta_config.app_secret.as_str()),
        ("RECAUDO_META_VERIFY_TOKEN", "verify-token-of-the-crash-test"),
        ("RECAUDO_EMAIL_PROVIDER", "sendgrid"),
        ("RECAUDO_SENDGRID_BASE_URL", sendgrid_url.as_str()),
        ("RECAUDO_SENDGRID_API_KEY", sendgrid_config.api_key.as_str()),
        ("RECAUDO_SENDGRID_FROM_EMAIL", "cobranza@lender.example"),
        ("RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY", key.as_str()),
        ("RECAUDO_SENDGRID_INBOUND_USER", "sendgrid"),
        ("RECAUDO_SENDGRID_INBOUND_PASSWORD", sendgrid_config.inbound_password.as_str()),
        ("RECAUDO_INTERRUPTED_AFTER_SECS", "1"),
        ("RECAUDO_RECONCILE_AFTER_SECS", "1"),
        // Every run aborts at its 9th provider answer, before recording it.
        ("RECAUDO_CRASH_AT", "after_provider_call:9"),
    ];
    let channels = "sms,whatsapp,email";
    let mut dispatcher = serve_child(&infra, port, "dispatcher", channels, &env);
    ready(port).await;
    let bus = recaudo_bus::Bus::connect(&infra.nats.url, recaudo_bus::Prefix::parse("recaudo").unwrap()).await.unwrap();
    for msg in requests(&bus) {
        bus.publish(&msg).await.unwrap();
    }

    // Start it again each time it aborts, until every request has its attempt and none is left `sending`.
    let mut aborts = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        let (all, sending): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE status = 'sending') FROM dispatcher.attempts")
                .fetch_one(&pool)
                .await
                .unwrap();
        if all == 60 && sending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not settled after {aborts} aborts: {all} attempts, {sending} sending"
        );
        if dispatcher.has_exited() {
            aborts += 1;
            // Not waited for: it may well abort again before it answers.
            dispatcher = serve_child(&infra, port, "dispatcher", channels, &env);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(aborts >= 3, "the dispatcher aborted {aborts} times");

    // What the providers took: never twice for one recipient.
    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for m in twilio.messages().into_iter().filter(|m| m.direction == "outbound-api") {
        *per_recipient.entry(m.to).or_default() += 1;
    }
    for m in meta.messages().into_iter().filter(|m| m.direction == Direction::Outbound) {
        *per_recipient.entry(format!("wa:{}", m.wa_id)).or_default() += 1;
    }
    for m in sendgrid.messages() {
        *per_recipient.entry(m.to.join(",")).or_default() += 1;
    }
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice after {aborts} aborts: {twice:?}");
    // And each message the providers took is tied to its attempt: Twilio's by its message list, Meta's and
    // SendGrid's by the reports that name the attempt.
    let received = per_recipient.len() as i64;
    tied_to_attempts(&pool, received).await;
    eprintln!("after {aborts} aborts: {received} messages at the providers, each once");
    dispatcher.kill();
}
