#!/usr/bin/env bash
# `make run`: the whole system in one process, with the provider simulators, on the sample client file.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/dev-infra.sh
cargo build --bin recaudo
BIN=./target/debug/recaudo

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/recaudo}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export RECAUDO_HTTP_ADDR=${RECAUDO_HTTP_ADDR:-127.0.0.1:8080}
# Every channel on its provider's simulator, in this process: nothing leaves the machine.
export RECAUDO_SMS_PROVIDER=${RECAUDO_SMS_PROVIDER:-simulator}
export RECAUDO_WHATSAPP_PROVIDER=${RECAUDO_WHATSAPP_PROVIDER:-simulator}
export RECAUDO_EMAIL_PROVIDER=${RECAUDO_EMAIL_PROVIDER:-simulator}
export RECAUDO_LOG_FORMAT=${RECAUDO_LOG_FORMAT:-pretty}
# Sign-in through the development identity provider built into the binary (never in production; refused together
# with RECAUDO_OIDC_ISSUER). `recaudo dev token --role admin` prints a bearer token for curl.
export RECAUDO_DEV_IDP=${RECAUDO_DEV_IDP:-on}
# The sample file describes 2026-11-20; the demo runs on the Monday after, at 10:00 in Bogotá, so that every
# debtor's contact window is open. `make run RECAUDO_NOW=` uses the real clock.
export RECAUDO_NOW=${RECAUDO_NOW-2026-11-23T15:00:00Z}
SAMPLE=${SAMPLE:-fixtures/clients/clientes_asesores.csv}
BASE="http://$RECAUDO_HTTP_ADDR"

$BIN migrate
$BIN serve --target all &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER' INT TERM
for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" >/dev/null || { echo "recaudo did not become ready" >&2; kill $SERVER; exit 1; }

$BIN import "$SAMPLE" --as-of 2026-11-20
# The demo advisor and supervisor of the console (bound to the portfolio's first advisor and that advisor's
# supervisor), so the sign-in page lists them.
RECAUDO_DEV_IDP=on $BIN dev token --role advisor >/dev/null 2>&1 || true
RECAUDO_DEV_IDP=on $BIN dev token --role supervisor >/dev/null 2>&1 || true

cat <<TXT

Recaudo is running at $BASE (Ctrl-C stops it).
The console: open $BASE/console/ and sign in as dev-advisor-... (the demo advisor) or dev-supervisor-...
Every /api route needs a credential; in another shell:
  export RECAUDO_DEV_IDP=on TOKEN=\$($BIN dev token --role admin)      # or manager, auditor, supervisor, advisor
  alias rc='curl -s -H "Authorization: Bearer \$TOKEN"'
Where to look:
  rc $BASE/api/me                                     # who you are: role and scope
  rc $BASE/api/kpis                                   # KPIs, from the events
  rc $BASE/api/imports                                # imports, with row errors
  rc $BASE/api/debtors/C0000003                       # a debtor, credits, advisor and supervisor
  rc $BASE/api/debtors/C0000003/contacts              # the SMS sent, with the rendered body and reply link
  curl -si \$(rc $BASE/api/debtors/C0000003/contacts | grep -o 'http[^"]*/r/[A-Za-z0-9_-]*' | head -1)
                                                      # the debtor clicks (no credential): 302 to the advisor's WhatsApp
  rc $BASE/api/debtors/C0000003/plan                  # strategy, stage, step, variant, and the law of the country
  rc $BASE/api/strategies                             # strategies (the built-in default is in force)
  M=\$($BIN dev token --role manager)                   # a manager writes, simulates and activates strategies:
  curl -s -X PUT $BASE/api/strategies/consumer-credit -H "Authorization: Bearer \$M" --data-binary @examples/consumer-credit.yaml
  $BIN strategies simulate consumer-credit --days 14  # contacts per day, channel, stage, variant; nothing kept
  curl -s -X POST $BASE/api/strategies/consumer-credit/versions/1/activate -H "Authorization: Bearer \$M"
  rc $BASE/api/advisors                               # advisors and their ids
  rc $BASE/api/advisors/<advisor id>/queue            # the advisor's queue
  rc "$BASE/api/audit?action=debtor.read"             # the audit trail (admin, auditor)
  curl -s $BASE/metrics                               # Prometheus metrics (public)
  Browser sign-in: open $BASE/auth/login?return_to=/api/me and pick a demo user.
Import another file:  $BIN import fixtures/clients/clientes_con_errores.csv --as-of 2026-11-20
TXT
wait $SERVER
