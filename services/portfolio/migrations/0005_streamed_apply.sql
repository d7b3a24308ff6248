-- Imports are applied in one transaction as their batches arrive (see consumer.rs); rows no longer wait in a
-- staging table.
DROP TABLE portfolio.staged_rows;
DROP TABLE portfolio.staged_batches;
