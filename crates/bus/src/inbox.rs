//! Consumer-side de-duplication: a consumer records `(consumer, event_id)` in the same transaction as its effect
//! and skips an event it has already recorded.

use sqlx::PgConnection;
use uuid::Uuid;

/// DDL of the outbox and inbox tables, created in every service's schema by its first migration.
pub fn ddl(schema: &str) -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    seq         BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE,
    subject     TEXT NOT NULL,
    headers     JSONB NOT NULL DEFAULT '{{}}',
    payload     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.inbox (
    consumer     TEXT NOT NULL,
    event_id     UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"#
    )
}

/// A later migration of every service's outbox: it drops the unique key on `event_id`. Event ids are minted fresh
/// for every message, so the key guarded nothing, and keeping it cost every event an index entry to write and clean.
pub fn outbox_without_event_key(schema: &str) -> String {
    format!("ALTER TABLE {schema}.outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key;")
}

/// Records that `consumer` handles `event_id` in the caller's transaction. Returns `false` when it was already
/// handled: the caller then does nothing and lets the transaction go.
pub async fn claim(conn: &mut PgConnection, schema: &str, consumer: &str, event_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = format!("INSERT INTO {schema}.inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING");
    let done = sqlx::query(&sql).bind(consumer).bind(event_id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}
