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

#[cfg(test)]
mod tests {
    use super::*;

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
