//! The SendGrid email client.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use p256::ecdsa::VerifyingKey;

use crate::sendgrid::response::{self, Answer};
use crate::sendgrid::wire::{Address, ContentPart, MailSend, Personalization};
use crate::sendgrid::{
    events, inbound, SendGridConfig, SendGridConfigError, ATTEMPT_ARG, MAIL_SEND_PATH, MESSAGE_ID_HEADER,
};
use crate::transport::{describe, log_outcome, transport};
use crate::{
    Content, EmailContent, MessagingProvider, OutboundMessage, ProviderError, ProviderReceipt, WebhookError,
    WebhookItem, WebhookKind, WebhookRequest, WebhookRoute,
};

/// As the Twilio client's: long enough for SendGrid's usual sub-second answers under load, short enough that a stuck
/// request does not hold a dispatch worker; past it the outcome is unknown and reported as such.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SendGrid {
    config: SendGridConfig,
    webhook_key: VerifyingKey,
    send_url: String,
    http: reqwest::Client,
}

impl SendGrid {
    pub fn new(config: SendGridConfig) -> Result<Self, SendGridConfigError> {
        let (config, webhook_key) = config.validated()?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // SendGrid does not redirect its API; following one would resend the API key somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SendGridConfigError::HttpClient(e.to_string()))?;
        let send_url = format!("{}{MAIL_SEND_PATH}", config.base_url);
        Ok(Self { config, webhook_key, send_url, http })
    }

    /// The Mail Send request for a message; SendGrid's documented shape, our attempt id as a custom arg.
    fn request<'a>(&'a self, msg: &'a OutboundMessage, email: &'a EmailContent) -> MailSend<'a> {
        let custom_args = BTreeMap::from([(ATTEMPT_ARG, msg.idempotency_key.as_str())]);
        let mut content = vec![ContentPart { kind: "text/plain", value: &email.text }];
        // SendGrid refuses an empty value, and a text-only email is a fine email.
        if !email.html.is_empty() {
            content.push(ContentPart { kind: "text/html", value: &email.html });
        }
        let mut headers = BTreeMap::new();
        if let Some(url) = email.unsubscribe_url.as_deref().filter(|u| !u.is_empty()) {
            // RFC 8058 one-click: mailbox providers POST `List-Unsubscribe=One-Click` to the URL.
            headers.insert("List-Unsubscribe", format!("<{url}>"));
            headers.insert("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_string());
        }
        MailSend {
            personalizations: vec![Personalization {
                to: vec![Address { email: &msg.to, name: None }],
                custom_args: custom_args.clone(),
            }],
            from: Address { email: &self.config.from_email, name: self.config.from_name.as_deref() },
            subject: &email.subject,
            content,
            headers,
            // Set on the message too, so that an event SendGrid emits before it splits personalizations
            // (a drop of the whole request) carries it as well.
            custom_args,
        }
    }

    async fn mail_send(&self, msg: &OutboundMessage) -> Result<ProviderReceipt, ProviderError> {
        // SendGrid's Mail Send has no idempotency key either: a retry after `Unavailable` may send twice, which is
        // why the attempt id also travels as a custom arg and comes back on the events.
        let Content::Email(email) = &msg.content else {
            return Err(ProviderError::Rejected {
                code: Some("channel".into()),
                message: "SendGrid sends email only".into(),
            });
        };
        let sent = self
            .http
            .post(&self.send_url)
            .bearer_auth(&self.config.api_key)
            .json(&self.request(msg, email))
            .send()
            .await;
        let response = sent.map_err(|e| transport("SendGrid", e))?;
        let http_status = response.status().as_u16();
        let headers = response.headers();
        let message_id = headers.get(MESSAGE_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = crate::retry_after(headers).or_else(|| {
            let reset = headers.get("X-RateLimit-Reset")?.to_str().ok()?;
            response::until_reset(reset, chrono::Utc::now().timestamp())
        });
        let body = response.bytes().await.map_err(|e| ProviderError::Unavailable(describe("SendGrid", e)))?;
        let outcome =
            response::interpret(Answer { http_status, message_id: message_id.as_deref(), retry_after, body: &body });
        log_outcome("sendgrid", http_status, &outcome);
        outcome
    }
}

impl MessagingProvider for SendGrid {
    fn name(&self) -> &'static str {
        "sendgrid"
    }

    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>> {
        self.mail_send(msg).boxed()
    }

    fn webhook_routes(&self) -> Vec<WebhookRoute> {
        vec![
            WebhookRoute { path: "/webhooks/sendgrid/events".into(), kind: WebhookKind::Status },
            WebhookRoute { path: "/webhooks/sendgrid/inbound".into(), kind: WebhookKind::Inbound },
        ]
    }

    fn parse_webhook(&self, kind: WebhookKind, req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
        match kind {
            WebhookKind::Inbound => Ok(vec![WebhookItem::Inbound(inbound::parse(&self.config, req)?)]),
            WebhookKind::Status | WebhookKind::Combined => events::parse(&self.webhook_key, req),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sendgrid::signature::tests::SDK_PUBLIC_KEY;

    fn config(base_url: String) -> SendGridConfig {
        SendGridConfig {
            base_url,
            api_key: "SG.test-key".into(),
            from_email: "cobranza@recaudo.example".into(),
            from_name: Some("Recaudo".into()),
            webhook_public_key: SDK_PUBLIC_KEY.into(),
            inbound_user: "sendgrid".into(),
            inbound_password: "inbound-secret".into(),
        }
    }

    fn email(unsubscribe_url: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            to: "deudor@example.com".into(),
            content: Content::Email(EmailContent {
                subject: "Su cuota vence mañana".into(),
                text: "Hola Ana".into(),
                html: "<p>Hola Ana</p>".into(),
                unsubscribe_url: unsubscribe_url.map(str::to_string),
            }),
            status_callback: None,
            idempotency_key: "attempt-1".into(),
        }
    }

    fn request_json(client: &SendGrid, msg: &OutboundMessage) -> serde_json::Value {
        let Content::Email(content) = &msg.content else { panic!("email") };
        serde_json::to_value(client.request(msg, content)).expect("serialises")
    }

    #[test]
    fn the_request_is_sendgrids_documented_mail_send_body() {
        let client = SendGrid::new(config("http://127.0.0.1:9/sim/sendgrid/".into())).expect("valid config");
        assert_eq!(client.send_url, "http://127.0.0.1:9/sim/sendgrid/v3/mail/send");
        assert_eq!(client.name(), "sendgrid");
        let msg = email(Some("https://recaudo.example/u/abc"));
        assert_eq!(
            request_json(&client, &msg),
            json!({
                "personalizations": [{"to": [{"email": "deudor@example.com"}], "custom_args": {"attempt_id": "attempt-1"}}],
                "from": {"email": "cobranza@recaudo.example", "name": "Recaudo"},
                "subject": "Su cuota vence mañana",
                "content": [{"type": "text/plain", "value": "Hola Ana"}, {"type": "text/html", "value": "<p>Hola Ana</p>"}],
                "headers": {
                    "List-Unsubscribe": "<https://recaudo.example/u/abc>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
                },
                "custom_args": {"attempt_id": "attempt-1"}
            })
        );
    }

    #[test]
    fn without_an_unsubscribe_url_or_html_those_parts_are_left_out() {
        let client = SendGrid::new(SendGridConfig { from_name: None, ..config("http://127.0.0.1:9".into()) })
            .expect("valid config");
        let mut msg = email(None);
        if let Content::Email(e) = &mut msg.content {
            e.html.clear();
        }
        let body = request_json(&client, &msg);
        assert_eq!(body.get("headers"), None);
        assert_eq!(body["from"], json!({"email": "cobranza@recaudo.example"}));
        assert_eq!(body["content"], json!([{"type": "text/plain", "value": "Hola Ana"}]));
    }

    #[tokio::test]
    async fn only_email_is_sent_and_a_refused_connection_is_not_sent() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let client = SendGrid::new(config(format!("http://127.0.0.1:{port}"))).expect("valid config");
        let sms = OutboundMessage { content: Content::Text { body: "Hola".into() }, ..email(None) };
        assert!(
            matches!(client.send(&sms).await, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "channel")
        );
        let result = client.send(&email(None)).await;
        assert!(
            matches!(result, Err(ProviderError::NotSent { ref reason, .. }) if reason.contains("could not connect")),
            "{result:?}"
        );
    }

    #[test]
    fn names_its_two_webhook_routes() {
        let client = SendGrid::new(config("http://127.0.0.1:9".into())).expect("valid config");
        let routes = client.webhook_routes();
        assert_eq!(routes[0], WebhookRoute { path: "/webhooks/sendgrid/events".into(), kind: WebhookKind::Status });
        assert_eq!(routes[1], WebhookRoute { path: "/webhooks/sendgrid/inbound".into(), kind: WebhookKind::Inbound });
    }
}
