//! Collection strategies (DESIGN.md, "Strategies"): versioned documents a collections manager writes, checked whole
//! at save, and the pure decisions the scheduler's planner (and its simulation) takes with them: which strategy a
//! debtor's segment picks (CEL), which stage their days past due fall in, which steps fire on a day, and which A/B
//! variant the debtor gets (a stable function of debtor, strategy and step). No I/O, no clock.
//!
//! - [`document`]: the document's types (its JSON Schema is generated from them).
//! - [`source`]: YAML or JSON text into a document, with the line of every path.
//! - [`validate`]: every problem of a document, with its path, line and reason.

pub mod document;
mod expression;
/// What segments and stop conditions may read: `debtor`, `credit` and `attributes`, and `step` in a stop condition.
pub use expression::{Variable, ATTRIBUTES, CREDIT, DEBTOR, STEP};
mod piecewise;
pub mod source;
mod validate;

use std::collections::{BTreeMap, HashMap};

use cel::Program;
use recaudo_templates::Catalogue;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use document::{Channel, Document, Escalation, PromiseReminder, Stage, Step};

/// The step the promise reminder's contacts are recorded under, which no step of a document may take.
pub const PROMISE_REMINDER_STEP: &str = "promise_reminder";

/// The strategy that takes every debtor no segment matches.
pub const DEFAULT: &str = "default";

/// The built-in default strategy, in force until a manager activates a `default` of their own.
pub const BUILTIN_DEFAULT: &str = include_str!("../strategies/default.yaml");

pub use recaudo_domain::problem::{check_name, Problem};

/// Parses and checks a document's text (YAML or JSON) for the strategy `name`; every template it names must be in
/// `templates`, written for the step's channel.
pub fn parse(name: &str, text: &str, templates: &Catalogue) -> Result<Document, Vec<Problem>> {
    if let Err(reason) = check_name(name) {
        return Err(vec![Problem { path: String::new(), line: None, reason }]);
    }
    let (document, lines) = match source::parse(text) {
        Ok(read) => read,
        // A syntax error stops the reading; a value the types cannot take does not hide the other problems.
        Err(first) => {
            return Err(match source::index(text) {
                Ok(lines) => piecewise::problems(name, text, &lines, Some(templates)),
                Err(_) => first,
            })
        }
    };
    let problems = validate::check(name, &document, &lines, Some(templates));
    if problems.is_empty() {
        Ok(document)
    } else {
        Err(problems)
    }
}

/// A version ready to decide with: its document and its compiled expressions. Shared behind an `Arc` (compiled
/// programs are not `Clone`).
#[derive(Debug)]
pub struct Strategy {
    pub name: String,
    pub version: i32,
    pub document: Document,
    segment: Option<Program>,
    stops: HashMap<String, Program>,
}

impl Strategy {
    /// A stored version. It was checked whole when saved (templates are never removed); it is checked again
    /// against this build's rules.
    pub fn load(name: &str, version: i32, document: Document) -> Result<Strategy, Vec<Problem>> {
        let problems = validate::check(name, &document, &source::Lines::default(), None);
        if !problems.is_empty() {
            return Err(problems);
        }
        let compile = |source: &str, vars: &[expression::Variable]| {
            expression::compile(source, vars, false).expect("checked by validate::check just above")
        };
        let segment = document.segment.as_ref().map(|s| compile(&s.when, validate::SEGMENT_VARIABLES));
        let stops = document
            .stages
            .iter()
            .flat_map(|s| &s.steps)
            .filter_map(|step| Some((step.id.clone(), compile(step.stop_when.as_deref()?, validate::STOP_VARIABLES))))
            .collect();
        Ok(Strategy { name: name.to_string(), version, document, segment, stops })
    }

    /// The built-in default (version 0).
    pub fn builtin_default() -> Strategy {
        let document =
            parse(DEFAULT, BUILTIN_DEFAULT, &Catalogue::builtin()).expect("the built-in default strategy is valid");
        Strategy::load(DEFAULT, 0, document).expect("the built-in default strategy is valid")
    }

    /// `name@version`, as decisions and events name it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The segment's priority; the default strategy comes after every segment.
    pub fn priority(&self) -> u32 {
        self.document.segment.as_ref().map(|s| s.priority).unwrap_or(u32::MAX)
    }

    /// Whether the debtor falls in this strategy's segment (the default strategy takes anyone).
    pub fn matches(&self, facts: &Facts) -> Result<bool, String> {
        self.matches_with(|| facts)
    }

    /// [`Strategy::matches`], asking for the facts only when there is a segment to evaluate.
    pub fn matches_with<'f>(&self, facts: impl FnOnce() -> &'f Facts) -> Result<bool, String> {
        match &self.segment {
            None => Ok(true),
            Some(p) => {
                let facts = facts();
                expression::holds(
                    p,
                    &[("debtor", &facts.debtor), ("credit", &facts.credit), ("attributes", &facts.attributes)],
                )
            }
        }
    }

    /// The stage that holds `days_past_due`.
    pub fn stage(&self, days_past_due: i32) -> Option<&Stage> {
        self.document.stages.iter().find(|s| s.days_past_due.contains(days_past_due))
    }

    /// The stage's steps that fire on the day the credit is `days_past_due`, in the order written.
    pub fn steps_on<'a>(&self, stage: &'a Stage, days_past_due: i32) -> impl Iterator<Item = &'a Step> {
        let d = i64::from(days_past_due) - i64::from(stage.days_past_due.from);
        stage.steps.iter().filter(move |step| {
            let since = d - step.day as i64;
            since >= 0 && step.every.map_or(since == 0, |n| since % n as i64 == 0)
        })
    }

    /// Whether the step's stop condition holds, given `sent`, its contacts so far in the stage.
    pub fn stopped(&self, step: &Step, facts: &Facts, sent: u32) -> Result<bool, String> {
        let Some(p) = self.stops.get(&step.id) else { return Ok(false) };
        let step_facts = serde_json::json!({ "sent": sent });
        expression::holds(
            p,
            &[
                ("debtor", &facts.debtor),
                ("credit", &facts.credit),
                ("attributes", &facts.attributes),
                ("step", &step_facts),
            ],
        )
    }

    /// The debtor's variant of a step: the same for the same debtor, strategy and step, whatever else changes (a
    /// new import, a new version of the strategy).
    pub fn variant<'a>(&self, step: &'a Step, debtor_id: &str) -> Chosen<'a> {
        let plain = Chosen { variant: "default", channel: step.channel, template: &step.template, tone: None };
        let total: u64 = step.variants.iter().map(|v| v.weight as u64).sum();
        if total == 0 {
            return plain;
        }
        let digest = Sha256::digest(format!("{}\u{1f}{}\u{1f}{}", self.name, step.id, debtor_id).as_bytes());
        let mut point = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % total;
        for v in &step.variants {
            if point < v.weight as u64 {
                return Chosen {
                    variant: &v.name,
                    channel: v.channel.unwrap_or(step.channel),
                    template: v.template.as_deref().unwrap_or(&step.template),
                    tone: v.tone.as_deref(),
                };
            }
            point -= v.weight as u64;
        }
        plain
    }

    /// The call task due at `days_past_due`, given the days since the last one (`None`: never): its template.
    pub fn call_task(&self, days_past_due: i32, days_since_last: Option<i64>) -> Option<&str> {
        self.document.escalations.iter().find_map(|e| match e {
            Escalation::CallTask { from_days_past_due, template, every, .. }
                if days_past_due >= *from_days_past_due =>
            {
                let every = every.unwrap_or(7) as i64;
                days_since_last.is_none_or(|d| d >= every).then_some(template.as_str())
            }
            _ => None,
        })
    }

    /// The channel to use instead of `channel` once it has gone `unanswered` times without a reply.
    pub fn switched(&self, channel: Channel, unanswered: u32) -> Option<Channel> {
        self.document.escalations.iter().find_map(|e| match e {
            Escalation::SwitchChannel { after_unanswered, switch_to }
                if after_unanswered.channel == channel && unanswered >= after_unanswered.count =>
            {
                Some(*switch_to)
            }
            _ => None,
        })
    }
}

/// What a step sends, for one debtor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen<'a> {
    pub variant: &'a str,
    pub channel: Channel,
    pub template: &'a str,
    pub tone: Option<&'a str>,
}

/// What segments and stop conditions read. Names and contact details are left out on purpose: a segment is about
/// the debt, not the person.
#[derive(Debug, Clone, Serialize)]
pub struct DebtorFacts<'a> {
    pub id: &'a str,
    pub country: &'a str,
    pub city: Option<&'a str>,
}

/// The fields of `debtor` in an expression: [`DebtorFacts`] as serialised.
pub const DEBTOR_FIELDS: &[&str] = &["id", "country", "city"];
/// The fields of `credit` in an expression: [`CreditFacts`] as serialised.
pub const CREDIT_FIELDS: &[&str] =
    &["id", "product", "currency", "balance_total", "balance_overdue", "days_past_due", "due_date"];

#[derive(Debug, Clone, Serialize)]
pub struct CreditFacts<'a> {
    pub id: &'a str,
    pub product: &'a str,
    pub currency: &'a str,
    pub balance_total: f64,
    pub balance_overdue: f64,
    pub days_past_due: i32,
    /// ISO date.
    pub due_date: String,
}

/// The facts, serialised once per decision.
#[derive(Debug, Clone)]
pub struct Facts {
    debtor: serde_json::Value,
    credit: serde_json::Value,
    attributes: serde_json::Value,
}

impl Facts {
    pub fn new(debtor: &DebtorFacts<'_>, credit: &CreditFacts<'_>, attributes: &BTreeMap<String, String>) -> Facts {
        Facts {
            debtor: serde_json::to_value(debtor).unwrap_or_default(),
            credit: serde_json::to_value(credit).unwrap_or_default(),
            attributes: serde_json::to_value(attributes).unwrap_or_default(),
        }
    }
}

/// The JSON Schema of a strategy document, for `proto-schemas/strategy.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Document);
    schema.insert("$id".into(), "https://recaudo.dev/schemas/strategy.schema.json".into());
    schema.insert("title".into(), "Recaudo strategy document".into());
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(dpd: i32, segmento: &str) -> Facts {
        let debtor = DebtorFacts { id: "D1", country: "CO", city: Some("Bogotá") };
        let credit = CreditFacts {
            id: "C1",
            product: "Consumo",
            currency: "COP",
            balance_total: 1000.0,
            balance_overdue: 100.0,
            days_past_due: dpd,
            due_date: "2026-11-01".into(),
        };
        Facts::new(&debtor, &credit, &BTreeMap::from([("segmento".to_string(), segmento.to_string())]))
    }

    /// The fields an expression is allowed to read are the fields the facts have.
    #[test]
    fn the_documented_fields_are_the_facts_fields() {
        let f = facts(10, "A");
        for (value, fields) in [(&f.debtor, DEBTOR_FIELDS), (&f.credit, CREDIT_FIELDS)] {
            let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
            let mut expected = fields.to_vec();
            expected.sort_unstable();
            assert_eq!(keys, expected);
        }
    }

    const AB: &str = r#"
segment: { priority: 10, when: 'attributes.segmento == "B" && credit.days_past_due > 30' }
stages:
  - name: preventive
    days_past_due: { from: -5, to: 0 }
    steps:
      - id: reminder
        day: 2
        at: "10:00"
        channel: sms
        template: sms_preventive_v1
  - name: administrative
    days_past_due: { from: 1, to: 60 }
    steps:
      - id: nudge
        every: 3
        channel: sms
        template: sms_reminder_v1
        fallbacks: [{ channel: whatsapp, template: whatsapp_reminder_v1 }]
        variants:
          - { name: formal, weight: 1 }
          - { name: friendly, weight: 1, template: sms_reminder_friendly_v1, tone: friendly }
        stop_when: "step.sent >= 2"
escalations:
  - { kind: switch_channel, after_unanswered: { channel: sms, count: 3 }, switch_to: whatsapp }
promise_reminder: { channel: sms, template: sms_promise_reminder_v1, at: "09:00" }
"#;

    #[test]
    fn segments_stages_steps_and_stops() {
        let s = Strategy::load("consumo-b", 1, parse("consumo-b", AB, &Catalogue::builtin()).unwrap()).unwrap();
        assert!(s.matches(&facts(31, "B")).unwrap());
        assert!(!s.matches(&facts(30, "B")).unwrap());
        assert!(!s.matches(&facts(31, "A")).unwrap());
        let pre = s.stage(-3).unwrap();
        assert_eq!(pre.name, "preventive");
        assert_eq!(s.steps_on(pre, -3).map(|x| x.id.as_str()).collect::<Vec<_>>(), ["reminder"]);
        assert_eq!(s.steps_on(pre, -4).count(), 0);
        let adm = s.stage(7).unwrap();
        // every 3 days from the stage's first day (1): 1, 4, 7, ...
        assert_eq!((s.steps_on(adm, 7).count(), s.steps_on(adm, 8).count()), (1, 0));
        let step = &adm.steps[0];
        assert!(!s.stopped(step, &facts(7, "B"), 1).unwrap());
        assert!(s.stopped(step, &facts(7, "B"), 2).unwrap());
        assert_eq!(s.stage(61), None);
        assert_eq!(s.switched(Channel::Sms, 3), Some(Channel::Whatsapp));
        assert_eq!(s.switched(Channel::Sms, 2), None);
    }

    #[test]
    fn variants_are_stable_and_split_by_weight() {
        let s = Strategy::load("consumo-b", 1, parse("consumo-b", AB, &Catalogue::builtin()).unwrap()).unwrap();
        let step = &s.document.stages[1].steps[0];
        let mut friendly = 0;
        for i in 0..2000 {
            let id = format!("D{i}");
            let v = s.variant(step, &id);
            assert_eq!(v, s.variant(step, &id), "the same debtor always gets the same variant");
            if v.variant == "friendly" {
                assert_eq!(v.template, "sms_reminder_friendly_v1");
                friendly += 1;
            }
        }
        assert!((900..1100).contains(&friendly), "{friendly} of 2000");
        // A new version of the same strategy keeps each debtor's variant.
        let v2 = Strategy::load("consumo-b", 2, parse("consumo-b", AB, &Catalogue::builtin()).unwrap()).unwrap();
        assert_eq!(v2.variant(&v2.document.stages[1].steps[0], "D7"), s.variant(step, "D7"));
    }

    #[test]
    fn the_extreme_integers_are_problems_not_panics() {
        for (from, to) in [(i32::MIN, i32::MIN), (1, i32::MIN), (i32::MIN, i32::MAX), (i32::MAX, i32::MAX)] {
            let doc = format!(
                "stages:\n  - name: a\n    days_past_due: {{ from: {from}, to: {to} }}\n    steps: [{{ id: s, channel: sms, template: sms_reminder_v1 }}]\n"
            );
            let problems = parse("x", &doc, &Catalogue::builtin()).unwrap_err();
            let text = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
            assert!(text.contains("within ±36500 days"), "{from}..{to}: {text}");
        }
        let call = "stages:\n  - name: a\n    days_past_due: { from: 1 }\n    steps: [{ id: s, channel: sms, template: sms_reminder_v1 }]\nescalations:\n  - { kind: call_task, from_days_past_due: -2147483648, call: advisor, template: call_task_v1 }\n";
        let problems = parse("x", call, &Catalogue::builtin()).unwrap_err();
        assert!(problems.iter().any(|p| p.path == "escalations[0].from_days_past_due"), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path_and_line() {
        let bad = r#"
segment: { priority: 1, when: 'atributes.x == "B"' }
stages:
  - name: a
    days_past_due: { from: 1, to: 10 }
    steps:
      - id: s1
        channel: sms
        template: whatsapp_reminder_v1
      - id: s1
        channel: email
        template: nope
        at: "25:00"
  - name: b
    days_past_due: { from: 5, to: 3 }
    steps: []
promise_reminder:
  channel: whatsapp
  template: sms_promise_reminder_v1
  at: "9h"
"#;
        let problems = parse("x", bad, &Catalogue::builtin()).unwrap_err();
        let found: Vec<(String, Option<usize>)> = problems.iter().map(|p| (p.path.clone(), p.line)).collect();
        for (path, line) in [
            ("segment.when", 2),
            ("stages[0].steps[0].template", 9),
            ("stages[0].steps[1].id", 10),
            ("stages[0].steps[1].template", 12),
            ("stages[0].steps[1].at", 13),
            ("stages[1].days_past_due", 15),
            ("stages[1].steps", 16),
            ("promise_reminder.template", 19),
            ("promise_reminder.at", 20),
        ] {
            assert!(found.contains(&(path.to_string(), Some(line))), "{path} at {line} in {problems:#?}");
        }
        let text = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("unknown variable(s) atributes"), "{text}");
        assert!(text.contains("written for whatsapp, not sms"), "{text}");
        // Structure errors come from the parser with their line.
        let problems = parse("x", "stages:\n  - name: a\n    chanel: sms\n", &Catalogue::builtin()).unwrap_err();
        let chanel = problems.iter().find(|p| p.reason.contains("chanel")).expect("the misspelt field");
        assert_eq!(chanel.line, Some(3), "{problems:?}");
        // ... with the problems beside it: this strategy has no segment.
        assert!(problems.iter().any(|p| p.path == "segment"), "{problems:?}");
        // A value the parser refuses is placed at its path.
        let fax = "stages:\n  - name: a\n    days_past_due: { from: 1 }\n    steps:\n      - id: s\n        channel: fax\n        template: t\n";
        let problems = parse("default", fax, &Catalogue::builtin()).unwrap_err();
        assert_eq!(
            (problems[0].path.as_str(), problems[0].line),
            ("stages[0].steps[0].channel", Some(6)),
            "{problems:?}"
        );
        // The default takes everyone; other strategies need a segment.
        let no_segment = "stages:\n  - name: a\n    days_past_due: { from: 1 }\n    steps: [{ id: s, channel: sms, template: sms_reminder_v1 }]\n";
        assert!(parse("default", no_segment, &Catalogue::builtin()).is_ok());
        assert_eq!(parse("other", no_segment, &Catalogue::builtin()).unwrap_err()[0].path, "segment");
    }

    #[test]
    fn a_step_cannot_take_a_name_the_ledger_gives_another_meaning() {
        for (id, reason) in [("promise_reminder", "promise reminder"), ("nudge#2", "'#'")] {
            let doc = format!(
                "stages:\n  - name: a\n    days_past_due: {{ from: 1 }}\n    steps:\n      - id: {id}\n        channel: sms\n        template: sms_reminder_v1\n"
            );
            let problems = parse("default", &doc, &Catalogue::builtin()).unwrap_err();
            assert_eq!(
                (problems[0].path.as_str(), problems[0].line),
                ("stages[0].steps[0].id", Some(5)),
                "{problems:?}"
            );
            assert!(problems[0].reason.contains(reason), "{problems:?}");
        }
    }

    #[test]
    fn the_builtin_default_reminds_daily_and_calls_from_30_days() {
        let s = Strategy::builtin_default();
        let stage = s.stage(1).unwrap();
        for dpd in [1, 2, 30, 365] {
            assert_eq!(s.steps_on(s.stage(dpd).unwrap(), dpd).count(), 1, "{dpd}");
        }
        assert_eq!(s.stage(0), None);
        assert_eq!(stage.steps[0].channel, Channel::Sms);
        assert_eq!(s.call_task(29, None), None);
        assert_eq!(s.call_task(30, None), Some("call_task_v1"));
        assert_eq!(s.call_task(40, Some(3)), None);
        assert_eq!(s.call_task(40, Some(7)), Some("call_task_v1"));
    }
}

#[cfg(test)]
mod examples {
    use super::*;

    #[test]
    fn the_shipped_examples_are_valid() {
        for (name, text) in [
            ("consumer-credit", include_str!("../../../examples/consumer-credit.yaml")),
            ("microcredit", include_str!("../../../examples/microcredit.yaml")),
        ] {
            let doc = parse(name, text, &Catalogue::builtin()).unwrap_or_else(|p| panic!("{name}: {p:#?}"));
            Strategy::load(name, 1, doc).unwrap();
        }
    }
}
