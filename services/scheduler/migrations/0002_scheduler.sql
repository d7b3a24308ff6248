-- The scheduler's own projection of accounts and advisors (learned from portfolio events), the per-debtor plan of
-- when to look at them next, and the ledger of requested contacts that frequency caps count.
CREATE TABLE scheduler.advisors (
    id          UUID PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    phone       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE scheduler.accounts (
    credit_id       TEXT PRIMARY KEY,
    debtor_id       TEXT NOT NULL,
    status          TEXT NOT NULL,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    phone           TEXT,
    country         TEXT NOT NULL,
    product         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    balance_overdue NUMERIC NOT NULL,
    days_past_due   INT NOT NULL,
    advisor_id      UUID,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_debtor ON scheduler.accounts (debtor_id);

CREATE TABLE scheduler.plans (
    debtor_id  TEXT NOT NULL,
    strategy   TEXT NOT NULL,
    next_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (debtor_id, strategy)
);
CREATE INDEX plans_due ON scheduler.plans (strategy, next_at);

CREATE TABLE scheduler.contact_ledger (
    contact_id   UUID PRIMARY KEY,
    debtor_id    TEXT NOT NULL,
    credit_id    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    strategy     TEXT NOT NULL,
    -- The debtor's local calendar date of the request: "once per day" means per local day.
    local_date   DATE NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    UNIQUE (debtor_id, channel, strategy, local_date)
);
