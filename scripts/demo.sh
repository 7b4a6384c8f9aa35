#!/usr/bin/env bash
# The main job on a fresh machine: services, release build, migrations, the Zoom simulator,
# the API and two worker processes; then it shows that the service is healthy and leaves it
# running for you to look around.
#   scripts/demo.sh         start (or restart) everything
#   scripts/demo.sh stop    stop what the demo started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/.demo"
mkdir -p "$state"

API_PORT="${DEMO_API_PORT:-8080}"
SIM_PORT="${DEMO_SIM_PORT:-9100}"
t0=$(date +%s.%N)
step_start=$t0
elapsed() { printf '%.1fs' "$(echo "$(date +%s.%N) - $1" | bc)"; }
step() { step_start=$(date +%s.%N); printf '\n\033[1m▶ %s\033[0m\n' "$*"; }
done_step() { printf '  ✓ %s (%s)\n' "$*" "$(elapsed "$step_start")"; }
fail() { printf '  ✗ %s\n' "$*" >&2; exit 1; }

stop_all() {
  local any=""
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      any=1
    fi
    rm -f "$pidfile"
  done
  if [ -n "$any" ]; then
    sleep 1
    echo "stopped the demo's processes (logs stay in $state/)"
  else
    echo "nothing of the demo was running"
  fi
}

if [ "${1:-}" = "stop" ]; then
  stop_all
  exit 0
fi
command -v bc >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null 2>&1 || true; }
stop_all >/dev/null

step "Postgres and Redis (installed and started when missing)"
scripts/setup-services.sh
done_step "services answer"

step "Release build"
cargo build --release --locked -q -p app -p zoom-sim
done_step "target/release/billables-zoom and target/release/zoom-sim built"

# The demo's configuration: fresh secrets, Zoom pointed at the local simulator.
if [ ! -f "$state/env" ]; then
  cat > "$state/env" <<ENV
DATABASE_URL=postgres://root@127.0.0.1:5432/billables_zoom
REDIS_URL=redis://127.0.0.1:6379
REDIS_KEY_PREFIX=demo
BIND_ADDR=127.0.0.1:$API_PORT
PUBLIC_BASE_URL=http://127.0.0.1:$API_PORT
ZOOM_CLIENT_ID=sim-client-id
ZOOM_CLIENT_SECRET=sim-client-secret
ZOOM_WEBHOOK_SECRET_TOKEN=sim-webhook-secret
ZOOM_OAUTH_BASE_URL=http://127.0.0.1:$SIM_PORT
ZOOM_API_BASE_URL=http://127.0.0.1:$SIM_PORT/v2
TOKEN_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
ADMIN_API_TOKEN=demo-admin-$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
USER_JWT_SECRET=demo-jwt-$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
PULL_SCHEDULE=*/20 * * * * *
ENV
fi
set -a; . "$state/env"; set +a
bin="$root/target/release/billables-zoom"

step "Database migrations"
"$bin" migrate
done_step "schema up to date"

start() { # name, command...
  local name=$1; shift
  nohup "$@" >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

step "Zoom simulator on 127.0.0.1:$SIM_PORT"
start zoom-sim "$root/target/release/zoom-sim" --bind "127.0.0.1:$SIM_PORT" --seed 1
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$SIM_PORT/_sim/clock" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$SIM_PORT/_sim/clock" >/dev/null || fail "the simulator did not start (see $state/zoom-sim.log)"
done_step "simulator answers"

step "Service: the API and two worker processes"
start api "$bin" serve
start worker-1 "$bin" worker
start worker-2 "$bin" worker
ready=""
for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || fail "the API did not become ready (see $state/api.log)"
for w in worker-1 worker-2; do kill -0 "$(cat "$state/$w.pid")" 2>/dev/null || fail "$w exited (see $state/$w.log)"; done
done_step "ready: $(curl -fs "http://127.0.0.1:$API_PORT/readyz")"

printf '\n\033[1mAll steps held\033[0m in %s.\n' "$(elapsed "$t0")"
cat <<MSG

  API          http://127.0.0.1:$API_PORT/healthz  and  /readyz
  Simulator    http://127.0.0.1:$SIM_PORT/_sim/clock
  Logs         $state/*.log
  Config       $state/env (ADMIN_API_TOKEN for the operator routes)

  Stop everything:  scripts/demo.sh stop
MSG
