//! Delivery guarantees of the bus on a private nats-server and a real database: the outbox publishes with
//! `Nats-Msg-Id` and trace context, JetStream drops duplicates, consumers retry with back-off, a poison message
//! goes to the dead-letter subject without blocking the stream, a handler slower than the ack wait keeps its
//! message, and the inbox skips what was already handled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use opentelemetry::trace::TracerProvider as _;
use recaudo_bus::outbox::Outbox;
use recaudo_bus::{consume, inbox, Bus, ConsumerSpec, HandleError, Handler, Incoming, Prefix, RawMessage};
use recaudo_events::{Event, ImportFailed};
use recaudo_testkit::{eventually, NatsServer, TestDb};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

struct Setup {
    _db: TestDb,
    _nats: NatsServer,
    pool: PgPool,
    bus: Bus,
}

async fn setup() -> Setup {
    let db = TestDb::create().await.unwrap();
    let nats = NatsServer::start().unwrap();
    let pool = PgPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA t; {}", inbox::ddl("t"))).execute(&pool).await.unwrap();
    let bus = Bus::connect(&nats.url, Prefix::parse("test").unwrap()).await.unwrap();
    bus.apply_streams(1).await.unwrap();
    Setup { _db: db, _nats: nats, pool, bus }
}

fn install_tracing() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

fn failed(reason: &str) -> ImportFailed {
    ImportFailed { import_id: Uuid::now_v7(), reason: reason.into() }
}

#[tokio::test]
async fn outbox_publishes_committed_events_with_id_and_trace_context() {
    install_tracing();
    let s = setup().await;
    let outbox = Outbox::new("t", "recaudo/test", s.bus.prefix().clone());
    let mut sub = s.bus.client().subscribe("test.import.failed").await.unwrap();

    let span = tracing::info_span!("request");
    let ids = async {
        let mut tx = s.pool.begin().await.unwrap();
        let a = outbox.enqueue(&mut tx, chrono::Utc::now(), failed("a")).await.unwrap();
        let b = outbox.enqueue(&mut tx, chrono::Utc::now(), failed("b")).await.unwrap();
        tx.commit().await.unwrap();
        // Rolled back: never published.
        let mut tx = s.pool.begin().await.unwrap();
        outbox.enqueue(&mut tx, chrono::Utc::now(), failed("rolled back")).await.unwrap();
        tx.rollback().await.unwrap();
        vec![a, b]
    }
    .instrument(span)
    .await;

    let stop = CancellationToken::new();
    let relay = tokio::spawn(outbox.clone().relay(s.pool.clone(), s.bus.clone(), stop.clone()));
    outbox.wake();
    let mut seen = Vec::new();
    let mut traces = Vec::new();
    for _ in 0..2 {
        let msg = tokio::time::timeout(WAIT, sub.next()).await.unwrap().unwrap();
        let headers = msg.headers.clone().unwrap();
        seen.push(headers.get("Nats-Msg-Id").unwrap().as_str().to_string());
        let traceparent = headers.get("traceparent").expect("traceparent header").as_str().to_string();
        traces.push(traceparent.split('-').nth(1).unwrap().to_string());
        let env: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(env["type"], ImportFailed::TYPE);
        assert_eq!(env["specversion"], "1.0");
    }
    assert_eq!(seen, ids.iter().map(Uuid::to_string).collect::<Vec<_>>());
    assert_eq!(traces[0], traces[1], "both events carry the trace of the request that wrote them");
    assert!(tokio::time::timeout(Duration::from_millis(500), sub.next()).await.is_err(), "nothing else published");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM t.outbox").fetch_one(&s.pool).await.unwrap();
    assert_eq!(left, 0, "published rows leave the outbox");
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn jetstream_drops_a_republished_event() {
    let s = setup().await;
    let msg = RawMessage {
        subject: "test.import.failed".into(),
        event_id: Uuid::now_v7().to_string(),
        headers: Default::default(),
        payload: "{}".into(),
    };
    s.bus.publish(&msg).await.unwrap();
    s.bus.publish(&msg).await.unwrap();
    let mut stream = s.bus.jetstream().get_stream("TEST_IMPORT").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

/// Records what it handles; fails the first `fail_times` deliveries of each message.
struct Flaky {
    fail_times: i64,
    handled: Arc<Mutex<Vec<(String, i64)>>>,
    calls: Arc<AtomicUsize>,
}

impl Handler for Flaky {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let e = msg.envelope.decode::<ImportFailed>()?;
        if msg.delivered <= self.fail_times {
            return Err(HandleError::retry(anyhow::anyhow!("not yet")));
        }
        self.handled.lock().unwrap().push((e.data.reason, msg.delivered));
        Ok(())
    }
}

fn spec(durable: &str, max_deliver: i64) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(durable, "import.>");
    spec.max_deliver = max_deliver;
    spec.backoff = Duration::from_millis(20);
    spec.max_backoff = Duration::from_millis(100);
    spec
}

async fn publish_event(s: &Setup, reason: &str) {
    let env = recaudo_events::Envelope::new("test", chrono::Utc::now(), failed(reason));
    let msg = RawMessage {
        subject: "test.import.failed".into(),
        event_id: env.id.to_string(),
        headers: Default::default(),
        payload: serde_json::to_vec(&env).unwrap().into(),
    };
    s.bus.publish(&msg).await.unwrap();
}

#[tokio::test]
async fn a_failing_handler_is_retried_with_backoff_then_succeeds() {
    let s = setup().await;
    let handled = Arc::new(Mutex::new(Vec::new()));
    let handler = Flaky { fail_times: 2, handled: handled.clone(), calls: Arc::new(AtomicUsize::new(0)) };
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume::run(s.bus.clone(), spec("retry", 5), handler, stop.clone()));
    publish_event(&s, "one").await;
    eventually("the third delivery to succeed", WAIT, || async { (!handled.lock().unwrap().is_empty()).then_some(()) })
        .await;
    assert_eq!(handled.lock().unwrap().clone(), vec![("one".to_string(), 3)]);
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn poison_and_exhausted_messages_go_to_the_dead_letter_subject_without_blocking() {
    let s = setup().await;
    let mut dlq = s.bus.client().subscribe("test.dlq.poison").await.unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    // Fails every delivery of "stubborn", at most 3 deliveries.
    struct Picky(Arc<Mutex<Vec<String>>>);
    impl Handler for Picky {
        async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
            let e = msg.envelope.decode::<ImportFailed>()?;
            if e.data.reason == "stubborn" {
                return Err(HandleError::retry(anyhow::anyhow!("always fails")));
            }
            if e.data.reason == "overflows" {
                let n: i32 = std::hint::black_box(i32::MIN);
                let negated = -n; // overflow checks are on: a panic
                self.0.lock().unwrap().push(negated.to_string());
            }
            self.0.lock().unwrap().push(e.data.reason);
            Ok(())
        }
    }
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume::run(s.bus.clone(), spec("poison", 3), Picky(handled.clone()), stop.clone()));

    let garbage = RawMessage {
        subject: "test.import.failed".into(),
        event_id: "garbage".into(),
        headers: Default::default(),
        payload: "not json".into(),
    };
    s.bus.publish(&garbage).await.unwrap();
    publish_event(&s, "stubborn").await;
    publish_event(&s, "overflows").await;
    publish_event(&s, "fine").await;

    let first = tokio::time::timeout(WAIT, dlq.next()).await.unwrap().unwrap();
    assert_eq!(&first.payload[..], b"not json");
    let reason = first.headers.as_ref().unwrap().get("Recaudo-Dead-Letter-Reason").unwrap().as_str().to_string();
    assert!(reason.contains("not a CloudEvents JSON envelope"), "{reason}");
    // The exhausted message and the one whose handler panicked (given up at once, and the consumer goes on), in
    // whichever order they are given up.
    let mut given_up = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(WAIT, dlq.next()).await.unwrap().unwrap();
        let env: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let headers = m.headers.as_ref().unwrap();
        assert_eq!(headers.get("Recaudo-Original-Subject").unwrap().as_str(), "test.import.failed");
        let reason = headers.get("Recaudo-Dead-Letter-Reason").unwrap().as_str().to_string();
        given_up.insert(env["data"]["reason"].as_str().unwrap().to_string(), reason);
    }
    assert!(given_up["stubborn"].contains("always fails"), "{given_up:?}");
    assert!(given_up["overflows"].contains("panicked"), "{given_up:?}");
    eventually("the good message", WAIT, || async {
        handled.lock().unwrap().contains(&"fine".to_string()).then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_inbox_claims_an_event_once_per_consumer() {
    let s = setup().await;
    let id = Uuid::now_v7();
    let mut tx = s.pool.begin().await.unwrap();
    assert!(inbox::claim(&mut tx, "t", "a", id).await.unwrap());
    assert!(!inbox::claim(&mut tx, "t", "a", id).await.unwrap());
    assert!(inbox::claim(&mut tx, "t", "b", id).await.unwrap());
    tx.rollback().await.unwrap();
    // A rolled-back claim is no claim: the event is handled again on redelivery.
    let mut tx = s.pool.begin().await.unwrap();
    assert!(inbox::claim(&mut tx, "t", "a", id).await.unwrap());
    tx.commit().await.unwrap();
}

/// Records the delivery count of every call, taking longer than the consumer's ack wait.
struct Slow {
    deliveries: Arc<Mutex<Vec<i64>>>,
}

impl Handler for Slow {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        self.deliveries.lock().unwrap().push(msg.delivered);
        tokio::time::sleep(Duration::from_millis(3500)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_longer_than_the_ack_wait_keeps_its_message() {
    let s = setup().await;
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let mut spec = spec("slow", 5);
    spec.ack_wait = Duration::from_millis(1500);
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume::run(s.bus.clone(), spec, Slow { deliveries: deliveries.clone() }, stop.clone()));
    publish_event(&s, "long").await;
    eventually("the message to be handled", WAIT, || async { (!deliveries.lock().unwrap().is_empty()).then_some(()) })
        .await;
    // Without progress signalled, JetStream would redeliver after 1.5 s and the handler would run again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(deliveries.lock().unwrap().clone(), vec![1]);
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn applying_streams_narrows_an_import_stream_that_also_held_row_batches() {
    let nats = NatsServer::start().unwrap();
    let bus = Bus::connect(&nats.url, Prefix::parse("test").unwrap()).await.unwrap();
    // The import stream as earlier versions declared it, row batches included.
    let mut old = recaudo_bus::streams::stream_config(bus.prefix(), "import", 1);
    old.subjects = vec!["test.import.>".into()];
    bus.jetstream().create_stream(old).await.unwrap();

    bus.apply_streams(1).await.unwrap();
    let mut import = bus.jetstream().get_stream("TEST_IMPORT").await.unwrap();
    assert_eq!(import.info().await.unwrap().config.subjects, ["test.import.*"]);
    let mut rows = bus.jetstream().get_stream("TEST_IMPORT_ROWS").await.unwrap();
    assert_eq!(rows.info().await.unwrap().config.subjects, ["test.import.rows.*"]);
}

#[tokio::test]
async fn a_dead_letter_is_listed_with_its_reason_and_replayed_once_the_cause_is_fixed() {
    let s = setup().await;
    // Rejects every message until the cause is "fixed"; records inbox claims like a real consumer.
    struct Gate {
        fixed: Arc<std::sync::atomic::AtomicBool>,
        pool: PgPool,
        handled: Arc<Mutex<Vec<String>>>,
    }
    impl Handler for Gate {
        async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
            if !self.fixed.load(Ordering::SeqCst) {
                return Err(HandleError::reject(anyhow::anyhow!("the credit's currency is unknown")));
            }
            let mut tx = self.pool.begin().await?;
            if inbox::claim(&mut tx, "t", "gate", msg.envelope.id).await? {
                self.handled.lock().unwrap().push(msg.envelope.decode::<ImportFailed>()?.data.reason);
            }
            tx.commit().await?;
            Ok(())
        }
    }
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handled = Arc::new(Mutex::new(Vec::new()));
    let handler = Gate { fixed: fixed.clone(), pool: s.pool.clone(), handled: handled.clone() };
    let stop = CancellationToken::new();
    let task = tokio::spawn(consume::run(s.bus.clone(), spec("gate", 3), handler, stop.clone()));
    publish_event(&s, "keep me").await;

    let letters = eventually("the dead letter to be listed", WAIT, || async {
        let l = recaudo_bus::dead_letters::list(&s.bus, 0, 10).await.unwrap();
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.consumer.as_deref(), Some("gate"));
    assert_eq!(letter.original_subject.as_deref(), Some("test.import.failed"));
    assert_eq!(letter.event_type.as_deref(), Some(ImportFailed::TYPE));
    assert!(letter.reason.as_deref().unwrap().contains("currency is unknown"));
    assert!(handled.lock().unwrap().is_empty());

    // The cause is fixed; the replay is handled once, and the letter is gone.
    fixed.store(true, Ordering::SeqCst);
    let replayed = recaudo_bus::dead_letters::replay(&s.bus, letter.id).await.unwrap().unwrap();
    assert_eq!(replayed.event_id, letter.event_id);
    eventually("the replayed message to be handled", WAIT, || async {
        (!handled.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    assert_eq!(handled.lock().unwrap().clone(), vec!["keep me".to_string()]);
    assert!(recaudo_bus::dead_letters::list(&s.bus, 0, 10).await.unwrap().is_empty());
    assert!(recaudo_bus::dead_letters::replay(&s.bus, letter.id).await.unwrap().is_none(), "replayed once only");
    stop.cancel();
    task.await.unwrap().unwrap();
}
