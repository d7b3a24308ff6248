//! Reading the repository's fixture files, which cover the shapes of DESIGN.md ("The client file").

use std::collections::BTreeSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/clients/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Read {
    rows: Vec<PortfolioRow>,
    errors: Vec<RowError>,
    warnings: Vec<RowError>,
    shape: Option<FileShape>,
    summary: Result<ReadSummary, FileError>,
}

fn read_bytes(bytes: &[u8], options: &ReadOptions) -> Read {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut shape = None;
    let mut warnings = Vec::new();
    let as_of = AsOf(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    let summary = read(
        bytes,
        options,
        as_of,
        |s| shape = Some(s.clone()),
        |r| {
            warnings.extend(r.warnings);
            match r.result {
                Ok(row) => rows.push(row),
                Err(e) => errors.extend(e),
            }
            std::ops::ControlFlow::Continue(())
        },
    );
    Read { rows, errors, warnings, shape, summary }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn reads_every_shape_to_the_same_rows() {
    let reference = read_bytes(&fixture("clientes_asesores.csv"), &ReadOptions::default());
    assert!(reference.errors.is_empty(), "{:?}", reference.errors);
    assert_eq!(reference.rows.len(), 12);
    for name in ["clientes_excel_cp1252.csv", "clients_english_bom.csv"] {
        let other = read_bytes(&fixture(name), &ReadOptions::default());
        assert!(other.errors.is_empty(), "{name}: {:?}", other.errors);
        assert!(other.summary.is_ok(), "{name}: {:?}", other.summary);
        assert_eq!(other.rows.len(), reference.rows.len(), "{name}");
        for (a, b) in reference.rows.iter().zip(&other.rows) {
            assert_eq!(a.debtor.first_name, b.debtor.first_name, "{name} line {}", a.line);
            assert_eq!(a.debtor.last_name, b.debtor.last_name, "{name}");
            assert_eq!(a.debtor.city, b.debtor.city, "{name}");
            assert_eq!(a.credit, b.credit, "{name}");
            assert_eq!(a.advisor, b.advisor, "{name}");
        }
    }
    let excel = read_bytes(&fixture("clientes_excel_cp1252.csv"), &ReadOptions::default()).shape.unwrap();
    assert_eq!(excel.encoding, encoding_rs::WINDOWS_1252);
    assert_eq!(excel.delimiter, b';');
    assert_eq!(excel.decimal, DecimalStyle::Comma);
}

#[test]
fn parses_values_of_a_row() {
    let r = read_bytes(&fixture("clientes_excel_cp1252.csv"), &ReadOptions::default());
    let row = &r.rows[0];
    assert_eq!(row.line, 2);
    assert_eq!(row.debtor.id.as_str(), "C0000001");
    assert_eq!(row.debtor.first_name, "Martín");
    assert_eq!(row.debtor.phone.as_ref().unwrap().e164(), "+56968282330");
    assert_eq!(row.debtor.country, recaudo_domain::Country::Chile);
    assert_eq!(row.credit.balance_total, dec("5462006.00"));
    assert_eq!(row.credit.installment, dec("287474"));
    assert_eq!(row.credit.due_date, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    let adv = row.advisor.as_ref().unwrap();
    assert_eq!((adv.first_name.as_str(), adv.phone.e164()), ("Valentina", "+525544939092"));
    assert_eq!(adv.supervisor_last_name, "Martínez");
}

#[test]
fn legacy_files_have_no_advisor() {
    let r = read_bytes(&fixture("clientes_legacy.csv"), &ReadOptions::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.rows.len(), 12);
    assert!(r.rows.iter().all(|row| row.advisor.is_none()));
    assert!(!r.shape.unwrap().has_advisor_columns);
    // A debtor without phone is valid (there is nothing to send them by SMS, which is the scheduler's business).
    assert!(r.rows.iter().any(|row| row.debtor.phone.is_none()));
}

#[test]
fn unknown_columns_become_attributes() {
    let r = read_bytes(&fixture("clients_english_bom.csv"), &ReadOptions::default());
    assert_eq!(r.shape.unwrap().extra_columns, vec!["segmento".to_string()]);
    assert!(r.rows.iter().all(|row| row.extra.contains_key("segmento")));
}

#[test]
fn bad_rows_are_reported_by_line_and_column_and_good_rows_kept() {
    let r = read_bytes(&fixture("clientes_con_errores.csv"), &ReadOptions::default());
    let expected: BTreeSet<(u64, String)> = String::from_utf8(fixture("clientes_con_errores.expected.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("bad line "))
        .map(|l| {
            let (line, col) = l.split_once(": ").unwrap();
            (line.parse().unwrap(), col.to_string())
        })
        .collect();
    let got: BTreeSet<(u64, String)> = r.errors.iter().map(|e| (e.line, e.column.clone())).collect();
    assert_eq!(got, expected, "errors: {:#?}", r.errors);
    let summary = r.summary.unwrap();
    assert_eq!(summary.rows_rejected as usize, expected.len());
    assert_eq!(summary.rows_valid as usize, r.rows.len());
    assert_eq!(summary.rows_total, summary.rows_valid + summary.rows_rejected);
    // The quoted field with delimiter, quotes and a newline is one valid row starting on line 21.
    let quoted = r.rows.iter().find(|row| row.debtor.id.as_str() == "C0000099").unwrap();
    assert_eq!(quoted.line, 21);
    assert_eq!(quoted.debtor.city, "Santiago, \"centro\"\nsegunda línea");
    // Rows after the multi-line one keep their physical line numbers.
    assert_eq!(r.rows.iter().find(|row| row.credit.id.as_str() == "CR-0000008-1").unwrap().line, 23);
}

#[test]
fn whole_file_problems_are_file_errors() {
    let opts = ReadOptions::default();
    assert_eq!(read_bytes(b"", &opts).summary, Err(FileError::Empty));
    assert!(matches!(read_bytes(b"PK\x03\x04\x14\x00\x00\x00binary", &opts).summary, Err(FileError::Binary(_))));
    let header_only = "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\r\n";
    assert_eq!(read_bytes(header_only.as_bytes(), &opts).summary, Err(FileError::NoRows));
    assert!(matches!(read_bytes(b"foo,bar\n1,2\n", &opts).summary, Err(FileError::MissingColumns(_))));
}

#[test]
fn truncated_file_reports_the_cut_row() {
    let full = fixture("clientes_asesores.csv");
    let cut = &full[..full.len() - 40];
    let r = read_bytes(cut, &ReadOptions::default());
    assert_eq!(r.rows.len(), 11);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].line, 13);
    assert!(r.errors[0].reason.contains("columns"), "{:?}", r.errors[0]);
}

#[test]
fn dias_atraso_is_computed_when_missing() {
    let csv = "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\n\
               C1,Ana,K1,COP,100,10,2026-11-10,CO\n";
    let r = read_bytes(csv.as_bytes(), &ReadOptions::default());
    assert_eq!(r.rows[0].credit.days_past_due, 10);
}

#[test]
fn a_dias_atraso_that_disagrees_with_the_dates_is_reported_and_computed() {
    let csv = "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais,dias_atraso\n\
               C1,Ana,K1,COP,100,10,2026-11-10,CO,10\n\
               C2,Ana,K2,COP,100,10,2026-11-10,CO,12\n";
    let r = read_bytes(csv.as_bytes(), &ReadOptions::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.rows.iter().map(|r| r.credit.days_past_due).collect::<Vec<_>>(), vec![10, 10]);
    assert_eq!(r.warnings.len(), 1);
    assert_eq!((r.warnings[0].line, r.warnings[0].column.as_str()), (3, "dias_atraso"));
    assert!(r.warnings[0].reason.contains("12") && r.warnings[0].reason.contains("give 10"), "{:?}", r.warnings[0]);
}

#[test]
fn advisor_ids_from_the_file_are_kept() {
    let csv = "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais,asesor_id,asesor_nombre,asesor_telefono\n\
               C1,Ana,K1,COP,100,10,2026-11-10,CO,A-17,Luis,3001234567\n";
    let r = read_bytes(csv.as_bytes(), &ReadOptions::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.rows[0].advisor.as_ref().unwrap().advisor_ref.as_deref(), Some("A-17"));
}

#[test]
fn options_override_detection() {
    let csv = "id_cliente|nombre|id_credito|moneda|saldo_total|saldo_vencido|fecha_vencimiento|pais|dias_atraso\n\
               C1|Ana|K1|USD|1,234|0|11/02/2026|US|0\n";
    let opts = ReadOptions {
        delimiter: Some('|'),
        date_order: Some(DateOrder::MonthFirst),
        decimal: Some(DecimalStyle::Point),
        ..Default::default()
    };
    let r = read_bytes(csv.as_bytes(), &opts);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.rows[0].credit.balance_total, dec("1234"));
    assert_eq!(r.rows[0].credit.due_date, NaiveDate::from_ymd_opt(2026, 11, 2).unwrap());
}

#[test]
fn crlf_line_numbers() {
    let r = read_bytes(b"id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais\r\nC1,Ana,K1,COP,100,10,2026-11-10,CO\r\nC2,Ana,K2,COP,100,10,2026-11-10,CO\r\n", &ReadOptions::default());
    assert_eq!(r.rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3]);
}

#[test]
fn a_nul_byte_in_any_field_is_a_row_error_with_its_column() {
    let file = "id_cliente,nombre,id_credito,moneda,saldo_total,saldo_vencido,fecha_vencimiento,pais,segmento\n\
                C1,Ana\0Luz,CR-1,COP,100,0,2026-12-01,CO,A\n\
                C2,Beto,CR-2,COP,100,0,2026-12-01,CO,B\0\n\
                C3,Caro,CR-3,COP,100,0,2026-12-01,CO,C\n";
    // A NUL near the start makes the sniffer call the whole file binary; with the encoding given (or a NUL beyond
    // the sniffed sample) the rows are read, and the row check is what keeps the NUL out of the portfolio.
    let options = ReadOptions { encoding: Some("utf-8".into()), ..ReadOptions::default() };
    let r = read_bytes(file.as_bytes(), &options);
    let got: Vec<(u64, &str)> = r.errors.iter().map(|e| (e.line, e.column.as_str())).collect();
    assert_eq!(got, vec![(2, "nombre"), (3, "segmento")], "{:?} {:?} {:?}", r.errors, r.summary, r.rows.len());
    assert!(r.errors.iter().all(|e| e.reason.contains("NUL")));
    assert_eq!(r.rows.len(), 1, "the good row is kept");
}
