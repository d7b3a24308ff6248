//! What an SMS text costs: its encoding and the segments it travels (and is billed) in. The scheduler shows it when a
//! template is saved or previewed, and the Twilio simulator reports it as `num_segments`.
//!
//! A text made only of GSM 03.38 characters travels as 7-bit septets: 160 in a single SMS, 153 per part once it
//! has to be split (the rest of each part carries the concatenation header). Characters from the extension table
//! (`€ [ ] { } ^ ~ | \` and form feed) take two septets (an escape and the character). Anything else (Spanish
//! `á í ó ú` among them: GSM-7 has `é`, `à è ì ò ù`, `ñ Ñ`, `Ç`, `ü Ü ä Ä ö Ö`) makes the whole text UCS-2: 70
//! UTF-16 code units in a single SMS, 67 per part, with characters outside the Basic Multilingual Plane (emoji)
//! taking two. A character's units are never split across parts, so a part may end a unit short.

use serde::Serialize;

/// GSM 03.38 basic character set (the escape code itself left out).
const GSM7_BASIC: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ",
    " !\"#¤%&'()*+,-./0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmnopqrstuvwxyzäöñüà",
);

/// GSM 03.38 extension table: each costs an escape septet plus its own.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

const GSM7_SINGLE: usize = 160;
const GSM7_PER_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PER_PART: usize = 67;

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
    /// Parts the text is sent in (an empty text still takes one SMS).
    pub segments: usize,
    /// The characters (first seen, at most five) that forced UCS-2.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_gsm: Vec<char>,
}

pub fn count(text: &str) -> Segments {
    let characters = text.chars().count();
    match gsm7_widths(text) {
        Some(widths) => Segments {
            encoding: Encoding::Gsm7,
            characters,
            segments: pack(&widths, GSM7_SINGLE, GSM7_PER_PART),
            non_gsm: Vec::new(),
        },
        None => {
            let widths: Vec<usize> = text.chars().map(char::len_utf16).collect();
            let mut non_gsm = Vec::new();
            for c in text.chars().filter(|c| !GSM7_BASIC.contains(*c) && !GSM7_EXTENSION.contains(*c)) {
                if !non_gsm.contains(&c) && non_gsm.len() < 5 {
                    non_gsm.push(c);
                }
            }
            Segments {
                encoding: Encoding::Ucs2,
                characters,
                segments: pack(&widths, UCS2_SINGLE, UCS2_PER_PART),
                non_gsm,
            }
        }
    }
}

/// Septets per character, or `None` as soon as one character is not in GSM-7.
fn gsm7_widths(text: &str) -> Option<Vec<usize>> {
    text.chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .collect()
}

fn pack(widths: &[usize], single_limit: usize, per_part: usize) -> usize {
    if widths.iter().sum::<usize>() <= single_limit {
        return 1;
    }
    let mut parts = 1;
    let mut used = 0;
    for &width in widths {
        if used + width > per_part {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(text: &str) -> usize {
        count(text).segments
    }

    #[test]
    fn the_basic_table_has_its_127_printable_entries() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn gsm7_fits_160_in_one_then_153_per_part() {
        assert_eq!(segments(""), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(segments(&"a".repeat(1600)), 11);
    }

    #[test]
    fn spanish_accents_in_gsm7_stay_gsm7_but_others_do_not() {
        // ñ, é, ü, ¿, ¡ are in the GSM table; á, í, ó, ú are not, and push the text to UCS-2.
        assert_eq!(count("¿Señor Müller? ¡Gracias, él paga!").encoding, Encoding::Gsm7);
        let s = count("Su saldo está al día. ¿Ya pagó?");
        assert_eq!((s.encoding, s.non_gsm), (Encoding::Ucs2, vec!['á', 'í', 'ó']));
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        // 152 plain septets then a two-septet character: it cannot be split, so it opens the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(segments(&text), 2);
        assert_eq!(segments(&format!("{}€", "a".repeat(305))), 3);
    }

    #[test]
    fn ucs2_fits_70_in_one_then_67_per_part() {
        assert_eq!(segments(&"á".repeat(70)), 1);
        assert_eq!(segments(&"á".repeat(71)), 2);
        assert_eq!(segments(&"á".repeat(134)), 2);
        assert_eq!(segments(&"á".repeat(135)), 3);
    }

    #[test]
    fn emoji_take_two_code_units_and_are_not_split() {
        assert_eq!(segments(&"😀".repeat(35)), 1);
        assert_eq!(segments(&"😀".repeat(36)), 2);
        // 33 emoji fill 66 units of the first part; the 34th does not fit in the one unit left.
        assert_eq!(segments(&"😀".repeat(67)), 3);
    }
}
