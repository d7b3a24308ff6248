//! Reading a document's text (YAML, or JSON, which YAML reads too) into a [`Document`], with the line each path
//! was written on, so that every problem can say where it is.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

use crate::document::Document;
use crate::Problem;

/// `stages[1].steps[0].channel` → the line its value starts on (1-based).
#[derive(Debug, Clone, Default)]
pub struct Lines(HashMap<String, usize>);

impl Lines {
    /// The deepest path written on `line`: where a parser error (which knows only its line) is.
    pub fn path_at(&self, line: usize) -> Option<&str> {
        self.0.iter().filter(|(_, l)| **l == line).map(|(p, _)| p.as_str()).max_by_key(|p| (p.len(), *p))
    }

    /// The line of `path`, or of its nearest ancestor that was written.
    pub fn of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.0.get(p) {
                return Some(*line);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// Parses `text`; on failure, the first problem (a syntax error, or the first value the types cannot take: the
/// strategy's [`crate::parse`] then reads the document piece by piece for the others).
pub fn parse(text: &str) -> Result<(Document, Lines), Vec<Problem>> {
    let lines = index(text).map_err(|p| vec![p])?;
    let document: Document = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // serde names the field (`unknown variant `fax``) but not its path; the line finds it.
        let path = line.and_then(|l| lines.path_at(l)).unwrap_or_default().to_string();
        vec![Problem { path, line, reason: e.to_string() }]
    })?;
    Ok((document, lines))
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

fn child(frames: &[Frame]) -> Option<String> {
    match frames.last()? {
        Frame::Map { path, key: Some(k) } => Some(join(path, k)),
        Frame::Seq { path, next } => Some(format!("{path}[{next}]")),
        Frame::Map { key: None, .. } => None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// After a value at the top frame's current position: a map waits for its next key, a list moves on.
fn advance(frames: &mut [Frame]) {
    match frames.last_mut() {
        Some(Frame::Map { key, .. }) => *key = None,
        Some(Frame::Seq { next, .. }) => *next += 1,
        None => {}
    }
}

/// Where each path of `text` is written; a syntax error is the one problem.
pub(crate) fn index(text: &str) -> Result<Lines, Problem> {
    let mut lines = HashMap::new();
    let mut frames: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) =
            event.map_err(|e| Problem { path: String::new(), line: Some(e.marker().line()), reason: e.to_string() })?;
        let line = span.start.line();
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = child(&frames).unwrap_or_default();
                lines.entry(path.clone()).or_insert(line);
                frames.push(match event {
                    Event::MappingStart(..) => Frame::Map { path, key: None },
                    _ => Frame::Seq { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                frames.pop();
                advance(&mut frames);
            }
            Event::Scalar(value, ..) => match frames.last_mut() {
                Some(Frame::Map { key: key @ None, .. }) => *key = Some(value.to_string()),
                _ => {
                    if let Some(path) = child(&frames) {
                        lines.entry(path).or_insert(line);
                    }
                    advance(&mut frames);
                }
            },
            Event::Alias(_) => advance(&mut frames),
            _ => {}
        }
    }
    Ok(Lines(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_know_their_lines_in_yaml_and_json() {
        let yaml = "stages:\n  - name: a\n    steps:\n      - id: x\n        channel: sms\n      - id: y\n        channel: fax\n";
        let l = index(yaml).unwrap();
        assert_eq!(l.of("stages[0].steps[1].channel"), Some(7));
        assert_eq!(l.of("stages[0].steps[0]"), Some(4));
        // A path never written falls back to its nearest ancestor.
        assert_eq!(l.of("stages[0].steps[1].template"), Some(6));
        let json =
            "{\n \"stages\": [\n  {\"name\": \"a\",\n   \"steps\": [{\"id\": \"x\",\n     \"channel\": \"fax\"}]}]}";
        let l = index(json).unwrap();
        assert_eq!(l.of("stages[0].steps[0].channel"), Some(5));
    }
}
