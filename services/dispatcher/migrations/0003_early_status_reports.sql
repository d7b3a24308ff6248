-- A provider can call back with a message's status before its own API response (with the message id) reached us.
-- Such reports wait here and are applied when the attempt records the id; reports nobody claims (not our
-- messages) are pruned after two days.
CREATE TABLE dispatcher.early_status_reports (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    error_code          TEXT,
    reported_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, provider_message_id, status)
);
CREATE INDEX early_status_reports_age ON dispatcher.early_status_reports (reported_at);
