//! Text folding used wherever people type names that must match regardless of accents, case and spacing
//! (file headers, supervisor names).

use unicode_normalization::UnicodeNormalization;

/// Folds `s` to a matching key: accents removed, lower case, and spaces, underscores, hyphens and dots dropped.
/// `"Fecha de Vencimiento"`, `"fecha_vencimiento"` and `"FECHA-VENCIMIENTO"` all fold to `"fechadevencimiento"`/
/// `"fechavencimiento"`; callers compare folded keys, never raw text.
pub fn fold_key(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.' | '\u{a0}' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Folds a person's name for identity matching: accents removed, lower case, inner whitespace collapsed.
pub fn fold_name(s: &str) -> String {
    let folded: String =
        s.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why free text from outside (a reference, a file name, a filter) is refused where it enters: PostgreSQL cannot
/// store a NUL byte, and no field needs control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("has a control character (such as NUL) at character {0}")]
    Control(usize),
    #[error("is longer than {max} characters ({len})")]
    TooLong { max: usize, len: usize },
}

/// Checks one line of free text: at most `max_chars` characters and no control character (tabs neither).
pub fn check_text(s: &str, max_chars: usize) -> Result<(), TextError> {
    if let Some(i) = s.chars().position(char::is_control) {
        return Err(TextError::Control(i + 1));
    }
    let len = s.chars().count();
    if len > max_chars {
        return Err(TextError::TooLong { max: max_chars, len });
    }
    Ok(())
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_has_no_control_characters_and_a_bound() {
        assert_eq!(check_text("Recibo 0042-Ñ", 20), Ok(()));
        assert_eq!(check_text("a\0b", 20), Err(TextError::Control(2)));
        assert_eq!(check_text("abc", 2), Err(TextError::TooLong { max: 2, len: 3 }));
    }

    #[test]
    fn folds_accents_case_and_separators() {
        assert_eq!(fold_key("Teléfono"), "telefono");
        assert_eq!(fold_key(" ID_Cliente "), "idcliente");
        assert_eq!(fold_key("Días Atraso"), "diasatraso");
        assert_ne!(fold_key("saldo_total"), fold_key("saldo_vencido"));
    }

    #[test]
    fn folds_names_keeping_word_boundaries() {
        assert_eq!(fold_name("  José   MARTÍNEZ "), "jose martinez");
        assert_ne!(fold_name("Ana Luz"), fold_name("Analuz"));
    }
}
