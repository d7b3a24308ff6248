-- A requested contact the scheduler withdrew (`contact.cancelled.<channel>`) before it was known to be sent. It still
-- counts for the caps: whether it went out is the dispatcher's to know, and counting it is the stricter reading.
ALTER TABLE scheduler.contact_ledger ADD COLUMN cancelled_at TIMESTAMPTZ;
ALTER TABLE scheduler.contact_ledger ADD COLUMN cancelled_rule TEXT;
CREATE INDEX contact_ledger_debtor ON scheduler.contact_ledger (debtor_id, requested_at);
