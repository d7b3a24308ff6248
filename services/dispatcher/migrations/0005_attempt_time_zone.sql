-- The debtor's IANA time zone the attempt was checked in (from the scheduler's request: country and city), so the
-- compliance check re-reads it in the same zone. Null for older attempts: the country's zone.
ALTER TABLE dispatcher.attempts ADD COLUMN time_zone TEXT;
