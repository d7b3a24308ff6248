-- What a request was about: the credit's overdue amount when it was requested (a payment withdraws only requests
-- about an overdue amount, never a reminder before the due date); NULL for older rows, which were all about overdue
-- credits. And since when the account's days past due hold (they advance from then; a snapshot that changes only
-- the balance, as a partial payment does, leaves them where they were).
ALTER TABLE scheduler.contact_ledger ADD COLUMN balance_overdue NUMERIC;
ALTER TABLE scheduler.accounts ADD COLUMN dpd_since TIMESTAMPTZ;
UPDATE scheduler.accounts SET dpd_since = updated_at;
