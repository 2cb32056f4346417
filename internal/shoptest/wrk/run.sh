#!/bin/bash
# One webhook load run (docs/benchmarks.md): starts a fresh hub from BIN
# with hub.yaml (this directory), sends the signed deliveries of TSV with
# wrk for SECS seconds over CONNS connections, and prints wrk's figures,
# the load average before the run and the hub's CPU time (user + system,
# /proc/PID/stat) per webhook answered.
# The hub's data and log go to the repository's data/hub-wrk.
#   internal/shoptest/wrk/run.sh bin/hub-bench "$PWD"/data/webhooks.tsv [CONNS] [SECS]
set -eu
BIN=$1 TSV=$2 CONNS=${3:-64} SECS=${4:-10}
DIR=$(cd "$(dirname "$0")" && pwd)
DATA="$DIR/../../../data/hub-wrk"
rm -rf "$DATA" && mkdir -p "$DATA"
"$BIN" run -c "$DIR/hub.yaml" >"$DATA/hub.log" 2>&1 &
HUB=$!
trap 'kill $HUB 2>/dev/null; wait $HUB 2>/dev/null || true' EXIT
for _ in $(seq 150); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18080/readyz || true)" = 200 ] && break
  sleep 0.2
done
cpu() { awk '{print $14 + $15}' "/proc/$HUB/stat"; }
LOAD=$(cut -d' ' -f1 /proc/loadavg)
C0=$(cpu)
OUT=$(cd "$DIR" && wrk -t2 -c"$CONNS" -d"$SECS"s --latency -s shopify.lua http://127.0.0.1:18080 -- "$TSV" 2)
C1=$(cpu)
N=$(echo "$OUT" | awk '/requests in/{print $1}')
echo "$(basename "$BIN") load=$LOAD rps=$(echo "$OUT" | awk '/Requests\/sec/{print $2}')" \
  "p50=$(echo "$OUT" | awk '$1=="50%"{print $2}') p99=$(echo "$OUT" | awk '$1=="99%"{print $2}')" \
  "non2xx=$(echo "$OUT" | awk '/Non-2xx/{print $NF}')" \
  "cpu_ms_per_webhook=$(echo "scale=3; ($C1 - $C0) * 1000 / $(getconf CLK_TCK) / $N" | bc)"
