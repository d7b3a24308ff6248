-- The advisors' workspace. A queue item becomes a case: one open case per debtor and advisor holds everything of
-- that debtor (clicks, replies, call tasks, broken promises, notes), with its timers, and a timeline of the debtor.
ALTER TABLE reply_router.queue_items RENAME TO cases;
DROP INDEX reply_router.queue_items_open;
ALTER TABLE reply_router.cases DROP CONSTRAINT queue_items_state_check;
-- `open`: waiting for someone to claim it; `claimed`: an advisor works it; `snoozed`: put aside until
-- `snoozed_until` (a reply wakes it early); `closed`: closed with an outcome.
UPDATE reply_router.cases SET state = 'closed' WHERE state = 'escalated';
ALTER TABLE reply_router.cases ADD CONSTRAINT cases_state CHECK (state IN ('open', 'claimed', 'snoozed', 'closed'));
ALTER TABLE reply_router.cases
    -- Why it is (still) there: reply, click, call, broken_promise, escalated.
    ADD COLUMN reason         TEXT NOT NULL DEFAULT 'reply',
    -- Where it waits: with the advisor, the supervisor (escalated, or the advisor is away), or the team pool.
    ADD COLUMN queue          TEXT NOT NULL DEFAULT 'advisor' CHECK (queue IN ('advisor', 'supervisor', 'pool')),
    ADD COLUMN high_priority  BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN claimed_by     TEXT,
    ADD COLUMN claimed_at     TIMESTAMPTZ,
    ADD COLUMN snoozed_until  TIMESTAMPTZ,
    -- The running timer (`pickup`, `response`, or `wake` for a snooze), its warning and its deadline (`due_at`).
    -- A timer fires by changing these columns in the transaction that records what it did, so it fires once.
    ADD COLUMN timer          TEXT CHECK (timer IN ('pickup', 'response', 'wake')),
    ADD COLUMN warn_at        TIMESTAMPTZ,
    ADD COLUMN escalations    INT NOT NULL DEFAULT 0,
    ADD COLUMN last_message   TEXT,
    ADD COLUMN last_activity_at TIMESTAMPTZ,
    ADD COLUMN closed_at      TIMESTAMPTZ,
    ADD COLUMN outcome        TEXT;
ALTER TABLE reply_router.cases ALTER COLUMN due_at DROP NOT NULL;
UPDATE reply_router.cases SET reason = CASE kind WHEN 'click' THEN 'click' WHEN 'call_task' THEN 'call' ELSE 'reply' END,
                              timer = CASE WHEN state = 'open' THEN 'pickup' END,
                              last_activity_at = updated_at;
CREATE UNIQUE INDEX cases_open ON reply_router.cases (advisor_id, debtor_id) WHERE state <> 'closed';
-- A debtor's cases, latest first: the timeline announces its entries on the debtor's latest case.
CREATE INDEX cases_debtor ON reply_router.cases (debtor_id, opened_at DESC);
CREATE INDEX cases_supervisor ON reply_router.cases (supervisor_id) WHERE state <> 'closed';
CREATE INDEX cases_due ON reply_router.cases (due_at) WHERE timer IS NOT NULL;
CREATE INDEX cases_warn ON reply_router.cases (warn_at) WHERE warn_at IS NOT NULL;

-- What the case page shows of the debtor's credits, from portfolio's snapshots.
ALTER TABLE reply_router.accounts
    ADD COLUMN country         TEXT,
    ADD COLUMN city            TEXT,
    ADD COLUMN product         TEXT,
    ADD COLUMN currency        TEXT,
    ADD COLUMN balance_total   NUMERIC,
    ADD COLUMN balance_overdue NUMERIC,
    ADD COLUMN due_date        DATE,
    ADD COLUMN days_past_due   INT,
    ADD COLUMN phone           TEXT,
    ADD COLUMN email           TEXT;

CREATE INDEX links_attempt ON reply_router.links (attempt_id);

-- Advisors marked away (vacation, sick leave): their new cases go to the supervisor's queue meanwhile.
CREATE TABLE reply_router.advisor_away (
    advisor_id UUID PRIMARY KEY,
    reason     TEXT NOT NULL,
    until      TIMESTAMPTZ,
    marked_by  TEXT NOT NULL,
    marked_at  TIMESTAMPTZ NOT NULL
);

-- The debtor's auditable history across channels: attempts, statuses, replies, clicks, call tasks, outcomes,
-- notes, claims, transfers, escalations. `actor` is an opaque subject, never a name.
CREATE TABLE reply_router.timeline (
    id        UUID PRIMARY KEY,
    debtor_id TEXT NOT NULL,
    case_id   UUID,
    at        TIMESTAMPTZ NOT NULL,
    kind      TEXT NOT NULL,
    actor     TEXT,
    detail    JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_debtor ON reply_router.timeline (debtor_id, at, id);

-- The live feed of the desks (`GET /api/stream`): every change of a case, in commit order (writers take a
-- transaction lock before they append), so `seq` is the stream's event id and a reconnecting client's cursor.
CREATE TABLE reply_router.desk_events (
    seq           BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    kind          TEXT NOT NULL,
    case_id       UUID,
    advisor_id    UUID NOT NULL,
    supervisor_id UUID,
    pooled        BOOLEAN NOT NULL DEFAULT false,
    data          JSONB NOT NULL
);
