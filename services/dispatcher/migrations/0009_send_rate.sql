-- The send rate shared by every dispatcher process (see src/rate.rs): per channel and provider, the instant after
-- the last send slot any process has reserved.
CREATE TABLE dispatcher.send_rate (
    account TEXT PRIMARY KEY,
    tat     TIMESTAMPTZ NOT NULL
);
