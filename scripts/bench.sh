#!/usr/bin/env bash
# The benchmark suite: backfill throughput against Zoom's Business rate limit, the rate
# limiter's overhead against a Redis round trip, one-by-one against bulk enqueue, and the
# workers' peak memory, each beside a baseline measured in the same run. Writes
# target/bench/summary.json and prints a table. Bounded (about 3 minutes on 2 cores, plus the
# release build); never asserts timings.
#   scripts/bench.sh                  the whole suite
#   scripts/bench.sh --members 10     fewer opted-in members (see --help for the knobs)
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://root@127.0.0.1:5432/billables_zoom}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

printf '==> services\n'
scripts/setup-services.sh | sed 's/^/    /'
printf '==> release build (billables-zoom, zoom-sim, the bench example)\n'
cargo build --release --locked -q -p app -p zoom-sim
cargo build --release --locked -q -p app --example bench
printf '==> benchmarks\n'
exec timeout --kill-after=30 600 target/release/examples/bench "$@"
