#!/usr/bin/env bash
# `make bench-ingest`: generates ROWS (default 1,000,000) client rows, imports them through ingestion and
# portfolio (release build, a private nats-server, a fresh database) until every row is committed in portfolio,
# and in the same run times `psql \copy` of the same file into an equivalent plain table. The copy runs first, while
# nothing else runs (after the import, portfolio is still publishing account snapshots).
# Also prints the CPU seconds each part used during the import (import CLI, server, nats-server, PostgreSQL).
# Last line: ingest_rows_per_s=<n> copy_rows_per_s=<m> ratio=<n/m>
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=recaudo_bench

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

echo "generating $ROWS rows" >&2
"$BIN" gen --rows "$ROWS" --out "$WORK/clients.csv"

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
export DATABASE_URL="$PG/$DB" NATS_URL="nats://127.0.0.1:$NATS_PORT" RECAUDO_SUBJECT_PREFIX=bench
export RECAUDO_HTTP_ADDR="127.0.0.1:$(free_port)" RECAUDO_LOG=warn RECAUDO_NOW=2026-11-23T15:00:00Z RECAUDO_DEV_IDP=on
"$BIN" migrate >/dev/null

echo "psql \\copy of the same rows" >&2
psql -q "$DATABASE_URL" -c "CREATE TABLE copy_bench (
    id_cliente TEXT, tipo_documento TEXT, numero_documento TEXT, nombre TEXT, apellido TEXT, telefono TEXT, email TEXT,
    id_credito TEXT, producto TEXT, moneda TEXT, saldo_total NUMERIC, saldo_vencido NUMERIC, cuota NUMERIC,
    fecha_vencimiento DATE, dias_atraso INT, pais TEXT, ciudad TEXT, asesor_nombre TEXT, asesor_apellido TEXT,
    asesor_telefono TEXT, supervisor_nombre TEXT, supervisor_apellido TEXT)"
start=$(now)
psql -q "$DATABASE_URL" -c "\\copy copy_bench FROM '$WORK/clients.csv' WITH (FORMAT csv, HEADER true)"
copy_secs=$(echo "$(now) - $start" | bc -l)
# The copy's dirty pages are written now, not during the import.
psql -q "$DATABASE_URL" -c "CHECKPOINT"

"$BIN" serve --target ingestion,portfolio >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://$RECAUDO_HTTP_ADDR/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://$RECAUDO_HTTP_ADDR/readyz" >/dev/null || { echo "the server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }

echo "importing (until every row is committed in portfolio)" >&2
server_cpu0=$(cpu_of_pid "$SERVER_PID"); nats_cpu0=$(cpu_of_pid "$NATS_PID"); pg_cpu0=$(cpu_of_command postgres)
start=$(now)
"$BIN" import "$WORK/clients.csv" --as-of 2026-11-20 --timeout-secs 3600 &
IMPORT_PID=$!
import_rss=0
import_cpu=0
while kill -0 "$IMPORT_PID" 2>/dev/null; do
  r=$(peak_rss_mb "$IMPORT_PID"); [ "$r" != "?" ] && [ "$r" -gt "$import_rss" ] && import_rss=$r
  c=$(cpu_of_pid "$IMPORT_PID"); [ "$c" != 0 ] && import_cpu=$c
  sleep 0.2
done
wait "$IMPORT_PID"
ingest_secs=$(echo "$(now) - $start" | bc -l)
server_cpu=$(echo "$(cpu_of_pid "$SERVER_PID") - $server_cpu0" | bc -l)
nats_cpu=$(echo "$(cpu_of_pid "$NATS_PID") - $nats_cpu0" | bc -l)
pg_cpu=$(echo "$(cpu_of_command postgres) - $pg_cpu0" | bc -l)
server_rss=$(peak_rss_mb "$SERVER_PID")
committed=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM portfolio.credits")
[ "$committed" -eq "$ROWS" ] || { echo "only $committed of $ROWS credits are in portfolio" >&2; exit 1; }

ingest_rate=$(echo "$ROWS / $ingest_secs" | bc -l)
copy_rate=$(echo "$ROWS / $copy_secs" | bc -l)
printf 'rows=%d ingest_secs=%.2f copy_secs=%.2f import_peak_rss_mb=%s server_peak_rss_mb=%s\n' \
  "$ROWS" "$ingest_secs" "$copy_secs" "$import_rss" "$server_rss"
printf 'cpu_secs_during_import: import_cli=%.1f server=%.1f nats=%.1f postgres=%.0f (on %d cores)\n' \
  "$import_cpu" "$server_cpu" "$nats_cpu" "$pg_cpu" "$(nproc)"
printf 'ingest_rows_per_s=%.0f copy_rows_per_s=%.0f ratio=%.3f\n' "$ingest_rate" "$copy_rate" "$(echo "$ingest_rate / $copy_rate" | bc -l)"
