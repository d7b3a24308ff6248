//! Rendering: a template and a contact's tags into the words a channel sends, with what the law adds to them
//! (the opt-out line of US Regulation F, an email's unsubscribe footer).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use recaudo_domain::text::html_escape;
use recaudo_domain::Country;
use recaudo_events::{Channel, ContactRequested, TemplateSource};
use serde::Serialize;

use crate::locale::Locale;

#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    pub debtor: DebtorTags,
    pub credit: CreditTags,
    pub advisor: Option<AdvisorTags>,
    /// Only on a promise reminder.
    pub promise: Option<PromiseTags>,
    pub reply_link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DebtorTags {
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreditTags {
    pub id: String,
    pub product: String,
    pub currency: String,
    /// The overdue amount as the debtor's locale writes money.
    pub overdue: String,
    pub days_past_due: u32,
    /// The due date written out in the debtor's language; none when the file does not give it.
    pub due_date: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromiseTags {
    /// The amount promised, as the debtor's locale writes money.
    pub amount: String,
    /// The date it is due, written out in the debtor's language.
    pub due_date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdvisorTags {
    pub first_name: String,
    pub name: String,
    pub phone: String,
}

impl MessageContext {
    /// The tags of a requested contact, in the debtor's locale, with the attempt's reply link (empty where there
    /// is none, as in a call task for an advisor).
    pub fn for_request(r: &ContactRequested, reply_link: String) -> MessageContext {
        let locale = Locale::for_country(r.country);
        MessageContext {
            debtor: DebtorTags {
                first_name: r.debtor.first_name.clone(),
                last_name: r.debtor.last_name.clone(),
                full_name: format!("{} {}", r.debtor.first_name, r.debtor.last_name).trim().to_string(),
            },
            credit: CreditTags {
                id: r.credit.id.to_string(),
                product: r.credit.product.clone(),
                currency: r.credit.currency.to_string(),
                overdue: locale.money(r.credit.balance_overdue, r.credit.currency.code()),
                days_past_due: r.credit.days_past_due,
                due_date: r.credit.due_date.map(|d| locale.date(d)),
            },
            advisor: r.advisor.as_ref().map(|a| AdvisorTags {
                first_name: a.first_name.clone(),
                name: format!("{} {}", a.first_name, a.last_name).trim().to_string(),
                phone: a.phone.e164().to_string(),
            }),
            promise: r.promise.as_ref().map(|p| PromiseTags {
                amount: locale.money(p.amount, r.credit.currency.code()),
                due_date: locale.date(p.due_on),
            }),
            reply_link,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template {0:?}")]
    Unknown(String),
    #[error("template {name:?} cannot be rendered ({part}): {source}")]
    Render { name: String, part: String, source: minijinja::Error },
}

/// A template rendered for one contact: each part on one line with single spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The approved WhatsApp template's body parameters, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub whatsapp_params: Vec<String>,
}

/// Strict: a tag the context does not have fails loudly instead of sending a message with a hole in it.
pub(crate) fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    })
}

pub(crate) fn render_part(name: &str, part: &str, source: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
    let out = environment().render_str(source, ctx).map_err(|source| TemplateError::Render {
        name: name.to_string(),
        part: part.to_string(),
        source,
    })?;
    Ok(one_line(&out))
}

/// Renders every part of `template` (named `name` in errors).
pub fn render(name: &str, template: &TemplateSource, ctx: &MessageContext) -> Result<Rendered, TemplateError> {
    let body = render_part(name, "body", &template.body, ctx)?;
    let subject = match (&template.subject, template.channel) {
        (Some(s), _) => Some(render_part(name, "subject", s, ctx)?),
        // Every email has a subject; saved email templates must write one, this covers any that does not.
        (None, Channel::Email) => Some(render_part(name, "subject", DEFAULT_SUBJECT, ctx)?),
        (None, _) => None,
    };
    let mut whatsapp_params = Vec::new();
    if let Some(wa) = &template.whatsapp {
        for (i, p) in wa.params.iter().enumerate() {
            whatsapp_params.push(render_part(name, &format!("whatsapp.params[{i}]"), p, ctx)?);
        }
    }
    Ok(Rendered { body, subject, whatsapp_params })
}

/// Templates are written over several lines for reading; a message is one line with single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An email's subject when its template has none.
const DEFAULT_SUBJECT: &str = "{{ credit.product }} {{ credit.id }}";

/// The text an SMS (or free-form WhatsApp) carries: the body, and where the preset demands it the opt-out. US
/// Regulation F (12 CFR 1006.6(e)) wants every electronic message to a consumer to say how to opt out.
pub fn text_message(body: &str, country: Country) -> String {
    if country == Country::UnitedStates {
        format!("{body} Reply STOP to opt out.")
    } else {
        body.to_string()
    }
}

/// An email's plain-text and HTML parts: the body and a footer with its unsubscribe link, in the debtor's
/// language.
pub fn email_parts(body: &str, country: Country, unsubscribe_url: &str) -> (String, String) {
    let opt_out = if Locale::for_country(country).is_english() {
        "To stop receiving these emails"
    } else {
        "Para no recibir más correos"
    };
    let text = format!("{body}\n\n{opt_out}: {unsubscribe_url}");
    let html = format!(
        "<!doctype html><html><body><p>{}</p><p style=\"font-size:small\"><a href=\"{}\">{}</a></p></body></html>",
        linkify(&html_escape(body)),
        html_escape(unsubscribe_url),
        html_escape(opt_out)
    );
    (text, html)
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

    #[test]
    fn us_texts_carry_the_opt_out_and_emails_a_footer_in_the_debtors_language() {
        assert_eq!(text_message("Hi", Country::UnitedStates), "Hi Reply STOP to opt out.");
        assert_eq!(text_message("Hola", Country::Colombia), "Hola");
        let (text, html) = email_parts("Hola", Country::Mexico, "https://x.test/u/t");
        assert_eq!(text, "Hola\n\nPara no recibir más correos: https://x.test/u/t");
        assert!(html.contains("<a href=\"https://x.test/u/t\">Para no recibir más correos</a>"), "{html}");
        assert!(email_parts("Hi", Country::UnitedStates, "u").0.contains("To stop receiving these emails"));
    }
}
