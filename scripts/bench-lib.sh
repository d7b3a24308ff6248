# Shared by the bench scripts (sourced, not run): the release binary, a private nats-server on a free port with a
# temporary store, and the readings the benchmarks print (wall time, peak RSS, CPU seconds). Sets BIN, WORK,
# NATS_PID, NATS_PORT; the caller sets SERVER_PID when it starts a server, and `cleanup` stops both on exit.
bash scripts/dev-infra.sh
cargo build --release --bin recaudo >&2
BIN=$PWD/target/release/recaudo
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
# CPU seconds (user + system) of one process, or of every process with a command name.
cpu_of_pid() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_of_command() { ps -C "$1" -o cputimes= | awk '{s += $1} END {printf "%.0f", s}'; }

NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
NATS_PORT=$(free_port)
"$NATS_BIN" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/nats" >/dev/null 2>&1 &
NATS_PID=$!
SERVER_PID=
cleanup() {
  # Stop both and wait for them, so that nothing writes into $WORK while it is removed.
  # (`|| true`: a process killed by a signal exits non-zero, which is not the benchmark failing.)
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true; fi
  kill "$NATS_PID" 2>/dev/null && wait "$NATS_PID" 2>/dev/null || true
  rm -rf "$WORK" || true
}
trap cleanup EXIT

# A fresh database NAME for a benchmark driven by `cargo bench`: migrated, with the streams applied on the private
# nats-server, and the variables the driver and the release binary read exported.
fresh_database() {
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  export DATABASE_URL="$PG/$1" NATS_URL="nats://127.0.0.1:$NATS_PORT" RECAUDO_SUBJECT_PREFIX=bench
  export RECAUDO_LOG=warn RECAUDO_DEV_IDP=on BIN
  "$BIN" migrate >/dev/null
  "$BIN" streams apply >/dev/null
}
