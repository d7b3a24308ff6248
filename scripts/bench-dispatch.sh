#!/usr/bin/env bash
# `make bench-dispatch`: REQUESTS (default 100,000) contact requests across SMS, WhatsApp and email through
# JetStream, the release build's dispatcher (one process, every channel) and the providers' simulators (another
# process), until every attempt is recorded; beside the floor of the at-most-once design (one loop
# consuming same-sized messages with explicit ack, one row each into an indexed table in its own transaction).
# The driver is benches/dispatch.rs. Last line: dispatch_per_s=<n> floor_per_s=<m> ratio=<n/m> peak_rss_mb=<r>
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

fresh_database recaudo_bench_dispatch
cargo bench --bench dispatch 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Running\)'
