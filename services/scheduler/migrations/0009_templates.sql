-- Message templates managers write. Every save is a new version; the latest version of a name is in force, and a
-- name keeps the channel of its first version (strategies name templates and rely on it). A saved template named
-- like a built-in one takes its place.
CREATE TABLE scheduler.templates (
    name       TEXT        NOT NULL,
    version    INT         NOT NULL,
    channel    TEXT        NOT NULL,
    source     JSONB       NOT NULL,
    saved_at   TIMESTAMPTZ NOT NULL,
    saved_by   TEXT        NOT NULL,
    PRIMARY KEY (name, version)
);
