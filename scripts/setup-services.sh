#!/usr/bin/env bash
# Makes sure Postgres and Redis answer on their URLs and that the database exists,
# installing them with apt-get and starting them where they are missing. Idempotent.
#   scripts/setup-services.sh [--chromium]   (--chromium also installs Debian's Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .env ] && { set -a; . ./.env; set +a; }

DATABASE_URL="${DATABASE_URL:-postgres://root@127.0.0.1:5432/billables_zoom}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
say() { printf '[setup] %s\n' "$*"; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Postgres --------------------------------------------------------------------------
db_name="${DATABASE_URL##*/}"; db_name="${db_name%%\?*}"
admin_url="${DATABASE_URL%/*}/postgres"
pg_host=$(printf '%s' "$DATABASE_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^:/]+).*#\2#')
pg_port=$(printf '%s' "$DATABASE_URL" | sed -nE 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#p'); pg_port="${pg_port:-5432}"

if ! command -v pg_isready >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt_install postgresql postgresql-client
fi
if ! pg_isready -q -h "$pg_host" -p "$pg_port"; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    say "creating the Postgres $version cluster"
    pg_createcluster "$version" main >/dev/null
  fi
  say "starting Postgres $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$pg_host" -p "$pg_port" && break; sleep 1; done
fi
pg_isready -q -h "$pg_host" -p "$pg_port" || { echo "Postgres does not answer on $pg_host:$pg_port" >&2; exit 1; }

# A fresh Debian cluster has no `root` role and asks for passwords over TCP: allow local trust.
if ! psql "$admin_url" -Atqc 'select 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [ -f "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    say "allowing trust auth from 127.0.0.1 in $hba"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  su postgres -c "psql -Atqc \"select 1 from pg_roles where rolname = 'root'\"" | grep -q 1 \
    || su postgres -c "createuser --superuser root"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  sleep 1
fi
if ! psql "$admin_url" -Atqc "select 1 from pg_database where datname = '$db_name'" | grep -q 1; then
  say "creating database $db_name"
  psql "$admin_url" -qc "create database \"$db_name\"" >/dev/null
fi
say "Postgres ok ($pg_host:$pg_port/$db_name)"

# --- Redis -----------------------------------------------------------------------------
redis_host=$(printf '%s' "$REDIS_URL" | sed -E 's#^[a-z]+://([^@/]*@)?([^:/]+).*#\2#')
redis_port=$(printf '%s' "$REDIS_URL" | sed -nE 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#p'); redis_port="${redis_port:-6379}"
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
if ! redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG; then
  say "starting Redis on $redis_host:$redis_port"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/billables-zoom.log
  for _ in $(seq 1 20); do redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.5; done
fi
redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG || { echo "Redis does not answer on $redis_host:$redis_port" >&2; exit 1; }
say "Redis ok ($redis_host:$redis_port)"

# --- Chromium (page tests) -------------------------------------------------------------
if [ "${1:-}" = "--chromium" ]; then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver
  fi
  say "Chromium ok ($(chromium --version 2>/dev/null | head -n1))"
fi
