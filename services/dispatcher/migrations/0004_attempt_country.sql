-- The debtor's country when the attempt was made: the compliance check re-reads each attempt against the preset of
-- that country. Null for attempts from before this column (the check skips them and says how many).
ALTER TABLE dispatcher.attempts ADD COLUMN country TEXT;
CREATE INDEX attempts_attempted ON dispatcher.attempts (attempted_at) WHERE attempted_at IS NOT NULL;
