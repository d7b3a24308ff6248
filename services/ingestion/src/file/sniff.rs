//! Guessing what the lender did not say: the encoding and the delimiter.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::FileError;

/// UTF-8 (with or without BOM) when the sample is valid UTF-8, UTF-16 when it has a UTF-16 BOM, otherwise
/// Windows-1252, which is what Excel writes in Spanish and Portuguese locales.
pub fn encoding(sample: &[u8]) -> Result<&'static Encoding, FileError> {
    if let Some((enc, _)) = Encoding::for_bom(sample) {
        return Ok(enc);
    }
    if let Some(pos) = sample.iter().position(|b| *b == 0) {
        return Err(FileError::Binary(pos));
    }
    // Control bytes other than tab, CR, LF and form feed do not occur in CSV text.
    let controls = sample.iter().filter(|b| **b < 0x20 && !matches!(**b, b'\t' | b'\r' | b'\n' | 0x0c)).count();
    if controls * 100 > sample.len().max(1) {
        let pos = sample.iter().position(|b| *b < 0x20 && !matches!(*b, b'\t' | b'\r' | b'\n' | 0x0c)).unwrap_or(0);
        return Err(FileError::Binary(pos));
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Ok(UTF_8),
        // The sample may end in the middle of a multi-byte character.
        Err(e) if e.error_len().is_none() => Ok(UTF_8),
        Err(_) => Ok(WINDOWS_1252),
    }
}

/// The most frequent of `,`, `;` and tab outside quotes on the first line; `,` when none occurs.
pub fn delimiter(sample: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for &b in sample {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                    c.1 += 1;
                }
            }
            _ => {}
        }
    }
    counts.iter().max_by_key(|(_, n)| *n).filter(|(_, n)| *n > 0).map(|(d, _)| *d).unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_utf8_bom_and_windows_1252() {
        assert_eq!(encoding(b"\xEF\xBB\xBFid;nombre").unwrap(), UTF_8);
        assert_eq!(encoding("id,nombre\nC1,Martín".as_bytes()).unwrap(), UTF_8);
        assert_eq!(encoding(b"id;nombre\r\nC1;Mart\xEDn").unwrap(), WINDOWS_1252);
        // A sample cut inside a two-byte character is still UTF-8.
        assert_eq!(encoding(&"Martín".as_bytes()[..5]).unwrap(), UTF_8);
    }

    #[test]
    fn rejects_binary() {
        assert!(matches!(encoding(b"PK\x03\x04\x00\x00"), Err(FileError::Binary(4))));
        assert!(matches!(encoding(&[0x01, 0x02, 0x03, 0x04, 0x05, b'a']), Err(FileError::Binary(0))));
    }

    #[test]
    fn detects_delimiters_outside_quotes() {
        assert_eq!(delimiter(b"a,b,c\n1;2;3"), b',');
        assert_eq!(delimiter(b"a;b;c\r\n"), b';');
        assert_eq!(delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(delimiter(b"\"a,b,c\";d;e\n"), b';');
        assert_eq!(delimiter(b"single"), b',');
    }
}
