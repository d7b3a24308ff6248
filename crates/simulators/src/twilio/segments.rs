//! How many SMS segments a body takes, which is what Twilio reports as `num_segments` (and bills).
//!
//! A body made only of GSM 03.38 characters travels as 7-bit septets: 160 in a single SMS, 153 per part once it has
//! to be split (the rest of each part carries the concatenation header). Characters from the extension table take
//! two septets (an escape and the character). Anything else forces UCS-2 for the whole body: 70 UTF-16 code units in
//! a single SMS, 67 per part, with characters outside the Basic Multilingual Plane (emoji) taking two. A character's
//! units are never split across parts, so a part may end a unit short.

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

/// Segments needed for `body`; an empty body still takes one SMS.
pub fn count_segments(body: &str) -> u32 {
    match gsm7_widths(body) {
        Some(widths) => pack(&widths, GSM7_SINGLE, GSM7_PER_PART),
        None => {
            let widths: Vec<usize> = body.chars().map(char::len_utf16).collect();
            pack(&widths, UCS2_SINGLE, UCS2_PER_PART)
        }
    }
}

/// Whether `body` can travel as GSM-7 (otherwise it goes as UCS-2).
pub fn is_gsm7(body: &str) -> bool {
    gsm7_widths(body).is_some()
}

/// Septets per character, or `None` as soon as one character is not in GSM-7.
fn gsm7_widths(body: &str) -> Option<Vec<usize>> {
    body.chars()
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

fn pack(widths: &[usize], single_limit: usize, per_part: usize) -> u32 {
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

    #[test]
    fn the_basic_table_has_its_127_printable_entries() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn gsm7_fits_160_in_one_then_153_per_part() {
        assert_eq!(count_segments(""), 1);
        assert_eq!(count_segments(&"a".repeat(160)), 1);
        assert_eq!(count_segments(&"a".repeat(161)), 2);
        assert_eq!(count_segments(&"a".repeat(306)), 2);
        assert_eq!(count_segments(&"a".repeat(307)), 3);
        assert_eq!(count_segments(&"a".repeat(1600)), 11);
    }

    #[test]
    fn spanish_accents_in_gsm7_stay_gsm7_but_others_do_not() {
        // ñ, é, ü, ¿, ¡ are in the GSM table; á, í, ó, ú are not, and push the body to UCS-2.
        assert!(is_gsm7("¿Señor Müller? ¡Gracias, él paga!"));
        assert!(!is_gsm7("Su saldo está al día"));
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        assert_eq!(count_segments(&"€".repeat(80)), 1);
        assert_eq!(count_segments(&"€".repeat(81)), 2);
        // 152 plain septets then a two-septet character: it cannot be split, so it opens the second part.
        let body = format!("{}{}{}", "a".repeat(152), "€", "a".repeat(10));
        assert_eq!(count_segments(&body), 2);
    }

    #[test]
    fn ucs2_fits_70_in_one_then_67_per_part() {
        assert_eq!(count_segments(&"á".repeat(70)), 1);
        assert_eq!(count_segments(&"á".repeat(71)), 2);
        assert_eq!(count_segments(&"á".repeat(134)), 2);
        assert_eq!(count_segments(&"á".repeat(135)), 3);
    }

    #[test]
    fn emoji_take_two_code_units_and_are_not_split() {
        assert_eq!(count_segments(&"😀".repeat(35)), 1);
        assert_eq!(count_segments(&"😀".repeat(36)), 2);
        // 33 emoji fill 66 units of the first part; the 34th does not fit in the one unit left.
        assert_eq!(count_segments(&"😀".repeat(67)), 3);
    }
}
