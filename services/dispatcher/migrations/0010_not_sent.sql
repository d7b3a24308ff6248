-- Attempts the provider's records prove it never received (src/reconcile.rs): settled `not_sent` and their request
-- decided again, which may record a new attempt for the same contact. So a contact has at most one attempt that
-- is not `not_sent`, instead of one attempt in all.
ALTER TABLE dispatcher.attempts DROP CONSTRAINT attempts_contact_id_key;
CREATE UNIQUE INDEX attempts_one_live_per_contact ON dispatcher.attempts (contact_id) WHERE status <> 'not_sent';
-- The request behind the attempt (its event id and its sequence in the contact stream), to decide it again.
ALTER TABLE dispatcher.attempts ADD COLUMN request_id UUID;
ALTER TABLE dispatcher.attempts ADD COLUMN request_sequence BIGINT;
-- Complete searches of the provider's records that found nothing, made after the request could no longer arrive.
ALTER TABLE dispatcher.attempts ADD COLUMN absent_searches INT NOT NULL DEFAULT 0;
-- When the request of a `not_sent` attempt was decided again; the reconciler's work while it is null.
ALTER TABLE dispatcher.attempts ADD COLUMN redecided_at TIMESTAMPTZ;
CREATE INDEX attempts_to_decide_again ON dispatcher.attempts (created_at) WHERE status = 'not_sent' AND redecided_at IS NULL;
-- Wall-clock time the attempt was recorded (`created_at` is the business clock, which tests and replays may move):
-- a search of the provider's records proves anything only once it starts after the request could have arrived.
-- Written by the insert; attempts recorded before it have none and are never settled `not_sent`.
ALTER TABLE dispatcher.attempts ADD COLUMN recorded_at TIMESTAMPTZ;
