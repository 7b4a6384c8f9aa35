#!/usr/bin/env bash
# The fault suite: the release binaries (Zoom simulator, API, 3 workers) on 127.0.0.1 with a
# Redis of their own (append-only file), members opting in while workers are killed with
# SIGKILL and restarted, Redis is killed and restarted, Zoom answers 429 storms and 5xx
# bursts, and scheduled pulls run; then every entry is checked against the simulator's ground
# truth. Writes target/chaos/summary.json, prints the timeline and a table of checks, and
# exits 0 only if every check held. Bounded (about 3–4 minutes plus the release build).
#   scripts/chaos.sh                  a run with a random seed (printed)
#   scripts/chaos.sh --seed 42        replay a run's fault schedule (see --help for the knobs)
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://root@127.0.0.1:5432/billables_zoom}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

printf '==> services\n'
scripts/setup-services.sh | sed 's/^/    /'
command -v redis-server >/dev/null || { echo "redis-server is needed for the Redis restarts" >&2; exit 1; }
printf '==> release build (billables-zoom, zoom-sim, the chaos example)\n'
cargo build --release --locked -q -p app -p zoom-sim
cargo build --release --locked -q -p app --example chaos
printf '==> fault scenario\n'
exec timeout --kill-after=30 900 target/release/examples/chaos "$@"
