-- What the policy engine needs beyond the accounts: the debtor's city (its time zone where the country has several),
-- the holds that case outcomes set, and the channels whose consent the debtor withdrew.
ALTER TABLE scheduler.accounts ADD COLUMN city TEXT;

CREATE TABLE scheduler.holds (
    debtor_id  TEXT NOT NULL,
    -- recaudo_policy::HoldKind::as_str (dispute, call_back, promise_in_force, ...).
    kind       TEXT NOT NULL,
    -- NULL: until lifted.
    until      TIMESTAMPTZ,
    -- A wrong number's number: a different number in a later snapshot lifts the hold.
    address    TEXT,
    outcome_id UUID NOT NULL,
    set_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (debtor_id, kind)
);

CREATE TABLE scheduler.consent_withdrawn (
    debtor_id    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    via          TEXT NOT NULL,
    withdrawn_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (debtor_id, channel)
);
