-- Strategy documents, versioned: a PUT makes a new draft version; activating one retires the version that was active.
-- An active or retired version is never edited (a trigger refuses it), only replaced by a newer one.
CREATE TABLE scheduler.strategies (
    name         TEXT NOT NULL,
    version      INT NOT NULL,
    -- The document as checked (JSON), and the text as the manager wrote it (YAML or JSON, comments included).
    document     JSONB NOT NULL,
    source       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'active', 'retired')),
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL,
    activated_at TIMESTAMPTZ,
    activated_by TEXT,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX strategies_one_active ON scheduler.strategies (name) WHERE status = 'active';

CREATE FUNCTION scheduler.strategies_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' AND (NEW.document <> OLD.document OR NEW.source <> OLD.source) THEN
        RAISE EXCEPTION 'strategy %@% is %: its document is never edited', OLD.name, OLD.version, OLD.status;
    END IF;
    IF OLD.status = 'retired' AND NEW.status <> 'retired' THEN
        RAISE EXCEPTION 'strategy %@% is retired: activate a new version instead', OLD.name, OLD.version;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER strategies_frozen BEFORE UPDATE ON scheduler.strategies
    FOR EACH ROW EXECUTE FUNCTION scheduler.strategies_frozen();

-- What segments and cadences read of an account.
ALTER TABLE scheduler.accounts ADD COLUMN attributes JSONB NOT NULL DEFAULT '{}';
ALTER TABLE scheduler.accounts ADD COLUMN due_date DATE;
ALTER TABLE scheduler.accounts ADD COLUMN balance_total NUMERIC;
ALTER TABLE scheduler.accounts ADD COLUMN email TEXT;

-- The debtor's last reply (a click, a message): "unanswered" contacts are those since.
CREATE TABLE scheduler.replies (
    debtor_id TEXT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL
);

-- Every decision names the strategy version, stage, step and A/B variant that made it. One contact per step per
-- debtor per local day (what keeps two replicas, or a redelivery, from requesting a step twice).
ALTER TABLE scheduler.contact_ledger ADD COLUMN strategy_version INT NOT NULL DEFAULT 0;
ALTER TABLE scheduler.contact_ledger ADD COLUMN stage TEXT;
ALTER TABLE scheduler.contact_ledger ADD COLUMN step TEXT NOT NULL DEFAULT '';
ALTER TABLE scheduler.contact_ledger ADD COLUMN variant TEXT;
ALTER TABLE scheduler.contact_ledger DROP CONSTRAINT contact_ledger_debtor_id_channel_strategy_local_date_key;
-- Rows from before strategies were the built-in daily SMS reminder.
UPDATE scheduler.contact_ledger SET strategy = 'default', step = 'daily-sms-reminder' WHERE step = '';
CREATE UNIQUE INDEX contact_ledger_step_day ON scheduler.contact_ledger (debtor_id, strategy, step, local_date);

-- Call tasks for the assigned advisor (escalations): not contacts (the advisor's call, when made, is), so they are
-- kept apart from the ledger the caps count. One per debtor per local day.
CREATE TABLE scheduler.call_tasks (
    task_id      UUID PRIMARY KEY,
    debtor_id    TEXT NOT NULL,
    credit_id    TEXT NOT NULL,
    strategy     TEXT NOT NULL,
    strategy_version INT NOT NULL,
    local_date   DATE NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    UNIQUE (debtor_id, local_date)
);

-- One plan per debtor: the segment picks the strategy at each decision.
UPDATE scheduler.plans SET strategy = 'strategies';
