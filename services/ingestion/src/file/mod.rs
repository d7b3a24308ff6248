//! Reading the lender's client file: one row per credit, in whatever shape core-banking exports and Excel produce
//! (DESIGN.md, "The client file"). The reader streams: memory stays bounded whatever the file size.
//!
//! `sniff` decides encoding and delimiter, `columns` maps header names to fields, `values` parses amounts, dates
//! and the like, and `row` turns one record into a [`PortfolioRow`] or the list of what is wrong with it.

mod columns;
mod crlf;
pub mod payments;
mod row;
mod sniff;
mod values;

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use chrono::NaiveDate;
use recaudo_domain::Country;
use recaudo_events::PortfolioRow;
use serde::{Deserialize, Serialize};

pub use columns::{Field, KNOWN_FIELDS};
pub use values::{DateOrder, DecimalStyle};

/// How to read a file; anything left `None` is detected.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadOptions {
    /// Column name in the file → field name (`id_cliente`, ...), for headers the built-in aliases do not know.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, String>,
    /// Encoding label (`utf-8`, `windows-1252`, `latin1`, ...).
    pub encoding: Option<String>,
    pub delimiter: Option<char>,
    pub date_order: Option<DateOrder>,
    pub decimal: Option<DecimalStyle>,
    /// Country for rows whose `pais` is empty.
    pub default_country: Option<Country>,
}

/// The date the portfolio file describes; rows without `dias_atraso` get it computed against this date.
#[derive(Debug, Clone, Copy)]
pub struct AsOf(pub NaiveDate);

/// One row as read: the row or what is wrong with it, and anything worth telling the lender about a valid row.
#[derive(Debug)]
pub struct ReadRow {
    pub result: Result<PortfolioRow, Vec<RowError>>,
    pub warnings: Vec<RowError>,
}

/// One problem with one row, reported to the lender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Line in the file where the row starts; 1 is the header line.
    pub line: u64,
    /// The column as named in the file's header (or the canonical field name when the column is missing).
    pub column: String,
    pub reason: String,
}

/// A problem with the file as a whole: nothing of it is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a text (CSV) file: it contains binary data near byte {0}")]
    Binary(usize),
    #[error("unknown encoding {0:?}")]
    UnknownEncoding(String),
    #[error("the header is missing required columns: {}", .0.join(", "))]
    MissingColumns(Vec<String>),
    #[error("columns {first:?} and {second:?} both mean {field}")]
    DuplicateColumn { field: &'static str, first: String, second: String },
    #[error("the file has a header but no data rows")]
    NoRows,
    #[error("cannot read the file at line {line}: {reason}")]
    Unreadable { line: u64, reason: String },
    #[error(
        "line {line} is too large to pass on: {bytes} bytes as an event, above the message limit of {limit} bytes"
    )]
    RowTooLarge { line: u64, bytes: usize, limit: usize },
}

/// Counts of a finished read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub rows_total: u64,
    pub rows_valid: u64,
    pub rows_rejected: u64,
}

/// What the reader found about the file before the first row.
#[derive(Debug, Clone)]
pub struct FileShape {
    pub encoding: &'static encoding_rs::Encoding,
    pub delimiter: u8,
    pub decimal: DecimalStyle,
    pub has_advisor_columns: bool,
    pub extra_columns: Vec<String>,
}

/// Reads `input` and hands each row, valid or not, to `on_row` in file order; `on_row` may break to stop early.
/// Returns the counts, or a [`FileError`] when the file as a whole cannot be read (then rows already handed out
/// must be discarded).
pub fn read<R: Read>(
    input: R,
    options: &ReadOptions,
    as_of: AsOf,
    mut on_shape: impl FnMut(&FileShape),
    mut on_row: impl FnMut(ReadRow) -> ControlFlow<()>,
) -> Result<ReadSummary, FileError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let sample = buffered.fill_buf().map_err(|e| FileError::Unreadable { line: 1, reason: e.to_string() })?;
    if sample.is_empty() {
        return Err(FileError::Empty);
    }
    let encoding = match &options.encoding {
        Some(label) => encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| FileError::UnknownEncoding(label.clone()))?,
        None => sniff::encoding(sample)?,
    };
    // Delimiters are ASCII, so the raw bytes of any ASCII-compatible encoding show them as they are.
    let sniffed_delimiter = encoding.is_ascii_compatible().then(|| sniff::delimiter(sample));
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .bom_override(true)
        // UTF-8 passes through unchanged so that an invalid byte is reported on its row rather than silently replaced.
        .utf8_passthru(true)
        .strip_bom(true)
        .build(buffered);
    let mut decoded = BufReader::with_capacity(256 * 1024, decoded);
    let delimiter = match (options.delimiter, sniffed_delimiter) {
        (Some(c), _) => c as u8,
        (None, Some(d)) => d,
        (None, None) => {
            let text = decoded.fill_buf().map_err(|e| FileError::Unreadable { line: 1, reason: e.to_string() })?;
            sniff::delimiter(text)
        }
    };
    let decimal = options.decimal.unwrap_or(if delimiter == b';' { DecimalStyle::Comma } else { DecimalStyle::Point });

    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(crlf::CrlfToLf::new(decoded));
    let mut record = csv::ByteRecord::new();
    let header_read = csv.read_byte_record(&mut record).map_err(|e| unreadable(&e))?;
    if !header_read {
        return Err(FileError::Empty);
    }
    let layout = columns::Layout::from_header(&record, &options.columns)?;
    on_shape(&FileShape {
        encoding,
        delimiter,
        decimal,
        has_advisor_columns: layout.has_advisor_columns(),
        extra_columns: layout.extra_names(),
    });
    let parser = row::RowParser {
        layout: &layout,
        decimal,
        date_order: options.date_order.unwrap_or_default(),
        default_country: options.default_country,
        as_of: as_of.0,
        phones: row::PhoneCache::default(),
    };

    let mut summary = ReadSummary::default();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // An unterminated quote or an I/O error: the reader cannot find the next row boundary, so the rest of
                // the file is one unreadable row.
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                summary.rows_total += 1;
                summary.rows_rejected += 1;
                let error = RowError { line, column: String::new(), reason: format!("unreadable row: {e}") };
                let _ = on_row(ReadRow { result: Err(vec![error]), warnings: Vec::new() });
                break;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        summary.rows_total += 1;
        let parsed = parser.parse(line, &record);
        if parsed.result.is_ok() {
            summary.rows_valid += 1;
        } else {
            summary.rows_rejected += 1;
        }
        if on_row(parsed).is_break() {
            break;
        }
    }
    if summary.rows_total == 0 {
        return Err(FileError::NoRows);
    }
    Ok(summary)
}

fn unreadable(e: &csv::Error) -> FileError {
    FileError::Unreadable { line: e.position().map(|p| p.line()).unwrap_or(1), reason: e.to_string() }
}

#[cfg(test)]
mod tests;
