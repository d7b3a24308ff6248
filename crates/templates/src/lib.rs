//! Message templates: the built-in catalogue and managers' saved ones, checked at save, rendered for a contact
//! in the debtor's locale. Templates are Jinja-style (`minijinja`), rendered with strict undefined variables so a
//! misspelt tag fails loudly instead of sending a message with a hole in it.
//!
//! Tags available to every template ([`validate::TAGS`]):
//! `{{ debtor.first_name }}`, `{{ debtor.last_name }}`, `{{ debtor.full_name }}`,
//! `{{ credit.id }}`, `{{ credit.product }}`, `{{ credit.currency }}`, `{{ credit.overdue }}` (money as the
//! debtor's locale writes it), `{{ credit.days_past_due }}`, `{{ credit.due_date }}` (written out in the debtor's
//! language; none when the file does not give it: test with `{% if credit.due_date %}`),
//! `{{ advisor.first_name }}`, `{{ advisor.name }}` (full name), `{{ advisor.phone }}` (absent when the debtor has
//! no assigned advisor; test with `{% if advisor %}`), `{{ promise.amount }}` and `{{ promise.due_date }}` (only on
//! a promise reminder, the day before a promise to pay is due; test with `{% if promise %}`), and `{{ reply_link }}`.
//!
//! - [`builtin`]: the shipped catalogue; [`catalogue`]: which templates are in force.
//! - [`render`]: a template and a contact into words; [`locale`]: money and dates per country.
//! - [`validate`]: every problem of a template at save (with what an SMS costs, `recaudo_domain::sms`).

pub mod builtin;
pub mod catalogue;
pub mod locale;
pub mod render;
pub mod validate;

pub use builtin::{builtin, Builtin, BUILTIN, BUTTON_ADVISOR, BUTTON_PAID, SMS_REMINDER};
pub use catalogue::{resolve, Catalogue};
pub use locale::Locale;
pub use render::{email_parts, render, text_message, MessageContext, Rendered, TemplateError};

/// The JSON Schema of a template as `PUT /api/templates/{name}` takes it, for `proto-schemas/template.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(recaudo_events::TemplateSource);
    schema.insert("$id".into(), "https://recaudo.dev/schemas/template.schema.json".into());
    schema.insert("title".into(), "Recaudo message template".into());
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::render::{AdvisorTags, CreditTags, DebtorTags};
    use super::*;

    fn ctx(advisor: bool) -> MessageContext {
        MessageContext {
            debtor: DebtorTags { first_name: "Ana".into(), last_name: "Pérez".into(), full_name: "Ana Pérez".into() },
            credit: CreditTags {
                id: "CR-1".into(),
                product: "Tarjeta".into(),
                currency: "COP".into(),
                overdue: "$ 1.000,00".into(),
                days_past_due: 12,
                due_date: None,
            },
            advisor: advisor.then(|| AdvisorTags {
                first_name: "Luis".into(),
                name: "Luis Díaz".into(),
                phone: "+573001112233".into(),
            }),
            promise: None,
            reply_link: "https://x.test/r/abc".into(),
        }
    }

    #[test]
    fn every_builtin_renders_with_and_without_an_advisor() {
        for b in BUILTIN {
            for advisor in [true, false] {
                let out = render(b.name, &b.source(), &ctx(advisor)).unwrap_or_else(|e| panic!("{}: {e}", b.name));
                assert!(out.body.contains("Ana"), "{}: {out:?}", b.name);
            }
        }
        let catalogue = Catalogue::builtin();
        assert_eq!(catalogue.channel_of("whatsapp_reminder_v1"), Some(recaudo_events::Channel::Whatsapp));
        assert_eq!(catalogue.channel_of("nope"), None);
    }

    #[test]
    fn reminder_names_the_advisor_and_carries_the_link() {
        let source = builtin(SMS_REMINDER).unwrap().source();
        let body = render(SMS_REMINDER, &source, &ctx(true)).unwrap().body;
        assert_eq!(
            body,
            "Hola Ana, su Tarjeta CR-1 tiene $ 1.000,00 vencido (12 días). Su asesor Luis Díaz (+573001112233) le ayuda: https://x.test/r/abc"
        );
        let without = render(SMS_REMINDER, &source, &ctx(false)).unwrap().body;
        assert!(without.contains("Escríbanos: https://x.test/r/abc"), "{without}");
    }

    #[test]
    fn unknown_tags_fail_and_saved_templates_come_first() {
        let mut source = builtin(SMS_REMINDER).unwrap().source();
        source.body = "{{ debtor.nickname }}".into();
        assert!(matches!(render("bad", &source, &ctx(true)), Err(TemplateError::Render { .. })));
        source.body = "Nuevo texto {{ reply_link }}".into();
        source.version = 3;
        let catalogue = Catalogue::with_saved([(SMS_REMINDER.to_string(), source.clone())]);
        assert_eq!(catalogue.get(SMS_REMINDER).unwrap().version, 3);
        assert_eq!(catalogue.saved(SMS_REMINDER), Some(&source));
        assert!(catalogue.saved("call_task_v1").is_none());
        assert_eq!(catalogue.get("call_task_v1").unwrap().version, 0);
        assert_eq!(resolve("call_task_v1", None).unwrap().channel, recaudo_events::Channel::Call);
        assert_eq!(resolve("x", Some(&source)).unwrap().body, source.body);
    }
}
