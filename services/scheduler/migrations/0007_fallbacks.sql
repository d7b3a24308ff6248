-- Fallback channels. The attempts the dispatchers made for our requests (to find a request from a later status
-- report), and on the ledger: which request a fallback replaces, its place in the step's list, and when a request
-- fell back (each falls back once).
CREATE TABLE scheduler.attempts (
    attempt_id UUID PRIMARY KEY,
    contact_id UUID NOT NULL,
    channel    TEXT NOT NULL
);
ALTER TABLE scheduler.contact_ledger ADD COLUMN fallback_of UUID;
ALTER TABLE scheduler.contact_ledger ADD COLUMN fallback_index INT NOT NULL DEFAULT 0;
ALTER TABLE scheduler.contact_ledger ADD COLUMN fell_back_at TIMESTAMPTZ;
