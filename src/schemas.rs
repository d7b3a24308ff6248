//! `proto-schemas/events/`: the JSON Schema of every event type; `proto-schemas/strategy.schema.json` and
//! `template.schema.json`, those of a strategy document and a message template; generated from the Rust types.

use std::path::{Path, PathBuf};

/// Where the checked-in schemas live, relative to the repository root.
pub const EVENTS_DIR: &str = "proto-schemas/events";

/// The strategy document's schema, relative to the repository root.
pub const STRATEGY_SCHEMA: &str = "proto-schemas/strategy.schema.json";

/// A message template's schema (the body of `PUT /api/templates/{name}`), relative to the repository root.
pub const TEMPLATE_SCHEMA: &str = "proto-schemas/template.schema.json";

/// `(file path, pretty JSON)` for every event type and the strategy document.
pub fn rendered(root: &Path) -> Vec<(PathBuf, String)> {
    let pretty = |schema: &serde_json::Value| serde_json::to_string_pretty(schema).unwrap_or_default() + "\n";
    let mut out: Vec<(PathBuf, String)> = recaudo_events::schema::all()
        .into_iter()
        .map(|(ty, schema)| (root.join(EVENTS_DIR).join(recaudo_events::schema::file_name(ty)), pretty(&schema)))
        .collect();
    out.push((root.join(STRATEGY_SCHEMA), pretty(&recaudo_strategy::json_schema())));
    out.push((root.join(TEMPLATE_SCHEMA), pretty(&recaudo_templates::json_schema())));
    out
}

/// Writes every schema; returns the files written.
pub fn write(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(root.join(EVENTS_DIR))?;
    let mut written = Vec::new();
    for (path, text) in rendered(root) {
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// The schemas whose checked-in file is missing or differs from the code, and checked-in files no event has.
pub fn differences(root: &Path) -> std::io::Result<Vec<String>> {
    let mut problems = Vec::new();
    let expected = rendered(root);
    for (path, text) in &expected {
        match std::fs::read_to_string(path) {
            Ok(current) if &current == text => {}
            Ok(_) => problems.push(format!("{} differs from the code", path.display())),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join(EVENTS_DIR)) {
        for entry in entries.flatten() {
            let path = entry.path();
            if !expected.iter().any(|(p, _)| p == &path) {
                problems.push(format!("{} has no event type in the code", path.display()));
            }
        }
    }
    Ok(problems)
}
