#!/usr/bin/env bash
# `make bench-plan`: one planning day for CREDITS (default 1,000,000) generated credits in five countries. The
# scheduler's projection is loaded straight from the generated file (the import is `make bench-ingest`'s
# business); then the release build's scheduler plans every debtor at a Monday instant when every window is open,
# until every decision is committed and every `contact.requested` is acknowledged by JetStream (the outbox is
# empty). In the same run it times the set-based floor: one `INSERT ... SELECT` writing one row per due credit from
# the projection into a table shaped and indexed like the contact ledger.
# Last line: plan_credits_per_s=<n> floor_rows_per_s=<m> ratio=<n/m> peak_rss_mb=<r>
set -euo pipefail
cd "$(dirname "$0")/.."
CREDITS=${CREDITS:-1000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DB=recaudo_bench_plan
NOW=2026-11-23T16:00:00Z

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

echo "generating $CREDITS credits" >&2
"$BIN" gen --rows "$CREDITS" --out "$WORK/clients.csv"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
export DATABASE_URL="$PG/$DB" NATS_URL="nats://127.0.0.1:$NATS_PORT" RECAUDO_SUBJECT_PREFIX=bench
export RECAUDO_HTTP_ADDR="127.0.0.1:$(free_port)" RECAUDO_LOG=${RECAUDO_LOG:-warn} RECAUDO_NOW=$NOW RECAUDO_DEV_IDP=on
"$BIN" migrate >/dev/null

echo "loading the scheduler's projection" >&2
psql -q "$DATABASE_URL" <<SQL
CREATE TEMP TABLE f (
    id_cliente TEXT, tipo_documento TEXT, numero_documento TEXT, nombre TEXT, apellido TEXT, telefono TEXT, email TEXT,
    id_credito TEXT, producto TEXT, moneda TEXT, saldo_total NUMERIC, saldo_vencido NUMERIC, cuota NUMERIC,
    fecha_vencimiento DATE, dias_atraso INT, pais TEXT, ciudad TEXT, asesor_nombre TEXT, asesor_apellido TEXT,
    asesor_telefono TEXT, supervisor_nombre TEXT, supervisor_apellido TEXT);
\copy f FROM '$WORK/clients.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO scheduler.accounts (credit_id, debtor_id, status, first_name, last_name, phone, country, city, email,
                                attributes, due_date, balance_total, product, currency, balance_overdue,
                                days_past_due, advisor_id, snapshot_version, updated_at)
SELECT id_credito, id_cliente, 'open', nombre, apellido, NULLIF(telefono, ''), pais, ciudad, NULLIF(email, ''),
       '{}', fecha_vencimiento, saldo_total, producto, moneda, saldo_vencido, dias_atraso, NULL, 1, '$NOW'
FROM f;
-- In the file's order, as the projection writes them while it applies the import's events.
INSERT INTO scheduler.plans (debtor_id, strategy, next_at)
SELECT id_cliente, 'strategies', '$NOW'::timestamptz FROM f GROUP BY id_cliente ORDER BY id_cliente;
-- Settled, as a projection that has been there is: hint bits and the visibility map set, statistics fresh (the
-- floor would otherwise pay for the first read of freshly loaded rows).
VACUUM ANALYZE;
SQL
debtors=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM scheduler.plans")
due=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM scheduler.accounts WHERE balance_overdue > 0")

echo "the floor: one INSERT ... SELECT of a ledger row per due credit" >&2
psql -q "$DATABASE_URL" -c "CREATE TABLE scheduler.floor_ledger (LIKE scheduler.contact_ledger INCLUDING ALL)"
psql -q "$DATABASE_URL" -c "CHECKPOINT"
start=$(now)
psql -q "$DATABASE_URL" -c "INSERT INTO scheduler.floor_ledger (contact_id, debtor_id, credit_id, channel, strategy,
                                strategy_version, stage, step, variant, local_date, requested_at)
  SELECT gen_random_uuid(), debtor_id, credit_id, 'sms', 'default', 0, 'overdue', 'daily-sms-reminder-' || credit_id,
         'default', DATE '2026-11-23', '$NOW' FROM scheduler.accounts WHERE status = 'open' AND balance_overdue > 0"
floor_secs=$(echo "$(now) - $start" | bc -l)
psql -q "$DATABASE_URL" -c "DROP TABLE scheduler.floor_ledger; CHECKPOINT"

echo "planning $debtors debtors ($CREDITS credits, $due overdue)" >&2
nats_cpu0=$(cpu_of_pid "$NATS_PID"); pg_cpu0=$(cpu_of_command postgres)
start=$(now)
"$BIN" serve --target scheduler >"${SERVE_LOG:-$WORK/serve.log}" 2>&1 &
SERVER_PID=$!
rss=0
server_cpu=0
while true; do
  r=$(peak_rss_mb "$SERVER_PID"); [ "$r" != "?" ] && [ "$r" -gt "$rss" ] && rss=$r
  c=$(cpu_of_pid "$SERVER_PID"); [ "$c" != 0 ] && server_cpu=$c
  # EXISTS stops at the first row: counting every due plan twice a second would load the database under test.
  left=$(psql -tA "$DATABASE_URL" -c "SELECT EXISTS (SELECT FROM scheduler.plans WHERE next_at <= '$NOW')
                                          OR EXISTS (SELECT FROM scheduler.outbox)")
  [ "$left" = f ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.5
done
plan_secs=$(echo "$(now) - $start" | bc -l)
nats_cpu=$(echo "$(cpu_of_pid "$NATS_PID") - $nats_cpu0" | bc -l)
pg_cpu=$(echo "$(cpu_of_command postgres) - $pg_cpu0" | bc -l)
events=$(curl -s "http://$RECAUDO_HTTP_ADDR/metrics" | awk '/^recaudo_events_published_total/ {s += $2} END {print s + 0}')
requested=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM scheduler.contact_ledger")
suppressed_note=$(psql -tA "$DATABASE_URL" -c "SELECT count(*) FROM scheduler.plans")

plan_rate=$(echo "$CREDITS / $plan_secs" | bc -l)
floor_rate=$(echo "$due / $floor_secs" | bc -l)
printf 'credits=%d debtors=%d overdue_credits=%d requested=%d plans_left=%s plan_secs=%.2f floor_secs=%.2f\n' \
  "$CREDITS" "$debtors" "$due" "$requested" "$suppressed_note" "$plan_secs" "$floor_secs"
printf 'cpu_secs_during_planning: scheduler=%.1f nats=%.1f postgres=%.0f (on %d cores); events_published=%s\n' \
  "$server_cpu" "$nats_cpu" "$pg_cpu" "$(nproc)" "$events"
printf 'plan_credits_per_s=%.0f floor_rows_per_s=%.0f ratio=%.3f peak_rss_mb=%s\n' \
  "$plan_rate" "$floor_rate" "$(echo "$plan_rate / $floor_rate" | bc -l)" "$rss"
