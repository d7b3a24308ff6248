//! Header names → fields. Names are matched case-, accent-, space- and underscore-insensitively, with Spanish
//! variants and English aliases; columns that match nothing are kept as debtor attributes.

use std::collections::BTreeMap;

use recaudo_domain::text::fold_key;

use super::FileError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    IdCliente,
    TipoDocumento,
    NumeroDocumento,
    Nombre,
    Apellido,
    Telefono,
    Email,
    IdCredito,
    Producto,
    Moneda,
    SaldoTotal,
    SaldoVencido,
    Cuota,
    FechaVencimiento,
    DiasAtraso,
    Pais,
    Ciudad,
    AsesorNombre,
    AsesorApellido,
    AsesorTelefono,
    SupervisorNombre,
    SupervisorApellido,
    AsesorId,
    SupervisorId,
}

/// Every field with its canonical column name and accepted aliases (already folded), and whether a file must have it.
pub const KNOWN_FIELDS: &[(Field, &str, bool, &[&str])] = &[
    (
        Field::IdCliente,
        "id_cliente",
        true,
        &["cliente", "codigocliente", "clienteid", "customerid", "clientid", "debtorid"],
    ),
    (Field::TipoDocumento, "tipo_documento", false, &["tipodoc", "tipoid", "documenttype", "idtype"]),
    (
        Field::NumeroDocumento,
        "numero_documento",
        false,
        &["documento", "nrodocumento", "numdocumento", "nodocumento", "documentnumber", "idnumber"],
    ),
    (Field::Nombre, "nombre", true, &["nombres", "firstname", "name", "givenname"]),
    (Field::Apellido, "apellido", false, &["apellidos", "lastname", "surname", "familyname"]),
    (
        Field::Telefono,
        "telefono",
        false,
        &["celular", "movil", "telefonocelular", "phone", "mobile", "phonenumber", "mobilephone"],
    ),
    (Field::Email, "email", false, &["correo", "correoelectronico", "mail", "emailaddress"]),
    (
        Field::IdCredito,
        "id_credito",
        true,
        &["credito", "numerocredito", "nrocredito", "creditid", "loanid", "accountid", "idcuenta"],
    ),
    (Field::Producto, "producto", false, &["tipoproducto", "product", "producttype"]),
    (Field::Moneda, "moneda", true, &["divisa", "currency"]),
    (
        Field::SaldoTotal,
        "saldo_total",
        true,
        &["saldo", "totalbalance", "balance", "outstandingbalance", "outstanding"],
    ),
    (
        Field::SaldoVencido,
        "saldo_vencido",
        true,
        &["montovencido", "overdueamount", "pastdueamount", "amountoverdue", "amountpastdue"],
    ),
    (Field::Cuota, "cuota", false, &["valorcuota", "installment", "installmentamount"]),
    (Field::FechaVencimiento, "fecha_vencimiento", true, &["fechadevencimiento", "vencimiento", "duedate"]),
    (
        Field::DiasAtraso,
        "dias_atraso",
        false,
        &["diasdeatraso", "diasmora", "diasdemora", "daysoverdue", "dayspastdue", "dpd"],
    ),
    (Field::Pais, "pais", true, &["country", "countrycode"]),
    (Field::Ciudad, "ciudad", false, &["city"]),
    (Field::AsesorNombre, "asesor_nombre", false, &["nombreasesor", "advisorfirstname", "advisorname"]),
    (Field::AsesorApellido, "asesor_apellido", false, &["apellidoasesor", "advisorlastname"]),
    (Field::AsesorTelefono, "asesor_telefono", false, &["telefonoasesor", "celularasesor", "advisorphone"]),
    (
        Field::SupervisorNombre,
        "supervisor_nombre",
        false,
        &["nombresupervisor", "supervisorfirstname", "supervisorname"],
    ),
    (Field::SupervisorApellido, "supervisor_apellido", false, &["apellidosupervisor", "supervisorlastname"]),
    (Field::AsesorId, "asesor_id", false, &["idasesor", "codigoasesor", "advisorid", "advisorcode"]),
    (Field::SupervisorId, "supervisor_id", false, &["idsupervisor", "codigosupervisor", "supervisorcode"]),
];

impl Field {
    pub fn canonical(self) -> &'static str {
        KNOWN_FIELDS.iter().find(|(f, ..)| *f == self).map(|(_, name, ..)| *name).unwrap_or("?")
    }

    fn from_header(name: &str) -> Option<Field> {
        let key = fold_key(name);
        KNOWN_FIELDS
            .iter()
            .find(|(_, canonical, _, aliases)| fold_key(canonical) == key || aliases.contains(&key.as_str()))
            .map(|(f, ..)| *f)
    }

    /// The field a canonical name (`id_cliente`, ...) or alias designates.
    pub fn named(name: &str) -> Option<Field> {
        Field::from_header(name)
    }
}

/// Where each field sits in this file, and the names of the columns that are not fields.
#[derive(Debug)]
pub struct Layout {
    positions: Vec<(Field, usize)>,
    headers: Vec<String>,
    extras: Vec<(String, usize)>,
}

impl Layout {
    /// `mapping` (file column → field name, from an import profile) takes precedence over the built-in names.
    pub fn from_header(record: &csv::ByteRecord, mapping: &BTreeMap<String, String>) -> Result<Self, FileError> {
        let mapping: Vec<(String, Option<Field>)> =
            mapping.iter().map(|(column, field)| (fold_key(column), Field::named(field))).collect();
        let headers: Vec<String> = record.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
        let mut positions: Vec<(Field, usize)> = Vec::new();
        let mut extras = Vec::new();
        for (i, name) in headers.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let mapped = mapping.iter().find(|(column, _)| *column == fold_key(name)).map(|(_, f)| *f);
            match mapped.unwrap_or_else(|| Field::from_header(name)) {
                Some(field) => {
                    if let Some((_, first)) = positions.iter().find(|(f, _)| *f == field) {
                        return Err(FileError::DuplicateColumn {
                            field: field.canonical(),
                            first: headers[*first].clone(),
                            second: name.clone(),
                        });
                    }
                    positions.push((field, i));
                }
                None => extras.push((name.clone(), i)),
            }
        }
        let missing: Vec<String> = KNOWN_FIELDS
            .iter()
            .filter(|(f, _, required, _)| *required && !positions.iter().any(|(p, _)| p == f))
            .map(|(_, name, ..)| name.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(FileError::MissingColumns(missing));
        }
        Ok(Layout { positions, headers, extras })
    }

    pub fn index(&self, field: Field) -> Option<usize> {
        self.positions.iter().find(|(f, _)| *f == field).map(|(_, i)| *i)
    }

    /// The column name as written in the file (for error reports), or the canonical name if the file lacks it.
    pub fn column_name(&self, field: Field) -> String {
        self.index(field).map(|i| self.headers[i].clone()).unwrap_or_else(|| field.canonical().to_string())
    }

    pub fn width(&self) -> usize {
        self.headers.len()
    }

    pub fn header(&self, i: usize) -> &str {
        self.headers.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn extras(&self) -> &[(String, usize)] {
        &self.extras
    }

    pub fn extra_names(&self) -> Vec<String> {
        self.extras.iter().map(|(n, _)| n.clone()).collect()
    }

    pub fn has_advisor_columns(&self) -> bool {
        self.index(Field::AsesorTelefono).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(header: &[&str]) -> Result<Layout, FileError> {
        Layout::from_header(&csv::ByteRecord::from(header.to_vec()), &BTreeMap::new())
    }

    const REQUIRED: [&str; 8] =
        ["id_cliente", "nombre", "id_credito", "moneda", "saldo_total", "saldo_vencido", "fecha_vencimiento", "pais"];

    #[test]
    fn matches_case_accents_spacing_and_aliases() {
        let l = layout(&[
            "ID Cliente",
            "Nombre",
            "Crédito",
            "Currency",
            "Saldo_Total",
            "Overdue Amount",
            "Due Date",
            "PAÍS",
            "Teléfono",
        ])
        .unwrap();
        assert_eq!(l.index(Field::IdCliente), Some(0));
        assert_eq!(l.index(Field::IdCredito), Some(2));
        assert_eq!(l.index(Field::Moneda), Some(3));
        assert_eq!(l.index(Field::SaldoVencido), Some(5));
        assert_eq!(l.index(Field::Pais), Some(7));
        assert_eq!(l.index(Field::Telefono), Some(8));
        assert_eq!(l.column_name(Field::Telefono), "Teléfono");
        assert!(!l.has_advisor_columns());
    }

    #[test]
    fn a_profile_mapping_names_columns_the_aliases_do_not_know() {
        let mut header = REQUIRED.to_vec();
        header[0] = "Nro Deudor";
        let mapping = BTreeMap::from([("nro deudor".to_string(), "id_cliente".to_string())]);
        let l = Layout::from_header(&csv::ByteRecord::from(header), &mapping).unwrap();
        assert_eq!(l.index(Field::IdCliente), Some(0));
        assert_eq!(l.column_name(Field::IdCliente), "Nro Deudor");
    }

    #[test]
    fn keeps_unknown_columns_as_extras() {
        let mut h = REQUIRED.to_vec();
        h.push("segmento");
        h.push("");
        let l = layout(&h).unwrap();
        assert_eq!(l.extra_names(), vec!["segmento".to_string()]);
    }

    #[test]
    fn reports_missing_and_duplicate_columns() {
        match layout(&["id_cliente", "nombre"]) {
            Err(FileError::MissingColumns(m)) => {
                assert!(m.contains(&"id_credito".to_string()) && !m.contains(&"nombre".to_string()))
            }
            other => panic!("{other:?}"),
        }
        let mut h = REQUIRED.to_vec();
        h.push("Customer ID");
        assert!(matches!(layout(&h), Err(FileError::DuplicateColumn { field: "id_cliente", .. })));
    }
}
