//! Handling `contact.requested.<channel>`: the send-window re-check, rendering, and the one provider call.

use std::sync::Arc;

use base64::Engine;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{
    AttemptOutcome, ContactAttempted, ContactCancelled, ContactPrepared, ContactRequested, ContactSuppressed,
};
use recaudo_policy::Debtor;
use recaudo_providers::{OutboundMessage, ProviderError};
use uuid::Uuid;

use crate::{Dispatcher, SCHEMA};

pub struct RequestHandler(pub Arc<Dispatcher>);

/// Where a request came from: its event id (the inbox's key) and its sequence in the contact stream, kept on the
/// attempt so that a request whose attempt the provider never received can be read and decided again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub event_id: Uuid,
    pub sequence: u64,
}

/// An attempt recorded and ready to send.
struct Prepared {
    attempt_id: Uuid,
    body: String,
    reply_token: String,
}

impl Handler for RequestHandler {
    async fn handle(&self, msg: Incoming) -> Result<(), HandleError> {
        let d = &self.0;
        let request = msg.envelope.decode::<ContactRequested>()?.data;
        let origin = Origin { event_id: msg.envelope.id, sequence: msg.stream_sequence };
        // The request stays in hand (progress acks keep it) while the provider is down or asks us to wait: given
        // back to the stream each time, it would count deliveries towards the dead-letter subject.
        loop {
            d.breaker.admit().await.map_err(HandleError::retry)?;
            d.limiter.until_ready().await;
            match attempt(d, origin, &request).await? {
                Attempted::Done => return Ok(()),
                Attempted::NotSent { reason, retry_after } => not_taken(d, &reason, retry_after),
            }
        }
    }

    async fn ready(&self) {
        // Stopping ends the consumer's loop anyway.
        let _ = self.0.breaker.settled().await;
    }
}

/// The provider did not take a request (a refused connection, a 429, a 503): every send waits as long as it asked,
/// or the failure counts towards opening the circuit.
pub(crate) fn not_taken(d: &Dispatcher, reason: &str, retry_after: Option<std::time::Duration>) {
    match retry_after {
        Some(wait) => {
            tracing::warn!(provider = d.provider.name(), %reason, "provider did not take the request; waiting as it asked");
            d.breaker.pause(wait);
        }
        None => {
            tracing::warn!(provider = d.provider.name(), %reason, "provider did not take the request");
            d.breaker.failure();
        }
    }
}

/// What became of one try at a request.
pub(crate) enum Attempted {
    /// Sent, refused, suppressed or already handled: the message is done.
    Done,
    /// Certainly not sent (a refused connection, a 429, a 503): its attempt was undone, and the request is decided
    /// again, send window included, when the provider can take it.
    NotSent { reason: String, retry_after: Option<std::time::Duration> },
}

/// One try at a request: the re-check, the attempt's record, the provider call and its outcome's record.
pub(crate) async fn attempt(
    d: &Dispatcher,
    origin: Origin,
    request: &ContactRequested,
) -> Result<Attempted, HandleError> {
    let consumer = d.consumer_name();
    let now = d.clock.now();
    // Before the transaction: a round trip to JetStream need not hold a database connection.
    let cancelled = cancellation(d, request).await?;

    let mut tx = d.pool.begin().await?;
    if !inbox::claim(&mut tx, SCHEMA, &consumer, origin.event_id).await? {
        return Ok(Attempted::Done);
    }
    // An attempt the provider never received (`not_sent`) does not count: its request is being decided again.
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dispatcher.attempts WHERE contact_id = $1 AND status <> 'not_sent')",
    )
    .bind(request.contact_id)
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        tx.commit().await?;
        return Ok(Attempted::Done);
    }
    // The request may have waited in the stream (an outage, a backlog) past the window it was planned in, or
    // behind another request for the same debtor: hours and caps again, over the attempts actually made. The
    // lock keeps two dispatchers (or channels) from both passing the caps for one debtor at once.
    crate::attempts::lock_debtor(&mut tx, request.debtor.id.as_str()).await?;
    let zone = request.time_zone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(request.country.time_zone());
    let debtor = Debtor::new(request.country, zone);
    let history = crate::attempts::history(&mut tx, request.debtor.id.as_str(), now).await?;
    let policy = d.policies.for_country(request.country);
    let recheck = policy
        .check_time(&debtor, d.channel.into(), now)
        .and_then(|()| policy.check_caps(&debtor, &history, d.channel.into(), now));
    let stop = match (cancelled, recheck) {
        (Some((rule, detail)), _) => Some((rule, detail)),
        (None, Err(s)) => Some((s.rule.to_string(), format!("{} ({})", s.reason, s.source))),
        (None, Ok(())) => None,
    };
    if let Some((rule, detail)) = stop {
        let event = ContactSuppressed {
            contact_id: request.contact_id,
            channel: d.channel,
            debtor_id: request.debtor.id.clone(),
            credit_id: request.credit.id.clone(),
            rule,
            detail,
            strategy: Some(request.strategy.clone()),
            decision: request.decision.clone(),
        };
        d.outbox.enqueue(&mut tx, now, event).await?;
        tx.commit().await?;
        d.outbox.wake();
        return Ok(Attempted::Done);
    }
    let reply_token = new_token();
    let composed = crate::content::compose(d, &mut tx, request, &reply_token).await?;
    let body = composed.as_ref().map(|c| c.readable().to_string()).unwrap_or_default();
    let attempt_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO dispatcher.attempts (id, contact_id, channel, debtor_id, credit_id, advisor_id, to_address, body,
                                              reply_token, provider, status, created_at, updated_at, country,
                                              time_zone, strategy, decision, sending_until, request_id, request_sequence,
                                              recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'sending', $11, $11, $12, $13, $14, $15,
                     clock_timestamp() + make_interval(secs => $16), $17, $18, clock_timestamp())",
    )
    .bind(attempt_id)
    .bind(request.contact_id)
    .bind(d.channel.as_str())
    .bind(request.debtor.id.as_str())
    .bind(request.credit.id.as_str())
    .bind(request.advisor.as_ref().map(|a| a.id.0))
    .bind(&request.to)
    .bind(&body)
    .bind(&reply_token)
    .bind(d.provider.name())
    .bind(now)
    .bind(request.country.code())
    .bind(zone.name())
    .bind(&request.strategy)
    .bind(serde_json::to_value(&request.decision).map_err(HandleError::reject)?)
    .bind(d.interrupted_after.as_secs_f64())
    .bind(origin.event_id)
    .bind(i64::try_from(origin.sequence).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    // `clock_timestamp()`, not the transaction's start: the debtor's lock may have been waited on, and the provider
    // call starts right after this commit.
    // The reply link works before the provider is called: a message that reaches the debtor although its send
    // was cut off still carries a link that answers.
    let prepared = ContactPrepared {
        attempt_id,
        contact_id: request.contact_id,
        channel: d.channel,
        debtor_id: request.debtor.id.clone(),
        credit_id: request.credit.id.clone(),
        reply_token: reply_token.clone(),
        prepared_at: now,
    };
    d.outbox.enqueue(&mut tx, now, prepared).await?;
    tx.commit().await?;
    d.outbox.wake();

    let prepared = Prepared { attempt_id, body, reply_token };
    let result = match composed {
        Err(e) => Err(ProviderError::Rejected { code: Some("template".into()), message: e }),
        Ok(content) => {
            let message = OutboundMessage {
                to: request.to.clone(),
                content,
                status_callback: d.status_callback_url(),
                idempotency_key: attempt_id.to_string(),
            };
            if let Some(c) = &d.crash_at {
                c.reached(crate::crash::Point::BeforeProviderCall);
            }
            let result = d.provider.send(&message).await;
            if let Some(c) = &d.crash_at {
                c.reached(crate::crash::Point::AfterProviderCall);
            }
            match &result {
                // A refusal of this one message is an answer: the provider is up.
                Ok(_) | Err(ProviderError::Rejected { .. }) => d.breaker.success(),
                Err(ProviderError::Unavailable(_)) => d.breaker.failure(),
                Err(ProviderError::NotSent { .. }) => {}
            }
            result
        }
    };
    if let Err(ProviderError::NotSent { reason, retry_after }) = result {
        give_back(d, &consumer, origin.event_id, attempt_id).await?;
        return Ok(Attempted::NotSent { reason: format!("{}: {reason}", d.provider.name()), retry_after });
    }
    record_outcome(d, request, prepared, result).await?;
    Ok(Attempted::Done)
}

/// Undoes an attempt the provider certainly did not take, so that the request's redelivery is handled anew.
async fn give_back(d: &Dispatcher, consumer: &str, event_id: Uuid, attempt_id: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = d.pool.begin().await?;
    sqlx::query("DELETE FROM dispatcher.attempts WHERE id = $1 AND status = 'sending'")
        .bind(attempt_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM dispatcher.inbox WHERE consumer = $1 AND event_id = $2")
        .bind(consumer)
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The rule and detail of the request's cancellation, if the scheduler withdrew it. Read from the stream rather
/// than a consumer's projection, so that a cancellation published while the request waited is seen whatever order
/// the two are fetched in. A failed lookup is retried like any error before the provider call.
async fn cancellation(d: &Dispatcher, request: &ContactRequested) -> Result<Option<(String, String)>, HandleError> {
    let subject = recaudo_events::cancelled_subject(d.channel, request.contact_id);
    let Some(payload) = d.bus.last_on_subject(&subject).await.map_err(HandleError::retry)? else {
        return Ok(None);
    };
    let envelope: recaudo_events::RawEnvelope = serde_json::from_slice(&payload).map_err(HandleError::reject)?;
    let e = envelope.decode::<ContactCancelled>()?.data;
    Ok(Some((e.rule, e.detail)))
}

/// Stores the provider's answer and publishes `contact.attempted`. Never returns a retryable error for the provider
/// call itself: the attempt is recorded, so a retry would skip it anyway.
async fn record_outcome(
    d: &Dispatcher,
    request: &ContactRequested,
    prepared: Prepared,
    result: Result<recaudo_providers::ProviderReceipt, ProviderError>,
) -> Result<(), sqlx::Error> {
    let now = d.clock.now();
    let (outcome, status, provider_status, message_id, error, code, next_check) = match result {
        Ok(receipt) => (
            AttemptOutcome::Sent,
            d.provider.accepted_status().as_str(),
            Some(receipt.status),
            Some(receipt.provider_message_id),
            None,
            None,
            Some(crate::reconcile::after(d.reconcile_after)),
        ),
        Err(e @ ProviderError::Rejected { .. }) => {
            let code = match &e {
                ProviderError::Rejected { code, .. } => code.clone(),
                _ => None,
            };
            (AttemptOutcome::Failed, "failed", None, None, Some(e.to_string()), code, None)
        }
        // Unknown whether it went out: never resent blindly. The reconciler asks the provider.
        Err(e @ (ProviderError::Unavailable(_) | ProviderError::NotSent { .. })) => (
            AttemptOutcome::Unknown,
            "unknown",
            None,
            None,
            Some(e.to_string()),
            None,
            Some(crate::reconcile::after(d.interrupted_after)),
        ),
    };
    tracing::info!(attempt_id = %prepared.attempt_id, status, "contact attempted");
    let mut tx = d.pool.begin().await?;
    if let Some(id) = &message_id {
        crate::webhooks::lock_message(&mut tx, d, id).await?;
    }
    let updated = sqlx::query(
        "UPDATE dispatcher.attempts
         SET status = $2, provider_message_id = $3, error = $4, attempted_at = $5, updated_at = $5,
             provider_status = $6, error_code = $7, final = ($2 = 'failed'), next_check_at = $8
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(prepared.attempt_id)
    .bind(status)
    .bind(&message_id)
    .bind(&error)
    .bind(now)
    .bind(&provider_status)
    .bind(&code)
    .bind(next_check)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        // The reconciler took the attempt for cut off (the call outlived its time) and published it `unknown`: the
        // provider's answer is the proof it was taken, so its message is adopted as a search would have.
        if let (Some(id), Some(status)) = (&message_id, &provider_status) {
            let update = recaudo_providers::StatusUpdate {
                provider_message_id: id.clone(),
                normalized: d.provider.accepted_status(),
                status: status.clone(),
                error_code: None,
                attempt_ref: None,
                taken_at: None,
            };
            if crate::webhooks::adopt_message(&mut tx, d, prepared.attempt_id, &update, now).await? {
                crate::webhooks::record_status(&mut tx, d, &update, now).await?;
                tx.commit().await?;
                d.outbox.wake();
            }
        }
        tracing::warn!(attempt_id = %prepared.attempt_id, "provider answered after the attempt was taken for cut off");
        return Ok(());
    }
    let event = ContactAttempted {
        attempt_id: prepared.attempt_id,
        contact_id: request.contact_id,
        channel: d.channel,
        strategy: Some(request.strategy.clone()),
        decision: request.decision.clone(),
        debtor_id: request.debtor.id.clone(),
        credit_id: request.credit.id.clone(),
        advisor_id: request.advisor.as_ref().map(|a| a.id),
        outcome,
        provider: d.provider.name().to_string(),
        provider_message_id: message_id.clone(),
        body: prepared.body,
        reply_token: prepared.reply_token,
        error,
        attempted_at: now,
    };
    d.outbox.enqueue(&mut tx, now, event).await?;
    if let Some(id) = &message_id {
        // In a savepoint: failing to apply an early status report must not lose the attempt's own outcome.
        let mut savepoint = sqlx::Acquire::begin(&mut tx).await?;
        match crate::webhooks::apply_early_reports(&mut savepoint, d, id, now).await {
            Ok(()) => savepoint.commit().await?,
            Err(e) => {
                tracing::warn!(attempt_id = %prepared.attempt_id, error = %e, "early status reports not applied");
                savepoint.rollback().await?;
            }
        }
    }
    tx.commit().await?;
    d.outbox.wake();
    Ok(())
}

/// 128 random bits, URL-safe: unguessable, so a link cannot be forged to reach another debtor's advisor.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
