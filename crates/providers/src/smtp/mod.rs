//! Email through the lender's own SMTP relay (`lettre`), for lenders who do not use SendGrid. The message is the one
//! SendGrid's sends: plain-text and HTML parts, `List-Unsubscribe` with RFC 8058's one-click
//! `List-Unsubscribe-Post`, and a `Message-ID` made of our attempt id, so the relay's logs and a bounce name the
//! attempt.
//!
//! SMTP says only whether the relay took the message: a 250 to the final `.` is `sent`, and nothing reports later
//! (no webhooks, no lookup), so an accepted message stays `sent`. Whether a retry is safe follows RFC 5321: a
//! connection that fails before the message (checked first, on its own) and a 4xx reply mean the relay did not take
//! responsibility for it; a 5xx is a refusal; anything else after the message left (a timeout, a dropped
//! connection) leaves us not knowing.

use std::time::Duration;

use futures::future::BoxFuture;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{
    Content, MessagingProvider, OutboundMessage, ProviderError, ProviderReceipt, WebhookError, WebhookItem,
    WebhookKind, WebhookRequest, WebhookRoute,
};

#[derive(Clone)]
pub struct SmtpConfig {
    /// `smtp://user:password@relay:587?tls=required` (STARTTLS), `smtps://...:465` (TLS), or `smtp://host:25`
    /// (plain, for a relay on a private network), as `lettre` reads it.
    pub url: String,
    pub from_email: String,
    pub from_name: Option<String>,
    /// How long one SMTP command may take.
    pub timeout: Duration,
}

// Hand-written so the URL's password does not reach a log through `{:?}`.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig").field("from_email", &self.from_email).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("the SMTP URL is not one lettre reads (smtp://user:password@host:port?tls=required, smtps://...): {0}")]
    Url(lettre::transport::smtp::Error),
    #[error("the sender {0:?} is not an email address")]
    From(String),
}

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of our Message-IDs: the sender's domain.
    domain: String,
}

impl Smtp {
    pub fn new(config: SmtpConfig) -> Result<Smtp, SmtpConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(SmtpConfigError::Url)?
            .timeout(Some(config.timeout))
            .build();
        let address = config.from_email.parse().map_err(|_| SmtpConfigError::From(config.from_email.clone()))?;
        let domain = config.from_email.rsplit('@').next().unwrap_or("recaudo.invalid").to_string();
        Ok(Smtp { transport, from: Mailbox::new(config.from_name, address), domain })
    }

    /// Our Message-ID for an attempt (with its angle brackets).
    pub fn message_id(&self, attempt_id: &str) -> String {
        format!("<{attempt_id}@{}>", self.domain)
    }

    fn build(&self, msg: &OutboundMessage) -> Result<Message, ProviderError> {
        let Content::Email(email) = &msg.content else {
            return Err(ProviderError::Rejected { code: None, message: "SMTP carries email only".into() });
        };
        let to: Mailbox = msg.to.parse().map_err(|_| ProviderError::Rejected {
            code: Some("address".into()),
            message: format!("{:?} is not an email address", msg.to),
        })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(self.message_id(&msg.idempotency_key)));
        if let Some(url) = &email.unsubscribe_url {
            builder = builder.header(ListUnsubscribe(format!("<{url}>"))).header(ListUnsubscribePost);
        }
        builder.multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone())).map_err(|e| {
            ProviderError::Rejected { code: Some("message".into()), message: format!("cannot build the email: {e}") }
        })
    }
}

impl MessagingProvider for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn accepted_status(&self) -> crate::status::Normalized {
        crate::status::Normalized::Sent
    }

    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>> {
        Box::pin(async move {
            let message = self.build(msg)?;
            // Reaching the relay first, alone: failing here, nothing was sent, so the request may wait and retry.
            match self.transport.test_connection().await {
                Ok(true) => {}
                Ok(false) => return Err(not_sent("the relay did not answer NOOP")),
                Err(e) => return Err(not_sent(&format!("cannot reach the relay: {e}"))),
            }
            match self.transport.send(message).await {
                Ok(response) => {
                    tracing::debug!(code = %response.code(), "relay took the message");
                    Ok(ProviderReceipt {
                        provider_message_id: self.message_id(&msg.idempotency_key),
                        status: "sent".into(),
                    })
                }
                Err(e) => Err(classify(e)),
            }
        })
    }

    /// SMTP has no webhooks; a relay's bounces come back as email, which is not read yet.
    fn webhook_routes(&self) -> Vec<WebhookRoute> {
        Vec::new()
    }

    fn parse_webhook(&self, kind: WebhookKind, _req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
        Err(WebhookError::Malformed(format!("SMTP has no {kind:?} webhook")))
    }
}

fn not_sent(reason: &str) -> ProviderError {
    ProviderError::NotSent { reason: reason.to_string(), retry_after: None }
}

/// RFC 5321: 4xx, the relay did not take it (safe to retry); 5xx, a refusal; anything else, unknown.
fn classify(e: lettre::transport::smtp::Error) -> ProviderError {
    let code = e.status().map(|c| c.to_string());
    if e.is_transient() {
        ProviderError::NotSent {
            reason: format!("the relay answered {}: {e}", code.unwrap_or_default()),
            retry_after: None,
        }
    } else if e.is_permanent() {
        ProviderError::Rejected { message: format!("the relay refused the message: {e}"), code }
    } else {
        ProviderError::Unavailable(format!("no answer from the relay after the message left: {e}"))
    }
}

/// `List-Unsubscribe: <https://...>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}
