//! A reader that turns CRLF into LF. The CSV reader reports the line of a record started after a CRLF one line too
//! early (it consumes the LF of the previous terminator as part of the next record), and rows are reported to
//! lenders by line, so line ends are normalised before parsing. CR inside quoted cells becomes LF too, which is
//! the same line break.

use std::io::{self, BufRead, Read};

pub struct CrlfToLf<R> {
    inner: R,
    /// A CR that ended the previous chunk, not yet known to be followed by LF.
    pending_cr: bool,
}

impl<R: BufRead> CrlfToLf<R> {
    pub fn new(inner: R) -> Self {
        CrlfToLf { inner, pending_cr: false }
    }
}

impl<R: BufRead> Read for CrlfToLf<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                out[0] = b'\r';
                return Ok(1);
            }
            return Ok(0);
        }
        let mut written = 0;
        let mut consumed = 0;
        if self.pending_cr {
            self.pending_cr = false;
            if chunk[0] != b'\n' {
                out[0] = b'\r';
                written = 1;
            }
        }
        while consumed < chunk.len() && written < out.len() {
            let b = chunk[consumed];
            if b == b'\r' {
                match chunk.get(consumed + 1) {
                    Some(b'\n') => {
                        consumed += 1;
                        continue;
                    }
                    None => {
                        self.pending_cr = true;
                        consumed += 1;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            out[written] = b;
            written += 1;
            consumed += 1;
        }
        self.inner.consume(consumed);
        if written == 0 {
            return self.read(out);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(input: &[u8], chunk: usize) -> Vec<u8> {
        let reader = io::BufReader::with_capacity(chunk, input);
        let mut out = Vec::new();
        CrlfToLf::new(reader).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn converts_across_chunk_boundaries() {
        let input = b"a,b\r\nc,d\r\n\"x\ry\"\r\n\r";
        for chunk in 1..8 {
            assert_eq!(convert(input, chunk), b"a,b\nc,d\n\"x\ry\"\n\r", "chunk {chunk}");
        }
    }
}
