//! The built-in catalogue: the templates the shipped strategies name. A manager's saved template of the same name
//! takes its place.

use recaudo_events::{Channel, TemplateSource, WhatsappApproval};

/// The built-in SMS reminder of the default strategy.
pub const SMS_REMINDER: &str = "sms_reminder_v1";

/// The payload of the "talk to my advisor" quick reply of the WhatsApp templates.
pub const BUTTON_ADVISOR: &str = "HABLAR_ASESOR";
/// The payload of the "I already paid" quick reply.
pub const BUTTON_PAID: &str = "YA_PAGUE";

/// A template of the catalogue.
pub struct Builtin {
    pub name: &'static str,
    pub channel: Channel,
    pub body: &'static str,
    pub subject: Option<&'static str>,
    pub whatsapp: Option<BuiltinWhatsapp>,
}

pub struct BuiltinWhatsapp {
    pub meta_name: &'static str,
    pub language: &'static str,
    pub params: &'static [&'static str],
    pub quick_replies: &'static [&'static str],
}

impl Builtin {
    pub fn source(&self) -> TemplateSource {
        TemplateSource {
            version: 0,
            channel: self.channel,
            body: self.body.to_string(),
            subject: self.subject.map(str::to_string),
            whatsapp: self.whatsapp.as_ref().map(|w| WhatsappApproval {
                meta_name: w.meta_name.to_string(),
                language: w.language.to_string(),
                params: w.params.iter().map(|p| p.to_string()).collect(),
                quick_replies: w.quick_replies.iter().map(|q| q.to_string()).collect(),
                approved_body: None,
                content_sid: None,
            }),
        }
    }
}

pub const BUILTIN: &[Builtin] = &[
    Builtin {
        name: SMS_REMINDER,
        channel: Channel::Sms,
        subject: None,
        whatsapp: None,
        body: "Hola {{ debtor.first_name }}, su {{ credit.product }} {{ credit.id }} tiene {{ credit.overdue }} vencido \
({{ credit.days_past_due }} días).{% if advisor %} Su asesor {{ advisor.name }} ({{ advisor.phone }}) le ayuda:{% else %} Escríbanos:{% endif %} {{ reply_link }}",
    },
    Builtin {
        name: "sms_reminder_friendly_v1",
        channel: Channel::Sms,
        subject: None,
        whatsapp: None,
        body: "{{ debtor.first_name }}, ¿le ayudamos a ponerse al día con su {{ credit.product }}? Son \
{{ credit.overdue }}.{% if advisor %} {{ advisor.first_name }} le atiende:{% endif %} {{ reply_link }}",
    },
    Builtin {
        name: "sms_preventive_v1",
        channel: Channel::Sms,
        subject: None,
        whatsapp: None,
        body: "Hola {{ debtor.first_name }}, le recordamos que la cuota de su {{ credit.product }} {{ credit.id }} \
vence {% if credit.due_date %}el {{ credit.due_date }}{% else %}pronto{% endif %}. Si ya pagó, ignore este mensaje. \
Dudas: {{ reply_link }}",
    },
    Builtin {
        name: "sms_promise_reminder_v1",
        channel: Channel::Sms,
        subject: None,
        whatsapp: None,
        body: "Hola {{ debtor.first_name }}, le recordamos su compromiso de pago{% if promise %} de {{ promise.amount }} \
para el {{ promise.due_date }}{% endif %} de su {{ credit.product }} {{ credit.id }}. Si ya pagó, ignore este mensaje. \
Dudas: {{ reply_link }}",
    },
    Builtin {
        name: "whatsapp_reminder_v1",
        channel: Channel::Whatsapp,
        subject: None,
        whatsapp: Some(BuiltinWhatsapp {
            meta_name: "recordatorio_pago_v1",
            language: "es",
            params: &["{{ debtor.first_name }}", "{{ credit.product }}", "{{ credit.overdue }}", "{{ reply_link }}"],
            quick_replies: &[BUTTON_ADVISOR, BUTTON_PAID],
        }),
        body: "Hola {{ debtor.first_name }}, su {{ credit.product }} tiene {{ credit.overdue }} vencido. \
Responda este mensaje o hable con su asesor: {{ reply_link }}",
    },
    Builtin {
        name: "email_reminder_v1",
        channel: Channel::Email,
        subject: Some("Su {{ credit.product }} {{ credit.id }}: {{ credit.overdue }} vencido"),
        whatsapp: None,
        body: "Estimado(a) {{ debtor.full_name }}: su {{ credit.product }} {{ credit.id }} registra \
{{ credit.overdue }} vencido ({{ credit.days_past_due }} días). Para acordar el pago: {{ reply_link }}",
    },
    Builtin {
        name: "call_task_v1",
        channel: Channel::Call,
        subject: None,
        whatsapp: None,
        body: "Llamar a {{ debtor.full_name }}: {{ credit.product }} {{ credit.id }}, {{ credit.overdue }} vencido \
({{ credit.days_past_due }} días).",
    },
];

pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|t| t.name == name)
}
