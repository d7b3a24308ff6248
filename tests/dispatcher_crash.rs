//! At most one provider call per attempt, whatever is killed when: the sms dispatcher runs in a process of its own
//! that is killed with SIGKILL again and again while it sends, against a Twilio simulator in this test process that
//! survives every kill and counts what it received. No debtor gets the message twice, and every attempt ends
//! settled: the messages a killed process sent are found in the provider's records while the next one runs, those it
//! was killed before sending are proven absent there and sent by the next one, and the statuses whose callbacks
//! were lost converge from the provider's message resource. And on every channel, the
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
        // The search that confirms a cut-off message never arrived comes 3 seconds after the first, not 5 minutes.
        ("RECAUDO_ABSENCE_CONFIRM_SECS", "3"),
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

    // The last dispatcher finishes: every debtor attempted, no attempt left `sending`, and every attempt the
    // provider's records prove it never got settled `not_sent` and its request decided again.
    eventually("every attempt recorded and settled", Duration::from_secs(150), || async {
        let (live, sending, unknown, undecided): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT contact_id) FILTER (WHERE status <> 'not_sent'),
                    count(*) FILTER (WHERE status = 'sending'), count(*) FILTER (WHERE status = 'unknown'),
                    count(*) FILTER (WHERE status = 'not_sent' AND redecided_at IS NULL)
             FROM dispatcher.attempts",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        (live == DEBTORS as i64 && sending == 0 && unknown == 0 && undecided == 0).then_some(())
    })
    .await;

    // What the provider received: never two messages to one debtor, and each one known to its attempt.
    let mut per_number: BTreeMap<String, usize> = BTreeMap::new();
    for m in sim.messages().into_iter().filter(|m| m.direction == "outbound-api") {
        *per_number.entry(m.to).or_default() += 1;
    }
    let twice: Vec<_> = per_number.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice after {kills} kills: {twice:?}");
    // And none missed: an attempt cut off before its request reached the provider was proven never received and
    // its request sent again.
    let received = per_number.len() as i64;
    assert_eq!(received, DEBTORS as i64, "debtors who got the message after {kills} kills");
    tied_to_attempts(&pool, received).await;
    // Callbacks lost while a dispatcher was down: the statuses converge from the provider's records anyway. Every
    // attempt ends delivered, but those settled `not_sent`.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT to_address, status, final FROM dispatcher.attempts").fetch_all(&pool).await.unwrap();
        let unsettled: Vec<_> = rows
            .iter()
            .filter(|(_, status, is_final)| !(*is_final && (status == "delivered" || status == "not_sent")))
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
        let channel = CHANNELS[i % 3];
        let to = if channel == "email" { format!("d{i}@example.com") } else { format!("+52155{i:08}") };
        let request = common::contact_request(channel, &to, &format!("X{i:05}"), "MX", "America/Mexico_City", "MXN");
        out.push(recaudo_bus::RawMessage::event(bus.prefix(), "test/scheduler", chrono::Utc::now(), request).unwrap());
    }
    out
}

const CHANNELS: [&str; 3] = ["sms", "whatsapp", "email"];

/// The three channels' dispatchers, each in a process of its own that aborts at its 9th provider call at the
/// chosen point and is started again each time, against the three providers' simulators in this test process.
struct Aborted {
    pool: sqlx::PgPool,
    twilio: TwilioSimulator,
    meta: recaudo_simulators::meta::MetaSimulator,
    sendgrid: recaudo_simulators::sendgrid::SendGridSimulator,
    aborts: BTreeMap<&'static str, usize>,
    _dispatchers: Vec<common::Process>,
    _infra: Infra,
}

impl Aborted {
    /// Messages each recipient received, over the three providers (`wa:<id>` for Meta's).
    fn received(&self) -> BTreeMap<String, usize> {
        use recaudo_simulators::meta::Direction;
        let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
        for m in self.twilio.messages().into_iter().filter(|m| m.direction == "outbound-api") {
            *per_recipient.entry(m.to).or_default() += 1;
        }
        for m in self.meta.messages().into_iter().filter(|m| m.direction == Direction::Outbound) {
            *per_recipient.entry(format!("wa:{}", m.wa_id)).or_default() += 1;
        }
        for m in self.sendgrid.messages() {
            *per_recipient.entry(m.to.join(",")).or_default() += 1;
        }
        per_recipient
    }

    /// Every attempt settled `not_sent` has its request's new attempt, which the provider took.
    async fn not_sent_were_decided_again(&self) {
        let orphans: Vec<(String, String)> = sqlx::query_as(
            "SELECT n.channel, n.to_address FROM dispatcher.attempts n
             WHERE n.status = 'not_sent' AND NOT EXISTS (
                 SELECT 1 FROM dispatcher.attempts a
                 WHERE a.contact_id = n.contact_id AND a.status <> 'not_sent' AND a.provider_message_id IS NOT NULL)",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap();
        assert!(orphans.is_empty(), "not_sent attempts whose request was not sent again: {orphans:?}");
    }

    /// An attempt left `unknown` is one the provider never got (here, where every cut-off message the providers
    /// took is settled from their records or reports).
    async fn unknown_never_reached(&self, per_recipient: &BTreeMap<String, usize>) {
        let unknown: Vec<(String, String)> =
            sqlx::query_as("SELECT channel, to_address FROM dispatcher.attempts WHERE status = 'unknown'")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        for (channel, to) in unknown {
            let key = if channel == "whatsapp" { format!("wa:{}", to.trim_start_matches('+')) } else { to.clone() };
            assert!(!per_recipient.contains_key(&key), "{channel} attempt to {to} unknown, yet the provider got it");
        }
    }

    /// `(channel, status)` → attempts.
    async fn attempts_by_status(&self) -> BTreeMap<(String, String), i64> {
        sqlx::query_as::<_, (String, String, i64)>(
            "SELECT channel, status, count(*) FROM dispatcher.attempts GROUP BY channel, status",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(channel, status, n)| ((channel, status), n))
        .collect()
    }
}

async fn abort_again_and_again(crash_at: &str) -> Aborted {
    use recaudo_simulators::meta::{MetaSimConfig, MetaSimulator};
    use recaudo_simulators::sendgrid::{SendGridSimConfig, SendGridSimulator};

    let ports: BTreeMap<&str, u16> = CHANNELS.iter().map(|c| (*c, free_port().unwrap())).collect();
    let app = |channel: &str| format!("http://127.0.0.1:{}", ports[channel]);
    // The providers, outside the processes that abort. Meta's and SendGrid's reports come late enough for the next
    // dispatcher to hear them: they name the attempt, which is how a cut-off attempt is settled there.
    let twilio = TwilioSimulator::new(SimConfig { status_delay: Duration::from_millis(50), ..SimConfig::demo() });
    let meta_config = MetaSimConfig {
        webhook_url: Some(format!("{}/webhooks/meta/whatsapp", app("whatsapp"))),
        status_delay: Duration::from_millis(2500),
        ..MetaSimConfig::demo()
    };
    let meta = MetaSimulator::new(meta_config.clone());
    let sendgrid_config = SendGridSimConfig {
        events_url: Some(format!("{}/webhooks/sendgrid/events", app("email"))),
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
    let crash_at = format!("{crash_at}:9");
    let env = [
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
        ("RECAUDO_ABSENCE_CONFIRM_SECS", "3"),
        // Every run aborts at its 9th provider call, at the chosen point.
        ("RECAUDO_CRASH_AT", crash_at.as_str()),
    ];
    // One process per channel, so that each channel's aborts are its own: 20 requests each, so every channel is
    // cut off at least twice.
    let start = |channel: &str| {
        let public_url = app(channel);
        let mut vars = env.to_vec();
        vars.push(("RECAUDO_PUBLIC_URL", public_url.as_str()));
        serve_child(&infra, ports[channel], "dispatcher", channel, &vars)
    };
    let mut dispatchers: Vec<common::Process> = CHANNELS.iter().map(|c| start(c)).collect();
    for channel in CHANNELS {
        ready(ports[channel]).await;
    }
    let bus = recaudo_bus::Bus::connect(&infra.nats.url, recaudo_bus::Prefix::parse("recaudo").unwrap()).await.unwrap();
    for msg in requests(&bus) {
        bus.publish(&msg).await.unwrap();
    }

    // Start each again when it aborts, until every request has a live attempt, none is left `sending`, and every
    // attempt the provider's records prove it never received is settled and decided again.
    let mut aborts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        let (live, sending, sms_unknown, undecided): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT contact_id) FILTER (WHERE status <> 'not_sent'),
                    count(*) FILTER (WHERE status = 'sending'),
                    count(*) FILTER (WHERE status = 'unknown' AND channel = 'sms'),
                    count(*) FILTER (WHERE status = 'not_sent' AND redecided_at IS NULL)
             FROM dispatcher.attempts",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if live == 60 && sending == 0 && sms_unknown == 0 && undecided == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not settled after {aborts:?} aborts: {live} contacts attempted, {sending} sending, {sms_unknown} sms \
             unknown, {undecided} not decided again"
        );
        for (i, channel) in CHANNELS.iter().enumerate() {
            if dispatchers[i].has_exited() {
                *aborts.entry(channel).or_default() += 1;
                // Not waited for: it may well abort again before it answers.
                dispatchers[i] = start(channel);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for channel in CHANNELS {
        assert!(aborts.get(channel).copied().unwrap_or(0) >= 2, "the {channel} dispatcher aborted: {aborts:?}");
    }
    Aborted { pool, twilio, meta, sendgrid, aborts, _dispatchers: dispatchers, _infra: infra }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_between_the_providers_answer_and_the_commit_every_channel_sends_once() {
    let run = abort_again_and_again("after_provider_call").await;
    // What the providers took: never twice for one recipient.
    let per_recipient = run.received();
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice after {:?} aborts: {twice:?}", run.aborts);
    // And each message the providers took is tied to its attempt: Twilio's by its message list, Meta's and
    // SendGrid's by the reports that name the attempt. None is taken for never sent.
    let received = per_recipient.len() as i64;
    tied_to_attempts(&run.pool, received).await;
    // Requests in hand when the process aborted were cut off before their own call: on SMS they were sent once
    // after the proof, and the debtors of the others got nothing.
    run.not_sent_were_decided_again().await;
    run.unknown_never_reached(&per_recipient).await;
    eprintln!("after {:?} aborts: {received} messages at the providers, each once", run.aborts);
}

/// Cut off after the attempt is recorded and before the provider is called: where the provider's records can be
/// searched (Twilio), the attempt is proven never received, settled `not_sent`, and its request decided again, so
/// the debtor gets the message exactly once; where they cannot (Meta, SendGrid), it stays `unknown` and is never
/// resent on a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_before_the_provider_call_sent_once_where_the_provider_proves_it_never_got_it() {
    let run = abort_again_and_again("before_provider_call").await;
    let per_recipient = run.received();
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice after {:?} aborts: {twice:?}", run.aborts);
    let statuses = run.attempts_by_status().await;
    let count = |channel: &str, status: &str| statuses.get(&(channel.to_string(), status.to_string())).copied();

    // SMS: every debtor got the message exactly once, the cut-off ones by the request decided again.
    let sms_received = per_recipient.keys().filter(|to| to.starts_with("+52155")).count();
    assert_eq!(sms_received, 20, "sms recipients reached: {per_recipient:?}");
    // At least the attempt each abort was for; requests in hand at the time were cut off with it.
    assert!(count("sms", "not_sent").unwrap_or(0) >= run.aborts["sms"] as i64, "{statuses:?}");
    run.not_sent_were_decided_again().await;

    // WhatsApp (Meta) and email (SendGrid): no record to search, so each cut-off attempt stays unknown and
    // the provider never got a message for it.
    for channel in ["whatsapp", "email"] {
        assert!(count(channel, "unknown").unwrap_or(0) >= run.aborts[channel] as i64, "{channel}: {statuses:?}");
        assert_eq!(count(channel, "not_sent"), None, "{channel}: {statuses:?}");
    }
    run.unknown_never_reached(&per_recipient).await;
    tied_to_attempts(&run.pool, per_recipient.len() as i64).await;
    eprintln!("after {:?} aborts: attempts by status {statuses:?}", run.aborts);
}
