#!/usr/bin/env bash
# `make bench-dispatch`: REQUESTS (default 100,000) contact requests across SMS, WhatsApp and email through
# JetStream, the release build's dispatcher (one process, every channel) and the providers' simulators (another
# process), until every attempt is recorded; beside the floor of the at-most-once design (one loop
# consuming same-sized messages with explicit ack, one row each into an indexed table in its own transaction).
# The driver is benches/dispatch.rs. Last line: dispatch_per_s=<n> floor_per_s=<m> ratio=<n/m> peak_rss_mb=<r>
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=recaudo_bench_dispatch

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
export DATABASE_URL="$PG/$DB" NATS_URL="nats://127.0.0.1:$NATS_PORT" RECAUDO_SUBJECT_PREFIX=bench
export RECAUDO_LOG=warn RECAUDO_DEV_IDP=on BIN
"$BIN" migrate >/dev/null
"$BIN" streams apply >/dev/null
cargo bench --bench dispatch 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
