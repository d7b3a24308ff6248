-- Statuses are normalised (queued, sent, delivered, read, failed, undelivered; sending and unknown before the
-- provider's answer is known). The provider's own word and error code are kept beside them, and `final` marks a
-- status no later report changes. `next_check_at` is when the reconciler next asks the provider about an attempt
-- without a final status; NULL when there is nothing left to ask.
ALTER TABLE dispatcher.attempts ADD COLUMN provider_status TEXT;
ALTER TABLE dispatcher.attempts ADD COLUMN error_code TEXT;
ALTER TABLE dispatcher.attempts ADD COLUMN final BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE dispatcher.attempts ADD COLUMN next_check_at TIMESTAMPTZ;
ALTER TABLE dispatcher.attempts ADD COLUMN checks INT NOT NULL DEFAULT 0;
CREATE INDEX attempts_to_check ON dispatcher.attempts (next_check_at) WHERE next_check_at IS NOT NULL;
-- Replies are matched to the latest attempt to the address they come from.
CREATE INDEX attempts_address ON dispatcher.attempts (channel, to_address, created_at DESC);

-- Every inbound message and button tap, stored before the provider's webhook is acknowledged. The unique key makes
-- a provider's retry of the same webhook change nothing.
CREATE TABLE dispatcher.inbound_messages (
    id                  UUID PRIMARY KEY,
    channel             TEXT NOT NULL,
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    from_address        TEXT NOT NULL,
    body                TEXT NOT NULL,
    button              TEXT,
    attempt_id          UUID REFERENCES dispatcher.attempts (id),
    opt_out             BOOLEAN NOT NULL,
    received_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, provider_message_id)
);

-- WhatsApp's customer-service window: free-form messages are allowed for 24 hours after the debtor last wrote.
CREATE TABLE dispatcher.conversations (
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,
    last_inbound_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Early reports keep the normalised status (in `status`) and the provider's own word.
ALTER TABLE dispatcher.early_status_reports ADD COLUMN provider_status TEXT;

-- Until when (wall-clock time, whatever the process's business clock says) the worker that recorded an attempt may
-- still be calling the provider; a `sending` attempt past it was cut off and is settled by the reconciler.
ALTER TABLE dispatcher.attempts ADD COLUMN sending_until TIMESTAMPTZ;
CREATE INDEX attempts_sending ON dispatcher.attempts (sending_until) WHERE status = 'sending';
