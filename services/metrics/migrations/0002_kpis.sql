-- KPI projections, built from events alone.
CREATE TABLE metrics.counters (
    name  TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    value BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, label)
);

-- Distinct debtors and credits ever seen in portfolio events.
CREATE TABLE metrics.debtors (id TEXT PRIMARY KEY);
CREATE TABLE metrics.credits (id TEXT PRIMARY KEY);

-- Money collected (payments applied, excess included), per currency.
CREATE TABLE metrics.collected (
    currency TEXT PRIMARY KEY,
    amount   NUMERIC NOT NULL DEFAULT 0
);
