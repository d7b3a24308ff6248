-- The strategy and the decision (version, stage, step, A/B variant) of the request behind each attempt, carried on
-- its `contact.attempted` event so that results can be compared by variant.
ALTER TABLE dispatcher.attempts ADD COLUMN strategy TEXT;
ALTER TABLE dispatcher.attempts ADD COLUMN decision JSONB NOT NULL DEFAULT '{}';
