#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS with JetStream answer on their standard local ports, starting them where they are
# installed and installing them from the OS packages (Debian/Ubuntu) where they are not. For development and CI
# machines only: a freshly installed PostgreSQL is set to trust local TCP connections.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
NATS_PORT=${NATS_PORT:-4222}
NATS_STORE=${NATS_STORE:-${TMPDIR:-/tmp}/recaudo-nats}

say() { printf '[infra] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

apt_install() {
  command -v apt-get >/dev/null || { say "cannot install $*: no apt-get; install it by hand"; exit 1; }
  say "installing $* from the OS packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then say "PostgreSQL is up on $PG_HOST:$PG_PORT"; return; fi
  local installed_now=0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; installed_now=1; fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -n1)
  if [ "$installed_now" = 1 ]; then
    # Development only: trust local TCP connections, as the project's default DATABASE_URL expects.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
  for _ in $(seq 1 50); do port_open "$PG_HOST" "$PG_PORT" && return; sleep 0.2; done
  say "PostgreSQL did not come up on $PG_HOST:$PG_PORT"; exit 1
}

nats_binary() { command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null || true; }

ensure_nats_binary() {
  if [ -z "$(nats_binary)" ]; then apt_install nats-server; fi
}

ensure_nats() {
  # Tests start their own nats-server, so the binary must exist even when a server is already running.
  ensure_nats_binary
  if port_open 127.0.0.1 "$NATS_PORT"; then say "NATS is up on 127.0.0.1:$NATS_PORT"; return; fi
  mkdir -p "$NATS_STORE"
  say "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT (store $NATS_STORE)"
  nohup "$(nats_binary)" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_STORE" >"$NATS_STORE/nats-server.log" 2>&1 &
  for _ in $(seq 1 50); do port_open 127.0.0.1 "$NATS_PORT" && return; sleep 0.2; done
  say "nats-server did not come up; see $NATS_STORE/nats-server.log"; exit 1
}

ensure_postgres
ensure_nats
