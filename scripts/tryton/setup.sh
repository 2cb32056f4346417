#!/usr/bin/env bash
# Sets up a real Tryton 6.0 ERP for the tryton connector's tests, and is
# safe to run again (each step is skipped when it is done already):
#
#  1. installs Tryton 6.0 from Debian's packages when trytond is missing;
#  2. creates the template database $HUB_TEST_TRYTON_TEMPLATE (default
#     hub_template) in $HUB_TRYTON_HOME/db with the minimum set-up a sale
#     needs to be invoiced (currency EUR, company, chart of accounts, fiscal
#     year with sequences, a product category with accounts, products
#     SKU-1..SKU-5 in unit "u"), through JSON-RPC (setup_db.py);
#  3. starts trytond on 127.0.0.1:$HUB_TRYTON_PORT in the background.
#
# Progress goes to standard error; standard output is only the environment
# the tests read, as shell export lines, so CI runs
#
#     eval "$(scripts/tryton/setup.sh)"
#
# The same lines are written to $HUB_TRYTON_HOME/env. Tests copy
# $HUB_TEST_TRYTON_DBDIR/$HUB_TEST_TRYTON_TEMPLATE.sqlite to a new name per
# test; the running server serves every database file of that folder.
#
# Settings (environment): HUB_TRYTON_HOME (default data/tryton in the
# repository, which git ignores),
# HUB_TRYTON_PORT (default 18000), HUB_TEST_TRYTON_TEMPLATE (hub_template).
# `scripts/tryton/setup.sh stop` stops the server.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
home="${HUB_TRYTON_HOME:-$here/../../data/tryton}"
mkdir -p "$home" && home="$(cd "$home" && pwd)"
port="${HUB_TRYTON_PORT:-18000}"
template="${HUB_TEST_TRYTON_TEMPLATE:-hub_template}"
py=/usr/bin/python3
url="http://127.0.0.1:${port}"

log() { printf 'tryton-setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

conf="$home/trytond.conf"
pidfile="$home/trytond.pid"
urlfile="$home/url"
logfile="$home/trytond.log"

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

if [ "${1:-}" = stop ]; then
  if running; then
    pid="$(cat "$pidfile")"
    log "stopping trytond (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  exit 0
fi

# 1. Install.
modules=(tryton-server tryton-modules-party tryton-modules-sale
  tryton-modules-account-invoice tryton-modules-product tryton-modules-company
  tryton-modules-currency tryton-modules-account tryton-modules-stock
  tryton-modules-account-product tryton-modules-sale-amendment)
# Modules activated in the template database (sale_amendment lets the
# connector change the lines of a sale Tryton is already processing).
activate=(sale account_invoice account_product sale_amendment)
missing=()
for p in "${modules[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (apt, --no-install-recommends)"
  apt_prefix=()
  [ "$(id -u)" -eq 0 ] || apt_prefix=(sudo)
  "${apt_prefix[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${apt_prefix[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >&2
else
  log "Tryton packages already installed"
fi
command -v trytond >/dev/null || die "trytond not on PATH after install"
[ -x "$py" ] || die "$py is missing"

# 2. Config.
mkdir -p "$home/db"
echo admin >"$home/passfile"
cat >"$conf.new" <<CONF
[web]
listen = 127.0.0.1:${port}
[database]
uri = sqlite://
path = ${home}/db
CONF
if ! cmp -s "$conf.new" "$conf"; then
  mv "$conf.new" "$conf"
  log "wrote $conf"
  if running; then
    log "config changed: restarting trytond"
    "$0" stop
  fi
else
  rm -f "$conf.new"
fi
export TRYTONPASSFILE="$home/passfile"

start_server() {
  if running && [ "$(cat "$urlfile" 2>/dev/null)" = "$url" ]; then
    log "trytond already running (pid $(cat "$pidfile")) at $url"
    return
  fi
  if running; then "$0" stop; fi
  log "starting trytond on $url (log $logfile)"
  nohup trytond -c "$conf" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "$url" >"$urlfile"
  for _ in $(seq 1 100); do
    if "$py" - "$url" <<'PY' 2>/dev/null; then return; fi
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/", data=json.dumps(
    {"id": 0, "method": "common.server.version", "params": []}).encode(),
    headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=1).read()
PY
    running || die "trytond exited at start; see $logfile"
    sleep 0.1
  done
  die "trytond did not answer on $url within 10 s; see $logfile"
}

# 3. Template database.
db="$home/db/$template.sqlite"
ready="$home/db/$template.ready"
if [ -f "$db" ] && [ -f "$ready" ]; then
  log "template database $template is ready ($db)"
  start_server
  if [ "$(cat "$home/db/$template.modules" 2>/dev/null)" != "${activate[*]}" ]; then
    log "activating ${activate[*]} in $template"
    "$0" stop
    trytond-admin -c "$conf" -d "$template" -u "${activate[@]}" --activate-dependencies >>"$logfile" 2>&1 ||
      die "trytond-admin -u failed; see $logfile"
    echo "${activate[*]}" >"$home/db/$template.modules"
    start_server
  fi
  if [ "$(head -c4 "$ready")" != "$(date -u +%Y)" ] || [ "$here/setup_db.py" -nt "$ready" ]; then
    # A new year (a fiscal year must cover today) or a newer set-up
    # script: run the set-up again; it only adds what is missing.
    log "template older than this year or than setup_db.py: completing its set-up"
    "$py" "$here/setup_db.py" "$url" "$template" >&2 || die "setup_db.py failed"
    date -u +%FT%TZ >"$ready"
  fi
else
  rm -f "$db" "$ready" "$home/db/$template.modules"
  t0=$(date +%s)
  log "creating database $template (trytond-admin --all; about 20 s)"
  touch "$db"
  trytond-admin -c "$conf" -d "$template" --all --email admin@example.com >>"$logfile" 2>&1 ||
    die "trytond-admin --all failed; see $logfile"
  log "activating ${activate[*]}"
  trytond-admin -c "$conf" -d "$template" -u "${activate[@]}" \
    --activate-dependencies >>"$logfile" 2>&1 || die "trytond-admin -u failed; see $logfile"
  echo "${activate[*]}" >"$home/db/$template.modules"
  start_server
  log "set-up over JSON-RPC (currency, company, accounts, fiscal year, products)"
  "$py" "$here/setup_db.py" "$url" "$template" >&2 || die "setup_db.py failed"
  date -u +%FT%TZ >"$ready"
  log "template $template done in $(($(date +%s) - t0)) s"
fi

env_lines="export HUB_TEST_TRYTON_URL=$url
export HUB_TEST_TRYTON_DBDIR=$home/db
export HUB_TEST_TRYTON_TEMPLATE=$template
export HUB_TEST_TRYTON_USER=admin
export HUB_TEST_TRYTON_PASSWORD=admin
export HUB_TEST_TRYTON_PIDFILE=$pidfile"
printf '%s\n' "$env_lines" >"$home/env"
printf '%s\n' "$env_lines"
