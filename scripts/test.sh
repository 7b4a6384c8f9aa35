#!/usr/bin/env bash
# Everything CI runs: services, format, lints, and the whole test suite against real
# Postgres and Redis (and headless Chromium for pages).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://root@127.0.0.1:5432/billables_zoom}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "services"
scripts/setup-services.sh --chromium

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
