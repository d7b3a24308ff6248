-- Who holds an open case of a debtor that is not theirs by the client file: a supervisor's transfer gives the case
-- to another advisor, who must then see the debtor (its plan, its contacts) while the case is open. Kept from
-- reply-router's `case.transferred` and `case.closed`.
CREATE TABLE access.case_holders (
    case_id    UUID PRIMARY KEY,
    debtor_id  TEXT NOT NULL,
    advisor_id UUID NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    closed     BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX case_holders_debtor ON access.case_holders (debtor_id, advisor_id) WHERE NOT closed;
