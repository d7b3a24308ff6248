#!/usr/bin/env bash
# `make bench-desk`: ADVISORS (default 200) advisors with open live streams; ACTIONS (default 20,000) debtors' clicks
# and replies at RATE (default 200) per second, timed from the debtor's request to the case on the advisor's stream,
# beside the floor (one PostgreSQL commit plus one JetStream publish-and-ack) at the same rate; the memory of an open
# stream; how late timers fire with OPEN_CASES (default 100,000) open cases. The driver is benches/desk.rs.
# Last line: desk_p99_ms=<n> floor_p99_ms=<m> ratio=<n/m> stream_kib=<k>
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

fresh_database recaudo_bench_desk
cargo bench --bench desk 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
