#!/usr/bin/env bash
# `make contract-test`: schemathesis (pinned in scripts/contract/requirements.txt) over every operation of
# proto-schemas/openapi.yaml, against the whole system in one process on its own database and its own NATS, on the
# sample client file, signed in as admin. Fails on any failure of the checks in scripts/contract/schemathesis.toml.
#
#   CONTRACT_SEED           the generator's seed (default 1, so CI runs the same cases every time; `random` for a
#                           new one, printed in the report, to look further)
#   CONTRACT_MAX_EXAMPLES   cases per operation in each round of a phase (default 25)
#   CONTRACT_MAX_TIME       the run's length, seconds (default 180): fuzzing and stateful testing go on with new
#                           cases of the seeded sequence until it is spent, so a longer run looks further
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/contract-venv
if [ ! -x "$VENV/bin/st" ] || ! cmp -s scripts/contract/requirements.txt "$VENV/requirements.txt"; then
    echo "[contract] installing schemathesis into $VENV"
    python3 -m venv "$VENV" 2>/dev/null || {
        # Debian's python3 makes virtualenvs only with its python3-venv package.
        apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"
    }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/contract/requirements.txt
    cp scripts/contract/requirements.txt "$VENV/requirements.txt"
fi

bash scripts/dev-infra.sh >/dev/null
cargo build --quiet --bin recaudo
BIN=./target/debug/recaudo
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATS_PORT=$(free_port)
HTTP_PORT=$(free_port)
DB=recaudo_contract_$$
cleanup() {
    [ -n "${SERVER:-}" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [ -n "${NATS:-}" ] && kill "$NATS" 2>/dev/null
    if command -v psql >/dev/null; then
        psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A NATS of its own with a temporary store: the fuzzer's events do not land in anyone else's streams.
NATS_BIN=$(command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null || true)
[ -n "$NATS_BIN" ] || { echo "nats-server is missing: run make infra" >&2; exit 1; }
"$NATS_BIN" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
NATS=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
# (`recaudo migrate` creates the database.)

export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
export NATS_URL=nats://127.0.0.1:$NATS_PORT
export RECAUDO_HTTP_ADDR=127.0.0.1:$HTTP_PORT
export RECAUDO_SMS_PROVIDER=simulator RECAUDO_WHATSAPP_PROVIDER=simulator RECAUDO_EMAIL_PROVIDER=simulator
export RECAUDO_DEV_IDP=on RECAUDO_NOW=2026-11-23T15:00:00Z RECAUDO_LOG=warn
BASE="http://$RECAUDO_HTTP_ADDR"

$BIN migrate >/dev/null
$BIN serve --target all >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" >/dev/null || { echo "recaudo did not become ready" >&2; cat "$WORK/server.log" >&2; exit 1; }
$BIN import fixtures/clients/clientes_asesores.csv --as-of 2026-11-20 >/dev/null
TOKEN=$($BIN dev token --role admin)

seed="--seed ${CONTRACT_SEED:-1}"
[ "${CONTRACT_SEED:-1}" = random ] && seed=""
status=0
"$VENV/bin/st" --config-file scripts/contract/schemathesis.toml run proto-schemas/openapi.yaml --url "$BASE" \
    -H "Authorization: Bearer $TOKEN" \
    --max-examples "${CONTRACT_MAX_EXAMPLES:-25}" --max-time "${CONTRACT_MAX_TIME:-180}" \
    $seed --generation-database none --workers 2 --no-color \
    --report junit --report-dir target/contract-report "$@" || status=$?
if [ "$status" != 0 ]; then
    echo "[contract] the server's log (its last 40 lines):" >&2
    tail -40 "$WORK/server.log" >&2
fi
exit "$status"
