//! Running the whole system in the test process: a fresh database and a private nats-server per test, the
//! services on a port-0 listener, talked to over real HTTP.

#![allow(dead_code)]

use std::time::Duration;

use recaudo::Target;
use recaudo_events::Channel;
use recaudo_runtime::Env;
use recaudo_testkit::idp::TestIdp;
use recaudo_testkit::{eventually, NatsServer, TestDb};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(30);

/// The dispatcher channels every test process runs, each on its provider's simulator.
pub const ALL_CHANNELS: [Channel; 3] = [Channel::Sms, Channel::Whatsapp, Channel::Email];

/// The audience and the configured admin of every test's processes.
pub const AUDIENCE: &str = "recaudo-test";
pub const ADMIN: &str = "test-admin";
/// Not a product setting: the bearer token `App` sends by default (the test admin's).
const DEFAULT_BEARER: &str = "TEST_DEFAULT_BEARER";

pub struct Infra {
    pub db: TestDb,
    pub nats: NatsServer,
    /// The identity provider every process of the test trusts.
    pub idp: TestIdp,
}

impl Infra {
    pub async fn start() -> Infra {
        Self::start_with_nats_config("").await
    }

    /// With extra nats-server settings (e.g. a small `max_payload`).
    pub async fn start_with_nats_config(config: &str) -> Infra {
        Infra {
            db: TestDb::create().await.expect("test database"),
            nats: NatsServer::start_with_config(config).expect("nats-server"),
            idp: TestIdp::start(AUDIENCE).await,
        }
    }

    /// The environment a process of this test gets, with `extra` on top.
    pub fn env(&self, extra: &[(&str, &str)]) -> Env {
        let mut env = Env::from_pairs([
            ("DATABASE_URL", self.db.url.as_str()),
            ("NATS_URL", self.nats.url.as_str()),
            ("RECAUDO_SCHEDULER_TICK_MS", "100"),
            ("RECAUDO_SHUTDOWN_GRACE_SECS", "5"),
            ("RECAUDO_SMS_PROVIDER", "simulator"),
            ("RECAUDO_WHATSAPP_PROVIDER", "simulator"),
            ("RECAUDO_EMAIL_PROVIDER", "simulator"),
            ("RECAUDO_OIDC_ISSUER", self.idp.issuer.as_str()),
            ("RECAUDO_OIDC_AUDIENCE", AUDIENCE),
            ("RECAUDO_ADMIN_SUBJECTS", ADMIN),
        ]);
        env.set(DEFAULT_BEARER, self.idp.token(ADMIN));
        // The Twilio simulator's account, so that tests can read its message list (its token is random otherwise).
        let twilio = recaudo_simulators::twilio::SimConfig::demo();
        env.set("RECAUDO_TWILIO_ACCOUNT_SID", twilio.account_sid);
        env.set("RECAUDO_TWILIO_AUTH_TOKEN", twilio.auth_token);
        for (k, v) in extra {
            env.set(k, *v);
        }
        env
    }

    pub async fn migrate(&self) {
        recaudo::cli::migrate(&self.env(&[]), &Target::ALL).await.expect("migrations");
    }
}

/// One running `recaudo serve` in this test process.
pub struct App {
    pub base: String,
    /// Sends the test admin's token unless a request sets its own `Authorization`.
    pub http: reqwest::Client,
    /// Without any credential.
    pub anonymous: reqwest::Client,
    /// The routes the process serves.
    pub routes: Vec<recaudo_runtime::RouteEntry>,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl App {
    pub async fn spawn(env: Env, targets: &[Target]) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::spawn_on(listener, env, targets).await
    }

    /// On a listener the test bound itself (to know the address before the process starts).
    pub async fn spawn_on(listener: tokio::net::TcpListener, env: Env, targets: &[Target]) -> App {
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = env.raw(DEFAULT_BEARER) {
            headers.insert("authorization", format!("Bearer {token}").parse().expect("header"));
        }
        let application = recaudo::build(env, targets, &ALL_CHANNELS, listener, shutdown.clone()).await.expect("start");
        let routes = application.routes.clone();
        let handle = tokio::spawn(application.run());
        let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("client");
        let app = App { base, http, anonymous, routes, shutdown, handle };
        let url = format!("{}/readyz", app.base);
        let client = app.http.clone();
        eventually("the process to be ready", WAIT, || {
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
        app
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(20), self.handle).await;
        result.expect("graceful shutdown in time").expect("serve task").expect("serve result");
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET path` with `token` as the bearer credential.
    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self.anonymous.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("GET");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Gives `subject` a role in the directory (as the test admin), waiting until the advisor or supervisor it
    /// names is known to the access layer.
    pub async fn put_user(&self, subject: &str, body: Value) {
        let url = format!("{}/api/users/{subject}", self.base);
        eventually("the directory to accept the user", WAIT, || async {
            let resp = self.http.put(&url).json(&body).send().await.ok()?;
            match resp.status().as_u16() {
                200 => Some(()),
                400 => None,
                other => panic!("PUT /api/users/{subject}: {other} {:?}", resp.text().await),
            }
        })
        .await;
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Uploads a file and waits for the import to leave `processing`.
    pub async fn import(&self, bytes: Vec<u8>, query: &str) -> Value {
        let resp = self.http.post(format!("{}/api/imports?{query}", self.base)).body(bytes).send().await.expect("POST");
        assert_eq!(resp.status().as_u16(), 202);
        let body: Value = resp.json().await.expect("json");
        let id = body["id"].as_str().expect("id").to_string();
        self.wait_import(&id).await
    }

    pub async fn wait_import(&self, id: &str) -> Value {
        let path = format!("/api/imports/{id}");
        eventually("the import to finish", WAIT, || async {
            let body = self.get_ok(&path).await;
            (body["state"] != "processing").then_some(body)
        })
        .await
    }
}

/// The first reply link (`http…/r/<token>`) in `text`: a message body, or a contacts list as JSON.
pub fn reply_link(text: &str) -> Option<String> {
    let at = text.find("/r/")?;
    let start = text[..at].rfind("http")?;
    let token = &text[at + 3..];
    let end =
        at + 3 + token.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(token.len());
    Some(text[start..end].to_string())
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/clients/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn fixture_path(name: &str) -> std::path::PathBuf {
    format!("{}/fixtures/clients/{name}", env!("CARGO_MANIFEST_DIR")).into()
}

/// An operation of `proto-schemas/openapi.yaml`: path, method (upper case) and query parameter names.
#[derive(Debug, Clone)]
pub struct Operation {
    pub path: String,
    pub method: String,
    pub query: Vec<String>,
}

/// Every operation of the OpenAPI document, read line by line (paths at two spaces, methods at four, query
/// parameters as `- name: X` followed by `in: query`).
pub fn openapi_operations() -> Vec<Operation> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/proto-schemas/openapi.yaml")).unwrap();
    let mut ops: Vec<Operation> = Vec::new();
    let (mut in_paths, mut path) = (false, String::new());
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.trim_end().strip_suffix(':')) {
            path = format!("/{}", p.trim_matches('"').trim_matches('\''));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.trim_end().strip_suffix(':')) {
            if ["get", "put", "post", "delete", "patch"].contains(&m) {
                ops.push(Operation { path: path.clone(), method: m.to_uppercase(), query: Vec::new() });
            }
        } else if let Some(name) = line.trim().strip_prefix("- name: ") {
            if lines.get(i + 1).is_some_and(|next| next.trim() == "in: query") {
                if let Some(op) = ops.last_mut() {
                    op.query.push(name.trim().to_string());
                }
            }
        }
    }
    ops
}

/// The next message on `sub` whose `data` has `key` equal to `value` (others are skipped).
pub async fn next_with(sub: &mut async_nats::Subscriber, key: &str, value: &str) -> Value {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(WAIT, sub.next()).await.expect("an event").unwrap();
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        if e["data"][key] == value {
            return e;
        }
    }
}

/// A contact request as the scheduler publishes it, for a debtor of its own (`debtor`, credit `<debtor>-1`) in
/// `country`/`zone`, at the tests' planning instant: dispatchers can be driven without a portfolio.
#[allow(dead_code)] // Not every test binary drives a dispatcher directly.
pub fn contact_request(
    channel: &str,
    to: &str,
    debtor: &str,
    country: &str,
    zone: &str,
    currency: &str,
) -> recaudo_events::ContactRequested {
    let template = match channel {
        "sms" => "sms_reminder_v1",
        "whatsapp" => "whatsapp_reminder_v1",
        _ => "email_reminder_v1",
    };
    serde_json::from_value(serde_json::json!({
        "contact_id": uuid::Uuid::now_v7(), "channel": channel, "strategy": "test", "template": template, "to": to,
        "country": country,
        "debtor": { "id": debtor, "first_name": "Ana", "last_name": "Prueba" },
        "credit": { "id": format!("{debtor}-1"), "product": "Tarjeta", "currency": currency,
                    "balance_overdue": "100.00", "days_past_due": 10 },
        "advisor": null, "time_zone": zone, "requested_at": "2026-11-23T16:00:00Z"
    }))
    .expect("a contact request")
}

/// A debtor's WhatsApp reply to their credit `CR-<debtor>`, as the dispatcher publishes it after a signed webhook.
#[allow(dead_code)] // Not every test binary has debtors who write.
pub async fn publish_reply(bus: &recaudo_bus::Bus, debtor: &str, body: &str) {
    let event = recaudo_events::ReplyReceived {
        reply_id: uuid::Uuid::now_v7(),
        channel: Channel::Whatsapp,
        debtor_id: recaudo_domain::DebtorId::parse(debtor).unwrap(),
        credit_id: recaudo_domain::CreditId::parse(&format!("CR-{debtor}")).unwrap(),
        attempt_id: uuid::Uuid::now_v7(),
        provider: "meta".into(),
        provider_message_id: format!("wamid.{}", uuid::Uuid::now_v7()),
        body: body.into(),
        button: None,
        opt_out: false,
        received_at: "2026-11-23T15:00:00Z".parse().unwrap(),
    };
    let msg = recaudo_bus::RawMessage::event(bus.prefix(), "test/debtor", chrono::Utc::now(), event).unwrap();
    bus.publish(&msg).await.unwrap();
}

/// A child process that is killed when dropped, so that a failing test leaves nothing running.
pub struct Process(std::process::Child, tempfile::NamedTempFile);

impl Process {
    /// What the process wrote (its logs), to say why it failed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.1.path()).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }

    /// Whether the process has ended (a crash test's abort, say).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `recaudo serve` with `targets` in a child process, with the test's environment and `extra` on top.
pub fn serve_child(infra: &Infra, port: u16, targets: &str, channels: &str, extra: &[(&str, &str)]) -> Process {
    let addr = format!("127.0.0.1:{port}");
    let mut vars = vec![("RECAUDO_HTTP_ADDR", addr.as_str()), ("RECAUDO_NOW", "2026-11-23T16:00:00Z")];
    vars.extend_from_slice(extra);
    let env = infra.env(&vars);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recaudo"));
    cmd.args(["serve", "--target", targets, "--channel", channels]);
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("RECAUDO_LOG", "warn");
    for (k, v) in env.vars() {
        cmd.env(k, v);
    }
    // Its output goes to a file of its own, shown when it fails to start.
    let log = tempfile::NamedTempFile::new().expect("a log file");
    let out = log.reopen().expect("the log file");
    let err = out.try_clone().expect("the log file");
    Process(cmd.stdout(out).stderr(err).stdin(std::process::Stdio::null()).spawn().expect("recaudo serve"), log)
}

/// `recaudo serve` as [`serve_child`] does, on a free port, once it is ready. A port found free can be taken by
/// another socket before the child binds it (an outgoing connection gets it as its ephemeral port): a child that
/// stops before it is ready is started again on another port.
pub async fn serve_ready(infra: &Infra, targets: &str, channels: &str, extra: &[(&str, &str)]) -> (Process, u16) {
    for _ in 0..5 {
        let port = recaudo_testkit::free_port().unwrap();
        let mut child = serve_child(infra, port, targets, channels, extra);
        let url = format!("http://127.0.0.1:{port}/readyz");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline && !child.has_exited() {
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return (child, port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(child.has_exited(), "recaudo serve on port {port} was not ready within 60 s:\n{}", child.output());
        eprintln!(
            "recaudo serve on port {port} stopped before it was ready; again on another port:\n{}",
            child.output()
        );
    }
    panic!("recaudo serve stopped before it was ready five times");
}

pub async fn ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    eventually("the process to be ready", Duration::from_secs(60), || async {
        reqwest::get(&url).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
}

/// Waits until the planner has decided `debtor` at `now` (the business clock the app runs on): its plan's next look
/// is after `now`, written in the transaction that records whatever the decision requested. Then the contacts the
/// scheduler ever requested for the debtor. A positive signal for "nothing more was requested", where a sleep
/// could only hope the planner had run.
#[allow(dead_code)] // Not every test binary asserts that nothing happened.
pub async fn requested_once_planned(infra: &Infra, debtor: &str, now: &str) -> i64 {
    let pool = sqlx::PgPool::connect(&infra.db.url).await.expect("the test database");
    let now: chrono::DateTime<chrono::Utc> = now.parse().expect("an RFC 3339 instant");
    eventually(&format!("the planner to decide {debtor} at {now}"), WAIT, || async {
        let next: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("SELECT min(next_at) FROM scheduler.plans WHERE debtor_id = $1")
                .bind(debtor)
                .fetch_one(&pool)
                .await
                .ok()?;
        next.filter(|next| *next > now).map(|_| ())
    })
    .await;
    let requested = sqlx::query_scalar("SELECT count(*) FROM scheduler.contact_ledger WHERE debtor_id = $1")
        .bind(debtor)
        .fetch_one(&pool)
        .await
        .expect("the ledger");
    pool.close().await;
    requested
}

/// Waits until the durable consumer `durable` of the domain's stream (`RECAUDO_<DOMAIN>`) has nothing left to
/// deliver and nothing in hand: every message it will ever get so far has been handled. A positive signal for
/// "nothing more comes of these messages", where a sleep could only hope.
#[allow(dead_code)] // Not every test binary waits on a consumer.
pub async fn consumer_caught_up(infra: &Infra, domain: &str, durable: &str) {
    let client = async_nats::connect(&infra.nats.url).await.expect("the test's NATS");
    let js = async_nats::jetstream::new(client);
    let stream = format!("RECAUDO_{}", domain.to_uppercase());
    eventually(&format!("{durable} on {stream} to have handled everything"), WAIT, || async {
        let stream = js.get_stream(&stream).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream.get_consumer(durable).await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await;
}
