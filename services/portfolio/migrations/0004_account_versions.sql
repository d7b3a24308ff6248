-- Account snapshots carry a version that grows with every change of the credit or of its debtor (the sum of the
-- two counters below), so that consumers keep the newest state whatever order snapshots arrive in.
ALTER TABLE portfolio.credits ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE portfolio.debtors ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
