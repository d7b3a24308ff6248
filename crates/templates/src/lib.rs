//! Message templates. Templates are Jinja-style (`minijinja`), rendered with strict undefined variables so a
//! misspelt tag fails loudly instead of sending a message with a hole in it.
//!
//! Tags available to every template:
//! `{{ debtor.first_name }}`, `{{ debtor.last_name }}`, `{{ debtor.full_name }}`,
//! `{{ credit.id }}`, `{{ credit.product }}`, `{{ credit.currency }}`, `{{ credit.overdue }}` (formatted with the
//! currency), `{{ credit.days_past_due }}`,
//! `{{ advisor.first_name }}`, `{{ advisor.name }}` (full name), `{{ advisor.phone }}` (absent when the debtor has
//! no assigned advisor; test with `{% if advisor %}`), and `{{ reply_link }}`.

use minijinja::{Environment, UndefinedBehavior};
use rust_decimal::Decimal;
use serde::Serialize;

/// The built-in SMS reminder of the default strategy.
pub const SMS_REMINDER: &str = "sms_reminder_v1";

/// A template of the catalogue: its name, the channel it is written for, and its source.
pub struct Builtin {
    pub name: &'static str,
    pub channel: &'static str,
    source: &'static str,
    /// An email's subject line (a template too).
    pub subject: Option<&'static str>,
    /// How Meta knows a WhatsApp template: outside the 24-hour window only an approved template may be sent.
    pub whatsapp: Option<WhatsappSpec>,
}

/// A WhatsApp template as approved by Meta, and how its parameters are filled.
pub struct WhatsappSpec {
    /// The template's name at Meta (lowercase letters, digits and underscores).
    pub meta_name: &'static str,
    pub language: &'static str,
    /// Each body parameter (`{{1}}`, `{{2}}`, ...) as a template over the same tags.
    pub params: &'static [&'static str],
    /// Payloads of the template's quick-reply buttons, in order.
    pub quick_replies: &'static [&'static str],
}

/// The payload of the "talk to my advisor" quick reply of the WhatsApp templates.
pub const BUTTON_ADVISOR: &str = "HABLAR_ASESOR";
/// The payload of the "I already paid" quick reply.
pub const BUTTON_PAID: &str = "YA_PAGUE";

/// The built-in catalogue. Strategies name these; a strategy naming a template of another channel, or none, is
/// refused at save.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        name: SMS_REMINDER,
        channel: "sms",
        subject: None,
        whatsapp: None,
        source: "Hola {{ debtor.first_name }}, su {{ credit.product }} {{ credit.id }} tiene {{ credit.overdue }} vencido \
({{ credit.days_past_due }} días).{% if advisor %} Su asesor {{ advisor.name }} ({{ advisor.phone }}) le ayuda:{% else %} Escríbanos:{% endif %} {{ reply_link }}",
    },
    Builtin {
        name: "sms_reminder_friendly_v1",
        channel: "sms",
        subject: None,
        whatsapp: None,
        source: "{{ debtor.first_name }}, ¿le ayudamos a ponerse al día con su {{ credit.product }}? Son \
{{ credit.overdue }}.{% if advisor %} {{ advisor.first_name }} le atiende:{% endif %} {{ reply_link }}",
    },
    Builtin {
        name: "sms_preventive_v1",
        channel: "sms",
        subject: None,
        whatsapp: None,
        source: "Hola {{ debtor.first_name }}, le recordamos que la cuota de su {{ credit.product }} {{ credit.id }} \
vence pronto. Si ya pagó, ignore este mensaje. Dudas: {{ reply_link }}",
    },
    Builtin {
        name: "whatsapp_reminder_v1",
        channel: "whatsapp",
        subject: None,
        whatsapp: Some(WhatsappSpec {
            meta_name: "recordatorio_pago_v1",
            language: "es",
            params: &["{{ debtor.first_name }}", "{{ credit.product }}", "{{ credit.overdue }}", "{{ reply_link }}"],
            quick_replies: &[BUTTON_ADVISOR, BUTTON_PAID],
        }),
        source: "Hola {{ debtor.first_name }}, su {{ credit.product }} tiene {{ credit.overdue }} vencido. \
Responda este mensaje o hable con su asesor: {{ reply_link }}",
    },
    Builtin {
        name: "email_reminder_v1",
        channel: "email",
        subject: Some("Su {{ credit.product }} {{ credit.id }}: {{ credit.overdue }} vencido"),
        whatsapp: None,
        source: "Estimado(a) {{ debtor.full_name }}: su {{ credit.product }} {{ credit.id }} registra \
{{ credit.overdue }} vencido ({{ credit.days_past_due }} días). Para acordar el pago: {{ reply_link }}",
    },
    Builtin {
        name: "call_task_v1",
        channel: "call",
        subject: None,
        whatsapp: None,
        source: "Llamar a {{ debtor.full_name }}: {{ credit.product }} {{ credit.id }}, {{ credit.overdue }} vencido \
({{ credit.days_past_due }} días).",
    },
];

/// The channel a built-in template is written for.
pub fn channel_of(name: &str) -> Option<&'static str> {
    builtin(name).map(|t| t.channel)
}

impl Builtin {
    /// The template's body, as written.
    pub fn source(&self) -> &'static str {
        self.source
    }
}

pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|t| t.name == name)
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    pub debtor: DebtorTags,
    pub credit: CreditTags,
    pub advisor: Option<AdvisorTags>,
    pub reply_link: String,
}

impl MessageContext {
    /// The tags of a requested contact, with the attempt's reply link (empty where there is none, as in a call
    /// task for an advisor).
    pub fn for_request(r: &recaudo_events::ContactRequested, reply_link: String) -> MessageContext {
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
                overdue: format_money(r.credit.balance_overdue, r.credit.currency.code()),
                days_past_due: r.credit.days_past_due,
            },
            advisor: r.advisor.as_ref().map(|a| AdvisorTags {
                first_name: a.first_name.clone(),
                name: format!("{} {}", a.first_name, a.last_name).trim().to_string(),
                phone: a.phone.e164().to_string(),
            }),
            reply_link,
        }
    }
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
    pub overdue: String,
    pub days_past_due: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdvisorTags {
    pub first_name: String,
    pub name: String,
    pub phone: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template {0:?}")]
    Unknown(String),
    #[error("template {name:?} cannot be rendered: {source}")]
    Render { name: String, source: minijinja::Error },
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn builtin() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for t in BUILTIN {
            // Built-in templates are compiled into the binary; a syntax error is caught by this crate's tests.
            env.add_template(t.name, t.source).expect("built-in template compiles");
        }
        Templates { env }
    }

    pub fn render(&self, name: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
        let tmpl = self.env.get_template(name).map_err(|_| TemplateError::Unknown(name.to_string()))?;
        let out = tmpl.render(ctx).map_err(|source| TemplateError::Render { name: name.to_string(), source })?;
        Ok(one_line(&out))
    }

    /// Renders a template's part that is not its body (a subject line, a WhatsApp parameter), named after the
    /// template in errors.
    pub fn render_part(&self, name: &str, source: &str, ctx: &MessageContext) -> Result<String, TemplateError> {
        let out = self
            .env
            .render_str(source, ctx)
            .map_err(|source| TemplateError::Render { name: name.to_string(), source })?;
        Ok(one_line(&out))
    }
}

/// Templates are written over several lines for reading; a message is one line with single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Formats an amount as debtors of the currency read it: `$ 1.234.567` for CLP, `$ 1,234.50` for MXN.
pub fn format_money(amount: Decimal, currency: &str) -> String {
    let (decimals, thousands, point, symbol) = match currency {
        "CLP" | "PYG" => (0, '.', ',', "$"),
        "COP" | "ARS" | "UYU" => (2, '.', ',', "$"),
        "BRL" => (2, '.', ',', "R$"),
        "PEN" => (2, ',', '.', "S/"),
        "EUR" => (2, '.', ',', "€"),
        "MXN" | "USD" | "DOP" => (2, ',', '.', "$"),
        _ => (2, ',', '.', ""),
    };
    let rounded = amount.round_dp(decimals).abs();
    let text = format!("{:.*}", decimals as usize, rounded);
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(thousands);
        }
        grouped.push(c);
    }
    let sign = if amount.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
    let mut out = format!("{sign}{symbol} {grouped}").trim_start().to_string();
    if !frac.is_empty() {
        out.push(point);
        out.push_str(frac);
    }
    if symbol.is_empty() || symbol == "$" {
        out.push(' ');
        out.push_str(currency);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn ctx(advisor: bool) -> MessageContext {
        MessageContext {
            debtor: DebtorTags { first_name: "Ana".into(), last_name: "Pérez".into(), full_name: "Ana Pérez".into() },
            credit: CreditTags {
                id: "CR-1".into(),
                product: "Tarjeta".into(),
                currency: "COP".into(),
                overdue: "$ 1.000,00 COP".into(),
                days_past_due: 12,
            },
            advisor: advisor.then(|| AdvisorTags {
                first_name: "Luis".into(),
                name: "Luis Díaz".into(),
                phone: "+573001112233".into(),
            }),
            reply_link: "https://x.test/r/abc".into(),
        }
    }

    #[test]
    fn every_builtin_renders_with_and_without_an_advisor() {
        let t = Templates::builtin();
        for b in BUILTIN {
            for advisor in [true, false] {
                let body = t.render(b.name, &ctx(advisor)).unwrap_or_else(|e| panic!("{}: {e}", b.name));
                assert!(body.contains("Ana"), "{}: {body}", b.name);
            }
        }
        assert_eq!(channel_of("whatsapp_reminder_v1"), Some("whatsapp"));
        assert_eq!(channel_of("nope"), None);
    }

    #[test]
    fn reminder_names_the_advisor_and_carries_the_link() {
        let body = Templates::builtin().render(SMS_REMINDER, &ctx(true)).unwrap();
        assert_eq!(
            body,
            "Hola Ana, su Tarjeta CR-1 tiene $ 1.000,00 COP vencido (12 días). Su asesor Luis Díaz (+573001112233) le ayuda: https://x.test/r/abc"
        );
        let without = Templates::builtin().render(SMS_REMINDER, &ctx(false)).unwrap();
        assert!(without.contains("Escríbanos: https://x.test/r/abc"), "{without}");
    }

    #[test]
    fn unknown_templates_and_tags_fail() {
        let t = Templates::builtin();
        assert!(matches!(t.render("nope", &ctx(true)), Err(TemplateError::Unknown(_))));
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template("bad", "{{ debtor.nickname }}").unwrap();
        let t = Templates { env };
        assert!(matches!(t.render("bad", &ctx(true)), Err(TemplateError::Render { .. })));
    }

    #[test]
    fn money_follows_the_currency_conventions() {
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(format_money(d("1234567"), "CLP"), "$ 1.234.567 CLP");
        assert_eq!(format_money(d("1234.5"), "MXN"), "$ 1,234.50 MXN");
        assert_eq!(format_money(d("98.1"), "PEN"), "S/ 98.10");
        assert_eq!(format_money(d("0"), "COP"), "$ 0,00 COP");
    }
}
