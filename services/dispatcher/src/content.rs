//! A request rendered into what its channel sends: an SMS text; on WhatsApp a free-form message with reply
//! buttons inside the 24-hour customer-service window and the approved template outside it; an email with its
//! subject, plain-text and HTML parts and its unsubscribe link.

use recaudo_events::{Channel, ContactRequested};
use recaudo_providers::{Content, EmailContent, ReplyButton, WhatsappTemplate};
use recaudo_templates::{email_parts, text_message, MessageContext, TemplateError, BUTTON_ADVISOR, BUTTON_PAID};
use sqlx::PgConnection;

use crate::Dispatcher;

/// How long after a debtor's last message WhatsApp allows free-form messages.
pub const WHATSAPP_WINDOW_HOURS: i64 = 24;

/// The address of an attempt's unsubscribe link (`GET` shows a page, `POST` is RFC 8058's one-click).
pub fn unsubscribe_url(d: &Dispatcher, reply_token: &str) -> String {
    format!("{}/u/{reply_token}", d.public_url)
}

/// Renders `request` for its channel: the saved template it carries, else the built-in one it names. An error is
/// the reason it cannot be rendered (an unknown template, a tag the template does not have): the attempt fails
/// without a provider call.
pub(crate) async fn compose(
    d: &Dispatcher,
    conn: &mut PgConnection,
    request: &ContactRequested,
    reply_token: &str,
) -> Result<Result<Content, String>, sqlx::Error> {
    let Some(template) = recaudo_templates::resolve(&request.template, request.template_source.as_ref()) else {
        return Ok(Err(TemplateError::Unknown(request.template.clone()).to_string()));
    };
    let ctx = MessageContext::for_request(request, format!("{}/r/{reply_token}", d.public_url));
    let rendered = match recaudo_templates::render(&request.template, &template, &ctx) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.to_string())),
    };
    Ok(Ok(match d.channel {
        Channel::Whatsapp => {
            if in_window(conn, d, &request.to).await? {
                Content::WhatsappButtons {
                    body: rendered.body,
                    buttons: vec![
                        ReplyButton { id: BUTTON_ADVISOR.into(), title: "Hablar con asesor".into() },
                        ReplyButton { id: BUTTON_PAID.into(), title: "Ya pagué".into() },
                    ],
                }
            } else {
                let Some(wa) = template.whatsapp.as_ref() else {
                    return Ok(Err(format!(
                        "template {} has no approved WhatsApp template for messages outside the 24-hour window",
                        request.template
                    )));
                };
                Content::WhatsappTemplate(WhatsappTemplate {
                    name: wa.meta_name.clone(),
                    language: wa.language.clone(),
                    body_params: rendered.whatsapp_params,
                    quick_reply_payloads: wa.quick_replies.clone(),
                    content_sid: wa.content_sid.clone(),
                    rendered: rendered.body,
                })
            }
        }
        Channel::Email => {
            let subject = rendered.subject.unwrap_or_default();
            let unsubscribe = unsubscribe_url(d, reply_token);
            let (text, html) = email_parts(&rendered.body, request.country, &unsubscribe);
            Content::Email(EmailContent { subject, text, html, unsubscribe_url: Some(unsubscribe) })
        }
        _ => Content::Text { body: text_message(&rendered.body, request.country) },
    }))
}

/// Whether the debtor wrote to us on WhatsApp in the last 24 hours.
async fn in_window(conn: &mut PgConnection, d: &Dispatcher, address: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dispatcher.conversations
                        WHERE channel = $1 AND address = $2 AND last_inbound_at > $3)",
    )
    .bind(d.channel.as_str())
    .bind(address)
    .bind(d.clock.now() - chrono::Duration::hours(WHATSAPP_WINDOW_HOURS))
    .fetch_one(conn)
    .await
}
