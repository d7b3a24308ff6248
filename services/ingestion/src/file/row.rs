//! One CSV record → one [`PortfolioRow`], or every reason it is not one.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use recaudo_domain::phone::InvalidPhone;
use recaudo_domain::{Country, CreditId, Currency, DebtorId, PhoneNumber};
use recaudo_events::{AdvisorRecord, CreditRecord, DebtorRecord, PortfolioRow};
use rust_decimal::Decimal;

use super::columns::{Field, Layout};
use super::values::{self, DateOrder, DecimalStyle};
use super::{ReadRow, RowError};

pub struct RowParser<'a> {
    pub layout: &'a Layout,
    pub decimal: DecimalStyle,
    pub date_order: DateOrder,
    pub default_country: Option<Country>,
    pub as_of: NaiveDate,
    pub phones: PhoneCache,
}

/// Parsed phone numbers by (raw text, country). A file repeats the same few advisor numbers on every row, and a
/// debtor's number on each of their credits; parsing with libphonenumber's metadata is the costliest step of a row.
#[derive(Default)]
pub struct PhoneCache(
    std::cell::RefCell<std::collections::HashMap<(String, Country), Result<PhoneNumber, InvalidPhone>>>,
);

/// Entries kept before the cache starts over: bounds memory on files of millions of distinct numbers.
const PHONE_CACHE_LIMIT: usize = 50_000;

impl PhoneCache {
    fn parse(&self, raw: &str, country: Country) -> Result<PhoneNumber, InvalidPhone> {
        let key = (raw.to_string(), country);
        if let Some(hit) = self.0.borrow().get(&key) {
            return hit.clone();
        }
        let parsed = PhoneNumber::parse(raw, country);
        let mut map = self.0.borrow_mut();
        if map.len() >= PHONE_CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, parsed.clone());
        parsed
    }
}

/// Collects the errors (and warnings) of one row while its fields are parsed, so that every problem is reported at
/// once.
struct Errors<'a> {
    line: u64,
    layout: &'a Layout,
    list: Vec<RowError>,
    warnings: Vec<RowError>,
}

impl Errors<'_> {
    fn push(&mut self, field: Field, reason: impl Into<String>) {
        self.list.push(RowError { line: self.line, column: self.layout.column_name(field), reason: reason.into() });
    }

    fn warn(&mut self, field: Field, reason: impl Into<String>) {
        self.warnings.push(RowError { line: self.line, column: self.layout.column_name(field), reason: reason.into() });
    }

    fn check<T, E: std::fmt::Display>(&mut self, field: Field, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.push(field, e.to_string())).ok()
    }
}

const NUL_REASON: &str = "contains a NUL byte, which no text field may hold";

impl RowParser<'_> {
    pub fn parse(&self, line: u64, record: &csv::ByteRecord) -> ReadRow {
        let mut errors = Errors { line, layout: self.layout, list: Vec::new(), warnings: Vec::new() };
        if let Some(e) = self.check_width(line, record) {
            return ReadRow { result: Err(vec![e]), warnings: Vec::new() };
        }
        let mut text = |field: Field| -> String {
            match self.layout.index(field).and_then(|i| record.get(i)) {
                None => String::new(),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    // PostgreSQL cannot store a NUL: refused here, with its line and column, not later in portfolio.
                    Ok(s) if s.contains('\0') => {
                        errors.push(field, NUL_REASON);
                        // Read on without it, so the row's other checks speak only of real problems.
                        s.replace('\0', "").trim().to_string()
                    }
                    Ok(s) => s.trim().to_string(),
                    Err(_) => {
                        errors.push(field, "is not valid UTF-8 text (is the file in another encoding?)");
                        String::new()
                    }
                },
            }
        };
        let raw = RawRow {
            id_cliente: text(Field::IdCliente),
            tipo_documento: text(Field::TipoDocumento),
            numero_documento: text(Field::NumeroDocumento),
            nombre: text(Field::Nombre),
            apellido: text(Field::Apellido),
            telefono: text(Field::Telefono),
            email: text(Field::Email),
            id_credito: text(Field::IdCredito),
            producto: text(Field::Producto),
            moneda: text(Field::Moneda),
            saldo_total: text(Field::SaldoTotal),
            saldo_vencido: text(Field::SaldoVencido),
            cuota: text(Field::Cuota),
            fecha_vencimiento: text(Field::FechaVencimiento),
            dias_atraso: text(Field::DiasAtraso),
            pais: text(Field::Pais),
            ciudad: text(Field::Ciudad),
            asesor_nombre: text(Field::AsesorNombre),
            asesor_apellido: text(Field::AsesorApellido),
            asesor_telefono: text(Field::AsesorTelefono),
            asesor_id: text(Field::AsesorId),
            supervisor_id: text(Field::SupervisorId),
            supervisor_nombre: text(Field::SupervisorNombre),
            supervisor_apellido: text(Field::SupervisorApellido),
        };
        let row = self.build(line, &raw, record, &mut errors);
        let result = match row {
            Some(row) if errors.list.is_empty() => Ok(row),
            _ => Err(errors.list),
        };
        ReadRow { result, warnings: errors.warnings }
    }

    fn check_width(&self, line: u64, record: &csv::ByteRecord) -> Option<RowError> {
        let width = self.layout.width();
        if record.len() < width {
            let missing = self.layout.header(record.len()).to_string();
            return Some(RowError {
                line,
                column: missing,
                reason: format!("the row has {} columns, the header has {width}", record.len()),
            });
        }
        // Trailing empty cells are what spreadsheets leave behind; anything else beyond the header is a shifted row.
        if record.iter().skip(width).any(|f| !f.iter().all(u8::is_ascii_whitespace)) {
            return Some(RowError {
                line,
                column: String::new(),
                reason: format!("the row has {} columns, the header has {width}", record.len()),
            });
        }
        None
    }

    fn build(&self, line: u64, raw: &RawRow, record: &csv::ByteRecord, e: &mut Errors<'_>) -> Option<PortfolioRow> {
        let debtor_id = e.check(Field::IdCliente, DebtorId::parse(&raw.id_cliente));
        let credit_id = e.check(Field::IdCredito, CreditId::parse(&raw.id_credito));
        if raw.nombre.is_empty() {
            e.push(Field::Nombre, "is empty");
        }
        let country = if raw.pais.is_empty() {
            self.default_country.or_else(|| {
                e.push(Field::Pais, "is empty");
                None
            })
        } else {
            e.check(Field::Pais, raw.pais.parse::<Country>())
        };
        let phone = match (raw.telefono.is_empty(), country) {
            (true, _) => None,
            (false, Some(c)) => e.check(Field::Telefono, self.phones.parse(&raw.telefono, c).map(Some)).flatten(),
            (false, None) => None,
        };
        let email = if raw.email.is_empty() {
            None
        } else if email_address::EmailAddress::is_valid(&raw.email) {
            Some(raw.email.to_lowercase())
        } else {
            e.push(Field::Email, "is not a valid email address");
            None
        };
        let currency = e.check(Field::Moneda, raw.moneda.parse::<Currency>());
        let total = self.money(e, Field::SaldoTotal, &raw.saldo_total, true);
        let overdue = self.money(e, Field::SaldoVencido, &raw.saldo_vencido, true);
        let installment = self.money(e, Field::Cuota, &raw.cuota, false);
        if let (Some(t), Some(o)) = (total, overdue) {
            if o > t {
                e.push(Field::SaldoVencido, format!("overdue balance {o} exceeds the total balance {t}"));
            }
        }
        let due_date = e.check(Field::FechaVencimiento, values::date(&raw.fecha_vencimiento, self.date_order));
        // Days past due follow from the due date and the import's as-of date; the file's own figure is only checked.
        let days_past_due = due_date.map(|d| (self.as_of - d).num_days().max(0) as u32);
        if !raw.dias_atraso.is_empty() {
            match (raw.dias_atraso.parse::<u32>(), days_past_due) {
                (Ok(stated), Some(computed)) if stated != computed => e.warn(
                    Field::DiasAtraso,
                    format!(
                        "the file says {stated} days past due; the due date and as-of date {} give {computed}",
                        self.as_of
                    ),
                ),
                (Ok(_), _) => {}
                (Err(_), _) => {
                    e.push(Field::DiasAtraso, format!("{:?} is not a whole number of days", raw.dias_atraso))
                }
            }
        }
        let advisor = self.advisor(raw, country, e);
        let mut extra = BTreeMap::new();
        for (name, i) in self.layout.extras() {
            let Some(bytes) = record.get(*i) else { continue };
            let v = String::from_utf8_lossy(bytes).trim().to_string();
            if v.contains('\0') || name.contains('\0') {
                e.list.push(RowError { line, column: name.replace('\0', ""), reason: NUL_REASON.into() });
            } else if !v.is_empty() {
                extra.insert(name.clone(), v);
            }
        }

        Some(PortfolioRow {
            line,
            debtor: DebtorRecord {
                id: debtor_id?,
                document_type: raw.tipo_documento.clone(),
                document_number: raw.numero_documento.clone(),
                first_name: raw.nombre.clone(),
                last_name: raw.apellido.clone(),
                phone,
                email,
                country: country?,
                city: raw.ciudad.clone(),
            },
            credit: CreditRecord {
                id: credit_id?,
                product: raw.producto.clone(),
                currency: currency?,
                balance_total: total?,
                balance_overdue: overdue?,
                installment: installment.unwrap_or_default(),
                due_date: due_date?,
                days_past_due: days_past_due?,
            },
            advisor: advisor?,
            extra,
        })
    }

    fn money(&self, e: &mut Errors<'_>, field: Field, raw: &str, required: bool) -> Option<Decimal> {
        if raw.is_empty() && !required {
            return Some(Decimal::ZERO);
        }
        let value = e.check(field, values::amount(raw, self.decimal))?;
        if value.is_sign_negative() && !value.is_zero() {
            e.push(field, format!("is negative ({value})"));
            return None;
        }
        Some(value)
    }

    /// `Some(None)`: the row has no advisor; `None`: the advisor columns are there but wrong.
    fn advisor(&self, raw: &RawRow, country: Option<Country>, e: &mut Errors<'_>) -> Option<Option<AdvisorRecord>> {
        let any = [&raw.asesor_nombre, &raw.asesor_apellido, &raw.asesor_telefono].iter().any(|v| !v.is_empty());
        if !any {
            return Some(None);
        }
        let mut ok = true;
        if raw.asesor_nombre.is_empty() {
            e.push(Field::AsesorNombre, "is empty while other advisor columns are filled");
            ok = false;
        }
        let phone = if raw.asesor_telefono.is_empty() {
            e.push(Field::AsesorTelefono, "is empty while other advisor columns are filled");
            None
        } else {
            // Advisors may sit in another country than the debtor; without a country code, the debtor's is assumed.
            let region = country.unwrap_or(Country::Colombia);
            e.check(Field::AsesorTelefono, self.phones.parse(&raw.asesor_telefono, region))
        };
        if !ok {
            return None;
        }
        Some(Some(AdvisorRecord {
            first_name: raw.asesor_nombre.clone(),
            last_name: raw.asesor_apellido.clone(),
            phone: phone?,
            supervisor_first_name: raw.supervisor_nombre.clone(),
            supervisor_last_name: raw.supervisor_apellido.clone(),
            advisor_ref: (!raw.asesor_id.is_empty()).then(|| raw.asesor_id.clone()),
            supervisor_ref: (!raw.supervisor_id.is_empty()).then(|| raw.supervisor_id.clone()),
        }))
    }
}

struct RawRow {
    id_cliente: String,
    tipo_documento: String,
    numero_documento: String,
    nombre: String,
    apellido: String,
    telefono: String,
    email: String,
    id_credito: String,
    producto: String,
    moneda: String,
    saldo_total: String,
    saldo_vencido: String,
    cuota: String,
    fecha_vencimiento: String,
    dias_atraso: String,
    pais: String,
    ciudad: String,
    asesor_nombre: String,
    asesor_apellido: String,
    asesor_telefono: String,
    asesor_id: String,
    supervisor_id: String,
    supervisor_nombre: String,
    supervisor_apellido: String,
}
