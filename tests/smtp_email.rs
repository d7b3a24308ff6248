//! Email through the lender's own SMTP relay (lettre), against a relay that speaks RFC 5321 over TCP in this test:
//! the message carries both parts, the one-click unsubscribe headers and our Message-ID; a refused recipient is a
//! failed attempt; a 4xx is retried once the relay takes it, never twice; a connection dropped after the message is
//! `unknown`, never resent.

mod common;

use chrono::Utc;
use common::{Infra, WAIT};
use recaudo::Target;
use recaudo_bus::{Bus, Prefix, RawMessage};
use recaudo_events::ContactRequested;
use recaudo_simulators::smtp::{Fault, SmtpSimulator};
use recaudo_testkit::eventually;

fn request(n: usize, to: &str) -> ContactRequested {
    common::contact_request("email", to, &format!("S{n:05}"), "CO", "America/Bogota", "COP")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_the_lenders_relay_once_with_its_unsubscribe_headers() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let relay = SmtpSimulator::new("recaudo", "s3cret");
    let addr = relay.clone().start().await.unwrap();
    let url = format!("smtp://recaudo:s3cret@{addr}");
    let env = infra.env(&[
        ("RECAUDO_NOW", "2026-11-23T16:00:00Z"),
        ("RECAUDO_EMAIL_PROVIDER", "smtp"),
        ("RECAUDO_SMTP_URL", url.as_str()),
        ("RECAUDO_SMTP_FROM_EMAIL", "cobranza@lender.example"),
        ("RECAUDO_SMTP_FROM_NAME", "Cobranza Lender"),
        ("RECAUDO_SMTP_TIMEOUT_SECS", "5"),
    ]);
    let app = common::App::spawn(env, &[Target::Dispatcher]).await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let publish = |r: ContactRequested| {
        let msg = RawMessage::event(bus.prefix(), "test/scheduler", Utc::now(), r).unwrap();
        let bus = bus.clone();
        async move { bus.publish(&msg).await.unwrap() }
    };
    let attempt = |to: &'static str| {
        let pool = pool.clone();
        async move {
            eventually(&format!("the attempt to {to} to settle"), WAIT, || async {
                let row: Option<(String, Option<String>, String)> = sqlx::query_as(
                    "SELECT status, error_code, id::text FROM dispatcher.attempts
                     WHERE to_address = $1 AND status <> 'sending'",
                )
                .bind(to)
                .fetch_optional(&pool)
                .await
                .unwrap();
                row
            })
            .await
        }
    };

    // Taken: both parts, the unsubscribe headers, our Message-ID, and the relay's credentials used.
    publish(request(1, "ana@example.com")).await;
    let (status, _, attempt_id) = attempt("ana@example.com").await;
    assert_eq!(status, "sent", "the relay took it; SMTP reports nothing later");
    let received = relay.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!((mail.user.as_deref(), mail.mail_from.as_str()), (Some("recaudo"), "cobranza@lender.example"));
    assert_eq!(mail.rcpt_to, ["ana@example.com"]);
    assert_eq!(mail.header("Message-ID"), Some(format!("<{attempt_id}@lender.example>")));
    let unsubscribe = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(unsubscribe.starts_with('<') && unsubscribe.contains("/u/"), "{unsubscribe}");
    assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    assert!(mail.header("Content-Type").unwrap().starts_with("multipart/alternative"), "{}", mail.data);
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"), "{}", mail.data);

    // Refused recipient: a failed attempt with the relay's code.
    publish(request(2, "bounce@example.com")).await;
    let (status, code, _) = attempt("bounce@example.com").await;
    assert_eq!((status.as_str(), code.as_deref()), ("failed", Some("550")));

    // A 451 after the message: the relay did not take it, so it is sent again, and then only once.
    relay.fail_next(1, Fault::TemporaryFailure);
    publish(request(3, "luis@example.com")).await;
    let (status, _, _) = attempt("luis@example.com").await;
    assert_eq!(status, "sent");
    // The connection dropped after the message: we cannot know, so it is `unknown` and not resent.
    relay.fail_next(1, Fault::DropAfterData);
    publish(request(4, "eva@example.com")).await;
    let (status, _, _) = attempt("eva@example.com").await;
    assert_eq!(status, "unknown");
    // Every request handled: no redelivery can send one again.
    common::consumer_caught_up(&infra, "contact", "dispatcher-email").await;
    let to = |a: &str| relay.received().iter().filter(|m| m.rcpt_to.iter().any(|r| r == a)).count();
    assert_eq!((to("luis@example.com"), to("eva@example.com"), to("bounce@example.com")), (1, 0, 0));
    app.stop().await;
}
