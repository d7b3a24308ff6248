//! The Event Webhook posts that follow an accepted mail: a batch of `processed` events, then a batch of outcomes
//! (`delivered`, or `bounce`/`dropped` at the magic domains), one event per recipient, each echoing the custom
//! args, each batch signed as SendGrid signs.

use std::time::Duration;

use chrono::Utc;
use recaudo_providers::sendgrid::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::{json, Map, Value};

use crate::sendgrid::{rfc822_message_id, Fault, SendGridSimulator, SimMail, BOUNCE_DOMAIN, DROPPED_DOMAIN};

/// How long the events receiver gets to answer; SendGrid gives up on slow endpoints too.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn spawn(sim: SendGridSimulator, mail: SimMail, fault: Option<Fault>) {
    let Some(url) = sim.config().events_url.clone() else { return };
    tokio::spawn(async move {
        let mut batches = vec![batch(&mail, Stage::Processed), batch(&mail, Stage::Outcome)];
        if fault == Some(Fault::OutOfOrderEvents) {
            batches.reverse();
        }
        let times = if fault == Some(Fault::DuplicateEvents) { 2 } else { 1 };
        for events in batches {
            tokio::time::sleep(sim.config().event_delay).await;
            let body = serde_json::to_vec(&events).expect("JSON values serialise");
            for _ in 0..times {
                match post_signed(&sim, &url, &body).await {
                    Ok(code) if code.is_success() => {}
                    // SendGrid retries failed posts for up to 24 hours; the simulator does not, and says so.
                    Ok(code) => {
                        tracing::warn!(message_id = %mail.message_id, http_status = code.as_u16(), "event post refused")
                    }
                    Err(error) => {
                        tracing::warn!(message_id = %mail.message_id, error = %error.without_url(), "event post failed")
                    }
                }
            }
        }
    });
}

#[derive(Clone, Copy)]
enum Stage {
    Processed,
    Outcome,
}

fn batch(mail: &SimMail, stage: Stage) -> Vec<Value> {
    mail.to.iter().enumerate().map(|(index, email)| event(mail, index, email, stage)).collect()
}

/// One event as SendGrid writes it; custom args become top-level fields, as SendGrid echoes them.
fn event(mail: &SimMail, index: usize, email: &str, stage: Stage) -> Value {
    let domain = email.rsplit('@').next().unwrap_or_default().to_ascii_lowercase();
    let mut fields = Map::new();
    for (key, value) in &mail.custom_args {
        fields.insert(key.clone(), Value::String(value.clone()));
    }
    let outcome = match stage {
        Stage::Processed => json!({ "event": "processed" }),
        Stage::Outcome if domain == BOUNCE_DOMAIN => json!({
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "bounce_classification": "Invalid Address",
        }),
        Stage::Outcome if domain == DROPPED_DOMAIN => json!({
            "event": "dropped",
            "reason": "Bounced Address",
            "status": "5.0.0",
        }),
        Stage::Outcome => json!({ "event": "delivered", "response": "250 2.0.0 OK", "tls": 1, "ip": "127.0.0.1" }),
    };
    if let Value::Object(outcome) = outcome {
        fields.extend(outcome);
    }
    fields.insert("email".into(), json!(email));
    fields.insert("timestamp".into(), json!(Utc::now().timestamp()));
    fields.insert("smtp-id".into(), json!(rfc822_message_id(&mail.message_id)));
    fields.insert("sg_event_id".into(), json!(crate::sendgrid::new_message_id()));
    // The X-Message-Id, then SendGrid's per-recipient suffix after a ".".
    fields.insert(
        "sg_message_id".into(),
        json!(format!("{}.simfilter-{index}-{}.0", mail.message_id, mail.received_at.timestamp())),
    );
    fields.insert("category".into(), json!([]));
    Value::Object(fields)
}

async fn post_signed(sim: &SendGridSimulator, url: &str, body: &[u8]) -> Result<reqwest::StatusCode, reqwest::Error> {
    let timestamp = Utc::now().timestamp().to_string();
    let signature = signature::sign(&sim.shared.signing_key, &timestamp, body);
    let response = sim
        .shared
        .http
        .post(url)
        .header(SIGNATURE_HEADER, signature)
        .header(TIMESTAMP_HEADER, timestamp)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "SendGrid Event API")
        .body(body.to_vec())
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await?;
    Ok(response.status())
}
