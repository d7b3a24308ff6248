-- The portfolio: debtors, their credits (accounts), advisors and supervisors, and the staging area where an
-- import's rows wait until the whole import has arrived and can be applied in one transaction.
CREATE TABLE portfolio.supervisors (
    id          UUID PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE portfolio.advisors (
    id            UUID PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    phone         TEXT NOT NULL,
    supervisor_id UUID REFERENCES portfolio.supervisors (id),
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX advisors_phone ON portfolio.advisors (phone);

CREATE TABLE portfolio.debtors (
    id              TEXT PRIMARY KEY,
    document_type   TEXT NOT NULL,
    document_number TEXT NOT NULL,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    phone           TEXT,
    email           TEXT,
    country         TEXT NOT NULL,
    city            TEXT NOT NULL,
    -- Columns of the client file that Recaudo does not know, kept for segmentation and templates.
    attributes      JSONB NOT NULL DEFAULT '{}',
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE portfolio.credits (
    id              TEXT PRIMARY KEY,
    debtor_id       TEXT NOT NULL REFERENCES portfolio.debtors (id),
    product         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    balance_total   NUMERIC NOT NULL,
    balance_overdue NUMERIC NOT NULL,
    installment     NUMERIC NOT NULL,
    due_date        DATE NOT NULL,
    days_past_due   INT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    advisor_id      UUID REFERENCES portfolio.advisors (id),
    last_import_id  UUID,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX credits_debtor ON portfolio.credits (debtor_id);
CREATE INDEX credits_advisor ON portfolio.credits (advisor_id);

CREATE TABLE portfolio.imports (
    id          UUID PRIMARY KEY,
    mode        TEXT NOT NULL,
    as_of       DATE NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('staging', 'applied', 'discarded')),
    created_at  TIMESTAMPTZ NOT NULL,
    applied_at  TIMESTAMPTZ
);

CREATE TABLE portfolio.staged_batches (
    import_id UUID NOT NULL,
    batch     INT NOT NULL,
    PRIMARY KEY (import_id, batch)
);

CREATE TABLE portfolio.staged_rows (
    import_id             UUID NOT NULL,
    line                  BIGINT NOT NULL,
    debtor_id             TEXT NOT NULL,
    document_type         TEXT NOT NULL,
    document_number       TEXT NOT NULL,
    first_name            TEXT NOT NULL,
    last_name             TEXT NOT NULL,
    phone                 TEXT,
    email                 TEXT,
    country               TEXT NOT NULL,
    city                  TEXT NOT NULL,
    attributes            JSONB NOT NULL,
    credit_id             TEXT NOT NULL,
    product               TEXT NOT NULL,
    currency              TEXT NOT NULL,
    balance_total         NUMERIC NOT NULL,
    balance_overdue       NUMERIC NOT NULL,
    installment           NUMERIC NOT NULL,
    due_date              DATE NOT NULL,
    days_past_due         INT NOT NULL,
    advisor_id            UUID,
    advisor_first_name    TEXT,
    advisor_last_name     TEXT,
    advisor_phone         TEXT,
    supervisor_id         UUID,
    supervisor_first_name TEXT,
    supervisor_last_name  TEXT
);
CREATE INDEX staged_rows_import ON portfolio.staged_rows (import_id);

-- Payments applied (or rejected), one per lender reference: a repeated reference changes nothing.
CREATE TABLE portfolio.payments (
    id          UUID PRIMARY KEY,
    reference   TEXT NOT NULL UNIQUE,
    credit_id   TEXT NOT NULL,
    paid_on     DATE NOT NULL,
    amount      NUMERIC NOT NULL,
    method      TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('partial', 'full', 'excess', 'rejected')),
    excess      NUMERIC NOT NULL DEFAULT 0,
    applied_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_credit ON portfolio.payments (credit_id);

-- Credits whose new state is still to be published as account snapshots. Filled in the transaction that changes
-- them (an import apply), drained in pages by the snapshot publisher, each page in one transaction with its
-- outbox event: every change is published, once, without holding a large import's transaction open meanwhile.
CREATE TABLE portfolio.pending_snapshots (
    credit_id TEXT PRIMARY KEY,
    import_id UUID
);
