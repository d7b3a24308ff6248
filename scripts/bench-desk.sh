#!/usr/bin/env bash
# `make bench-desk`: ADVISORS (default 200) advisors with open live streams; ACTIONS (default 20,000) debtors' clicks
# and replies at RATE (default 200) per second, timed from the debtor's request to the case on the advisor's stream,
# beside the floor (one PostgreSQL commit plus one JetStream publish-and-ack) at the same rate; the memory of an open
# stream; how late timers fire with OPEN_CASES (default 100,000) open cases. The driver is benches/desk.rs.
# Last line: desk_p99_ms=<n> floor_p99_ms=<m> ratio=<n/m> stream_kib=<k>
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=recaudo_bench_desk

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
export DATABASE_URL="$PG/$DB" NATS_URL="nats://127.0.0.1:$NATS_PORT" RECAUDO_SUBJECT_PREFIX=bench
export RECAUDO_LOG=warn RECAUDO_DEV_IDP=on BIN
"$BIN" migrate >/dev/null
"$BIN" streams apply >/dev/null
cargo bench --bench desk 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
