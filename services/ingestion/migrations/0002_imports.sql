-- Import jobs and the row errors reported to the lender. Rows themselves are not kept here: valid rows travel to
-- portfolio as `import.rows` events, and the uploaded file is not stored.
CREATE TABLE ingestion.imports (
    id             UUID PRIMARY KEY,
    file_name      TEXT,
    content_sha256 TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    mode           TEXT NOT NULL CHECK (mode IN ('full', 'delta')),
    as_of          DATE NOT NULL,
    options        JSONB NOT NULL DEFAULT '{}',
    state          TEXT NOT NULL CHECK (state IN ('processing', 'completed', 'failed')),
    -- Within `processing`: reading the file, or waiting for portfolio to apply it.
    stage          TEXT NOT NULL CHECK (stage IN ('reading', 'applying', 'done')),
    encoding       TEXT,
    delimiter      TEXT,
    rows_total     BIGINT NOT NULL DEFAULT 0,
    rows_valid     BIGINT NOT NULL DEFAULT 0,
    rows_rejected  BIGINT NOT NULL DEFAULT 0,
    batches        INT NOT NULL DEFAULT 0,
    error          TEXT,
    -- The import's options (after applying a profile) and the profile's name, if one was used.
    profile        TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    completed_at   TIMESTAMPTZ
);
CREATE INDEX imports_created_at ON ingestion.imports (created_at DESC);
CREATE INDEX imports_content ON ingestion.imports (content_sha256, mode);
CREATE INDEX imports_stale ON ingestion.imports (updated_at) WHERE state = 'processing' AND stage = 'reading';

CREATE TABLE ingestion.row_errors (
    import_id   UUID NOT NULL REFERENCES ingestion.imports (id) ON DELETE CASCADE,
    seq         BIGSERIAL,
    line        BIGINT NOT NULL,
    column_name TEXT NOT NULL,
    reason      TEXT NOT NULL,
    -- `error`: the row was rejected; `warning`: the row was imported, but something in it deserves a look.
    severity    TEXT NOT NULL DEFAULT 'error' CHECK (severity IN ('error', 'warning')),
    PRIMARY KEY (import_id, seq)
);

-- Named import profiles: how to read a lender's files (column mapping, encoding, delimiter, formats).
CREATE TABLE ingestion.profiles (
    name       TEXT PRIMARY KEY,
    options    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
