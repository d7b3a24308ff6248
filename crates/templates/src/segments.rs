//! How many SMS segments a text costs. A text entirely in the GSM 03.38 alphabet travels in 7-bit septets: 160
//! in one message, 153 per part once it is split (the rest carries the concatenation header), with the extension
//! characters (`€ [ ] { } ^ ~ | \` and form feed) costing two septets that are never split across parts. Any other
//! character (Spanish `á í ó ú` among them: GSM-7 has only `é`, `à è ì ò ù`, `ñ Ñ`, `Ç`, `ü Ü ä Ä ö Ö`) makes the
//! whole text UCS-2: 70 UTF-16 units in one message, 67 per part, a surrogate pair never split.

use serde::Serialize;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What an SMS text costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segments {
    pub encoding: Encoding,
    pub characters: usize,
    /// Parts the text is sent in.
    pub segments: usize,
    /// The characters (first seen, at most five) that forced UCS-2.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_gsm: Vec<char>,
}

pub fn count(text: &str) -> Segments {
    let characters = text.chars().count();
    let non_gsm: Vec<char> = {
        let mut seen = Vec::new();
        for c in text.chars().filter(|c| !GSM7_BASIC.contains(*c) && !GSM7_EXTENSION.contains(*c)) {
            if !seen.contains(&c) && seen.len() < 5 {
                seen.push(c);
            }
        }
        seen
    };
    let (encoding, units): (Encoding, Vec<usize>) = if non_gsm.is_empty() {
        (Encoding::Gsm7, text.chars().map(|c| if GSM7_EXTENSION.contains(c) { 2 } else { 1 }).collect())
    } else {
        (Encoding::Ucs2, text.chars().map(char::len_utf16).collect())
    };
    let (single, part) = match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    let total: usize = units.iter().sum();
    let segments = if total == 0 {
        0
    } else if total <= single {
        1
    } else {
        // Fill parts without splitting a character's units.
        let (mut parts, mut used) = (1, 0);
        for u in units {
            if used + u > part {
                parts += 1;
                used = 0;
            }
            used += u;
        }
        parts
    };
    Segments { encoding, characters, segments, non_gsm }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_fits_160_in_one_and_153_per_part() {
        assert_eq!(count(&"a".repeat(160)).segments, 1);
        assert_eq!(count(&"a".repeat(161)).segments, 2);
        assert_eq!(count(&"a".repeat(306)).segments, 2);
        assert_eq!(count(&"a".repeat(307)).segments, 3);
        let s = count("Hola Ana, su cuota vence el 5. ¿Ya pagó?");
        assert_eq!((s.encoding, s.non_gsm), (Encoding::Ucs2, vec!['ó']));
        assert_eq!(count("Hola Ana, ¿le ayudamos? Señor Müller").encoding, Encoding::Gsm7);
        assert_eq!(count("").segments, 0);
    }

    #[test]
    fn extension_characters_cost_two_septets_never_split() {
        assert_eq!(count(&"€".repeat(80)).segments, 1);
        assert_eq!(count(&"€".repeat(81)).segments, 2);
        // 152 septets then a two-septet character: it moves whole to the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(count(&text).segments, 2);
        assert_eq!(count(&format!("{}€", "a".repeat(305))).segments, 3);
    }

    #[test]
    fn ucs2_fits_70_in_one_and_67_per_part() {
        assert_eq!(count(&"í".repeat(70)).segments, 1);
        assert_eq!(count(&"í".repeat(71)).segments, 2);
        assert_eq!(count(&"í".repeat(134)).segments, 2);
        assert_eq!(count(&"í".repeat(135)).segments, 3);
        // An emoji is a surrogate pair: two units.
        assert_eq!(count(&"😀".repeat(35)).segments, 1);
        assert_eq!(count(&"😀".repeat(36)).segments, 2);
    }
}
