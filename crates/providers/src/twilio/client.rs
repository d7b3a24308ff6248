//! The Twilio SMS client.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use chrono::{DateTime, Utc};

use crate::transport::{describe, log_outcome, transport};
use crate::twilio::wire::{CreateMessageForm, MessageList, MessageResource};
use crate::twilio::{response, webhook, TwilioConfig, TwilioConfigError, API_VERSION};
use crate::{
    Content, MessagingProvider, OutboundMessage, ProviderError, ProviderReceipt, Search, StatusUpdate, WebhookError,
    WebhookItem, WebhookKind, WebhookRequest, WebhookRoute,
};

/// Long enough for Twilio's usual sub-second answers under load, short enough that a stuck request does not hold a
/// dispatch worker; past it the outcome is unknown and reported as such.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which Twilio channel a client sends on: the same Messages API, with `whatsapp:` addresses for WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioChannel {
    Sms,
    Whatsapp,
}

impl TwilioChannel {
    /// The path segment of our webhooks for this channel (`/webhooks/twilio/{channel}/status`).
    pub fn as_str(self) -> &'static str {
        match self {
            TwilioChannel::Sms => "sms",
            TwilioChannel::Whatsapp => "whatsapp",
        }
    }

    /// The address as Twilio writes it on this channel.
    fn address(self, e164: &str) -> String {
        match self {
            TwilioChannel::Sms => e164.to_string(),
            TwilioChannel::Whatsapp => format!("whatsapp:{e164}"),
        }
    }
}

pub struct TwilioSms {
    config: TwilioConfig,
    channel: TwilioChannel,
    messages_url: String,
    http: reqwest::Client,
}

impl TwilioSms {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioConfigError> {
        Self::for_channel(config, TwilioChannel::Sms)
    }

    pub fn for_channel(config: TwilioConfig, channel: TwilioChannel) -> Result<Self, TwilioConfigError> {
        let config = config.validated()?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Twilio does not redirect its API; following one would resend the credentials somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TwilioConfigError::HttpClient(e.to_string()))?;
        let messages_url = format!("{}/{API_VERSION}/Accounts/{}/Messages.json", config.base_url, config.account_sid);
        Ok(Self { config, channel, messages_url, http })
    }

    pub fn account_sid(&self) -> &str {
        &self.config.account_sid
    }

    async fn create_message(&self, msg: &OutboundMessage) -> Result<ProviderReceipt, ProviderError> {
        // Twilio's Messages API has no idempotency key, so `msg.idempotency_key` cannot be passed on: a retry after
        // `Unavailable` may send twice, which is why that variant says the outcome is unknown.
        let to = self.channel.address(&msg.to);
        let from = self.config.from.as_deref().map(|f| self.channel.address(f));
        let (body, content_sid, content_variables) = match &msg.content {
            Content::Text { body } | Content::WhatsappButtons { body, .. } => (Some(body.as_str()), None, None),
            Content::WhatsappTemplate(t) => {
                let Some(sid) = t.content_sid.as_deref() else {
                    return Err(ProviderError::Rejected {
                        code: Some("content_sid".into()),
                        message: format!("template {} has no Twilio Content SID (twilio_content_sid)", t.name),
                    });
                };
                let variables: serde_json::Map<String, serde_json::Value> = t
                    .body_params
                    .iter()
                    .enumerate()
                    .map(|(i, v)| ((i + 1).to_string(), serde_json::Value::String(v.clone())))
                    .collect();
                (None, Some(sid), Some(serde_json::Value::Object(variables).to_string()))
            }
            Content::Email(_) => {
                return Err(ProviderError::Rejected {
                    code: Some("channel".into()),
                    message: "Twilio Messaging does not send email".into(),
                })
            }
        };
        let form = CreateMessageForm {
            to: &to,
            from: from.as_deref(),
            messaging_service_sid: self.config.messaging_service_sid.as_deref(),
            body,
            content_sid,
            content_variables: content_variables.as_deref(),
            status_callback: msg.status_callback.as_deref(),
        };
        let sent = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Err(transport("Twilio", error)),
        };
        let http_status = response.status().as_u16();
        let retry_after = crate::retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| ProviderError::Unavailable(describe("Twilio", e)))?;
        let outcome = response::interpret(http_status, &body, retry_after);
        log_outcome("twilio", http_status, &outcome);
        outcome
    }

    async fn get_json(&self, url: &str) -> Result<Option<Vec<u8>>, ProviderError> {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(describe("Twilio", e)))?;
        match response.status().as_u16() {
            200 => Ok(Some(
                response.bytes().await.map_err(|e| ProviderError::Unavailable(describe("Twilio", e)))?.to_vec(),
            )),
            404 => Ok(None),
            other => Err(ProviderError::Unavailable(format!("Twilio answered HTTP {other} to a lookup"))),
        }
    }

    async fn fetch(&self, sid: &str) -> Result<Option<StatusUpdate>, ProviderError> {
        // SIDs go into the path: only letters and digits, as Twilio's are.
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let url =
            format!("{}/{API_VERSION}/Accounts/{}/Messages/{sid}.json", self.config.base_url, self.config.account_sid);
        let Some(body) = self.get_json(&url).await? else { return Ok(None) };
        let message: MessageResource = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Unavailable("Twilio's Message resource did not parse".into()))?;
        Ok(status_of(&message))
    }

    /// Twilio's list of messages to the recipient, every page of it, searched for the text we sent after `after`.
    ///
    /// Not filtered by `DateSent`: a message Twilio took but has not sent yet has no send date, and a search that
    /// skipped it would report a message Twilio holds as absent. Every page is read, because only a complete
    /// search may say the message is not there; and it says so only when Twilio took no message at all to the
    /// recipient in the window, since the text Twilio keeps may not be the text we sent.
    async fn find(&self, msg: &OutboundMessage, after: DateTime<Utc>) -> Result<Search, ProviderError> {
        let query =
            serde_urlencoded::to_string([("To", self.channel.address(&msg.to)), ("PageSize", LIST_PAGE_SIZE.into())])
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        let text = msg.content.readable();
        let mut url = format!("{}?{query}", self.messages_url);
        let mut others_in_window = false;
        for _ in 0..MAX_LIST_PAGES {
            let Some(body) = self.get_json(&url).await? else {
                return Err(ProviderError::Unavailable("Twilio answered 404 to the message list".into()));
            };
            let page: MessageList = serde_json::from_slice(&body)
                .map_err(|_| ProviderError::Unavailable("Twilio's message list did not parse".into()))?;
            let mut in_window = page
                .messages
                .iter()
                .filter(|m| m.direction.as_deref() != Some("inbound"))
                .filter(|m| created(m).is_none_or(|at| at >= after))
                .peekable();
            others_in_window |= in_window.peek().is_some();
            if let Some(update) = in_window.find(|m| m.body.as_deref() == Some(text)).and_then(status_of) {
                return Ok(Search::Found(update));
            }
            match page.next_page_uri {
                // A path on the API's host, as Twilio gives it; anything else would take our credentials elsewhere.
                Some(next) if next.starts_with('/') && !next.starts_with("//") => {
                    url = format!("{}{next}", self.config.base_url)
                }
                Some(_) => {
                    return Err(ProviderError::Unavailable("Twilio's next page is not a path on its API".into()))
                }
                None => return Ok(if others_in_window { Search::Unclear } else { Search::Absent }),
            }
        }
        Err(ProviderError::Unavailable(format!(
            "Twilio's message list to the recipient is longer than {MAX_LIST_PAGES} pages; the search is not complete"
        )))
    }
}

/// Twilio's largest page: the fewest requests for a recipient's whole list.
const LIST_PAGE_SIZE: &str = "1000";
/// A recipient with more messages than this many pages is not searched to the end, so nothing is concluded.
const MAX_LIST_PAGES: usize = 20;

/// When Twilio took a message (`date_created`, RFC 2822).
fn created(message: &MessageResource) -> Option<DateTime<Utc>> {
    message
        .date_created
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// A Message resource's status as a report.
fn status_of(message: &MessageResource) -> Option<StatusUpdate> {
    Some(StatusUpdate {
        provider_message_id: message.sid.clone(),
        normalized: webhook::normalize(&message.status)?,
        status: message.status.clone(),
        error_code: message.error_code.clone(),
        attempt_ref: None,
        taken_at: created(message),
    })
}

impl MessagingProvider for TwilioSms {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>> {
        self.create_message(msg).boxed()
    }

    fn fetch_status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StatusUpdate>, ProviderError>> {
        self.fetch(id).boxed()
    }

    fn find_message<'a>(
        &'a self,
        msg: &'a OutboundMessage,
        created_after: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Search, ProviderError>> {
        self.find(msg, created_after).boxed()
    }

    fn in_flight_for(&self) -> Duration {
        CONNECT_TIMEOUT + REQUEST_TIMEOUT
    }

    fn webhook_routes(&self) -> Vec<WebhookRoute> {
        let channel = self.channel.as_str();
        vec![
            WebhookRoute { path: format!("/webhooks/twilio/{channel}/status"), kind: WebhookKind::Status },
            WebhookRoute { path: format!("/webhooks/twilio/{channel}/inbound"), kind: WebhookKind::Inbound },
        ]
    }

    fn parse_webhook(&self, kind: WebhookKind, req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
        Ok(match kind {
            WebhookKind::Inbound => vec![WebhookItem::Inbound(webhook::parse_inbound(&self.config, req)?)],
            WebhookKind::Status | WebhookKind::Combined => {
                webhook::parse_status(&self.config, req)?.map(WebhookItem::Status).into_iter().collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: String) -> TwilioConfig {
        TwilioConfig {
            base_url,
            account_sid: "AC11111111111111111111111111111111".into(),
            auth_token: "22222222222222222222222222222222".into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
        }
    }

    #[test]
    fn builds_the_messages_url_from_base_url_and_account() {
        let client = TwilioSms::new(config("http://127.0.0.1:9/sim/twilio/".into())).expect("valid config");
        assert_eq!(
            client.messages_url,
            "http://127.0.0.1:9/sim/twilio/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json"
        );
        assert_eq!(client.name(), "twilio");
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent_and_may_be_retried() {
        // Bind then drop a listener to get a local port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let client = TwilioSms::new(config(format!("http://127.0.0.1:{port}"))).expect("valid config");
        let msg = OutboundMessage {
            to: "+573001234567".into(),
            content: Content::Text { body: "Hola".into() },
            status_callback: None,
            idempotency_key: "attempt-1".into(),
        };
        let result = client.send(&msg).await;
        assert!(
            matches!(result, Err(ProviderError::NotSent { ref reason, .. }) if reason.contains("could not connect")),
            "{result:?}"
        );
    }
}
