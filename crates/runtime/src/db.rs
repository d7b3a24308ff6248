//! The database pool and per-service migrations. Every service owns one PostgreSQL schema and its migrations;
//! applied versions are recorded in `<schema>._migrations` so services migrate independently.

use std::borrow::Cow;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: Cow<'static, str>,
}

impl Migration {
    pub fn new(version: i64, name: &'static str, sql: impl Into<Cow<'static, str>>) -> Self {
        Self { version, name, sql: sql.into() }
    }

    fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "migration {version} ({name}) of schema {schema} was changed after it was applied; add a new migration instead"
    )]
    Changed { schema: String, version: i64, name: String },
    #[error("migration {version} ({name}) of schema {schema} failed: {source}")]
    Failed { schema: String, version: i64, name: String, source: sqlx::Error },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Creates the database named in `url` when it does not exist, connecting to the server's `postgres` database to
/// do so. Lets `recaudo migrate` work against a fresh server.
pub async fn ensure_database(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    let Some(name) = options.get_database().map(str::to_string) else { return Ok(()) };
    let mut admin = options.clone().database("postgres").connect().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        sqlx::query(&format!("CREATE DATABASE \"{quoted}\"")).execute(&mut admin).await?;
    }
    Ok(())
}

pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(10)).connect(url).await
}

/// Applies the migrations of `schema` that are not applied yet, in one transaction under an advisory lock, so
/// several replicas starting at once do not race. Returns how many were applied.
pub async fn migrate(pool: &PgPool, schema: &str, migrations: &[Migration]) -> Result<usize, MigrateError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('recaudo-migrate:' || $1))")
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}._migrations (
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ))
    .execute(&mut *tx)
    .await?;
    let applied =
        sqlx::query(&format!("SELECT version, checksum FROM {schema}._migrations")).fetch_all(&mut *tx).await?;
    let mut count = 0;
    for m in migrations {
        let known = applied.iter().find(|r| r.get::<i64, _>("version") == m.version);
        match known {
            Some(row) if row.get::<String, _>("checksum") == m.checksum() => continue,
            Some(_) => {
                return Err(MigrateError::Changed { schema: schema.into(), version: m.version, name: m.name.into() })
            }
            None => {}
        }
        sqlx::raw_sql(&m.sql).execute(&mut *tx).await.map_err(|source| MigrateError::Failed {
            schema: schema.into(),
            version: m.version,
            name: m.name.into(),
            source,
        })?;
        sqlx::query(&format!("INSERT INTO {schema}._migrations (version, name, checksum) VALUES ($1, $2, $3)"))
            .bind(m.version)
            .bind(m.name)
            .bind(m.checksum())
            .execute(&mut *tx)
            .await?;
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

/// Whether every migration of `schema` is applied (readiness).
pub async fn is_migrated(pool: &PgPool, schema: &str, migrations: &[Migration]) -> Result<bool, sqlx::Error> {
    let latest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("{schema}._migrations"))
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(false);
    }
    let applied: Option<i64> =
        sqlx::query_scalar(&format!("SELECT max(version) FROM {schema}._migrations")).fetch_one(pool).await?;
    Ok(applied.unwrap_or(0) >= latest)
}
