//! CEL expressions (segments, stop conditions), compiled once when a version is saved or loaded.

use cel::{Context, Program, Value};

/// Compiles `source`, refusing variables outside `allowed` (a misspelt `atributes` is caught at save, not at
/// planning time).
pub(crate) fn compile(source: &str, allowed: &[&str]) -> Result<Program, String> {
    let program = Program::compile(source).map_err(|e| format!("not a CEL expression: {e}"))?;
    let references = program.references();
    let unknown: Vec<&str> = references.variables().into_iter().filter(|v| !allowed.contains(v)).collect();
    if !unknown.is_empty() {
        return Err(format!("unknown variable(s) {}; it may read {}", unknown.join(", "), allowed.join(", ")));
    }
    Ok(program)
}

/// Evaluates a predicate with `vars`; anything but `true` or `false` is an error naming what it was.
pub(crate) fn holds(program: &Program, vars: &[(&str, &serde_json::Value)]) -> Result<bool, String> {
    let mut context = Context::default();
    for (name, value) in vars {
        context.add_variable(*name, *value).map_err(|e| e.to_string())?;
    }
    match program.execute(&context) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the expression gave {other:?}, not true or false")),
        Err(e) => Err(e.to_string()),
    }
}
