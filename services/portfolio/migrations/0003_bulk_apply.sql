-- Imports are applied set-based, hundreds of thousands of credits per statement. A foreign key costs a trigger call
-- per credit, more than the rest of the insert; the apply writes debtors and advisors from the same staged rows in
-- the same transaction before their credits, and nothing else writes these columns, so the keys are dropped.
ALTER TABLE portfolio.credits DROP CONSTRAINT credits_debtor_id_fkey;
ALTER TABLE portfolio.credits DROP CONSTRAINT credits_advisor_id_fkey;
