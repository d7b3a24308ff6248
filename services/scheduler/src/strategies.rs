//! The strategy store: versioned documents, drafts and activation, for the API and the `recaudo strategies`
//! command alike; and the set of active strategies the planner decides with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use recaudo_bus::outbox::Outbox;
use recaudo_events::StrategyActivated;
use recaudo_strategy::{Document, Problem, Strategy, DEFAULT};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the document has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub name: String,
    pub version: i32,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
    /// The document as checked, and the text as written (on reads of one strategy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

type Row = (String, i32, String, DateTime<Utc>, String, Option<DateTime<Utc>>, Option<String>);
type RowWithDocument =
    (String, i32, String, DateTime<Utc>, String, Option<DateTime<Utc>>, Option<String>, serde_json::Value, String);

fn view((name, version, status, created_at, created_by, activated_at, activated_by): Row) -> VersionView {
    VersionView {
        name,
        version,
        status,
        created_at,
        created_by,
        activated_at,
        activated_by,
        document: None,
        source: None,
    }
}

const COLUMNS: &str = "name, version, status, created_at, created_by, activated_at, activated_by";

/// Checks `text` and stores it as the next draft version of `name`.
pub async fn put_draft(
    pool: &PgPool,
    name: &str,
    text: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<VersionView, StoreError> {
    let templates = crate::templates::catalogue(&mut *pool.acquire().await?).await?;
    let document = recaudo_strategy::parse(name, text, &templates).map_err(StoreError::Invalid)?;
    let document = serde_json::to_value(&document).map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
    let mut tx = pool.begin().await?;
    // Versions of one name are numbered in order, whoever writes at once.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('scheduler.strategy:' || $1, 0))")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO scheduler.strategies (name, version, document, source, status, created_at, created_by)
         SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, 'draft', $4, $5 FROM scheduler.strategies WHERE name = $1
         RETURNING {COLUMNS}"
    ))
    .bind(name)
    .bind(&document)
    .bind(text)
    .bind(now)
    .bind(by)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(view(row))
}

/// Activates a version (publishing `strategy.activated`) and retires the one it replaces; a version already active
/// is left as it is. Every debtor's plan is looked at again.
pub async fn activate(
    pool: &PgPool,
    outbox: &Outbox,
    name: &str,
    version: i32,
    by: &str,
    now: DateTime<Utc>,
) -> Result<VersionView, StoreError> {
    let mut tx = pool.begin().await?;
    // One activation at a time, so two strategies cannot both take a priority.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('scheduler.strategies', 0))").execute(&mut *tx).await?;
    let found: Option<(String, serde_json::Value)> =
        sqlx::query_as("SELECT status, document FROM scheduler.strategies WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, document)) = found else {
        return Err(StoreError::NotFound(format!("strategy {name} has no version {version}")));
    };
    match status.as_str() {
        "active" => return Ok(one(&mut tx, name, version).await?),
        "retired" => {
            return Err(StoreError::Conflict(format!(
                "{name}@{version} was retired; put its document again to make a new version, and activate that"
            )))
        }
        _ => {}
    }
    let document: Document =
        serde_json::from_value(document).map_err(|e| StoreError::Db(sqlx::Error::Decode(e.into())))?;
    // Checked again: a template it names may be gone since it was saved.
    Strategy::load(name, version, document.clone()).map_err(StoreError::Invalid)?;
    if let Some(segment) = &document.segment {
        let clash: Option<String> = sqlx::query_scalar(
            "SELECT name FROM scheduler.strategies
             WHERE status = 'active' AND name <> $1 AND (document->'segment'->>'priority')::bigint = $2",
        )
        .bind(name)
        .bind(segment.priority as i64)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(other) = clash {
            return Err(StoreError::Conflict(format!(
                "the active strategy {other} already has segment priority {}; segments are tried in priority order, \
                 so two cannot share one",
                segment.priority
            )));
        }
    }
    let replaces: Option<i32> = sqlx::query_scalar(
        "UPDATE scheduler.strategies SET status = 'retired' WHERE name = $1 AND status = 'active' RETURNING version",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE scheduler.strategies SET status = 'active', activated_at = $3, activated_by = $4
         WHERE name = $1 AND version = $2",
    )
    .bind(name)
    .bind(version)
    .bind(now)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    let event = StrategyActivated {
        name: name.to_string(),
        version,
        replaces,
        activated_by: by.to_string(),
        activated_at: now,
    };
    outbox.enqueue(&mut tx, now, event).await?;
    sqlx::query("UPDATE scheduler.plans SET next_at = LEAST(next_at, $1)").bind(now).execute(&mut *tx).await?;
    let activated = one(&mut tx, name, version).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(activated)
}

async fn one(conn: &mut PgConnection, name: &str, version: i32) -> Result<VersionView, sqlx::Error> {
    let row: Row =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM scheduler.strategies WHERE name = $1 AND version = $2"))
            .bind(name)
            .bind(version)
            .fetch_one(conn)
            .await?;
    Ok(view(row))
}

/// Every version of every strategy, newest first within a name; the built-in default is listed while no `default`
/// of the lender's is active.
pub async fn list(pool: &PgPool) -> Result<serde_json::Value, sqlx::Error> {
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM scheduler.strategies ORDER BY name, version DESC"))
            .fetch_all(pool)
            .await?;
    let mut by_name: Vec<(String, Vec<VersionView>)> = Vec::new();
    for r in rows.into_iter().map(view) {
        match by_name.last_mut() {
            Some((n, versions)) if *n == r.name => versions.push(r),
            _ => by_name.push((r.name.clone(), vec![r])),
        }
    }
    let builtin_in_force = !by_name.iter().any(|(n, v)| n == DEFAULT && v.iter().any(|x| x.status == "active"));
    let strategies: Vec<serde_json::Value> = by_name
        .into_iter()
        .map(|(name, versions)| {
            let active = versions.iter().find(|v| v.status == "active").map(|v| v.version);
            json!({ "name": name, "active_version": active, "versions": versions })
        })
        .collect();
    Ok(json!({ "strategies": strategies, "builtin_default_in_force": builtin_in_force }))
}

/// One strategy's versions with their documents (`version`: only that one).
pub async fn get(pool: &PgPool, name: &str, version: Option<i32>) -> Result<Vec<VersionView>, sqlx::Error> {
    let rows: Vec<RowWithDocument> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, document, source FROM scheduler.strategies
             WHERE name = $1 AND ($2::int IS NULL OR version = $2) ORDER BY version DESC"
    ))
    .bind(name)
    .bind(version)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(n, v, st, ca, cb, aa, ab, document, source)| VersionView {
            document: Some(document),
            source: Some(source),
            ..view((n, v, st, ca, cb, aa, ab))
        })
        .collect())
}

/// The strategies in force, in the order segments are tried (priority, then name), the default last. Compiled
/// versions are kept: a version never changes once active.
#[derive(Default)]
pub struct Active {
    compiled: Mutex<HashMap<(String, i32), Arc<Strategy>>>,
}

impl Active {
    pub async fn load(&self, conn: &mut PgConnection) -> Result<Vec<Arc<Strategy>>, sqlx::Error> {
        let rows: Vec<(String, i32, serde_json::Value)> =
            sqlx::query_as("SELECT name, version, document FROM scheduler.strategies WHERE status = 'active'")
                .fetch_all(conn)
                .await?;
        let mut out = Vec::with_capacity(rows.len() + 1);
        let mut cache = self.compiled.lock().expect("strategy cache");
        for (name, version, document) in rows {
            let key = (name.clone(), version);
            if let Some(s) = cache.get(&key) {
                out.push(s.clone());
                continue;
            }
            let loaded = serde_json::from_value::<Document>(document)
                .map_err(|e| vec![Problem { path: String::new(), line: None, reason: e.to_string() }])
                .and_then(|d| Strategy::load(&name, version, d));
            match loaded {
                Ok(s) => {
                    let s = Arc::new(s);
                    cache.insert(key, s.clone());
                    out.push(s);
                }
                // Not planned with, and said loudly; the debtors it held fall to the next segment or the default.
                Err(problems) => {
                    tracing::error!(strategy = %name, version, problems = ?problems, "active strategy no longer loads")
                }
            }
        }
        if !out.iter().any(|s| s.name == DEFAULT) {
            let builtin =
                cache.entry((DEFAULT.to_string(), 0)).or_insert_with(|| Arc::new(Strategy::builtin_default()));
            out.push(builtin.clone());
        }
        out.sort_by(|a, b| (a.priority(), &a.name).cmp(&(b.priority(), &b.name)));
        Ok(out)
    }
}
