#!/usr/bin/env bash
# The main job on a fresh machine: the whole story of Billables for Zoom against the local
# Zoom simulator, narrated step by step, then left running for you to look around.
#   scripts/demo.sh         run the story (restarts anything a previous run left)
#   scripts/demo.sh stop    stop what the demo started
# Exit code 0 only if every step held.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/.demo"
mkdir -p "$state"

API_PORT="${DEMO_API_PORT:-8080}"
SIM_PORT="${DEMO_SIM_PORT:-9100}"
API="http://127.0.0.1:$API_PORT"
SIM="http://127.0.0.1:$SIM_PORT"
DOMAIN="acme.test"

bold() { printf '\033[1m%s\033[0m' "$*"; }
now_s() { date +%s.%N; }
t0=$(now_s)
step_start=$t0
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}s')" "$1" "$(now_s)"; }
step() { step_start=$(now_s); printf '\n%s %s\n' "$(bold "▶")" "$(bold "$*")"; }
say() { printf '  %s\n' "$*"; }
ok() { printf '  \033[32m✓\033[0m %s (%s)\n' "$*" "$(secs "$step_start")"; }
fail() { printf '  \033[31m✗ %s\033[0m\n' "$*" >&2; printf '  logs: %s/*.log\n' "$state" >&2; exit 1; }

# JSON helper: json '<python expression over d>' < body
json() { python3 -c "import json,sys; d=json.load(sys.stdin); v=($1); print(v if not isinstance(v,(dict,list)) else json.dumps(v))"; }

stop_all() {
  local any=""
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; any=1; fi
    rm -f "$pidfile"
  done
  if [ -n "$any" ]; then sleep 1; echo "stopped the demo's processes (logs stay in $state/)"; else echo "nothing of the demo was running"; fi
}

if [ "${1:-}" = "stop" ]; then stop_all; exit 0; fi
stop_all >/dev/null

printf '%s\n' "$(bold "Billables for Zoom — the demo")"
say "An IT admin installs the Zoom app for acme.test, two professionals opt in, their meetings"
say "and calls become billable entries, a colleague who did not opt in gets nothing, a new"
say "meeting is picked up by the scheduled pull, and removing the app stops everything."
say "Zoom is played by the local simulator (zoom-sim); Postgres and Redis are real."

step "1. Postgres and Redis (installed and started when missing)"
scripts/setup-services.sh | sed 's/^/  /'
ok "services answer"

step "2. Release build of billables-zoom and zoom-sim"
cargo build --release --locked -q -p app -p zoom-sim
ok "built"

# The demo's configuration: fresh secrets, Zoom pointed at the simulator, a fresh key prefix.
run_id=$(date +%s)
cat > "$state/env" <<ENV
DATABASE_URL=postgres://root@127.0.0.1:5432/billables_zoom_demo
REDIS_URL=redis://127.0.0.1:6379
REDIS_KEY_PREFIX=demo-$run_id
BIND_ADDR=127.0.0.1:$API_PORT
PUBLIC_BASE_URL=$API
ZOOM_CLIENT_ID=sim-client-id
ZOOM_CLIENT_SECRET=sim-client-secret
ZOOM_WEBHOOK_SECRET_TOKEN=sim-webhook-secret
ZOOM_OAUTH_BASE_URL=$SIM
TOKEN_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
ADMIN_API_TOKEN=demo-admin-$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
USER_JWT_SECRET=demo-jwt-$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
PULL_SCHEDULE="*/5 * * * * *"
BACKFILL_DAYS=30
ENV
set -a; . "$state/env"; set +a
bin="$root/target/release/billables-zoom"
ADMIN=(-H "Authorization: Bearer $ADMIN_API_TOKEN")

step "3. A fresh database, migrated"
psql "${DATABASE_URL%/*}/postgres" -qc "drop database if exists billables_zoom_demo with (force)" >/dev/null
psql "${DATABASE_URL%/*}/postgres" -qc "create database billables_zoom_demo" >/dev/null
"$bin" migrate >/dev/null
ok "schema up to date"

start() { local name=$1; shift; nohup "$@" >"$state/$name.log" 2>&1 & echo $! >"$state/$name.pid"; }

step "4. Zoom (the simulator) with a 40-person company, 30 days of meetings and calls"
start zoom-sim "$root/target/release/zoom-sim" --bind "127.0.0.1:$SIM_PORT" --seed 7
for _ in $(seq 1 50); do curl -fs "$SIM/_sim/clock" >/dev/null 2>&1 && break; sleep 0.2; done
company=$(curl -fsS -X POST "$SIM/_sim/companies" -H 'content-type: application/json' \
  -d "{\"domain\":\"$DOMAIN\",\"users\":40,\"days\":30,\"meetings_per_user_per_day\":1.2,\"calls_per_user_per_day\":1.0,\"shared_meeting_share\":0.6}") \
  || fail "the simulator did not start (see $state/zoom-sim.log)"
echo "$company" > "$state/company.json"
zoom_account=$(echo "$company" | json 'd["account_id"]')
admin_email=$(echo "$company" | json 'd["admin"]["email"]')
user_email() { echo "$company" | json "d['users'][$1]['email'].lower()"; }
user_id() { echo "$company" | json "d['users'][$1]['id']"; }
say "Zoom account $zoom_account, admin $admin_email, 40 users"
ok "Zoom is up"

step "5. The service: the API and two worker processes"
start api "$bin" serve
start worker-1 "$bin" worker
start worker-2 "$bin" worker
for _ in $(seq 1 100); do curl -fs "$API/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$API/readyz" >/dev/null || fail "the API did not become ready"
for w in worker-1 worker-2; do kill -0 "$(cat "$state/$w.pid")" 2>/dev/null || fail "$w exited"; done
ok "ready: $(curl -fs "$API/readyz" | json '", ".join(k + " " + v["status"] for k, v in d["checks"].items())')"

step "6. Billables staff create a custom install link for $DOMAIN"
link=$(curl -fsS -X POST "$API/v1/admin/install-links" "${ADMIN[@]}" -H 'content-type: application/json' -d "{\"domain\":\"$DOMAIN\"}")
link_url=$(echo "$link" | json 'd["url"]')
say "link: $link_url (valid until $(echo "$link" | json 'd["expires_at"]'))"
ok "link created"

step "7. The IT admin opens the link and clicks Allow in Zoom"
page=$(curl -fsS "$link_url")
echo "$page" | grep -q "Continue to Zoom" || fail "the install page has no Continue to Zoom button"
say "the page names $DOMAIN and the read-only permissions; the admin clicks Continue to Zoom"
continue_path=$(echo "$page" | python3 -c 'import re,sys; print(re.search(r"id=\"continue\" href=\"([^\"]+)\"", sys.stdin.read()).group(1))')
to_zoom=$(curl -fsS -o /dev/null -w '%{redirect_url}' "$API$continue_path")
say "→ Zoom: ${to_zoom%%\?*}?response_type=code&client_id=…&redirect_uri=…&state=…"
back=$(curl -fsS -o /dev/null -w '%{redirect_url}' "$to_zoom")
say "→ the admin ($admin_email) clicks Allow; Zoom sends them back to ${back%%\?*}"
result=$(curl -sS -w '\n%{http_code}' "$back")
[ "$(echo "$result" | tail -n1)" = "200" ] || fail "the OAuth callback answered $(echo "$result" | tail -n1)"
ok "authorised: tokens stored encrypted, onboarding job queued"

step "8. Onboarding: the account's Zoom users are synced"
for _ in $(seq 1 150); do
  accounts=$(curl -fsS "$API/v1/ops/accounts" "${ADMIN[@]}")
  status=$(echo "$accounts" | json 'd["accounts"][0]["status"] if d["accounts"] else "none"')
  [ "$status" = "active" ] && break
  sleep 0.2
done
[ "$status" = "active" ] || fail "the account did not become active (status $status)"
account_id=$(echo "$accounts" | json 'd["accounts"][0]["id"]')
synced=$(psql "$DATABASE_URL" -Atc "select count(*) from zoom_users")
ok "account active, $synced Zoom users synced"

token_for() { "$bin" dev-token --email "$1" --sub "$2"; }
ann_email=$(user_email 3); bob_email=$(user_email 4); cat_email=$(user_email 5)
ann_token=$(token_for "$ann_email" ann); bob_token=$(token_for "$bob_email" bob); cat_token=$(token_for "$cat_email" cat)
me() { curl -fsS "$API$2" -H "Authorization: Bearer $1"; }

step "9. Two professionals opt in on their integrations page: $ann_email and $bob_email"
for who in ann bob; do
  tok_var="${who}_token"; tok="${!tok_var}"
  job=$(curl -fsS -X POST "$API/v1/me/zoom/opt-in" -H "Authorization: Bearer $tok" | json 'd["job_id"]')
  email_var="${who}_email"
  say "${!email_var} opted in; backfill job $job"
done
ok "opt-ins accepted"

step "10. Backfill: each one's last 30 days of meetings and calls"
for who in ann bob; do
  tok_var="${who}_token"; tok="${!tok_var}"
  last=""
  for _ in $(seq 1 600); do
    s=$(me "$tok" /v1/me/zoom)
    progress=$(echo "$s" | json '"%s %s/%s" % (d["backfill"]["state"], d["backfill"]["done"], d["backfill"]["total"]) if d["backfill"] else "none"')
    email_var="${who}_email"
    [ "$progress" != "$last" ] && say "${!email_var}: backfill $progress windows" && last=$progress
    [ "${progress%% *}" = "done" ] && break
    sleep 0.2
  done
  [ "${progress%% *}" = "done" ] || fail "the backfill of ${!email_var} did not finish ($progress)"
done
ok "backfills done"

entries_table() { # token, title
  DATA=$(me "$1" "/v1/me/billables?limit=200") python3 - "$2" <<'PY'
import json, os, sys
items = json.loads(os.environ["DATA"])["items"]
total = sum(i["billed_minutes"] for i in items)
meetings = sum(1 for i in items if i["source"] == "zoom_meeting")
calls = len(items) - meetings
print(f"  {sys.argv[1]}: {len(items)} entries ({meetings} meetings, {calls} calls), {total} billed minutes = {total / 60:.1f} h")
print("    %-17s %-40s %7s" % ("date (UTC)", "title", "minutes"))
for i in items[:8]:
    print("    %-17s %-40s %7d" % (i["started_at"][:16].replace("T", " "), i["title"][:40], i["billed_minutes"]))
if len(items) > 8:
    print(f"    … and {len(items) - 8} more")
PY
}

step "11. Their entries (newest first; minutes rounded up to 6-minute increments)"
entries_table "$ann_token" "$ann_email"
entries_table "$bob_token" "$bob_email"
ann_count=$(me "$ann_token" "/v1/me/billables?limit=200" | json 'len(d["items"])')
[ "$ann_count" -gt 0 ] || fail "no entries for $ann_email"
ok "entries only for meetings and calls they took part in"

step "12. A colleague who did not opt in: $cat_email"
cat_status=$(me "$cat_token" /v1/me/zoom | json 'd["status"]')
cat_items=$(me "$cat_token" /v1/me/billables | json 'len(d["items"])')
say "status: $cat_status, entries: $cat_items; members stored: $(psql "$DATABASE_URL" -Atc 'select count(*) from members')"
[ "$cat_items" = "0" ] || fail "a user who did not opt in has entries"
ok "nothing for people who did not opt in"

step "13. A new meeting ends ($ann_email and $bob_email, 25 minutes); the scheduled pull picks it up"
meeting=$(curl -fsS -X POST "$SIM/_sim/companies/$zoom_account/meetings" -H 'content-type: application/json' -d "{
  \"topic\":\"Acme — contract review\",\"host_id\":\"$(user_id 3)\",\"participants\":[
   {\"user_id\":\"$(user_id 3)\",\"join_offset_secs\":0,\"leave_offset_secs\":1500},
   {\"user_id\":\"$(user_id 4)\",\"join_offset_secs\":120,\"leave_offset_secs\":1500}]}")
uuid=$(echo "$meeting" | json 'd["uuid"]')
say "meeting $uuid ended just now; waiting for the next tick of PULL_SCHEDULE ($PULL_SCHEDULE)"
found=""
for _ in $(seq 1 100); do
  found=$(DATA=$(me "$ann_token" "/v1/me/billables?limit=5") UUID="$uuid" python3 -c 'import json, os
items = json.loads(os.environ["DATA"])["items"]
print(next(("%s: %s min" % (i["title"], i["billed_minutes"]) for i in items if i["external_id"] == os.environ["UUID"]), ""))')
  [ -n "$found" ] && break
  sleep 0.2
done
[ -n "$found" ] || fail "the scheduled pull did not pick up the new meeting"
say "new entry of $ann_email — $found"
ok "picked up by the scheduled pull"

step "14. The IT admin removes the app in the Zoom App Marketplace"
say "Zoom sends a signed app_deauthorized webhook to $API/zoom/webhook"
hook=$(curl -fsS -X POST "$SIM/_sim/companies/$zoom_account/deauthorize" -H 'content-type: application/json' -d "{\"url\":\"$API/zoom/webhook\"}")
say "webhook answered $(echo "$hook" | json 'd["status"]')"
for _ in $(seq 1 100); do
  status=$(curl -fsS "$API/v1/ops/accounts" "${ADMIN[@]}" | json 'd["accounts"][0]["status"]')
  [ "$status" = "removed" ] && break; sleep 0.2
done
[ "$status" = "removed" ] || fail "the account was not torn down (status $status)"
say "account removed; tokens stored: $(psql "$DATABASE_URL" -Atc 'select count(*) from oauth_tokens'); $ann_email sees: $(me "$ann_token" /v1/me/zoom | json 'd["status"] + " (account " + str(d["account_status"]) + ")"')"
ok "teardown done: integration disabled for every user, tokens revoked and deleted"

step "15. After removal, nothing more is written"
before=$(psql "$DATABASE_URL" -Atc "select count(*) from billables")
curl -fsS -X POST "$SIM/_sim/companies/$zoom_account/meetings" -H 'content-type: application/json' -d "{
  \"topic\":\"After removal\",\"host_id\":\"$(user_id 3)\",\"participants\":[
   {\"user_id\":\"$(user_id 3)\",\"join_offset_secs\":0,\"leave_offset_secs\":900},
   {\"user_id\":\"$(user_id 4)\",\"join_offset_secs\":0,\"leave_offset_secs\":900}]}" >/dev/null
sleep 11
after=$(psql "$DATABASE_URL" -Atc "select count(*) from billables")
[ "$before" = "$after" ] || fail "entries were written after removal ($before → $after)"
say "entries before: $before, after two more ticks: $after (existing entries stay with their users)"
ok "no billable written after removal"

printf '\n%s in %s.\n' "$(bold "All steps held")" "$(secs "$t0")"
cat <<MSG

Look around (the service keeps running):
  Integrations page   $API/integrations?token=$ann_token
  Operator pages      $API/ops   (sign in with ADMIN_API_TOKEN from $state/env)
  Queue UI            $API/ops/board
  Metrics             $API/metrics
  OpenAPI             $API/openapi.json
  Simulator           $SIM/_sim/counters
  Logs                $state/*.log

Stop everything:      scripts/demo.sh stop
MSG
