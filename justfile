# Billables for Zoom — recipes wrap the scripts (see README).

# The whole story against the simulator, left running.
demo:
    scripts/demo.sh

# Stop what the demo started.
demo-stop:
    scripts/demo.sh stop

# Everything CI runs: fmt, clippy, all tests against real Postgres and Redis.
test *ARGS:
    scripts/test.sh {{ARGS}}

# Benchmarks beside same-run baselines: target/bench/summary.json and a table (~1-2 min + build).
bench *ARGS:
    scripts/bench.sh {{ARGS}}

# The fault scenario (kill -9, Redis restart, 429 storms, 5xx) checked against the ground truth:
# target/chaos/summary.json, a table, exit 0 only if every check held (~2 min + build).
chaos *ARGS:
    scripts/chaos.sh {{ARGS}}

# Make sure Postgres and Redis answer (installing them when missing).
services:
    scripts/setup-services.sh

# Apply migrations.
migrate:
    cargo run -q -p app -- migrate

# Run the API by hand (reads .env).
serve:
    cargo run -p app -- serve

# Run one worker process by hand (reads .env); start several for more throughput.
worker:
    cargo run -p app -- worker

# API and workers in one process.
all:
    cargo run -p app -- all

# The Zoom simulator by hand.
sim PORT="9100" SEED="1":
    cargo run -p zoom-sim -- --bind 127.0.0.1:{{PORT}} --seed {{SEED}}

# A user token for local use.
token EMAIL:
    cargo run -q -p app -- dev-token --email {{EMAIL}}
