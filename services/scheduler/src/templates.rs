//! The templates managers write, stored by the scheduler beside the strategies that name them. Every save is a
//! new version and the latest is in force: requests carry the saved template they were decided with
//! (`contact.requested.template_source`), so a dispatcher renders exactly what was checked, whichever version
//! is newer when it sends.

use chrono::{DateTime, Utc};
use recaudo_domain::Problem;
use recaudo_events::{Channel, TemplateSource};
use recaudo_templates::validate::{self, Checked};
use recaudo_templates::Catalogue;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the template has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A saved version, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub name: String,
    pub version: i32,
    pub channel: Channel,
    pub saved_at: DateTime<Utc>,
    pub saved_by: String,
    #[serde(flatten)]
    pub checked: Checked,
}

/// The catalogue in force: each saved name's latest version in front of the built-in ones.
pub async fn catalogue(conn: &mut PgConnection) -> Result<Catalogue, sqlx::Error> {
    let rows: Vec<(String, sqlx::types::Json<TemplateSource>)> =
        sqlx::query_as("SELECT DISTINCT ON (name) name, source FROM scheduler.templates ORDER BY name, version DESC")
            .fetch_all(conn)
            .await?;
    Ok(Catalogue::with_saved(rows.into_iter().map(|(name, source)| (name, source.0))))
}

/// Checks `source` whole and saves it as the next version of `name`.
pub async fn save(
    pool: &PgPool,
    name: &str,
    mut source: TemplateSource,
    by: &str,
    now: DateTime<Utc>,
    sms_segment_warning: usize,
) -> Result<Saved, SaveError> {
    let mut tx = pool.begin().await?;
    // Versions of one name are numbered in order, whoever writes at once.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('scheduler.template:' || $1, 0))")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let (latest, existing): (Option<i32>, Option<Channel>) = {
        let row: Option<(i32, String)> = sqlx::query_as(
            "SELECT version, channel FROM scheduler.templates WHERE name = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some((v, c)) => (Some(v), c.parse().ok()),
            None => (None, recaudo_templates::builtin(name).map(|b| b.channel)),
        }
    };
    let checked = validate::check(name, &source, existing, sms_segment_warning).map_err(SaveError::Invalid)?;
    source.version = latest.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO scheduler.templates (name, version, channel, source, saved_at, saved_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(name)
    .bind(source.version)
    .bind(source.channel.as_str())
    .bind(sqlx::types::Json(&source))
    .bind(now)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Saved {
        name: name.to_string(),
        version: source.version,
        channel: source.channel,
        saved_at: now,
        saved_by: by.to_string(),
        checked,
    })
}

/// One saved version, as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Version {
    pub version: i32,
    #[serde(skip)]
    pub source: sqlx::types::Json<TemplateSource>,
    pub saved_at: DateTime<Utc>,
    pub saved_by: String,
}

/// Every saved version of `name`, newest first.
pub async fn versions(pool: &PgPool, name: &str) -> Result<Vec<Version>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, source, saved_at, saved_by FROM scheduler.templates WHERE name = $1 ORDER BY version DESC",
    )
    .bind(name)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct Named {
    name: String,
    #[sqlx(flatten)]
    version: Version,
}

/// The latest saved version of every name, for the listing.
pub async fn latest(pool: &PgPool) -> Result<Vec<(String, Version)>, sqlx::Error> {
    let rows: Vec<Named> = sqlx::query_as(
        "SELECT DISTINCT ON (name) name, version, source, saved_at, saved_by FROM scheduler.templates
         ORDER BY name, version DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.version)).collect())
}
