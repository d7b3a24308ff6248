//! Handling `contact.requested.<channel>`: the send-window re-check, rendering, and the one provider call.

use std::sync::Arc;

use base64::Engine;
use recaudo_bus::{inbox, HandleError, Handler, Incoming};
use recaudo_events::{AttemptOutcome, ContactAttempted, ContactCancelled, ContactRequested, ContactSuppressed};
use recaudo_policy::Debtor;
use recaudo_providers::{OutboundSms, ProviderError};
use recaudo_templates::{MessageContext, Templates};
use uuid::Uuid;

use crate::{Dispatcher, SCHEMA};

pub struct RequestHandler(pub Arc<Dispatcher>);

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
        let consumer = format!("dispatcher-{}", d.channel);
        let now = d.clock.now();
        // Before the transaction: a round trip to JetStream need not hold a database connection.
        let cancelled = cancellation(d, &request).await?;

        let mut tx = d.pool.begin().await?;
        if !inbox::claim(&mut tx, SCHEMA, &consumer, msg.envelope.id).await? {
            return Ok(());
        }
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM dispatcher.attempts WHERE contact_id = $1)")
                .bind(request.contact_id)
                .fetch_one(&mut *tx)
                .await?;
        if exists {
            tx.commit().await?;
            return Ok(());
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
            return Ok(());
        }
        let reply_token = new_token();
        let rendered = Templates::builtin().render(
            &request.template,
            &MessageContext::for_request(&request, format!("{}/r/{reply_token}", d.public_url)),
        );
        let attempt_id = Uuid::now_v7();
        let (body, render_error) = match rendered {
            Ok(body) => (body, None),
            Err(e) => (String::new(), Some(e.to_string())),
        };
        sqlx::query(
            "INSERT INTO dispatcher.attempts (id, contact_id, channel, debtor_id, credit_id, advisor_id, to_address, body,
                                              reply_token, provider, status, created_at, updated_at, country,
                                              time_zone, strategy, decision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'sending', $11, $11, $12, $13, $14, $15)",
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        let prepared = Prepared { attempt_id, body, reply_token };
        let result = match render_error {
            Some(e) => Err(ProviderError::Rejected { code: Some("template".into()), message: e }),
            None => {
                let sms = OutboundSms {
                    to: request.to.clone(),
                    body: prepared.body.clone(),
                    status_callback: Some(d.status_callback_url()),
                    idempotency_key: attempt_id.to_string(),
                };
                d.provider.send(&sms).await
            }
        };
        record_outcome(d, &request, prepared, result).await.map_err(HandleError::from)
    }
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
    let (outcome, status, message_id, error) = match result {
        Ok(receipt) => (AttemptOutcome::Sent, "sent".to_string(), Some(receipt.provider_message_id), None),
        Err(e @ ProviderError::Rejected { .. }) => {
            (AttemptOutcome::Failed, "failed".to_string(), None, Some(e.to_string()))
        }
        // Unknown whether it went out: never retried, so that a debtor is not messaged twice.
        Err(e @ ProviderError::Unavailable(_)) => {
            (AttemptOutcome::Failed, "unknown".to_string(), None, Some(e.to_string()))
        }
    };
    tracing::info!(attempt_id = %prepared.attempt_id, status = %status, "contact attempted");
    let mut tx = d.pool.begin().await?;
    if let Some(id) = &message_id {
        crate::webhooks::lock_message(&mut tx, d, id).await?;
    }
    sqlx::query(
        "UPDATE dispatcher.attempts SET status = $2, provider_message_id = $3, error = $4, attempted_at = $5, updated_at = $5
         WHERE id = $1",
    )
    .bind(prepared.attempt_id)
    .bind(&status)
    .bind(&message_id)
    .bind(&error)
    .bind(now)
    .execute(&mut *tx)
    .await?;
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
