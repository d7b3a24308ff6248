//! Service credentials for internal systems (a lender's ETL posting files, a warehouse reading events): created by
//! an admin with scopes, the secret shown once, only its SHA-256 kept, revocable.
//!
//! The secret is `rcd_` and 43 base64url characters (256 random bits), sent as `Authorization: Bearer rcd_...`.
//! The prefix tells a credential from a JWT without parsing either, and makes a leaked one easy to find by scanners.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::principal::Permission;

pub const PREFIX: &str = "rcd_";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Credential {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A credential just created, with its secret: the only time the secret exists outside the caller's hands.
#[derive(Debug, Serialize)]
pub struct Created {
    #[serde(flatten)]
    pub credential: Credential,
    pub secret: String,
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Validates a credential's name and scopes as an admin gives them.
pub fn parse_request(name: &str, scopes: &[String]) -> Result<(String, Vec<Permission>), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("name must be 1 to 100 characters without control characters".into());
    }
    if scopes.is_empty() {
        return Err("scopes must name at least one scope".into());
    }
    let mut parsed = Vec::new();
    for s in scopes {
        let p = Permission::parse_scope(s.trim())?;
        if !parsed.contains(&p) {
            parsed.push(p);
        }
    }
    Ok((name.to_string(), parsed))
}

pub async fn create(
    conn: &mut PgConnection,
    name: &str,
    scopes: &[Permission],
    at: DateTime<Utc>,
    by: &str,
) -> Result<Created, sqlx::Error> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let scopes: Vec<String> = scopes.iter().map(|p| p.as_str().to_string()).collect();
    let credential: Credential = sqlx::query_as(
        "INSERT INTO access.service_credentials (id, name, scopes, secret_sha256, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, scopes, created_at, created_by, revoked_at, revoked_by, last_used_at",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(&scopes)
    .bind(hash(&secret))
    .bind(at)
    .bind(by)
    .fetch_one(conn)
    .await?;
    Ok(Created { credential, secret })
}

pub async fn list(pool: &PgPool) -> Result<Vec<Credential>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, scopes, created_at, created_by, revoked_at, revoked_by, last_used_at
         FROM access.service_credentials ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await
}

/// Revokes a credential; `None` when there is no such credential, `Some(false)` when it was already revoked.
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
    by: &str,
) -> Result<Option<bool>, sqlx::Error> {
    let row: Option<(Option<DateTime<Utc>>,)> =
        sqlx::query_as("SELECT revoked_at FROM access.service_credentials WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        None => Ok(None),
        Some((Some(_),)) => Ok(Some(false)),
        Some((None,)) => {
            sqlx::query("UPDATE access.service_credentials SET revoked_at = $2, revoked_by = $3 WHERE id = $1")
                .bind(id)
                .bind(at)
                .bind(by)
                .execute(&mut *conn)
                .await?;
            Ok(Some(true))
        }
    }
}

/// The live credential whose secret is `secret`. `last_used_at` is kept to the minute, so that a busy system's
/// requests are reads, not a write each.
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<Option<(Uuid, String, Vec<Permission>)>, sqlx::Error> {
    let row: Option<(Uuid, String, Vec<String>, bool)> = sqlx::query_as(
        "SELECT id, name, scopes, last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
         FROM access.service_credentials WHERE secret_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(hash(secret))
    .fetch_optional(pool)
    .await?;
    if let Some((id, _, _, true)) = &row {
        sqlx::query("UPDATE access.service_credentials SET last_used_at = now() WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(row.map(|(id, name, scopes, _)| {
        let perms = scopes.iter().filter_map(|s| Permission::parse_scope(s).ok()).collect();
        (id, name, perms)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_known_scopes() {
        let (name, scopes) = parse_request(" etl ", &["payments:write".into(), "payments:write".into()]).unwrap();
        assert_eq!((name.as_str(), scopes), ("etl", vec![Permission::PaymentsWrite]));
        assert!(parse_request("etl", &[]).unwrap_err().contains("at least one"));
        assert!(parse_request("etl", &["root".into()]).unwrap_err().contains("unknown scope"));
        assert!(parse_request("a\0b", &["debtors:read".into()]).is_err());
    }
}
