-- Imports are applied in one transaction as their batches arrive (see consumer.rs): rows no longer wait in a
-- staging table.
DROP TABLE portfolio.staged_rows;
DROP TABLE portfolio.staged_batches;

-- What an import changed is marked on the rows themselves (`last_import_id`), and the snapshot publisher walks an
-- applied import's credits in id order from `imports.snapshots_after` (NULL once all are published): cheaper than
-- writing a row per changed credit into `pending_snapshots` and deleting it again.
ALTER TABLE portfolio.debtors ADD COLUMN last_import_id UUID;
ALTER TABLE portfolio.imports ADD COLUMN snapshots_after TEXT;
CREATE INDEX credits_last_import ON portfolio.credits (last_import_id, id);
UPDATE portfolio.credits c SET last_import_id = p.import_id
FROM portfolio.pending_snapshots p WHERE p.credit_id = c.id AND p.import_id IS NOT NULL;
UPDATE portfolio.imports i SET snapshots_after = ''
WHERE EXISTS (SELECT 1 FROM portfolio.pending_snapshots p WHERE p.import_id = i.id);
DROP TABLE portfolio.pending_snapshots;
