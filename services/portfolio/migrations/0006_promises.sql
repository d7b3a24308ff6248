-- Promises to pay, from `case.outcome.recorded` (kind promise). In force until payments on the credit, paid from the
-- day it was made to its due date, cover the amount (kept), or the due date and the grace days pass (broken).
CREATE TABLE portfolio.promises (
    id         UUID PRIMARY KEY,
    debtor_id  TEXT NOT NULL,
    credit_id  TEXT NOT NULL,
    amount     NUMERIC NOT NULL,
    made_on    DATE NOT NULL,
    due_on     DATE NOT NULL,
    made_at    TIMESTAMPTZ NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('in_force', 'kept', 'broken')),
    paid       NUMERIC NOT NULL DEFAULT 0,
    settled_at TIMESTAMPTZ
);
CREATE INDEX promises_in_force ON portfolio.promises (credit_id) WHERE status = 'in_force';
CREATE INDEX promises_due ON portfolio.promises (due_on) WHERE status = 'in_force';
