-- The version of the account snapshot each row holds (portfolio's `AccountSnapshot.version`): a snapshot replaces
-- the row only if it is newer by version, then by time (versions are 0 in snapshots from before they existed).
ALTER TABLE scheduler.accounts ADD COLUMN snapshot_version BIGINT NOT NULL DEFAULT 0;
