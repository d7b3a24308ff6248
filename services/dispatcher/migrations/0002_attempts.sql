-- Contact attempts. An attempt is recorded before the provider is called, so a crash or a redelivery can never call
-- the provider twice for one requested contact (`contact_id` is unique).
CREATE TABLE dispatcher.attempts (
    id                  UUID PRIMARY KEY,
    contact_id          UUID NOT NULL UNIQUE,
    channel             TEXT NOT NULL,
    debtor_id           TEXT NOT NULL,
    credit_id           TEXT NOT NULL,
    advisor_id          UUID,
    to_address          TEXT NOT NULL,
    body                TEXT NOT NULL,
    reply_token         TEXT NOT NULL UNIQUE,
    provider            TEXT NOT NULL,
    provider_message_id TEXT,
    -- sending → sent | failed | unknown; then the provider's delivery statuses (delivered, undelivered, ...).
    status              TEXT NOT NULL,
    error               TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    attempted_at        TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX attempts_debtor ON dispatcher.attempts (debtor_id, created_at);
CREATE UNIQUE INDEX attempts_provider_message ON dispatcher.attempts (provider, provider_message_id);
CREATE INDEX attempts_in_flight ON dispatcher.attempts (created_at) WHERE status = 'sending';

CREATE TABLE dispatcher.status_reports (
    seq         BIGSERIAL PRIMARY KEY,
    attempt_id  UUID NOT NULL REFERENCES dispatcher.attempts (id),
    status      TEXT NOT NULL,
    error_code  TEXT,
    reported_at TIMESTAMPTZ NOT NULL
);
