//! What debtors send back: replies and button taps become `reply.received.<channel>` for the debtor of the attempt
//! they answer; opt-out words (and a provider's own unsubscribe reports) become `consent.withdrawn` for the
//! channel. Every inbound message is stored once, whatever the provider's retries.

use chrono::{DateTime, Utc};
use recaudo_domain::{CreditId, DebtorId};
use recaudo_events::{ConsentVia, ConsentWithdrawn, ReplyReceived};
use recaudo_providers::{InboundMessage, ProviderOptOut};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Dispatcher;

/// Words that, alone in a reply (or as its first line, for email), withdraw consent for the channel: the carriers'
/// and Twilio's English keywords and their Spanish counterparts.
const OPT_OUT_WORDS: &[&str] =
    &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "BAJA", "ALTO", "CANCELAR", "PARAR", "DETENER"];

/// Whether `text` is an opt-out: one of [`OPT_OUT_WORDS`], in any case, with punctuation and accents around it
/// ignored ("Baja.", "¡ALTO!", "stop ").
pub fn is_opt_out(text: &str) -> bool {
    let first_line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let word: String = first_line
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .trim()
        .to_uppercase();
    OPT_OUT_WORDS.contains(&word.as_str())
}

#[derive(sqlx::FromRow)]
struct Answered {
    id: Uuid,
    debtor_id: String,
    credit_id: String,
}

/// The attempt an inbound message answers: the one whose message it quotes, else the latest to that address on
/// this channel.
async fn answered(
    conn: &mut PgConnection,
    d: &Dispatcher,
    from: &str,
    in_reply_to: Option<&str>,
) -> Result<Option<Answered>, sqlx::Error> {
    if let Some(quoted) = in_reply_to {
        let found: Option<Answered> = sqlx::query_as(
            "SELECT id, debtor_id, credit_id FROM dispatcher.attempts WHERE provider = $1 AND provider_message_id = $2",
        )
        .bind(d.provider.name())
        .bind(quoted)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    sqlx::query_as(
        "SELECT id, debtor_id, credit_id FROM dispatcher.attempts
         WHERE channel = $1 AND lower(to_address) = lower($2) ORDER BY created_at DESC LIMIT 1",
    )
    .bind(d.channel.as_str())
    .bind(from)
    .fetch_optional(conn)
    .await
}

fn ids(a: &Answered) -> Result<(DebtorId, CreditId), sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(e.into());
    Ok((
        DebtorId::parse(&a.debtor_id).map_err(|e| decode(e.to_string()))?,
        CreditId::parse(&a.credit_id).map_err(|e| decode(e.to_string()))?,
    ))
}

/// Stores an inbound message and publishes what it means, in the webhook's transaction.
pub(crate) async fn record(
    conn: &mut PgConnection,
    d: &Dispatcher,
    message: &InboundMessage,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let opt_out = message.button.is_none() && is_opt_out(&message.body);
    let attempt = answered(conn, d, &message.from, message.in_reply_to.as_deref()).await?;
    let id = Uuid::now_v7();
    let stored = sqlx::query(
        "INSERT INTO dispatcher.inbound_messages (id, channel, provider, provider_message_id, from_address, body, button,
                                                  attempt_id, opt_out, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (provider, provider_message_id) DO NOTHING",
    )
    .bind(id)
    .bind(d.channel.as_str())
    .bind(d.provider.name())
    .bind(&message.provider_message_id)
    .bind(&message.from)
    .bind(&message.body)
    .bind(&message.button)
    .bind(attempt.as_ref().map(|a| a.id))
    .bind(opt_out)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if stored.rows_affected() == 0 {
        return Ok(()); // the provider's retry of a webhook already taken
    }
    // The debtor wrote: on WhatsApp the customer-service window is open for 24 hours from now.
    sqlx::query(
        "INSERT INTO dispatcher.conversations (channel, address, last_inbound_at) VALUES ($1, $2, $3)
         ON CONFLICT (channel, address) DO UPDATE SET last_inbound_at = greatest(conversations.last_inbound_at, $3)",
    )
    .bind(d.channel.as_str())
    .bind(&message.from)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let Some(attempt) = attempt else {
        tracing::info!(channel = %d.channel, "inbound message from an address never contacted; stored, not routed");
        return Ok(());
    };
    let (debtor_id, credit_id) = ids(&attempt)?;
    let reply = ReplyReceived {
        reply_id: id,
        channel: d.channel,
        debtor_id: debtor_id.clone(),
        credit_id,
        attempt_id: attempt.id,
        provider: d.provider.name().to_string(),
        provider_message_id: message.provider_message_id.clone(),
        body: message.body.clone(),
        button: message.button.clone(),
        opt_out,
        received_at: now,
    };
    d.outbox.enqueue(conn, now, reply).await?;
    if opt_out {
        withdraw(conn, d, debtor_id, ConsentVia::Keyword, Some(attempt.id), now).await?;
    }
    tracing::info!(channel = %d.channel, reply_id = %id, opt_out, "reply received");
    Ok(())
}

/// A provider's report that the recipient unsubscribed (SendGrid's `unsubscribe`, `spamreport`).
pub(crate) async fn provider_opt_out(
    conn: &mut PgConnection,
    d: &Dispatcher,
    opt_out: &ProviderOptOut,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let by_ref = opt_out.attempt_ref.as_deref().and_then(|r| r.parse::<Uuid>().ok());
    let attempt: Option<Answered> = match by_ref {
        Some(id) => {
            sqlx::query_as("SELECT id, debtor_id, credit_id FROM dispatcher.attempts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    let attempt = match attempt {
        Some(a) => Some(a),
        None => answered(conn, d, &opt_out.address, opt_out.provider_message_id.as_deref()).await?,
    };
    let Some(attempt) = attempt else {
        tracing::warn!(reason = %opt_out.reason, "opt-out for an address never contacted; ignored");
        return Ok(());
    };
    let (debtor_id, _) = ids(&attempt)?;
    withdraw(conn, d, debtor_id, ConsentVia::UnsubscribeLink, Some(attempt.id), now).await
}

/// Publishes `consent.withdrawn` for this channel: the scheduler closes the channel for the debtor and withdraws
/// their requests still waiting.
pub(crate) async fn withdraw(
    conn: &mut PgConnection,
    d: &Dispatcher,
    debtor_id: DebtorId,
    via: ConsentVia,
    attempt_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let event = ConsentWithdrawn {
        consent_event_id: Uuid::now_v7(),
        debtor_id,
        channel: d.channel,
        via,
        attempt_id,
        withdrawn_at: now,
    };
    d.outbox.enqueue(conn, now, event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_words_alone_in_any_case_and_punctuation() {
        for yes in ["STOP", "stop", " Baja. ", "¡ALTO!", "Cancelar", "unsubscribe\n\n> quoted mail"] {
            assert!(is_opt_out(yes), "{yes}");
        }
        for no in ["no puedo pagar, stop", "Ya pagué", "", "bajar la cuota"] {
            assert!(!is_opt_out(no), "{no}");
        }
    }
}
