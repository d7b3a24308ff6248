-- Projections the router needs (advisors, who is assigned each credit, reply links of attempts), the clicks it
-- records, and the advisors' queues.
CREATE TABLE reply_router.advisors (
    id                    UUID PRIMARY KEY,
    first_name            TEXT NOT NULL,
    last_name             TEXT NOT NULL,
    phone                 TEXT NOT NULL,
    whatsapp              TEXT,
    supervisor_id         UUID,
    supervisor_first_name TEXT,
    supervisor_last_name  TEXT,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE reply_router.accounts (
    credit_id         TEXT PRIMARY KEY,
    debtor_id         TEXT NOT NULL,
    debtor_first_name TEXT NOT NULL,
    debtor_last_name  TEXT NOT NULL,
    advisor_id        UUID,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_debtor ON reply_router.accounts (debtor_id);

CREATE TABLE reply_router.links (
    token      TEXT PRIMARY KEY,
    attempt_id UUID NOT NULL,
    contact_id UUID NOT NULL,
    channel    TEXT NOT NULL,
    debtor_id  TEXT NOT NULL,
    credit_id  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE reply_router.queue_items (
    id            UUID PRIMARY KEY,
    advisor_id    UUID NOT NULL,
    supervisor_id UUID,
    kind          TEXT NOT NULL,
    debtor_id     TEXT NOT NULL,
    credit_id     TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'closed', 'escalated')),
    opened_at     TIMESTAMPTZ NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- One open item per debtor in an advisor's queue: a second click joins the first.
CREATE UNIQUE INDEX queue_items_open ON reply_router.queue_items (advisor_id, debtor_id) WHERE state = 'open';

CREATE TABLE reply_router.clicks (
    id            UUID PRIMARY KEY,
    token         TEXT NOT NULL REFERENCES reply_router.links (token),
    advisor_id    UUID,
    queue_item_id UUID REFERENCES reply_router.queue_items (id),
    clicked_at    TIMESTAMPTZ NOT NULL
);
