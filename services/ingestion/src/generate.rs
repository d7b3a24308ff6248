//! `recaudo gen`: realistic client files of any size, for demos and benchmarks. Several countries, one to three
//! credits per debtor, advisors with their supervisors; deterministic for a given seed.

use std::io::Write;

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FIRST: &[&str] = &[
    "María",
    "José",
    "Juan",
    "Ana",
    "Luis",
    "Carmen",
    "Carlos",
    "Lucía",
    "Jorge",
    "Sofía",
    "Pedro",
    "Valentina",
    "Diego",
    "Camila",
    "Andrés",
    "Isabel",
    "Martín",
    "Paula",
    "Tomás",
    "Mónica",
    "Álvaro",
    "Inés",
    "Ramón",
    "Núria",
];
const LAST: &[&str] = &[
    "García",
    "Rodríguez",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Muñoz",
    "Rojas",
    "Peña",
    "Ibáñez",
    "Castaño",
    "Quiñones",
    "Zúñiga",
];
const PRODUCTS: &[&str] = &["Tarjeta", "Consumo", "Nómina", "Microcrédito", "Vehículo"];

/// Per country: code, currency, document type, city, mobile prefix and national length, typical credit size.
struct CountryShape {
    code: &'static str,
    currency: &'static str,
    document: &'static str,
    cities: &'static [&'static str],
    mobile: fn(&mut StdRng) -> String,
    typical_balance: f64,
    decimals: u32,
}

const COUNTRIES: &[CountryShape] = &[
    CountryShape {
        code: "CO",
        currency: "COP",
        document: "CC",
        cities: &["Bogotá", "Medellín", "Cali"],
        mobile: |r| format!("+573{:02}{:07}", r.random_range(0..=50), r.random_range(0..10_000_000)),
        typical_balance: 4_000_000.0,
        decimals: 0,
    },
    CountryShape {
        code: "MX",
        currency: "MXN",
        document: "CURP",
        cities: &["Ciudad de México", "Guadalajara", "Monterrey"],
        mobile: |r| format!("+5255{:08}", r.random_range(0..100_000_000)),
        typical_balance: 40_000.0,
        decimals: 2,
    },
    CountryShape {
        code: "CL",
        currency: "CLP",
        document: "RUT",
        cities: &["Santiago", "Valparaíso", "Concepción"],
        mobile: |r| format!("+569{:08}", r.random_range(0..100_000_000)),
        typical_balance: 2_000_000.0,
        decimals: 0,
    },
    CountryShape {
        code: "PE",
        currency: "PEN",
        document: "DNI",
        cities: &["Lima", "Arequipa", "Trujillo"],
        mobile: |r| format!("+519{:08}", r.random_range(0..100_000_000)),
        typical_balance: 15_000.0,
        decimals: 2,
    },
];

const HEADER: &str = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,moneda,\
saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,asesor_apellido,asesor_telefono,\
supervisor_nombre,supervisor_apellido";

pub struct GenOptions {
    pub rows: u64,
    pub seed: u64,
    pub as_of: NaiveDate,
    /// Debtors per advisor; advisors per supervisor is fixed at ten.
    pub debtors_per_advisor: u64,
}

/// Writes `rows` credit rows (plus the header) to `out`; returns how many debtors they belong to.
pub fn write_client_file(out: &mut impl Write, options: &GenOptions) -> std::io::Result<u64> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    writeln!(out, "{HEADER}")?;
    let mut written = 0u64;
    let mut debtor = 0u64;
    while written < options.rows {
        debtor += 1;
        let country = &COUNTRIES[rng.random_range(0..COUNTRIES.len())];
        let first = FIRST[rng.random_range(0..FIRST.len())];
        let last = format!("{} {}", LAST[rng.random_range(0..LAST.len())], LAST[rng.random_range(0..LAST.len())]);
        let phone = if rng.random_bool(0.95) { (country.mobile)(&mut rng) } else { String::new() };
        let email = if rng.random_bool(0.6) { format!("cliente{debtor}@example.com") } else { String::new() };
        let document = rng.random_range(10_000_000..99_999_999u64);
        let city = country.cities[rng.random_range(0..country.cities.len())];
        // Advisors serve debtors of any country; their number says where they sit.
        let advisor = (debtor - 1) / options.debtors_per_advisor.max(1);
        let supervisor = advisor / 10;
        let advisor_country = &COUNTRIES[(advisor % COUNTRIES.len() as u64) as usize];
        let advisor_phone = advisor_phone(advisor_country.code, advisor);
        let credits = 1 + rng.random_range(0..3u64).min(rng.random_range(0..3u64));
        for k in 1..=credits.min(options.rows - written) {
            let scale = 10f64.powi(country.decimals as i32);
            let total = (country.typical_balance * rng.random_range(0.1..3.0) * scale).round() / scale;
            let dpd: i64 = if rng.random_bool(0.45) { 0 } else { rng.random_range(1..400) };
            let overdue = if dpd == 0 { 0.0 } else { (total * rng.random_range(0.02..0.6) * scale).round() / scale };
            let installment = (total / rng.random_range(6.0..48.0) * scale).round() / scale;
            let due = if dpd == 0 {
                options.as_of + Duration::days(rng.random_range(0..30))
            } else {
                options.as_of - Duration::days(dpd)
            };
            let d = country.decimals as usize;
            writeln!(
                out,
                "C{debtor:08},{},{document},{first},{last},{phone},{email},CR-{debtor:08}-{k},{},{},{total:.d$},{overdue:.d$},{installment:.d$},{},{},{},{},{},{},{advisor_phone},{},{}",
                country.document,
                PRODUCTS[rng.random_range(0..PRODUCTS.len())],
                country.currency,
                due.format("%Y-%m-%d"),
                dpd.max(0),
                country.code,
                city,
                FIRST[(advisor % FIRST.len() as u64) as usize],
                LAST[(advisor / 3 % LAST.len() as u64) as usize],
                FIRST[(supervisor * 7 % FIRST.len() as u64) as usize],
                LAST[(supervisor * 5 % LAST.len() as u64) as usize],
            )?;
            written += 1;
        }
    }
    Ok(debtor)
}

/// A stable, valid mobile number per advisor (its identity is its phone).
fn advisor_phone(country: &str, advisor: u64) -> String {
    let n = advisor % 10_000_000;
    match country {
        "CO" => format!("+57310{n:07}"),
        "MX" => format!("+5256{n:08}"),
        "CL" => format!("+5698{n:07}"),
        _ => format!("+5198{n:07}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{self, AsOf, ReadOptions};

    #[test]
    fn generated_files_read_back_without_errors() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut buf = Vec::new();
        let debtors =
            write_client_file(&mut buf, &GenOptions { rows: 2000, seed: 7, as_of, debtors_per_advisor: 50 }).unwrap();
        assert!(debtors > 900 && debtors < 2000, "{debtors} debtors for 2000 credits");
        let (mut valid, mut problems) = (0, Vec::new());
        let summary = file::read(
            buf.as_slice(),
            &ReadOptions::default(),
            AsOf(as_of),
            |_| {},
            |r| {
                problems.extend(r.warnings);
                match r.result {
                    Ok(_) => valid += 1,
                    Err(e) => problems.extend(e),
                }
                std::ops::ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert!(problems.is_empty(), "{:?}", &problems[..problems.len().min(5)]);
        assert_eq!((summary.rows_total, valid), (2000, 2000));
        let mut again = Vec::new();
        write_client_file(&mut again, &GenOptions { rows: 2000, seed: 7, as_of, debtors_per_advisor: 50 }).unwrap();
        assert_eq!(buf, again, "deterministic for a seed");
    }
}
