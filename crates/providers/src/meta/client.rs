//! The Meta WhatsApp Cloud API client.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::meta::wire::{
    Action, Button, Component, InteractiveBody, InteractiveObject, Language, Parameter, Payload, Reply, SendMessage,
    TemplateObject, TextObject,
};
use crate::meta::{response, webhook, MetaConfig, MetaConfigError, WEBHOOK_PATH};
use crate::transport::{describe, log_outcome, transport};
use crate::{
    Content, Handshake, MessagingProvider, OutboundMessage, ProviderError, ProviderReceipt, WebhookError, WebhookItem,
    WebhookKind, WebhookRequest, WebhookRoute,
};

/// Long enough for the Graph API's usual sub-second answers under load, short enough that a stuck request does not
/// hold a dispatch worker; past it the outcome is unknown and reported as such.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Meta allows three reply buttons on an interactive message.
const MAX_REPLY_BUTTONS: usize = 3;
/// Meta keeps at most 512 characters of `biz_opaque_callback_data`; a longer one refuses the whole message.
const MAX_CALLBACK_DATA_CHARS: usize = 512;

pub struct MetaWhatsapp {
    config: MetaConfig,
    messages_url: String,
    http: reqwest::Client,
}

impl MetaWhatsapp {
    pub fn new(config: MetaConfig) -> Result<Self, MetaConfigError> {
        let config = config.validated()?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // The Graph API does not redirect; following one would resend the bearer token somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MetaConfigError::HttpClient(e.to_string()))?;
        let messages_url = format!("{}/{}/{}/messages", config.base_url, config.api_version, config.phone_number_id);
        Ok(Self { config, messages_url, http })
    }

    pub fn phone_number_id(&self) -> &str {
        &self.config.phone_number_id
    }

    async fn send_message(&self, msg: &OutboundMessage) -> Result<ProviderReceipt, ProviderError> {
        let to = recipient(&msg.to)?;
        let body = request(msg, &to)?;
        let sent = self.http.post(&self.messages_url).bearer_auth(&self.config.access_token).json(&body).send().await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Err(transport("Meta", error)),
        };
        let http_status = response.status().as_u16();
        let retry_after = crate::retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| ProviderError::Unavailable(describe("Meta", e)))?;
        let outcome = response::interpret(http_status, &body, retry_after);
        log_outcome("meta", http_status, &outcome);
        outcome
    }
}

/// The recipient as Meta wants it: the E.164 number's digits, without `+`.
fn recipient(e164: &str) -> Result<String, ProviderError> {
    let digits = e164.strip_prefix('+').unwrap_or(e164);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProviderError::Rejected {
            code: Some("to".into()),
            message: "recipient is not an E.164 phone number".into(),
        });
    }
    Ok(digits.to_string())
}

/// The JSON body of a send, or a refusal of what WhatsApp cannot carry, decided here rather than by a round trip.
pub(crate) fn request<'a>(msg: &'a OutboundMessage, to: &'a str) -> Result<SendMessage<'a>, ProviderError> {
    let payload = match &msg.content {
        Content::Text { body } => Payload::Text { text: TextObject { body, preview_url: true } },
        Content::WhatsappTemplate(template) => {
            let mut components = Vec::new();
            if !template.body_params.is_empty() {
                let parameters = template.body_params.iter().map(|text| Parameter::Text { text }).collect();
                components.push(Component::Body { parameters });
            }
            components.extend(template.quick_reply_payloads.iter().enumerate().map(|(index, payload)| {
                Component::Button {
                    sub_type: "quick_reply",
                    index: index.to_string(),
                    parameters: vec![Parameter::Payload { payload }],
                }
            }));
            Payload::Template {
                template: TemplateObject {
                    name: &template.name,
                    language: Language { code: &template.language },
                    components,
                },
            }
        }
        Content::WhatsappButtons { body, buttons } => {
            if buttons.is_empty() || buttons.len() > MAX_REPLY_BUTTONS {
                return Err(ProviderError::Rejected {
                    code: Some("buttons".into()),
                    message: format!("WhatsApp takes 1 to {MAX_REPLY_BUTTONS} reply buttons, not {}", buttons.len()),
                });
            }
            let buttons =
                buttons.iter().map(|b| Button { kind: "reply", reply: Reply { id: &b.id, title: &b.title } }).collect();
            Payload::Interactive {
                interactive: InteractiveObject {
                    kind: "button",
                    body: InteractiveBody { text: body },
                    action: Action { buttons },
                },
            }
        }
        Content::Email(_) => {
            return Err(ProviderError::Rejected {
                code: Some("channel".into()),
                message: "the WhatsApp Cloud API does not send email".into(),
            })
        }
    };
    // Our attempt id, echoed on every status webhook, so a status can be matched to an attempt whose send answer
    // was lost. Attempt ids are far shorter than Meta's limit; one that is not is left out rather than refused.
    let callback_data = Some(msg.idempotency_key.as_str())
        .filter(|key| !key.is_empty() && key.chars().count() <= MAX_CALLBACK_DATA_CHARS);
    Ok(SendMessage {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to,
        biz_opaque_callback_data: callback_data,
        payload,
    })
}

impl MessagingProvider for MetaWhatsapp {
    fn name(&self) -> &'static str {
        "meta"
    }

    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<ProviderReceipt, ProviderError>> {
        self.send_message(msg).boxed()
    }

    // Meta has no message lookup: it retries its webhooks for up to 7 days instead, so `fetch_status` and
    // `find_message` keep the trait's `Ok(None)`.

    fn webhook_routes(&self) -> Vec<WebhookRoute> {
        vec![WebhookRoute { path: WEBHOOK_PATH.to_string(), kind: WebhookKind::Combined }]
    }

    fn handshake(&self, query: &[(String, String)]) -> Option<Handshake> {
        Some(webhook::handshake(&self.config, query))
    }

    fn parse_webhook(&self, _kind: WebhookKind, req: &WebhookRequest<'_>) -> Result<Vec<WebhookItem>, WebhookError> {
        webhook::parse(&self.config, req)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::{EmailContent, ReplyButton, WhatsappTemplate};

    fn config(base_url: String) -> MetaConfig {
        MetaConfig {
            base_url,
            phone_number_id: "106540352242922".into(),
            access_token: "token".into(),
            app_secret: "secret".into(),
            verify_token: "verify".into(),
            ..MetaConfig::default()
        }
    }

    fn message(content: Content) -> OutboundMessage {
        OutboundMessage {
            to: "+573001234567".into(),
            content,
            status_callback: None,
            idempotency_key: "attempt-1".into(),
        }
    }

    fn body_of(content: Content) -> Result<Value, ProviderError> {
        let msg = message(content);
        let to = recipient(&msg.to)?;
        request(&msg, &to).map(|body| serde_json::to_value(body).expect("serialises"))
    }

    #[test]
    fn builds_the_messages_url_and_names_itself() {
        let client = MetaWhatsapp::new(config("http://127.0.0.1:9/sim/meta/".into())).expect("valid config");
        assert_eq!(client.messages_url, "http://127.0.0.1:9/sim/meta/v21.0/106540352242922/messages");
        assert_eq!(client.name(), "meta");
        assert_eq!(
            client.webhook_routes(),
            vec![WebhookRoute { path: "/webhooks/meta/whatsapp".into(), kind: WebhookKind::Combined }]
        );
    }

    #[test]
    fn a_template_carries_body_parameters_and_quick_reply_payloads() {
        let template = WhatsappTemplate {
            name: "recordatorio_pago".into(),
            language: "es_CO".into(),
            body_params: vec!["Ana".into(), "$ 250.000".into()],
            quick_reply_payloads: vec!["PAY_TODAY".into(), "CALL_ME".into()],
            content_sid: None,
            rendered: "Hola Ana, su cuota de $ 250.000 vence mañana".into(),
        };
        assert_eq!(
            body_of(Content::WhatsappTemplate(template)),
            Ok(json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "573001234567",
                "biz_opaque_callback_data": "attempt-1",
                "type": "template",
                "template": {
                    "name": "recordatorio_pago",
                    "language": {"code": "es_CO"},
                    "components": [
                        {"type": "body", "parameters": [
                            {"type": "text", "text": "Ana"}, {"type": "text", "text": "$ 250.000"}]},
                        {"type": "button", "sub_type": "quick_reply", "index": "0",
                            "parameters": [{"type": "payload", "payload": "PAY_TODAY"}]},
                        {"type": "button", "sub_type": "quick_reply", "index": "1",
                            "parameters": [{"type": "payload", "payload": "CALL_ME"}]}
                    ]
                }
            }))
        );
    }

    #[test]
    fn a_template_without_parameters_has_no_components() {
        let template = WhatsappTemplate {
            name: "hello_world".into(),
            language: "en_US".into(),
            body_params: vec![],
            quick_reply_payloads: vec![],
            content_sid: None,
            rendered: "Hello World".into(),
        };
        let body = body_of(Content::WhatsappTemplate(template)).expect("builds");
        assert_eq!(body["template"], json!({"name": "hello_world", "language": {"code": "en_US"}}));
    }

    #[test]
    fn free_form_text_previews_links() {
        assert_eq!(
            body_of(Content::Text { body: "Pague en https://pagos.example/x".into() }),
            Ok(json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "573001234567",
                "biz_opaque_callback_data": "attempt-1", "type": "text",
                "text": {"body": "Pague en https://pagos.example/x", "preview_url": true}
            }))
        );
    }

    #[test]
    fn reply_buttons_are_an_interactive_message_of_at_most_three() {
        let button = |id: &str, title: &str| ReplyButton { id: id.into(), title: title.into() };
        let buttons = vec![button("pay", "Pagar hoy"), button("promise", "Prometo pagar")];
        assert_eq!(
            body_of(Content::WhatsappButtons { body: "¿Cómo desea seguir?".into(), buttons: buttons.clone() }),
            Ok(json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "573001234567",
                "biz_opaque_callback_data": "attempt-1", "type": "interactive",
                "interactive": {"type": "button", "body": {"text": "¿Cómo desea seguir?"}, "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "pay", "title": "Pagar hoy"}},
                    {"type": "reply", "reply": {"id": "promise", "title": "Prometo pagar"}}
                ]}}
            }))
        );
        let four = vec![button("a", "A"), button("b", "B"), button("c", "C"), button("d", "D")];
        assert!(matches!(body_of(Content::WhatsappButtons { body: "x".into(), buttons: four }),
            Err(ProviderError::Rejected { code: Some(c), .. }) if c == "buttons"));
    }

    #[test]
    fn email_and_non_numbers_are_refused_without_a_request() {
        let email = Content::Email(EmailContent {
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
            unsubscribe_url: None,
        });
        assert!(matches!(body_of(email), Err(ProviderError::Rejected { code: Some(c), .. }) if c == "channel"));
        assert!(
            matches!(recipient("ana@example.com"), Err(ProviderError::Rejected { code: Some(c), .. }) if c == "to")
        );
        assert!(matches!(recipient("+"), Err(ProviderError::Rejected { .. })));
        assert_eq!(recipient("573001234567"), Ok("573001234567".to_string()));
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent_and_may_be_retried() {
        // Bind then drop a listener to get a local port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let client = MetaWhatsapp::new(config(format!("http://127.0.0.1:{port}"))).expect("valid config");
        let result = client.send(&message(Content::Text { body: "Hola".into() })).await;
        assert!(
            matches!(result, Err(ProviderError::NotSent { ref reason, .. }) if reason.contains("could not connect")),
            "{result:?}"
        );
    }
}
