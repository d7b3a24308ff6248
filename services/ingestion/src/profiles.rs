//! Import profiles: a lender names once how its files are to be read (column mapping, encoding, delimiter, date
//! order, decimal convention, default country) and reuses it by name from the CLI and the API.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::file::{Field, ReadOptions};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile names are 1 to 64 characters of a-z, 0-9, '-' and '_', got {0:?}")]
    BadName(String),
    #[error("column {column:?} is mapped to {field:?}, which is not a field (see README, \"The client file\")")]
    UnknownField { column: String, field: String },
    #[error("column name {column:?} {reason}")]
    BadColumn { column: String, reason: String },
    #[error("unknown encoding {0:?}")]
    UnknownEncoding(String),
    #[error("the delimiter must be one printable ASCII character or a tab, got {0:?}")]
    BadDelimiter(char),
    #[error("no import profile named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Serialize)]
pub struct Profile {
    pub name: String,
    pub options: ReadOptions,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn check_name(name: &str) -> Result<(), ProfileError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ProfileError::BadName(name.to_string()))
    }
}

/// Checks what a profile says before it is stored, so a bad profile fails when it is saved, not at import time.
pub fn validate(options: &ReadOptions) -> Result<(), ProfileError> {
    for (column, field) in &options.columns {
        if let Err(e) = recaudo_domain::text::check_text(column, 200) {
            return Err(ProfileError::BadColumn { column: column.escape_debug().to_string(), reason: e.to_string() });
        }
        if Field::named(field).is_none() {
            return Err(ProfileError::UnknownField { column: column.clone(), field: field.clone() });
        }
    }
    if let Some(d) = options.delimiter.filter(|d| !d.is_ascii() || (d.is_ascii_control() && *d != '\t')) {
        return Err(ProfileError::BadDelimiter(d));
    }
    if let Some(enc) = &options.encoding {
        if encoding_rs::Encoding::for_label(enc.as_bytes()).is_none() {
            return Err(ProfileError::UnknownEncoding(enc.clone()));
        }
    }
    Ok(())
}

pub async fn put(pool: &PgPool, name: &str, options: &ReadOptions, now: DateTime<Utc>) -> Result<(), ProfileError> {
    check_name(name)?;
    validate(options)?;
    let json = serde_json::to_value(options).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO ingestion.profiles (name, options, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (name) DO UPDATE SET options = EXCLUDED.options, updated_at = EXCLUDED.updated_at",
    )
    .bind(name)
    .bind(json)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, name: &str) -> Result<Profile, ProfileError> {
    check_name(name)?;
    let row: Option<(String, serde_json::Value, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as("SELECT name, options, created_at, updated_at FROM ingestion.profiles WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    let (name, options, created_at, updated_at) = row.ok_or_else(|| ProfileError::NotFound(name.to_string()))?;
    let options = serde_json::from_value(options).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Profile { name, options, created_at, updated_at })
}

pub async fn list(pool: &PgPool) -> Result<Vec<Profile>, ProfileError> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM ingestion.profiles ORDER BY name").fetch_all(pool).await?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        out.push(get(pool, &n).await?);
    }
    Ok(out)
}

pub async fn delete(pool: &PgPool, name: &str) -> Result<(), ProfileError> {
    check_name(name)?;
    let done = sqlx::query("DELETE FROM ingestion.profiles WHERE name = $1").bind(name).execute(pool).await?;
    if done.rows_affected() == 0 {
        return Err(ProfileError::NotFound(name.to_string()));
    }
    Ok(())
}

/// The profile's options, with whatever the request states explicitly taking precedence.
pub fn merge(profile: ReadOptions, explicit: ReadOptions) -> ReadOptions {
    let mut columns = profile.columns;
    columns.extend(explicit.columns);
    ReadOptions {
        columns,
        encoding: explicit.encoding.or(profile.encoding),
        delimiter: explicit.delimiter.or(profile.delimiter),
        date_order: explicit.date_order.or(profile.date_order),
        decimal: explicit.decimal.or(profile.decimal),
        default_country: explicit.default_country.or(profile.default_country),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::DecimalStyle;

    #[test]
    fn names_and_fields_are_checked() {
        assert!(check_name("banco-x_2026").is_ok());
        assert!(check_name("Banco X").is_err());
        let mut o = ReadOptions::default();
        o.columns.insert("Nro".into(), "id_cliente".into());
        assert!(validate(&o).is_ok());
        o.columns.insert("Otro".into(), "favourite_colour".into());
        assert!(matches!(validate(&o), Err(ProfileError::UnknownField { .. })));
    }

    #[test]
    fn explicit_options_win_over_the_profile() {
        let profile = ReadOptions { decimal: Some(DecimalStyle::Comma), delimiter: Some(';'), ..Default::default() };
        let explicit = ReadOptions { delimiter: Some('|'), ..Default::default() };
        let merged = merge(profile, explicit);
        assert_eq!((merged.delimiter, merged.decimal), (Some('|'), Some(DecimalStyle::Comma)));
    }
}
