//! Everything wrong with a document, each problem with its path, line and reason: a bad document is refused whole.

use std::collections::{BTreeSet, HashSet};

use chrono::NaiveTime;

use crate::document::{Channel, Document, Escalation, Step};
use crate::source::Lines;
use recaudo_templates::Catalogue;

use crate::expression::{Variable, ATTRIBUTES, CREDIT, DEBTOR, STEP};
use crate::{expression, Problem, DEFAULT};

/// What a segment may read.
pub(crate) const SEGMENT_VARIABLES: &[Variable] = &[DEBTOR, CREDIT, ATTRIBUTES];
/// How far from the due date a stage may reach.
const MAX_DAYS_PAST_DUE: i32 = 36_500;

/// What a step's stop condition may read.
pub(crate) const STOP_VARIABLES: &[Variable] = &[DEBTOR, CREDIT, ATTRIBUTES, STEP];

/// `templates` is the catalogue a template a step names must be in (none when a stored version is loaded:
/// templates are never removed, so what was checked at save still holds). The fields an expression reads are
/// checked at save only: a version saved before that check loads as it was.
pub(crate) fn check(name: &str, doc: &Document, lines: &Lines, templates: Option<&Catalogue>) -> Vec<Problem> {
    let saving = templates.is_some();
    let mut out = Vec::new();
    let mut problem = |path: String, reason: String| {
        let line = lines.of(&path);
        out.push(Problem { path, line, reason });
    };
    match (&doc.segment, name == DEFAULT) {
        (Some(_), true) => {
            problem("segment".into(), "the default strategy takes every debtor: it has no segment".into())
        }
        (None, false) => problem("segment".into(), "required: which debtors the strategy is for".into()),
        (Some(s), false) => {
            if let Err(e) = expression::compile(&s.when, SEGMENT_VARIABLES, saving) {
                problem("segment.when".into(), e);
            }
        }
        (None, true) => {}
    }
    if doc.stages.is_empty() {
        problem("stages".into(), "at least one stage is needed".into());
    }
    let mut stage_names = HashSet::new();
    let mut step_ids = HashSet::new();
    for (i, stage) in doc.stages.iter().enumerate() {
        let at = format!("stages[{i}]");
        if stage.name.trim().is_empty() {
            problem(format!("{at}.name"), "must not be empty".into());
        } else if !stage_names.insert(stage.name.as_str()) {
            problem(format!("{at}.name"), format!("another stage is called {:?}", stage.name));
        }
        let range = stage.days_past_due;
        for (end, value) in [("from", Some(range.from)), ("to", range.to)] {
            // `unsigned_abs`: `i32::MIN.abs()` overflows (a panic in a debug build, a negative number in release).
            if value.is_some_and(|v| v.unsigned_abs() > MAX_DAYS_PAST_DUE.unsigned_abs()) {
                problem(
                    format!("{at}.days_past_due.{end}"),
                    format!("must be within ±{MAX_DAYS_PAST_DUE} days (a hundred years)"),
                );
            }
        }
        if range.to.is_some_and(|to| to < range.from) {
            problem(
                format!("{at}.days_past_due"),
                format!("to ({}) is before from ({})", range.to.unwrap(), range.from),
            );
        }
        for (j, other) in doc.stages.iter().enumerate().take(i) {
            let o = other.days_past_due;
            let overlap = range.from <= o.to.unwrap_or(i32::MAX) && o.from <= range.to.unwrap_or(i32::MAX);
            if overlap {
                problem(
                    format!("{at}.days_past_due"),
                    format!("overlaps stage {:?} (stages[{j}]): a credit must fall in one stage", other.name),
                );
            }
        }
        if stage.steps.is_empty() {
            problem(format!("{at}.steps"), "at least one step is needed".into());
        }
        let length = range.to.map(|to| i64::from(to) - i64::from(range.from));
        for (k, step) in stage.steps.iter().enumerate() {
            let at = format!("{at}.steps[{k}]");
            if step.id.trim().is_empty() || step.id.len() > 64 || step.id.chars().any(char::is_control) {
                problem(format!("{at}.id"), "must be 1 to 64 visible characters".into());
            } else if step.id == crate::PROMISE_REMINDER_STEP {
                problem(format!("{at}.id"), "is the promise reminder's own step; choose another id".into());
            } else if step.id.contains('#') {
                problem(format!("{at}.id"), "must not contain '#', which marks a fallback's contacts".into());
            } else if !step_ids.insert(step.id.as_str()) {
                problem(format!("{at}.id"), format!("another step has id {:?}", step.id));
            }
            if length.is_some_and(|len| step.day as i64 > len) {
                problem(
                    format!("{at}.day"),
                    format!("day {} is after the stage's last day ({})", step.day, length.unwrap()),
                );
            }
            if step.day as i64 > MAX_DAYS_PAST_DUE as i64 * 2 {
                problem(format!("{at}.day"), "is beyond any stage".into());
            }
            if step.every == Some(0) {
                problem(format!("{at}.every"), "must be at least 1".into());
            }
            check_time(step.at.as_deref(), &format!("{at}.at"), &mut problem);
            check_step(step, &at, templates, &mut problem);
        }
    }
    for (i, e) in doc.escalations.iter().enumerate() {
        let at = format!("escalations[{i}]");
        match e {
            Escalation::CallTask { template, every, from_days_past_due, .. } => {
                if from_days_past_due.unsigned_abs() > MAX_DAYS_PAST_DUE.unsigned_abs() {
                    problem(format!("{at}.from_days_past_due"), format!("must be within ±{MAX_DAYS_PAST_DUE} days"));
                }
                template_for(templates, Channel::Call, template, &format!("{at}.template"), &mut problem);
                if *every == Some(0) {
                    problem(format!("{at}.every"), "must be at least 1".into());
                }
            }
            Escalation::SwitchChannel { after_unanswered, switch_to } => {
                if after_unanswered.count == 0 {
                    problem(format!("{at}.after_unanswered.count"), "must be at least 1".into());
                }
                if after_unanswered.channel == *switch_to {
                    problem(format!("{at}.switch_to"), "is the channel it switches from".into());
                }
                if *switch_to == Channel::Call {
                    problem(format!("{at}.switch_to"), "a call is an escalation of its own (kind: call_task)".into());
                }
            }
        }
    }
    if let Some(r) = &doc.promise_reminder {
        if r.channel == Channel::Call {
            problem("promise_reminder.channel".into(), "a reminder goes to the debtor, not to the advisor".into());
        }
        template_for(templates, r.channel, &r.template, "promise_reminder.template", &mut problem);
        check_time(r.at.as_deref(), "promise_reminder.at", &mut problem);
    }
    out
}

fn check_time(at: Option<&str>, path: &str, problem: &mut impl FnMut(String, String)) {
    if let Some(t) = at {
        if NaiveTime::parse_from_str(t, "%H:%M").is_err() {
            problem(path.to_string(), format!("{t:?} is not a local time HH:MM"));
        }
    }
}

pub(crate) fn check_step(
    step: &Step,
    at: &str,
    templates: Option<&Catalogue>,
    problem: &mut impl FnMut(String, String),
) {
    template_for(templates, step.channel, &step.template, &format!("{at}.template"), problem);
    let mut seen = BTreeSet::from([step.channel]);
    for (f, fallback) in step.fallbacks.iter().enumerate() {
        if !seen.insert(fallback.channel) {
            problem(
                format!("{at}.fallbacks[{f}].channel"),
                format!("{} is already tried before", fallback.channel.as_str()),
            );
        }
        if fallback.channel == Channel::Call {
            problem(
                format!("{at}.fallbacks[{f}].channel"),
                "a call task cannot fail over (use a call_task escalation)".into(),
            );
        }
        template_for(
            templates,
            fallback.channel,
            &fallback.template,
            &format!("{at}.fallbacks[{f}].template"),
            problem,
        );
    }
    let mut names = HashSet::new();
    for (v, variant) in step.variants.iter().enumerate() {
        let vat = format!("{at}.variants[{v}]");
        if variant.name.trim().is_empty() || !names.insert(variant.name.as_str()) {
            problem(format!("{vat}.name"), "must be a name no other variant of the step has".into());
        }
        if variant.weight == 0 {
            problem(format!("{vat}.weight"), "must be at least 1".into());
        }
        let channel = variant.channel.unwrap_or(step.channel);
        let template = variant.template.as_deref().unwrap_or(&step.template);
        template_for(templates, channel, template, &format!("{vat}.template"), problem);
    }
    if let Some(stop) = &step.stop_when {
        // Templates are given at save, when the fields an expression reads are checked too.
        if let Err(e) = expression::compile(stop, STOP_VARIABLES, templates.is_some()) {
            problem(format!("{at}.stop_when"), e);
        }
    }
}

/// The template must exist and be written for the channel.
fn template_for(
    templates: Option<&Catalogue>,
    channel: Channel,
    template: &str,
    path: &str,
    problem: &mut impl FnMut(String, String),
) {
    let Some(templates) = templates else { return };
    match templates.channel_of(template) {
        None => problem(path.to_string(), format!("no template is called {template:?}")),
        Some(c) if c.as_str() != channel.as_str() => {
            problem(path.to_string(), format!("template {template:?} is written for {c}, not {}", channel.as_str()))
        }
        Some(_) => {}
    }
}
