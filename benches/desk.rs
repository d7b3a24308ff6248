//! `make bench-desk`: the advisors' live desks under load. ADVISORS (default 200) advisors in teams of 20, each with
//! an open `GET /api/stream`; ACTIONS (default 20,000) debtors' clicks and replies at RATE per second (default 200),
//! each a debtor of its own so that every action opens a case. For each it times the debtor's request until the
//! case arrives on the advisor's stream:
//! - a click is the debtor's own `GET /r/{token}` over HTTP (the links come from `contact.prepared`, which the driver
//!   publishes as the dispatcher would);
//! - a reply starts when `reply.received.sms` is published, as the dispatcher's inbound webhook publishes it (the
//!   webhook's own cost belongs to `make bench-dispatch`).
//!
//! In the same run it times the floor of that work at the same rate: one PostgreSQL commit (a row into an indexed
//! table) plus one JetStream publish-and-ack. It prints the memory one open stream costs the server, then how late
//! case timers fire with OPEN_CASES (default 100,000) open cases, DUE_TIMERS (default 5,000) of them falling due over
//! a minute, timed from each timer's instant to the escalation arriving on the supervisor's stream.
//! Last line: `desk_p99_ms=<n> floor_p99_ms=<m> ratio=<n/m> stream_kib=<k>`.
//!
//! Run by `scripts/bench-desk.sh`, which provides a private nats-server, a fresh database (migrated, streams
//! applied) and `BIN`.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::stream;
use chrono::{DateTime, Utc};
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_events::{ContactPrepared, ReplyReceived};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

const TEAM: usize = 20;
const HEADER: &str = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,\
moneda,saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,asesor_apellido,\
asesor_telefono,supervisor_nombre,supervisor_apellido";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn debtor(i: usize) -> String {
    format!("B{i:08}")
}

fn credit(i: usize) -> String {
    format!("BC-{i:08}")
}

/// A number in letters (names in a client file are words).
fn letters(mut n: usize) -> String {
    let mut s = String::new();
    loop {
        s.insert(0, (b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return s;
        }
    }
}

fn client_file(path: &std::path::Path, debtors: usize, advisors: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{HEADER}")?;
    for i in 0..debtors {
        let a = i % advisors;
        let s = a / TEAM;
        writeln!(
            out,
            "{},CC,{},Deudor,{},+57310{i:07},d{i}@example.com,{},Consumo,COP,1000000.00,200000.00,50000.00,\
             2026-11-13,10,CO,Bogotá,Asesor,{},+57300{a:07},Supervisor,{}",
            debtor(i),
            10_000_000 + i,
            letters(i),
            credit(i),
            letters(a),
            letters(s)
        )?;
    }
    out.flush()?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    (percentile(&ms, 50.0), percentile(&ms, 99.0), ms.last().copied().unwrap_or(f64::NAN))
}

/// An event read from a desk stream.
struct Arrival {
    /// Which stream: an advisor's index, or `ADVISORS + supervisor index`.
    stream: usize,
    kind: String,
    data: Value,
    at: Instant,
    wall: DateTime<Utc>,
}

/// Opens a desk stream and forwards each event it carries until the stream ends.
async fn open_stream(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    stream: usize,
    out: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<()> {
    let mut resp = http.get(format!("{base}/api/stream")).bearer_auth(token).send().await?;
    anyhow::ensure!(resp.status() == 200, "stream {stream}: {}", resp.status());
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            let (at, wall) = (Instant::now(), Utc::now());
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let (mut kind, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Ok(data) = serde_json::from_str(&data) {
                    let _ = out.send(Arrival { stream, kind, data, at, wall });
                }
            }
        }
    });
    Ok(())
}

async fn dev_token(bin: &str, addr: &str, role: &str, record: Uuid) -> anyhow::Result<String> {
    // The token's issuer is the server's address.
    let out = tokio::process::Command::new(bin)
        .env("RECAUDO_HTTP_ADDR", addr)
        .args(["dev", "token", "--role", role, "--record", &record.to_string(), "--ttl-hours", "4"])
        .stderr(Stdio::null())
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "recaudo dev token --role {role} failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

async fn wait_for(pool: &PgPool, what: &str, sql: &str, want: i64, within: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
        if n >= want {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < within, "{what}: {n} of {want} after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The floor: at `rate` per second, one row into an indexed table in its own committed transaction, then one
/// JetStream publish awaited until the server's ack; the latency of each, in ms.
async fn floor(bus: &Bus, pool: &PgPool, ops: usize, rate: f64, payload: Vec<u8>) -> anyhow::Result<Vec<f64>> {
    let js = bus.jetstream();
    let _ = js.delete_stream("BENCH_DESK_FLOOR").await;
    js.create_stream(stream::Config {
        name: "BENCH_DESK_FLOOR".into(),
        subjects: vec!["benchdeskfloor.>".into()],
        ..Default::default()
    })
    .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS public.bench_desk_floor (id UUID PRIMARY KEY, debtor_id TEXT NOT NULL,
                                                             at TIMESTAMPTZ NOT NULL, data JSONB NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::query("CREATE INDEX IF NOT EXISTS bench_desk_floor_debtor ON public.bench_desk_floor (debtor_id, at)")
        .execute(pool)
        .await?;
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(ops);
    for i in 0..ops {
        tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate)).await;
        let (js, pool, payload) = (js.clone(), pool.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO public.bench_desk_floor (id, debtor_id, at, data) VALUES ($1, $2, now(), $3)")
                .bind(Uuid::now_v7())
                .bind(debtor(i))
                .bind(json!({ "i": i }))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            js.publish(format!("benchdeskfloor.{}", i % 8), payload.into()).await?.await?;
            Ok::<f64, anyhow::Error>(t0.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut ms = Vec::with_capacity(ops);
    for t in tasks {
        ms.push(t.await??);
    }
    js.delete_stream("BENCH_DESK_FLOOR").await?;
    Ok(ms)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): the benchmark is `make bench-desk`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/desk.rs runs under `make bench-desk`");
        return Ok(());
    }
    let advisors = env_or("ADVISORS", 200).max(1);
    let actions = env_or("ACTIONS", 20_000).max(2);
    let rate = env_or("RATE", 200).max(1) as f64;
    let open_cases = env_or("OPEN_CASES", 100_000).max(actions);
    let due_timers = env_or("DUE_TIMERS", 5_000).min(open_cases);
    let supervisors = advisors.div_ceil(TEAM);
    let bin = std::env::var("BIN").context("BIN: the release recaudo binary")?;
    let database_url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let nats_url = std::env::var("NATS_URL").context("NATS_URL")?;
    let prefix = Prefix::parse(&std::env::var("RECAUDO_SUBJECT_PREFIX").unwrap_or_else(|_| "bench".into()))
        .map_err(anyhow::Error::msg)?;
    let bus = Bus::connect(&nats_url, prefix).await?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(&database_url).await?;

    // The server: ingestion and portfolio (to take the file) and reply-router, on the real clock so that timers
    // fire in real time. The pick-up and response targets are far away, so no timer fires before the timers' part
    // chooses which do.
    let port = support::free_port().expect("a free port");
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let start_server = || async {
        let mut server = Command::new(&bin);
        server.args(["serve", "--target", "ingestion,portfolio,reply-router"]).envs([
            ("RECAUDO_HTTP_ADDR", addr.clone()),
            ("RECAUDO_CASE_PICKUP_MINUTES", "43200".into()),
            ("RECAUDO_CASE_RESPONSE_MINUTES", "43200".into()),
        ]);
        let mut server = support::Killed(server.spawn().context("start recaudo serve")?);
        let started = Instant::now();
        while http.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
            anyhow::ensure!(server.0.try_wait()?.is_none(), "the server stopped (its error is above)");
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, anyhow::Error>(server)
    };
    let server = start_server().await?;

    eprintln!("importing {open_cases} debtors of {advisors} advisors in {supervisors} teams");
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("desk.csv");
    client_file(&file, open_cases, advisors)?;
    let today = Utc::now().date_naive().to_string();
    let import = Command::new(&bin)
        .args(["import", file.to_str().context("path")?, "--as-of", &today])
        .env("RECAUDO_HTTP_ADDR", &addr)
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(import.success(), "the import failed");
    let known = open_cases as i64;
    wait_for(&pool, "router's accounts", "SELECT count(*) FROM reply_router.accounts", known, Duration::from_secs(600))
        .await?;
    let team: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT id, supervisor_id FROM reply_router.advisors ORDER BY phone").fetch_all(&pool).await?;
    anyhow::ensure!(team.len() == advisors, "{} advisors known, {advisors} expected", team.len());
    let mut bosses: Vec<Uuid> = team.iter().map(|(_, s)| *s).collect();
    bosses.sort();
    bosses.dedup();
    // Advisor a (by phone) is the advisor of debtors i with i % advisors == a.
    let advisor_index: HashMap<Uuid, usize> = team.iter().enumerate().map(|(k, (id, _))| (*id, k)).collect();
    let supervisor_of: HashMap<Uuid, Uuid> = team.iter().copied().collect();

    eprintln!("signing in {advisors} advisors and {} supervisors", bosses.len());
    let mut tokens = Vec::new();
    for (id, _) in &team {
        tokens.push(dev_token(&bin, &addr, "advisor", *id).await?);
    }
    let mut boss_tokens = Vec::new();
    for id in &bosses {
        boss_tokens.push(dev_token(&bin, &addr, "supervisor", *id).await?);
    }

    // Memory of the open streams: the resident set of a fresh server (the import's memory is not theirs) before and
    // after opening the advisors' streams.
    drop(server);
    let server = start_server().await?;
    let pid = server.0.id();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<Arrival>();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = support::memory_kib(pid, "VmRSS").unwrap_or(0);
    for (k, token) in tokens.iter().enumerate() {
        open_stream(&http, &base, token, k, arrivals_tx.clone()).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = support::memory_kib(pid, "VmRSS").unwrap_or(0);
    let stream_kib = rss_after.saturating_sub(rss_before) as f64 / advisors as f64;
    for (k, token) in boss_tokens.iter().enumerate() {
        open_stream(&http, &base, token, advisors + k, arrivals_tx.clone()).await?;
    }
    drop(arrivals_tx);

    // The reply links of the debtors who click: the even actions click, the odd ones reply.
    let clicks = actions.div_ceil(2);
    let now = Utc::now();
    let mut link_of = Vec::with_capacity(clicks);
    let mut pending = Vec::new();
    for k in 0..clicks {
        let i = 2 * k;
        let token = Uuid::new_v4().simple().to_string();
        let prepared: ContactPrepared = serde_json::from_value(json!({
            "attempt_id": Uuid::now_v7(), "contact_id": Uuid::now_v7(), "channel": "sms",
            "debtor_id": debtor(i), "credit_id": credit(i), "reply_token": token, "prepared_at": now,
        }))?;
        pending.push(bus.publish_pending(&RawMessage::event(bus.prefix(), "bench/dispatcher", now, prepared)?).await?);
        if pending.len() == 1000 {
            for p in pending.drain(..) {
                p.await?;
            }
        }
        link_of.push(token);
    }
    for p in pending {
        p.await?;
    }
    wait_for(&pool, "links", "SELECT count(*) FROM reply_router.links", clicks as i64, Duration::from_secs(300))
        .await?;

    let reply = |i: usize| -> anyhow::Result<RawMessage> {
        let r: ReplyReceived = serde_json::from_value(json!({
            "reply_id": Uuid::now_v7(), "channel": "sms", "debtor_id": debtor(i), "credit_id": credit(i),
            "attempt_id": Uuid::now_v7(), "provider": "twilio",
            "provider_message_id": format!("SM{}", Uuid::new_v4().simple()),
            "body": "Hola, quiero ponerme al día con mi crédito. ¿Me pueden llamar?", "received_at": Utc::now(),
        }))?;
        Ok(RawMessage::event(bus.prefix(), "bench/dispatcher", Utc::now(), r)?)
    };

    let floor_ops = (actions / 4).max(1000).min(actions);
    eprintln!("the floor: {floor_ops} commits plus publish-and-acks at {rate}/s");
    let floor_ms = floor(&bus, &pool, floor_ops, rate, reply(1)?.payload.to_vec()).await?;

    eprintln!("the desks: {actions} clicks and replies at {rate}/s on {advisors} open streams");
    let sent: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let driver = {
        let (http, base, bus, sent) = (http.clone(), base.clone(), bus.clone(), sent.clone());
        let messages: Vec<Option<RawMessage>> =
            (0..actions).map(|i| if !i.is_multiple_of(2) { reply(i).ok() } else { None }).collect();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut tasks = Vec::with_capacity(actions);
            for (i, message) in messages.into_iter().enumerate() {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                let (http, base, bus, sent) = (http.clone(), base.clone(), bus.clone(), sent.clone());
                let token = if i.is_multiple_of(2) { Some(link_of[i / 2].clone()) } else { None };
                tasks.push(tokio::spawn(async move {
                    sent.lock().unwrap().insert(debtor(i), Instant::now());
                    match (token, message) {
                        (Some(token), _) => {
                            let resp = http
                                .get(format!("{base}/r/{token}"))
                                .header("user-agent", "Mozilla/5.0 (Linux; Android 14) Mobile")
                                .send()
                                .await?;
                            anyhow::ensure!(resp.status().as_u16() < 400, "click {i}: {}", resp.status());
                        }
                        (None, Some(m)) => {
                            bus.publish_pending(&m).await?.await?;
                        }
                        (None, None) => anyhow::bail!("reply {i} not built"),
                    }
                    Ok(())
                }));
            }
            let mut failed = 0;
            for t in tasks {
                if !matches!(t.await, Ok(Ok(()))) {
                    failed += 1;
                }
            }
            failed
        })
    };

    // The first event of each debtor's case on the advisor's stream; every event checked against the stream's team.
    let mut latency = (Vec::with_capacity(actions), Vec::with_capacity(actions / 2), Vec::with_capacity(actions / 2));
    let mut seen = std::collections::HashSet::new();
    let mut foreign = 0usize;
    let deadline = Instant::now() + Duration::from_secs_f64(actions as f64 / rate + 120.0);
    let in_team = |stream: usize, data: &Value| -> bool {
        let Some(advisor) = data["advisor_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) else { return false };
        if stream < advisors {
            advisor_index.get(&advisor) == Some(&stream)
        } else {
            supervisor_of.get(&advisor) == Some(&bosses[stream - advisors])
        }
    };
    while seen.len() < actions {
        let Ok(Some(a)) = tokio::time::timeout_at(deadline.into(), arrivals.recv()).await else {
            break;
        };
        if !in_team(a.stream, &a.data) {
            foreign += 1;
        }
        if a.stream >= advisors || a.kind != "case.opened" {
            continue;
        }
        let Some(d) = a.data["debtor_id"].as_str() else { continue };
        if !seen.insert(d.to_string()) {
            continue;
        }
        let Some(t0) = sent.lock().unwrap().get(d).copied() else { continue };
        let ms = a.at.saturating_duration_since(t0).as_secs_f64() * 1000.0;
        latency.0.push(ms);
        let i: usize = d[1..].parse().unwrap_or(0);
        if i.is_multiple_of(2) {
            latency.1.push(ms);
        } else {
            latency.2.push(ms);
        }
    }
    let failed = driver.await?;
    let arrived = latency.0.len();
    let rss_loaded = support::memory_kib(pid, "VmRSS").unwrap_or(0);

    // Timers: open cases up to OPEN_CASES, DUE_TIMERS of them falling due over a minute from 15 s on.
    eprintln!("timers: {open_cases} open cases, {due_timers} falling due over a minute");
    sqlx::query(
        "INSERT INTO reply_router.cases (id, advisor_id, supervisor_id, kind, debtor_id, credit_id, state, opened_at,
                                         due_at, updated_at, reason, queue, timer, last_activity_at)
         SELECT gen_random_uuid(), a.advisor_id, v.supervisor_id, 'message', a.debtor_id, a.credit_id, 'open', now(),
                now() + interval '30 days', now(), 'reply', 'advisor', 'pickup', now()
         FROM reply_router.accounts a JOIN reply_router.advisors v ON v.id = a.advisor_id
         WHERE NOT EXISTS (SELECT 1 FROM reply_router.cases c WHERE c.debtor_id = a.debtor_id)",
    )
    .execute(&pool)
    .await?;
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reply_router.cases WHERE state <> 'closed'").fetch_one(&pool).await?;
    let first_due = Utc::now() + chrono::Duration::seconds(15);
    let due: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "WITH chosen AS (SELECT id, row_number() OVER () AS n FROM
                           (SELECT id FROM reply_router.cases WHERE state = 'open' ORDER BY random() LIMIT $1) c)
         UPDATE reply_router.cases SET timer = 'pickup', warn_at = NULL,
                due_at = $2 + make_interval(secs => (chosen.n - 1) * 60.0 / $1)
         FROM chosen WHERE cases.id = chosen.id RETURNING cases.id, cases.due_at",
    )
    .bind(due_timers as i64)
    .bind(first_due)
    .fetch_all(&pool)
    .await?;
    let due_at: HashMap<Uuid, DateTime<Utc>> = due.into_iter().collect();
    let mut late_ms = Vec::with_capacity(due_timers);
    let mut fired = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(15 + 60 + 60);
    while fired.len() < due_at.len() {
        let Ok(Some(a)) = tokio::time::timeout_at(deadline.into(), arrivals.recv()).await else {
            break;
        };
        if !in_team(a.stream, &a.data) {
            foreign += 1;
        }
        if a.stream < advisors || a.kind != "case.escalated" {
            continue;
        }
        let Some(id) = a.data["case_id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) else { continue };
        if let (Some(due), true) = (due_at.get(&id), fired.insert(id)) {
            late_ms.push((a.wall - *due).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    drop(server);

    let (d50, d99, dmax) = summary(latency.0);
    let (c50, c99, _) = summary(latency.1);
    let (r50, r99, _) = summary(latency.2);
    let (f50, f99, fmax) = summary(floor_ms);
    let (t50, t99, tmax) = summary(late_ms);
    println!(
        "actions={actions} rate_per_s={rate} advisors={advisors} arrived={arrived} failed_requests={failed} events_outside_scope={foreign}"
    );
    println!("desk_ms: p50={d50:.1} p99={d99:.1} max={dmax:.1} (clicks p50={c50:.1} p99={c99:.1}; replies p50={r50:.1} p99={r99:.1})");
    println!(
        "floor_ms (commit + publish-and-ack, {floor_ops} at the same rate): p50={f50:.1} p99={f99:.1} max={fmax:.1}"
    );
    println!(
        "server_rss_kib: before_streams={rss_before} streams_open={rss_after} after_load={rss_loaded} ({} streams)",
        advisors + bosses.len()
    );
    println!(
        "timers: open_cases={open} due={} fired={} lateness_ms p50={t50:.0} p99={t99:.0} max={tmax:.0}",
        due_at.len(),
        fired.len()
    );
    println!("desk_p99_ms={d99:.1} floor_p99_ms={f99:.1} ratio={:.2} stream_kib={stream_kib:.1}", d99 / f99);
    anyhow::ensure!(
        arrived == actions,
        "{} of {actions} cases never reached their advisor's stream",
        actions - arrived
    );
    anyhow::ensure!(foreign == 0, "{foreign} events reached a stream outside their scope");
    anyhow::ensure!(
        fired.len() == due_at.len(),
        "{} of {} timers did not fire",
        due_at.len() - fired.len(),
        due_at.len()
    );
    Ok(())
}
