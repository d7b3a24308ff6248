//! The payments file: `id_credito, fecha_pago, monto, medio_pago, referencia`, in the same shapes as the client
//! file (encoding, delimiter, date and amount conventions are detected the same way).

use std::io::{BufRead, BufReader, Read};

use chrono::NaiveDate;
use recaudo_domain::text::fold_key;
use recaudo_domain::CreditId;
use rust_decimal::Decimal;

use super::values::{self, DateOrder, DecimalStyle};
use super::{crlf, sniff, FileError, ReadOptions, ReadSummary, RowError};

/// One valid payment row.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRecord {
    pub line: u64,
    pub credit_id: CreditId,
    pub paid_on: NaiveDate,
    pub amount: Decimal,
    pub method: String,
    pub reference: String,
}

const COLUMNS: [(&str, &[&str]); 5] = [
    ("id_credito", &["credito", "creditid", "loanid", "accountid", "idcuenta"]),
    ("fecha_pago", &["fecha", "fechadepago", "paymentdate", "paidon", "date"]),
    ("monto", &["valor", "importe", "montopagado", "amount"]),
    ("medio_pago", &["mediodepago", "medio", "canal", "method", "paymentmethod"]),
    ("referencia", &["ref", "comprobante", "reference", "paymentreference", "transactionid"]),
];

/// Reads a payments file, handing each row (or its errors) to `on_row` in file order.
pub fn read<R: Read>(
    input: R,
    options: &ReadOptions,
    mut on_row: impl FnMut(Result<PaymentRecord, Vec<RowError>>),
) -> Result<ReadSummary, FileError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let sample = buffered.fill_buf().map_err(|e| FileError::Unreadable { line: 1, reason: e.to_string() })?;
    if sample.is_empty() {
        return Err(FileError::Empty);
    }
    let encoding = match &options.encoding {
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes())
            .ok_or_else(|| FileError::UnknownEncoding(label.clone()))?,
        None => sniff::encoding(sample)?,
    };
    let delimiter = options.delimiter.map(|c| c as u8).unwrap_or_else(|| sniff::delimiter(sample));
    let decimal = options.decimal.unwrap_or(if delimiter == b';' { DecimalStyle::Comma } else { DecimalStyle::Point });
    let date_order = options.date_order.unwrap_or(DateOrder::DayFirst);
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .utf8_passthru(true)
        .strip_bom(true)
        .build(buffered);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(crlf::CrlfToLf::new(BufReader::new(decoded)));
    let mut record = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut record).map_err(|e| FileError::Unreadable { line: 1, reason: e.to_string() })? {
        return Err(FileError::Empty);
    }
    let headers: Vec<String> = record.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
    let mut index = [usize::MAX; 5];
    for (i, h) in headers.iter().enumerate() {
        let key = fold_key(h);
        if let Some(k) =
            COLUMNS.iter().position(|(name, aliases)| fold_key(name) == key || aliases.contains(&key.as_str()))
        {
            index[k] = i;
        }
    }
    let missing: Vec<String> =
        COLUMNS.iter().zip(index).filter(|(_, i)| *i == usize::MAX).map(|((name, _), _)| name.to_string()).collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }
    let mut summary = ReadSummary::default();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                summary.rows_total += 1;
                summary.rows_rejected += 1;
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                on_row(Err(vec![RowError { line, column: String::new(), reason: format!("unreadable row: {e}") }]));
                break;
            }
        }
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        summary.rows_total += 1;
        let field =
            |k: usize| record.get(index[k]).map(|b| String::from_utf8_lossy(b).trim().to_string()).unwrap_or_default();
        let parsed =
            parse_row(line, &headers, &index, [field(0), field(1), field(2), field(3), field(4)], decimal, date_order);
        if parsed.is_ok() {
            summary.rows_valid += 1;
        } else {
            summary.rows_rejected += 1;
        }
        on_row(parsed);
    }
    if summary.rows_total == 0 {
        return Err(FileError::NoRows);
    }
    Ok(summary)
}

fn parse_row(
    line: u64,
    headers: &[String],
    index: &[usize; 5],
    [credit, date, amount, method, reference]: [String; 5],
    decimal: DecimalStyle,
    date_order: DateOrder,
) -> Result<PaymentRecord, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut err = |k: usize, reason: String| errors.push(RowError { line, column: headers[index[k]].clone(), reason });
    let credit_id = CreditId::parse(&credit).map_err(|e| err(0, e.to_string())).ok();
    let paid_on = values::date(&date, date_order).map_err(|e| err(1, e)).ok();
    let amount = match values::amount(&amount, decimal) {
        Ok(a) if a > Decimal::ZERO => Some(a),
        Ok(a) => {
            err(2, format!("must be positive, got {a}"));
            None
        }
        Err(e) => {
            err(2, e);
            None
        }
    };
    for (k, reason) in recaudo_events::payment::text_problems(&method, &reference) {
        err(if k == "method" { 3 } else { 4 }, reason);
    }
    match (credit_id, paid_on, amount) {
        (Some(credit_id), Some(paid_on), Some(amount)) if errors.is_empty() => {
            Ok(PaymentRecord { line, credit_id, paid_on, amount, method, reference })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> (Vec<PaymentRecord>, Vec<RowError>) {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        read(text.as_bytes(), &ReadOptions::default(), |r| match r {
            Ok(p) => ok.push(p),
            Err(e) => bad.extend(e),
        })
        .unwrap();
        (ok, bad)
    }

    #[test]
    fn reads_payments_in_both_conventions() {
        let (ok, bad) =
            read_all("id_credito;fecha_pago;monto;medio_pago;referencia\r\nCR-1;21/11/2026;1.234,50;PSE;R-1\r\n");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok[0].amount, "1234.50".parse().unwrap());
        assert_eq!(ok[0].paid_on, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        let (ok, _) = read_all("loan_id,payment_date,amount,method,reference\nCR-2,2026-11-21,99.9,card,R-2\n");
        assert_eq!((ok[0].credit_id.as_str(), ok[0].reference.as_str()), ("CR-2", "R-2"));
    }

    #[test]
    fn reports_bad_rows_by_line_and_column() {
        let (ok, bad) = read_all(
            "id_credito,fecha_pago,monto,medio_pago,referencia\nCR-1,2026-11-21,-5,card,R-1\nCR-2,ayer,5,card,R-2\nCR-3,2026-11-21,5,card,\nCR-4,2026-11-21,5,card,R-4\n",
        );
        assert_eq!(ok.len(), 1);
        let got: Vec<(u64, &str)> = bad.iter().map(|e| (e.line, e.column.as_str())).collect();
        assert_eq!(got, vec![(2, "monto"), (3, "fecha_pago"), (4, "referencia")]);
    }
}
