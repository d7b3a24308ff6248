-- The terms of the promise a `promise_in_force` hold is for, so a strategy's promise reminder can name them the
-- day before the promise is due. NULL on every other hold (and on promises recorded before this migration).
ALTER TABLE scheduler.holds
    ADD COLUMN promise_credit_id TEXT,
    ADD COLUMN promise_amount    NUMERIC,
    ADD COLUMN promise_due_on    DATE;
