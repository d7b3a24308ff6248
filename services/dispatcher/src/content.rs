//! A request rendered into what its channel sends: an SMS text; on WhatsApp a free-form message with reply
//! buttons inside the 24-hour customer-service window and the approved template outside it; an email with its
//! subject, plain-text and HTML parts and its unsubscribe link.

use recaudo_domain::Country;
use recaudo_events::{Channel, ContactRequested};
use recaudo_providers::{Content, EmailContent, ReplyButton, WhatsappTemplate};
use recaudo_templates::{MessageContext, Templates, BUTTON_ADVISOR, BUTTON_PAID};
use sqlx::PgConnection;

use crate::Dispatcher;

/// How long after a debtor's last message WhatsApp allows free-form messages.
pub const WHATSAPP_WINDOW_HOURS: i64 = 24;

/// The address of an attempt's unsubscribe link (`GET` shows a page, `POST` is RFC 8058's one-click).
pub fn unsubscribe_url(d: &Dispatcher, reply_token: &str) -> String {
    format!("{}/u/{reply_token}", d.public_url)
}

/// Renders `request` for its channel. An error is the reason it cannot be rendered (an unknown template, a tag
/// the template does not have): the attempt fails without a provider call.
pub(crate) async fn compose(
    d: &Dispatcher,
    conn: &mut PgConnection,
    request: &ContactRequested,
    reply_token: &str,
) -> Result<Result<Content, String>, sqlx::Error> {
    let templates = Templates::builtin();
    let ctx = MessageContext::for_request(request, format!("{}/r/{reply_token}", d.public_url));
    let body = match templates.render(&request.template, &ctx) {
        Ok(body) => body,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let spec = recaudo_templates::builtin(&request.template);
    Ok(Ok(match d.channel {
        Channel::Whatsapp => {
            if in_window(conn, d, &request.to).await? {
                Content::WhatsappButtons {
                    body,
                    buttons: vec![
                        ReplyButton { id: BUTTON_ADVISOR.into(), title: "Hablar con asesor".into() },
                        ReplyButton { id: BUTTON_PAID.into(), title: "Ya pagué".into() },
                    ],
                }
            } else {
                let Some(wa) = spec.and_then(|s| s.whatsapp.as_ref()) else {
                    return Ok(Err(format!(
                        "template {} has no approved WhatsApp template for messages outside the 24-hour window",
                        request.template
                    )));
                };
                let mut params = Vec::new();
                for p in wa.params {
                    match templates.render_part(&request.template, p, &ctx) {
                        Ok(v) => params.push(v),
                        Err(e) => return Ok(Err(e.to_string())),
                    }
                }
                Content::WhatsappTemplate(WhatsappTemplate {
                    name: wa.meta_name.into(),
                    language: wa.language.into(),
                    body_params: params,
                    quick_reply_payloads: wa.quick_replies.iter().map(|q| q.to_string()).collect(),
                    content_sid: None,
                    rendered: body,
                })
            }
        }
        Channel::Email => {
            let subject_source = spec.and_then(|s| s.subject).unwrap_or("{{ credit.product }} {{ credit.id }}");
            let subject = match templates.render_part(&request.template, subject_source, &ctx) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let unsubscribe = unsubscribe_url(d, reply_token);
            let opt_out = opt_out_line(request.country, Channel::Email);
            let text = format!("{body}\n\n{opt_out}: {unsubscribe}");
            let html = format!(
                "<!doctype html><html><body><p>{}</p><p style=\"font-size:small\"><a href=\"{}\">{}</a></p></body></html>",
                linkify(&html_escape(&body)),
                html_escape(&unsubscribe),
                html_escape(opt_out)
            );
            Content::Email(EmailContent { subject, text, html, unsubscribe_url: Some(unsubscribe) })
        }
        // Regulation F (12 CFR 1006.6(e)): every electronic message to a US consumer says how to opt out.
        _ if request.country == Country::UnitedStates => {
            Content::Text { body: format!("{body} {}", opt_out_line(request.country, Channel::Sms)) }
        }
        _ => Content::Text { body },
    }))
}

/// How a message tells the debtor to opt out, in their language.
fn opt_out_line(country: Country, channel: Channel) -> &'static str {
    match (country, channel) {
        (Country::UnitedStates, Channel::Email) => "To stop receiving these emails",
        (Country::UnitedStates, _) => "Reply STOP to opt out.",
        (_, Channel::Email) => "Para no recibir más correos",
        _ => "Responda BAJA para no recibir más mensajes.",
    }
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

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Turns the (escaped) http(s) URLs of a text into links.
fn linkify(escaped: &str) -> String {
    escaped
        .split(' ')
        .map(|word| {
            if word.starts_with("https://") || word.starts_with("http://") {
                format!("<a href=\"{word}\">{word}</a>")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_anchors_and_text_is_escaped() {
        let escaped = html_escape("Pague <hoy> & hable: https://x.test/r/abc");
        assert_eq!(
            linkify(&escaped),
            "Pague &lt;hoy&gt; &amp; hable: <a href=\"https://x.test/r/abc\">https://x.test/r/abc</a>"
        );
    }
}
