//! Every problem of a document that does not read as a whole. A value serde cannot take (a channel `fax`, a day
//! `-1`) stops the typed reading at the first one; here the document is read again piece by piece (the segment, the
//! promise reminder, each escalation, each stage and each of its steps), so that a bad value in one piece does not
//! hide the problems of the others. Pieces that read are kept and the rest is checked as a readable document is;
//! a piece that does not read is reported with its first bad value, and what can still be read of it (the templates
//! it names, its CEL expression) is checked too.

use std::collections::{HashMap, HashSet};

use recaudo_templates::Catalogue;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::document::{Document, Escalation, PromiseReminder, Segment, Stage, Step};
use crate::source::Lines;
use crate::validate::{self, SEGMENT_VARIABLES, STOP_VARIABLES};
use crate::{expression, Problem};

const TOP_LEVEL: &[&str] = &["description", "segment", "stages", "escalations", "promise_reminder"];

pub(crate) fn problems(name: &str, text: &str, lines: &Lines, templates: Option<&Catalogue>) -> Vec<Problem> {
    let mut value: Value = match serde_norway::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            return vec![Problem { path: String::new(), line, reason: e.to_string() }];
        }
    };
    let mut reader = Reader { templates, found: Vec::new(), kept: HashMap::new(), removed: HashSet::new() };
    let Some(root) = value.as_object_mut() else {
        return vec![Problem {
            path: String::new(),
            line: Some(1),
            reason: format!("a strategy document is a map of {}", TOP_LEVEL.join(", ")),
        }];
    };
    reader.read_root(root);
    // What is left reads, but for what the pieces cannot settle alone (a document without stages, say).
    match serde_path_to_error::deserialize::<_, Document>(value) {
        Ok(document) => {
            for p in validate::check(name, &document, &Lines::default(), templates) {
                let path = reader.original_path(&p.path);
                if !reader.removed.contains(&path) {
                    reader.found.push((path, p.reason));
                }
            }
        }
        Err(e) => {
            let p = Problem::from_path_error("", e);
            reader.found.push((reader.original_path(&p.path), p.reason));
        }
    }
    let mut seen = HashSet::new();
    let mut out: Vec<Problem> = reader
        .found
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .map(|(path, reason)| Problem { line: lines.of(&path), path, reason })
        .collect();
    // In the order written; problems of what is not written (a missing segment) last.
    out.sort_by(|a, b| (a.line.is_none(), a.line, &a.path).cmp(&(b.line.is_none(), b.line, &b.path)));
    out
}

struct Reader<'a> {
    templates: Option<&'a Catalogue>,
    found: Vec<(String, String)>,
    /// For each list whose broken elements were taken out, the original index of each element kept.
    kept: HashMap<String, Vec<usize>>,
    /// Paths taken out as broken: what the whole-document check says about them (a required segment missing, a
    /// stage without steps) is not a problem of the document.
    removed: HashSet<String>,
}

impl Reader<'_> {
    fn read_root(&mut self, root: &mut Map<String, Value>) {
        let unknown: Vec<String> = root.keys().filter(|k| !TOP_LEVEL.contains(&k.as_str())).cloned().collect();
        for key in unknown {
            root.remove(&key);
            self.found.push((key, format!("unknown field; a strategy document has {}", TOP_LEVEL.join(", "))));
        }
        if let Some(segment) = root.get("segment") {
            if self.piece::<Segment>("segment", segment).is_none() {
                self.raw_checks("segment", segment);
                root.remove("segment");
                self.removed.insert("segment".into());
            }
        }
        if let Some(reminder) = root.get("promise_reminder") {
            if self.piece::<PromiseReminder>("promise_reminder", reminder).is_none() {
                self.raw_checks("promise_reminder", reminder);
                root.remove("promise_reminder");
                self.removed.insert("promise_reminder".into());
            }
        }
        if let Some(Value::Array(escalations)) = root.get_mut("escalations") {
            self.keep_readable::<Escalation>("escalations", escalations);
        }
        if let Some(Value::Array(stages)) = root.get_mut("stages") {
            let mut kept = Vec::new();
            let written = stages.len();
            for (i, mut stage) in std::mem::take(stages).into_iter().enumerate() {
                if self.read_stage(&format!("stages[{i}]"), &mut stage) {
                    kept.push((i, stage));
                }
            }
            self.keep("stages", kept, written, stages);
        }
    }

    /// Reads a stage's own fields and each of its steps; keeps the stage if its own fields read.
    fn read_stage(&mut self, at: &str, stage: &mut Value) -> bool {
        let Some(fields) = stage.as_object_mut() else {
            self.found.push((at.to_string(), "a stage is a map of name, days_past_due and steps".into()));
            self.removed.insert(at.to_string());
            return false;
        };
        let steps = fields.remove("steps");
        let mut own = fields.clone();
        own.insert("steps".into(), Value::Array(Vec::new()));
        let readable = self.piece::<Stage>(at, &Value::Object(own)).is_some();
        match steps {
            Some(Value::Array(mut steps)) => {
                let path = format!("{at}.steps");
                let readable_steps = self.keep_readable::<Step>(&path, &mut steps);
                if !readable {
                    // The stage is taken out, so its steps are checked here or not at all.
                    for (k, step) in readable_steps {
                        validate::check_step(&step, &format!("{path}[{k}]"), self.templates, &mut |p, r| {
                            self.found.push((p, r))
                        });
                    }
                }
                fields.insert("steps".into(), Value::Array(steps));
            }
            Some(other) => {
                fields.insert("steps".into(), other);
            }
            None => {}
        }
        if !readable {
            self.removed.insert(at.to_string());
        }
        readable
    }

    /// Takes the elements of `list` that do not read as `T` out of it, reporting each; returns the ones that read,
    /// with their original index.
    fn keep_readable<T: DeserializeOwned>(&mut self, path: &str, list: &mut Vec<Value>) -> Vec<(usize, T)> {
        let mut readable = Vec::new();
        let mut kept = Vec::new();
        let written = list.len();
        for (i, element) in std::mem::take(list).into_iter().enumerate() {
            let at = format!("{path}[{i}]");
            match self.piece::<T>(&at, &element) {
                Some(typed) => {
                    readable.push((i, typed));
                    kept.push((i, element));
                }
                None => {
                    self.raw_checks(&at, &element);
                    self.removed.insert(at);
                }
            }
        }
        self.keep(path, kept, written, list);
        readable
    }

    /// Puts the kept elements back in `list`, remembering their original indices.
    fn keep(&mut self, path: &str, kept: Vec<(usize, Value)>, written: usize, list: &mut Vec<Value>) {
        let indices: Vec<usize> = kept.iter().map(|(i, _)| *i).collect();
        if indices.len() < written {
            // Something was taken out: "at least one step is needed" would only say that.
            self.removed.insert(path.to_string());
        }
        self.kept.insert(path.to_string(), indices);
        list.extend(kept.into_iter().map(|(_, v)| v));
    }

    /// `value` read as `T`, or its first problem reported under `at`.
    fn piece<T: DeserializeOwned>(&mut self, at: &str, value: &Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(typed) => Some(typed),
            Err(e) => {
                let p = Problem::from_path_error(at, e);
                self.found.push((p.path, p.reason));
                None
            }
        }
    }

    /// What can be checked of a piece that does not read: the templates it names exist, its CEL compiles.
    fn raw_checks(&mut self, at: &str, value: &Value) {
        let Some(fields) = value.as_object() else { return };
        if let (Some(templates), Some(Value::String(name))) = (self.templates, fields.get("template")) {
            if templates.channel_of(name).is_none() {
                self.found.push((format!("{at}.template"), format!("no template is called {name:?}")));
            }
        }
        for (key, variables) in [("when", SEGMENT_VARIABLES), ("stop_when", STOP_VARIABLES)] {
            if let Some(Value::String(source)) = fields.get(key) {
                if let Err(e) = expression::compile(source, variables, true) {
                    self.found.push((format!("{at}.{key}"), e));
                }
            }
        }
        for list in ["fallbacks", "variants"] {
            if let Some(Value::Array(elements)) = fields.get(list) {
                for (i, element) in elements.iter().enumerate() {
                    self.raw_checks(&format!("{at}.{list}[{i}]"), element);
                }
            }
        }
    }

    /// A path in the document as read (broken elements taken out) as a path in the document as written.
    fn original_path(&self, path: &str) -> String {
        let mut out = String::new();
        let mut rest = path;
        while !rest.is_empty() {
            let end = rest[1..].find(['.', '[']).map_or(rest.len(), |i| i + 1);
            let (segment, tail) = rest.split_at(end);
            let index = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')).and_then(|s| s.parse().ok());
            match index.and_then(|i: usize| self.kept.get(&out).and_then(|kept| kept.get(i))) {
                Some(original) => out.push_str(&format!("[{original}]")),
                None => out.push_str(segment),
            }
            rest = tail;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source;

    fn problems_of(text: &str) -> Vec<Problem> {
        let lines = source::index(text).expect("valid YAML");
        problems("b", text, &lines, Some(&Catalogue::builtin()))
    }

    const BROKEN: &str = r#"
segment: { priority: 10, when: 'atributos.segmento == "B"' }
stages:
  - name: preventive
    days_past_due: { from: -5, to: 0 }
    steps:
      - id: reminder
        channel: fax
        template: no_such_template
        stop_when: 'step.enviados > 2'
      - id: second
        channel: sms
        template: also_missing
  - name: late
    days_past_due: { from: 1 }
    steps:
      - id: call
        day: -1
        channel: sms
        template: sms_reminder_v1
"#;

    #[test]
    fn a_value_serde_cannot_take_hides_no_other_problem() {
        let found = problems_of(BROKEN);
        let at = |path: &str| found.iter().filter(|p| p.path == path).map(|p| p.reason.as_str()).collect::<Vec<_>>();
        assert!(at("segment.when").iter().any(|r| r.contains("unknown variable(s) atributos")), "{found:?}");
        assert!(at("stages[0].steps[0].channel").iter().any(|r| r.contains("fax")), "{found:?}");
        assert!(at("stages[0].steps[0].template").iter().any(|r| r.contains("no_such_template")), "{found:?}");
        assert!(at("stages[0].steps[0].stop_when").iter().any(|r| r.contains("enviados")), "{found:?}");
        // The readable step beside the broken one is checked as usual, at its own index.
        assert!(at("stages[0].steps[1].template").iter().any(|r| r.contains("also_missing")), "{found:?}");
        assert!(at("stages[1].steps[0].day").iter().any(|r| r.contains("-1")), "{found:?}");
        // Taking the broken pieces out says nothing of its own ("at least one step is needed").
        assert!(!found.iter().any(|p| p.reason.contains("at least one")), "{found:?}");
        // Every problem knows its line.
        assert_eq!(found.iter().find(|p| p.path == "stages[0].steps[0].channel").and_then(|p| p.line), Some(8));
        assert_eq!(found.iter().find(|p| p.path == "stages[0].steps[1].template").and_then(|p| p.line), Some(13));
    }

    #[test]
    fn unknown_fields_and_broken_stages_are_reported_with_the_rest() {
        let text = "stages:\n  - name: a\n    days_past_due: { from: x }\n    steps:\n      - id: s\n        channel: sms\n        template: nope\nextra: 1\n";
        let found = problems_of(text);
        let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"extra"), "{found:?}");
        assert!(paths.contains(&"stages[0].days_past_due.from"), "{found:?}");
        // The broken stage's readable step is still checked.
        assert!(paths.contains(&"stages[0].steps[0].template"), "{found:?}");
    }
}
