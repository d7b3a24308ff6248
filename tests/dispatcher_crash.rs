//! At most one provider call per attempt, whatever is killed when: the sms dispatcher runs in a process of its own
//! that is killed with SIGKILL again and again while it sends, against a Twilio simulator in this test process that
//! survives every kill and counts what it received. No debtor gets the message twice, and every attempt ends
//! settled: the messages a killed process sent are found in the provider's records while the next one runs, and the
//! statuses whose callbacks were lost converge from the provider's message resource.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Infra, ADMIN};
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

/// A child process that is killed when dropped, so that a failing test leaves nothing running.
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `recaudo serve` with `targets` in a child process, with the test's environment and `extra` on top.
fn spawn(infra: &Infra, port: u16, targets: &str, extra: &[(&str, &str)]) -> Process {
    let addr = format!("127.0.0.1:{port}");
    let mut vars = vec![("RECAUDO_HTTP_ADDR", addr.as_str()), ("RECAUDO_NOW", "2026-11-23T16:00:00Z")];
    vars.extend_from_slice(extra);
    let env = infra.env(&vars);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recaudo"));
    cmd.args(["serve", "--target", targets, "--channel", "sms"]);
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("RECAUDO_LOG", "warn");
    for (k, v) in env.vars() {
        cmd.env(k, v);
    }
    Process(cmd.stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null()).spawn().expect("recaudo serve"))
}

async fn ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    eventually("the process to be ready", Duration::from_secs(60), || async {
        reqwest::get(&url).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
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
    let mut rest = spawn(&infra, rest_port, "ingestion,portfolio,scheduler,reply-router,metrics", &[]);
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
    let mut dispatcher = spawn(&infra, dispatcher_port, "dispatcher", &dispatcher_env);
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
        dispatcher = spawn(&infra, dispatcher_port, "dispatcher", &dispatcher_env);
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
    eventually("every message the provider received tied to its attempt", Duration::from_secs(60), || async {
        let known: i64 =
            sqlx::query_scalar("SELECT count(*) FROM dispatcher.attempts WHERE provider_message_id IS NOT NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        (known == received).then_some(())
    })
    .await;
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
