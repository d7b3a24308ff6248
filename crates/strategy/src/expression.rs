//! CEL expressions (segments, stop conditions), compiled once when a version is saved or loaded.

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr, LiteralValue};
use cel::{Context, Program, Value};

/// A variable an expression may read, and the fields it has (`None`: any key, as the debtor's own attributes).
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub fields: Option<&'static [&'static str]>,
    /// What it is, for the documentation and for the refusal that lists what may be read.
    pub about: &'static str,
}

pub const DEBTOR: Variable = Variable {
    name: "debtor",
    fields: Some(crate::DEBTOR_FIELDS),
    about: "the debtor: id, country (ISO 3166-1 alpha-2), city (may be null)",
};
pub const CREDIT: Variable = Variable {
    name: "credit",
    fields: Some(crate::CREDIT_FIELDS),
    about: "the credit being decided: id, product, currency, balance_total, balance_overdue (numbers), \
            days_past_due (integer), due_date (ISO date)",
};
pub const ATTRIBUTES: Variable = Variable {
    name: "attributes",
    fields: None,
    about: "the debtor's extra columns of the client file, by column name, as strings",
};
pub const STEP: Variable =
    Variable { name: "step", fields: Some(&["sent"]), about: "the step: sent, its contacts so far in the stage" };

/// Compiles `source`, refusing variables outside `allowed` and, when `fields` (at save), fields a known variable
/// does not have: a misspelt `atributes` or `credit.dias` is caught at save, not at planning time. Every unknown
/// name is in the one answer. Stored versions are loaded without the field check, as they were saved.
pub(crate) fn compile(source: &str, allowed: &[Variable], fields: bool) -> Result<Program, String> {
    let program = Program::compile(source).map_err(|e| format!("not a CEL expression: {e}"))?;
    let names: Vec<&str> = allowed.iter().map(|v| v.name).collect();
    let references = program.references();
    // A macro's own variables (`c` in `list.exists(c, ...)`) are bound by it, not read from the facts.
    let mut bound = Vec::new();
    macro_variables(program.expression(), &mut bound);
    let mut unknown: Vec<&str> =
        references.variables().into_iter().filter(|v| !names.contains(v) && !bound.iter().any(|b| b == v)).collect();
    unknown.sort_unstable();
    unknown.dedup();
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        let readable: Vec<String> = allowed.iter().map(|v| format!("{} ({})", v.name, v.about)).collect();
        problems.push(format!("unknown variable(s) {}; it may read {}", unknown.join(", "), readable.join("; ")));
    }
    let mut missing = Vec::new();
    if fields {
        unknown_fields(program.expression(), allowed, &mut missing);
    }
    missing.sort_unstable();
    missing.dedup();
    for (variable, field) in missing {
        let known = allowed.iter().find(|v| v.name == variable).and_then(|v| v.fields).unwrap_or_default();
        problems.push(format!("{variable} has no field {field:?}; its fields are {}", known.join(", ")));
    }
    if problems.is_empty() {
        Ok(program)
    } else {
        Err(problems.join("; "))
    }
}

/// The variables the expression's macros bind (`exists`, `all`, `map`, ...), with their accumulators.
fn macro_variables(e: &IdedExpr, out: &mut Vec<String>) {
    visit(e, &mut |e| {
        if let Expr::Comprehension(c) = &e.expr {
            out.extend([Some(&c.iter_var), c.iter_var2.as_ref(), Some(&c.accu_var)].into_iter().flatten().cloned());
        }
    });
}

/// Calls `f` on `e` and on every expression inside it.
fn visit(e: &IdedExpr, f: &mut impl FnMut(&IdedExpr)) {
    f(e);
    match &e.expr {
        Expr::Select(s) => visit(&s.operand, f),
        Expr::Call(c) => {
            if let Some(target) = &c.target {
                visit(target, f);
            }
            c.args.iter().for_each(|a| visit(a, f));
        }
        Expr::Comprehension(c) => {
            for part in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                visit(part, f);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|x| visit(x, f)),
        Expr::Map(m) => m.entries.iter().for_each(|entry| visit_entry(entry, f)),
        Expr::Struct(s) => s.entries.iter().for_each(|entry| visit_entry(entry, f)),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn visit_entry(entry: &IdedEntryExpr, f: &mut impl FnMut(&IdedExpr)) {
    match &entry.expr {
        EntryExpr::MapEntry(m) => {
            visit(&m.key, f);
            visit(&m.value, f);
        }
        EntryExpr::StructField(field) => visit(&field.value, f),
    }
}

/// `(variable, field)` for every `variable.field`, `has(variable.field)` and `variable["field"]` whose variable
/// has a fixed set of fields that lacks the field.
fn unknown_fields(e: &IdedExpr, allowed: &[Variable], out: &mut Vec<(&'static str, String)>) {
    visit(e, &mut |e| {
        let (operand, field): (&IdedExpr, &str) = match &e.expr {
            Expr::Select(s) => (&s.operand, &s.field),
            Expr::Call(c) if c.func_name == "_[_]" => match c.args.as_slice() {
                [operand, IdedExpr { expr: Expr::Literal(LiteralValue::String(key)), .. }] => (operand, key.as_ref()),
                _ => return,
            },
            _ => return,
        };
        let Expr::Ident(name) = &operand.expr else { return };
        if let Some(v) = allowed.iter().find(|v| v.name == name) {
            if v.fields.is_some_and(|fields| !fields.contains(&field)) {
                out.push((v.name, field.to_string()));
            }
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT: &[Variable] = &[DEBTOR, CREDIT, ATTRIBUTES];

    #[test]
    fn known_fields_pass_and_free_form_attributes_take_any_key() {
        for ok in [
            "credit.days_past_due > 30 && debtor.country == 'CO'",
            "has(debtor.city) && attributes.segmento == 'A' && attributes['zona'] == 'norte'",
            "credit['balance_overdue'] > 100.0",
            "[credit.currency].exists(c, c == 'COP')",
        ] {
            assert!(compile(ok, SEGMENT, true).is_ok(), "{ok}: {:?}", compile(ok, SEGMENT, true).err());
        }
    }

    #[test]
    fn unknown_fields_and_variables_are_all_named_at_once() {
        let e = compile("credit.dias > 3 || has(debtor.citi) || deudor.x == 1 || credit['saldo'] > 0", SEGMENT, true)
            .unwrap_err();
        assert!(e.contains("unknown variable(s) deudor"), "{e}");
        assert!(e.contains("credit has no field \"dias\""), "{e}");
        assert!(e.contains("credit has no field \"saldo\""), "{e}");
        assert!(e.contains("debtor has no field \"citi\"; its fields are id, country, city"), "{e}");
        // Inside a macro's body too.
        let e = compile("[1].all(x, x < credit.saldo_vencido)", SEGMENT, true).unwrap_err();
        assert!(e.contains("saldo_vencido"), "{e}");
        // `step` is only for stop conditions.
        assert!(compile("step.sent > 2", SEGMENT, true).unwrap_err().contains("unknown variable(s) step"));
        assert!(compile("step.enviados > 2", &[STEP], true).unwrap_err().contains("step has no field \"enviados\""));
        // A stored version loads as it was saved.
        assert!(compile("credit.dias > 3", SEGMENT, false).is_ok());
    }
}
