//! `make bench-dispatch`: REQUESTS (default 100,000) contact requests across SMS, WhatsApp and email, published to
//! JetStream, then sent by the release build's dispatcher (its own process, every channel) to the providers'
//! simulators (`recaudo simulators`, another process), until every attempt is recorded. In the same run it times
//! the floor of the at-most-once design: one loop that consumes messages of the same size (every channel's) from a
//! JetStream stream with explicit ack and writes one row per message into an indexed table, in its own
//! transaction. Last line: `dispatch_per_s=<n> floor_per_s=<m> ratio=<n/m> peak_rss_mb=<r>`.
//!
//! Run by `scripts/bench-dispatch.sh`, which provides a private nats-server, a fresh database (migrated, streams
//! applied) and `BIN`.

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_events::ContactRequested;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const NOW: &str = "2026-11-23T16:00:00Z";
const CHANNELS: [&str; 3] = ["sms", "whatsapp", "email"];
/// Four countries whose windows are all open at NOW (a Monday morning from Mexico City to Santiago).
const COUNTRIES: [(&str, &str, &str); 4] = [
    ("MX", "America/Mexico_City", "+52155"),
    ("CO", "America/Bogota", "+57300"),
    ("CL", "America/Santiago", "+56912"),
    ("PE", "America/Lima", "+51912"),
];

fn request(i: usize) -> ContactRequested {
    let channel = CHANNELS[i % 3];
    let (country, zone, phone) = COUNTRIES[i % 4];
    let (template, to) = match channel {
        "sms" => ("sms_reminder_v1", format!("{phone}{i:07}")),
        "whatsapp" => ("whatsapp_reminder_v1", format!("{phone}{i:07}")),
        _ => ("email_reminder_v1", format!("deudor{i}@example.com")),
    };
    // Each request its own debtor: no frequency cap stops one because of another.
    serde_json::from_value(json!({
        "contact_id": Uuid::now_v7(),
        "channel": channel,
        "strategy": "bench",
        "template": template,
        "to": to,
        "country": country,
        "debtor": { "id": format!("B{i:08}"), "first_name": "María José", "last_name": "Rodríguez Peña" },
        "credit": { "id": format!("BC-{i:08}"), "product": "Tarjeta de crédito", "currency": "COP",
                    "balance_overdue": "1234567.89", "days_past_due": 45 },
        "advisor": { "id": Uuid::now_v7(), "first_name": "Juan Carlos", "last_name": "Gómez",
                     "phone": "+573001234567" },
        "time_zone": zone,
        "requested_at": NOW
    }))
    .expect("a contact request")
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The floor: one loop that consumes with explicit ack and writes one row per message in its own transaction.
async fn floor(bus: &Bus, pool: &PgPool, payloads: &[(String, Vec<u8>)]) -> anyhow::Result<f64> {
    let js = bus.jetstream();
    let _ = js.delete_stream("BENCH_FLOOR").await;
    let stream = js
        .create_stream(stream::Config {
            name: "BENCH_FLOOR".into(),
            subjects: vec!["benchfloor.>".into()],
            ..Default::default()
        })
        .await?;
    let mut acks = Vec::with_capacity(payloads.len());
    for (channel, payload) in payloads {
        acks.push(js.publish(format!("benchfloor.{channel}"), payload.clone().into()).await?);
        if acks.len() == 1000 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS public.bench_floor (id UUID PRIMARY KEY, channel TEXT NOT NULL, bytes INT NOT NULL,
                                                        recorded_at TIMESTAMPTZ NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::query("CREATE INDEX IF NOT EXISTS bench_floor_channel ON public.bench_floor (channel, recorded_at)")
        .execute(pool)
        .await?;
    sqlx::query("TRUNCATE public.bench_floor").execute(pool).await?;
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("floor".into()),
            filter_subject: "benchfloor.>".into(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(6),
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut done = 0;
    while done < payloads.len() {
        let mut batch = consumer
            .fetch()
            .max_messages(8)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
            let channel = message.subject.as_str().rsplit('.').next().unwrap_or("").to_string();
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO public.bench_floor (id, channel, bytes, recorded_at) VALUES ($1, $2, $3, now())")
                .bind(Uuid::now_v7())
                .bind(channel)
                .bind(message.payload.len() as i32)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            message.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            done += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    js.delete_stream("BENCH_FLOOR").await?;
    Ok(secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): the benchmark is `make bench-dispatch`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/dispatch.rs runs under `make bench-dispatch`");
        return Ok(());
    }
    let requests: usize = std::env::var("REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let bin = std::env::var("BIN").context("BIN: the release recaudo binary")?;
    let database_url = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
    let nats_url = std::env::var("NATS_URL").context("NATS_URL")?;
    let prefix_raw = std::env::var("RECAUDO_SUBJECT_PREFIX").unwrap_or_else(|_| "bench".into());
    let bus = Bus::connect(&nats_url, Prefix::parse(&prefix_raw).map_err(anyhow::Error::msg)?).await?;
    let pool = PgPool::connect(&database_url).await?;

    eprintln!("building {requests} requests");
    let now = chrono::DateTime::parse_from_rfc3339(NOW)?.with_timezone(&chrono::Utc);
    let messages: Vec<(String, RawMessage)> = (0..requests)
        .map(|i| {
            let r = request(i);
            let channel = r.channel.to_string();
            (channel, RawMessage::event(bus.prefix(), "bench/scheduler", now, r).expect("serialisable"))
        })
        .collect();
    let mean_bytes = messages.iter().map(|(_, m)| m.payload.len()).sum::<usize>() / requests.max(1);

    eprintln!("the floor: {requests} messages of the same sizes, consumed with explicit ack, a row each in its own transaction");
    let payloads: Vec<(String, Vec<u8>)> = messages.iter().map(|(c, m)| (c.clone(), m.payload.to_vec())).collect();
    let floor_secs = floor(&bus, &pool, &payloads).await?;
    drop(payloads);

    eprintln!("publishing {requests} contact requests");
    let mut pending = Vec::new();
    for (_, m) in &messages {
        pending.push(bus.publish_pending(m).await?);
        if pending.len() == 1000 {
            for p in pending.drain(..) {
                p.await?;
            }
        }
    }
    for p in pending {
        p.await?;
    }
    drop(messages);

    let secret = || Uuid::new_v4().simple().to_string();
    let settings: Vec<(&str, String)> = vec![
        ("RECAUDO_TWILIO_ACCOUNT_SID", format!("AC{}", secret())),
        ("RECAUDO_TWILIO_AUTH_TOKEN", secret()),
        ("RECAUDO_TWILIO_FROM", "+15005550006".into()),
        ("RECAUDO_META_PHONE_NUMBER_ID", "100000000000001".into()),
        ("RECAUDO_META_ACCESS_TOKEN", secret()),
        ("RECAUDO_META_APP_SECRET", secret()),
        ("RECAUDO_META_VERIFY_TOKEN", secret()),
        ("RECAUDO_SENDGRID_API_KEY", format!("SG.{}.{}{}", &secret()[..22], secret(), &secret()[..11])),
        ("RECAUDO_SENDGRID_FROM_EMAIL", "cobranza@lender.example".into()),
        ("RECAUDO_SENDGRID_INBOUND_USER", "sendgrid".into()),
        ("RECAUDO_SENDGRID_INBOUND_PASSWORD", secret()),
    ];
    let app_port = support::free_port().expect("a free port");
    let sim_port = support::free_port().expect("a free port");
    let app_url = format!("http://127.0.0.1:{app_port}");
    let sim_url = format!("http://127.0.0.1:{sim_port}");
    let mut sim = Command::new(&bin);
    sim.args(["simulators", "--addr", &format!("127.0.0.1:{sim_port}"), "--app-url", &app_url])
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped());
    let mut sim = support::Killed(sim.spawn().context("start the simulators")?);
    let key_line = {
        use std::io::BufRead;
        let stdout = sim.0.stdout.take().context("the simulators' output")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        line
    };
    let public_key =
        key_line.trim().strip_prefix("RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY=").context("the SendGrid key")?;

    eprintln!("dispatching through the simulators (their own process)");
    let mut dispatcher = Command::new(&bin);
    dispatcher.args(["serve", "--target", "dispatcher"]).envs(settings.iter().map(|(k, v)| (*k, v.as_str()))).envs([
        ("RECAUDO_HTTP_ADDR", format!("127.0.0.1:{app_port}")),
        ("RECAUDO_PUBLIC_URL", app_url.clone()),
        ("RECAUDO_NOW", NOW.into()),
        ("RECAUDO_SMS_PROVIDER", "twilio".into()),
        ("RECAUDO_WHATSAPP_PROVIDER", "meta".into()),
        ("RECAUDO_EMAIL_PROVIDER", "sendgrid".into()),
        ("RECAUDO_TWILIO_BASE_URL", format!("{sim_url}{}", recaudo::simulators::TWILIO_PATH)),
        ("RECAUDO_META_BASE_URL", format!("{sim_url}{}", recaudo::simulators::META_PATH)),
        ("RECAUDO_SENDGRID_BASE_URL", format!("{sim_url}{}", recaudo::simulators::SENDGRID_PATH)),
        ("RECAUDO_SENDGRID_WEBHOOK_PUBLIC_KEY", public_key.into()),
        // The benchmark measures the dispatcher, not a provider's throughput.
        ("RECAUDO_SMS_RATE_PER_SEC", "1000000".into()),
        ("RECAUDO_WHATSAPP_RATE_PER_SEC", "1000000".into()),
        ("RECAUDO_EMAIL_RATE_PER_SEC", "1000000".into()),
    ]);
    let started = Instant::now();
    let dispatcher = support::Killed(dispatcher.spawn().context("start the dispatcher")?);
    let (pid, sim_pid) = (dispatcher.0.id(), sim.0.id());
    let mut rss = 0;
    let mut last_report = Instant::now();
    let (recorded, unknown, distinct) = loop {
        rss = rss.max(support::memory_kib(pid, "VmHWM").map(|k| k / 1024).unwrap_or(0));
        let (recorded, unknown, distinct): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status <> 'sending'), count(*) FILTER (WHERE status = 'unknown'),
                    count(DISTINCT contact_id)
             FROM dispatcher.attempts",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or((0, 0, 0));
        if recorded as usize >= requests {
            break (recorded, unknown, distinct);
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("  {recorded} of {requests} attempts recorded after {:.0} s", started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3600), "not done within an hour: {recorded} recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let dispatch_secs = started.elapsed().as_secs_f64();
    let (dispatcher_cpu, sim_cpu) = (cpu_secs(pid), cpu_secs(sim_pid));
    drop(dispatcher);
    drop(sim);

    let dispatch_rate = requests as f64 / dispatch_secs;
    let floor_rate = requests as f64 / floor_secs;
    println!(
        "requests={requests} mean_request_bytes={mean_bytes} attempts={recorded} distinct_contacts={distinct} unknown={unknown} dispatch_secs={dispatch_secs:.1} floor_secs={floor_secs:.1}"
    );
    println!(
        "cpu_secs_during_dispatch: dispatcher={dispatcher_cpu:.1} simulators={sim_cpu:.1} (on {} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "dispatch_per_s={dispatch_rate:.0} floor_per_s={floor_rate:.0} ratio={:.3} peak_rss_mb={rss}",
        dispatch_rate / floor_rate
    );
    Ok(())
}
