//! A template is checked whole when a manager saves it: every problem is listed with its path, line and reason
//! (syntax, tags the context does not have, parts its channel needs or cannot have, the WhatsApp template's Meta
//! name, language and parameters), and an SMS body's segment count is given, with a warning above the lender's
//! limit. Rendering it for sample debtors with and without an advisor catches what only shows when it runs.

use std::collections::BTreeSet;

use recaudo_domain::problem::{check_name, Problem};
use recaudo_events::{Channel, TemplateSource};
use serde::Serialize;

use crate::render::{environment, render_part, AdvisorTags, CreditTags, DebtorTags, MessageContext, PromiseTags};
use recaudo_domain::sms::{self as segments, Segments};

/// Every tag a template may use (and the objects holding them, which `{% if advisor %}` tests).
pub const TAGS: &[&str] = &[
    "debtor.first_name",
    "debtor.last_name",
    "debtor.full_name",
    "credit.id",
    "credit.product",
    "credit.currency",
    "credit.overdue",
    "credit.days_past_due",
    "credit.due_date",
    "advisor.first_name",
    "advisor.name",
    "advisor.phone",
    "promise.amount",
    "promise.due_date",
    "reply_link",
];
const OBJECTS: &[&str] = &["debtor", "credit", "advisor", "promise"];

/// Channels templates are written for.
pub const CHANNELS: &[Channel] = &[Channel::Sms, Channel::Whatsapp, Channel::Email, Channel::Call];

/// The longest body a template may have (WhatsApp's limit for a text message).
pub const MAX_BODY_CHARS: usize = 4096;

/// Meta's language codes for WhatsApp message templates.
const META_LANGUAGES: &[&str] = &[
    "af", "sq", "ar", "az", "bn", "bg", "ca", "zh_CN", "zh_HK", "zh_TW", "hr", "cs", "da", "nl", "en", "en_GB",
    "en_US", "et", "fil", "fi", "fr", "ka", "de", "el", "gu", "ha", "he", "hi", "hu", "id", "ga", "it", "ja", "kn",
    "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml", "mr", "nb", "fa", "pl", "pt_BR", "pt_PT", "pa",
    "ro", "ru", "sr", "sk", "sl", "es", "es_AR", "es_ES", "es_MX", "sw", "sv", "ta", "te", "th", "tr", "uk", "ur",
    "uz", "vi", "zu",
];

/// What a template that passed is worth knowing before it is used.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// Things that do not refuse the template but deserve a look (more SMS segments than the lender's limit).
    pub warnings: Vec<Problem>,
    /// An SMS body's cost for the sample debtor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<Segments>,
}

/// Checks `template` for saving as `name`, whose versions so far (if any) are written for `existing`.
pub fn check(
    name: &str,
    template: &TemplateSource,
    existing: Option<Channel>,
    sms_segment_warning: usize,
) -> Result<Checked, Vec<Problem>> {
    let mut problems = Vec::new();
    if let Err(reason) = check_name(name) {
        problems.push(Problem::at("", reason));
    }
    if !CHANNELS.contains(&template.channel) {
        problems.push(Problem::at(
            "channel",
            format!("{} has no templates; expected sms, whatsapp, email or call", template.channel),
        ));
    }
    if let Some(existing) = existing.filter(|c| *c != template.channel) {
        problems.push(Problem::at(
            "channel",
            format!("{name} is written for {existing}: a template keeps its channel (strategies rely on it); save a {} one under another name", template.channel),
        ));
    }
    if template.body.trim().is_empty() {
        problems.push(Problem::at("body", "must not be empty"));
    } else if template.body.chars().count() > MAX_BODY_CHARS {
        problems.push(Problem::at("body", format!("is longer than {MAX_BODY_CHARS} characters")));
    }
    let mut parts = vec![("body".to_string(), template.body.as_str())];
    match (template.channel, &template.subject) {
        (Channel::Email, None) => problems.push(Problem::at("subject", "an email template needs a subject")),
        (Channel::Email, Some(s)) if s.trim().is_empty() => problems.push(Problem::at("subject", "must not be empty")),
        (Channel::Email, Some(s)) => parts.push(("subject".into(), s)),
        (_, Some(_)) => problems.push(Problem::at("subject", "only email templates have a subject")),
        (_, None) => {}
    }
    match (template.channel, &template.whatsapp) {
        (Channel::Whatsapp, None) => problems.push(Problem::at(
            "whatsapp",
            "a WhatsApp template needs the approved Meta template (meta_name, language, params) for messages outside the 24-hour window",
        )),
        (Channel::Whatsapp, Some(wa)) => {
            check_whatsapp(wa, &mut problems);
            for (i, p) in wa.params.iter().enumerate() {
                parts.push((format!("whatsapp.params[{i}]"), p));
            }
        }
        (_, Some(_)) => problems.push(Problem::at("whatsapp", "only WhatsApp templates have a Meta template")),
        (_, None) => {}
    }
    for (path, source) in &parts {
        check_syntax_and_tags(path, source, &mut problems);
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // Render for sample debtors: with an advisor and a promise, and with neither (advisor and promise tags outside
    // `{% if advisor %}` and `{% if promise %}` fail): any template can then go on any step.
    let mut warnings = Vec::new();
    let mut sms = None;
    for with_optional in [true, false] {
        let ctx = sample(with_optional);
        let who = if with_optional { "" } else { " for a debtor with no assigned advisor or promise" };
        for (path, source) in &parts {
            match render_part(name, path, source, &ctx) {
                Err(e) => {
                    let reason = match &e {
                        crate::TemplateError::Render { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    problems.push(Problem {
                        path: path.clone(),
                        line: None,
                        reason: format!("cannot be rendered{who}: {reason}"),
                    });
                }
                Ok(text) if text.is_empty() && path != "body" => {
                    let message = format!("renders empty{who}");
                    if path.starts_with("whatsapp.params") {
                        // Meta refuses a template message with an empty parameter.
                        problems.push(Problem::at(path.clone(), format!("{message}; Meta refuses empty parameters")));
                    } else {
                        problems.push(Problem::at(path.clone(), message));
                    }
                }
                Ok(text) => {
                    if with_optional && path == "body" && template.channel == Channel::Sms {
                        let cost = segments::count(&text);
                        if cost.segments > sms_segment_warning {
                            let why = if cost.non_gsm.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    "; it is sent as UCS-2 (70 characters a segment, 67 once split) because of {}",
                                    cost.non_gsm.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
                                )
                            };
                            warnings.push(Problem::at(
                                "body",
                                format!(
                                    "{} SMS segments for a sample debtor, above the limit of {sms_segment_warning}{why}",
                                    cost.segments
                                ),
                            ));
                        }
                        sms = Some(cost);
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Checked { warnings, sms })
    } else {
        problems.dedup();
        Err(problems)
    }
}

/// Every problem of a template that does not read as a [`TemplateSource`] (a channel `fax`, a number for a body):
/// the first value its types cannot take, then what can still be checked of the rest (the name, and the syntax and
/// tags of the body, the subject and the WhatsApp parameters), so that one bad value does not hide the others.
pub fn check_unreadable(name: &str, template: &serde_json::Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(reason) = check_name(name) {
        problems.push(Problem::at("", reason));
    }
    if let Err(e) = serde_path_to_error::deserialize::<_, TemplateSource>(template.clone()) {
        problems.push(Problem::from_path_error("", e));
    }
    for part in ["body", "subject"] {
        if let Some(source) = template.get(part).and_then(|v| v.as_str()) {
            check_syntax_and_tags(part, source, &mut problems);
        }
    }
    let params = template.pointer("/whatsapp/params").and_then(|v| v.as_array());
    for (i, param) in params.into_iter().flatten().enumerate() {
        if let Some(source) = param.as_str() {
            check_syntax_and_tags(&format!("whatsapp.params[{i}]"), source, &mut problems);
        }
    }
    problems
}

fn check_whatsapp(wa: &recaudo_events::WhatsappApproval, problems: &mut Vec<Problem>) {
    let meta_name_ok = !wa.meta_name.is_empty()
        && wa.meta_name.len() <= 512
        && wa.meta_name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !meta_name_ok {
        problems.push(Problem::at(
            "whatsapp.meta_name",
            format!("{:?} is not a Meta template name (lower-case letters, digits and underscores)", wa.meta_name),
        ));
    }
    if !META_LANGUAGES.contains(&wa.language.as_str()) {
        problems.push(Problem::at(
            "whatsapp.language",
            format!(
                "{:?} is not one of Meta's template language codes (es, es_MX, es_AR, en_US, pt_BR, ...)",
                wa.language
            ),
        ));
    }
    if let Some(approved) = &wa.approved_body {
        let placeholders = placeholders(approved);
        let expected: BTreeSet<usize> = (1..=wa.params.len()).collect();
        if placeholders != expected {
            problems.push(Problem::at(
                "whatsapp.params",
                format!(
                    "the approved body has the placeholders {{{{{}}}}}, but {} parameter(s) are given; each of {{{{1}}}}..{{{{n}}}} needs one",
                    placeholders.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("}}, {{"),
                    wa.params.len()
                ),
            ));
        }
    }
    if wa.quick_replies.len() > 10 {
        problems.push(Problem::at("whatsapp.quick_replies", "Meta allows at most 10 quick-reply buttons"));
    }
    for (i, q) in wa.quick_replies.iter().enumerate() {
        if q.trim().is_empty() || q.len() > 128 {
            problems.push(Problem::at(format!("whatsapp.quick_replies[{i}]"), "a payload is 1 to 128 characters"));
        }
    }
    if let Some(sid) = &wa.content_sid {
        let ok = sid.len() == 34 && sid.starts_with("HX") && sid[2..].chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            problems.push(Problem::at(
                "whatsapp.content_sid",
                format!("{sid:?} is not a Twilio ContentSid (HX and 32 hex digits)"),
            ));
        }
    }
}

/// The numbers of an approved body's `{{n}}` placeholders.
fn placeholders(approved: &str) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut rest = approved;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            if let Ok(n) = rest[..end].trim().parse::<usize>() {
                found.insert(n);
            }
            rest = &rest[end + 2..];
        }
    }
    found
}

/// Syntax errors with their line, and tags that are not in [`TAGS`] with the line they are first on.
fn check_syntax_and_tags(path: &str, source: &str, problems: &mut Vec<Problem>) {
    let template = match environment().template_from_str(source) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem {
                path: path.to_string(),
                line: e.line(),
                reason: format!("syntax: {}", e.detail().unwrap_or(&e.to_string())),
            });
            return;
        }
    };
    let mut unknown: Vec<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|v| !TAGS.contains(&v.as_str()) && !OBJECTS.contains(&v.as_str()))
        .collect();
    unknown.sort();
    for tag in unknown {
        let line =
            source.find(tag.split('.').next_back().unwrap_or(&tag)).map(|at| source[..at].lines().count().max(1));
        problems.push(Problem {
            path: path.to_string(),
            line,
            reason: format!("unknown tag {{{{ {tag} }}}}; the tags are {}", TAGS.join(", ")),
        });
    }
}

/// A debtor with long-ish names and a reply link as long as the real ones, so the segment count is honest; with
/// `with_optional`, also an assigned advisor and a promise to pay.
fn sample(with_optional: bool) -> MessageContext {
    MessageContext {
        debtor: DebtorTags {
            first_name: "María José".into(),
            last_name: "Rodríguez Peña".into(),
            full_name: "María José Rodríguez Peña".into(),
        },
        credit: CreditTags {
            id: "CR-0012345".into(),
            product: "Tarjeta de crédito".into(),
            currency: "COP".into(),
            overdue: "$ 1.234.567,89".into(),
            days_past_due: 45,
            due_date: Some("15 de septiembre de 2026".into()),
        },
        advisor: with_optional.then(|| AdvisorTags {
            first_name: "Juan Carlos".into(),
            name: "Juan Carlos Gómez".into(),
            phone: "+573001234567".into(),
        }),
        promise: with_optional
            .then(|| PromiseTags { amount: "$ 500.000,00".into(), due_date: "30 de septiembre de 2026".into() }),
        reply_link: "https://cobranza.example.co/r/AbCdEfGhIjKlMnOpQrStUv".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(body: &str) -> TemplateSource {
        TemplateSource { version: 0, channel: Channel::Sms, body: body.into(), subject: None, whatsapp: None }
    }

    fn paths(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn every_builtin_passes() {
        for b in crate::BUILTIN {
            check(b.name, &b.source(), None, 10).unwrap_or_else(|p| panic!("{}: {p:?}", b.name));
        }
    }

    #[test]
    fn unknown_tags_and_syntax_errors_name_their_line() {
        let problems = check("x", &sms("Hola {{ debtor.first_name }}\nsu {{ debtor.nickname }}"), None, 3).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].path.as_str(), problems[0].line), ("body", Some(2)));
        assert!(problems[0].reason.contains("debtor.nickname"), "{}", problems[0].reason);

        let problems = check("x", &sms("Hola\n{% if advisor %}sin cerrar"), None, 3).unwrap_err();
        assert_eq!(problems[0].line, Some(2), "{problems:?}");
        assert!(problems[0].reason.starts_with("syntax"), "{}", problems[0].reason);
    }

    #[test]
    fn advisor_tags_outside_a_test_fail_for_debtors_without_an_advisor() {
        let problems = check("x", &sms("Su asesor {{ advisor.name }}"), None, 3).unwrap_err();
        assert!(problems[0].reason.contains("no assigned advisor"), "{problems:?}");
        check("x", &sms("{% if advisor %}Su asesor {{ advisor.name }}{% endif %} {{ reply_link }}"), None, 3).unwrap();
    }

    #[test]
    fn promise_tags_outside_a_test_fail_as_any_step_but_a_promise_reminder_lacks_them() {
        let problems = check("x", &sms("Pague {{ promise.amount }} el {{ promise.due_date }}"), None, 3).unwrap_err();
        assert!(problems[0].reason.contains("or promise"), "{problems:?}");
        let guarded = "Su pago{% if promise %} de {{ promise.amount }} vence el {{ promise.due_date }}{% endif %}.";
        check("x", &sms(guarded), None, 3).unwrap();
    }

    #[test]
    fn each_channel_has_its_parts() {
        let mut email = sms("Hola");
        email.channel = Channel::Email;
        assert_eq!(paths(&check("x", &email, None, 3).unwrap_err()), ["subject"]);
        let mut wa = sms("Hola");
        wa.channel = Channel::Whatsapp;
        assert_eq!(paths(&check("x", &wa, None, 3).unwrap_err()), ["whatsapp"]);
        let mut text = sms("Hola");
        text.subject = Some("Asunto".into());
        assert_eq!(paths(&check("x", &text, None, 3).unwrap_err()), ["subject"]);
        let mut voice = sms("Hola");
        voice.channel = Channel::Voice;
        assert_eq!(paths(&check("x", &voice, None, 3).unwrap_err()), ["channel"]);
        assert_eq!(paths(&check("x", &sms("Hola"), Some(Channel::Email), 3).unwrap_err()), ["channel"]);
        assert_eq!(paths(&check("Bad Name", &sms("Hola"), None, 3).unwrap_err()), [""]);
    }

    #[test]
    fn a_whatsapp_template_is_checked_against_metas_rules() {
        let wa = TemplateSource {
            version: 0,
            channel: Channel::Whatsapp,
            body: "Hola {{ debtor.first_name }}".into(),
            subject: None,
            whatsapp: Some(recaudo_events::WhatsappApproval {
                meta_name: "Recordatorio Pago".into(),
                language: "spanish".into(),
                params: vec!["{{ debtor.first_name }}".into(), "{% if advisor %}{{ advisor.name }}{% endif %}".into()],
                quick_replies: vec!["".into()],
                approved_body: Some("Hola {{1}}, su saldo es {{3}}".into()),
                content_sid: Some("HX123".into()),
            }),
        };
        let problems = check("x", &wa, None, 3).unwrap_err();
        assert_eq!(
            paths(&problems),
            [
                "whatsapp.meta_name",
                "whatsapp.language",
                "whatsapp.params",
                "whatsapp.quick_replies[0]",
                "whatsapp.content_sid"
            ],
            "{problems:?}"
        );
        let mut fixed = wa.clone();
        let approval = fixed.whatsapp.as_mut().unwrap();
        approval.meta_name = "recordatorio_pago".into();
        approval.language = "es_MX".into();
        approval.quick_replies = vec!["HABLAR_ASESOR".into()];
        approval.approved_body = Some("Hola {{1}}, su asesor es {{2}}".into());
        approval.content_sid = Some(format!("HX{}", "a".repeat(32)));
        let problems = check("x", &fixed, None, 3).unwrap_err();
        assert_eq!(paths(&problems), ["whatsapp.params[1]"], "{problems:?}");
        assert!(problems[0].reason.contains("empty"), "{problems:?}");
        fixed.whatsapp.as_mut().unwrap().params[1] = "{{ credit.overdue }}".into();
        check("x", &fixed, None, 3).unwrap();
    }

    #[test]
    fn sms_segments_above_the_limit_warn_and_name_what_forced_ucs2() {
        let long = "Hola {{ debtor.first_name }}, su crédito {{ credit.id }} tiene {{ credit.overdue }} vencido. \
                    Le pedimos comunicarse hoy para acordar el pago y evitar cargos adicionales: {{ reply_link }}";
        let checked = check("x", &sms(long), None, 1).unwrap();
        let cost = checked.sms.unwrap();
        assert_eq!(cost.encoding, segments::Encoding::Ucs2);
        assert!(cost.segments >= 2, "{cost:?}");
        assert_eq!(checked.warnings.len(), 1);
        assert!(checked.warnings[0].reason.contains("UCS-2"), "{:?}", checked.warnings);
        assert!(check("x", &sms(long), None, 5).unwrap().warnings.is_empty());
    }

    /// A channel the types cannot take does not hide the unknown tag in the body nor the bad name beside it.
    #[test]
    fn an_unreadable_template_still_has_its_body_checked() {
        let template = serde_json::json!({
            "channel": "fax",
            "body": "Hola {{ debtor.nombre }}",
            "whatsapp": { "meta_name": "x", "language": "es", "params": ["{{ credit.saldo }}"] }
        });
        let problems = check_unreadable("Mal Nombre", &template);
        let found = paths(&problems);
        assert!(found.contains(&""), "{problems:?}");
        assert!(problems.iter().any(|p| p.path == "channel" && p.reason.contains("fax")), "{problems:?}");
        assert!(problems.iter().any(|p| p.path == "body" && p.reason.contains("debtor.nombre")), "{problems:?}");
        assert!(found.contains(&"whatsapp.params[0]"), "{problems:?}");
    }
}
