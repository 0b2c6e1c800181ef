#!/bin/sh
# Starts etcd 3.4.23 (v2 enabled) and metcd side by side on loopback, runs
# metcd-bench compare for each load, prints a Markdown table, and stops both.
#
# Usage: sh src/bench/compare-etcd.sh [BUILD_DIR] [DURATION] [ROUNDS] [OPS]
#   BUILD_DIR  where metcd and metcd-bench are (default build)
#   DURATION   per round and server (default 5s); ROUNDS (default 2)
#   OPS        loads to run (default "get put mixed watch")
# Needs /usr/bin/etcd and python3 (only to format the table).
set -eu
BUILD=${1:-build}
DURATION=${2:-5s}
ROUNDS=${3:-2}
OPS=${4:-get put mixed watch}
ETCD=${ETCD:-/usr/bin/etcd}
CONNS=${CONNS:-64}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

TMP=$(mktemp -d)
EC=$(free_port); EP=$(free_port); MC=$(free_port); MP=$(free_port)
"$ETCD" --enable-v2=true --data-dir "$TMP/etcd" \
    --listen-client-urls http://127.0.0.1:$EC --advertise-client-urls http://127.0.0.1:$EC \
    --listen-peer-urls http://127.0.0.1:$EP --initial-advertise-peer-urls http://127.0.0.1:$EP \
    --initial-cluster default=http://127.0.0.1:$EP >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!
"$BUILD/metcd" --name default --data-dir "$TMP/metcd" \
    --listen-client-urls http://127.0.0.1:$MC --advertise-client-urls http://127.0.0.1:$MC \
    --listen-peer-urls http://127.0.0.1:$MP --initial-advertise-peer-urls http://127.0.0.1:$MP \
    --initial-cluster default=http://127.0.0.1:$MP >"$TMP/metcd.log" 2>&1 &
METCD_PID=$!
cleanup() {
    kill "$ETCD_PID" "$METCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" "$METCD_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for url in http://127.0.0.1:$EC http://127.0.0.1:$MC; do
    i=0
    until curl -s -o /dev/null --max-time 1 "$url/v2/keys/"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$url did not start" >&2; exit 1; }
        sleep 0.1
    done
done

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$CONNS connections, $ROUNDS rounds of $DURATION per server"
echo "# A = etcd $("$ETCD" --version | sed -n 's/^etcd Version: //p') (pid $ETCD_PID)," \
    "B = metcd $("$BUILD/metcd" --version 2>/dev/null | sed -n "s/^metcd Version: //p") (pid $METCD_PID)"
for op in $OPS; do
    "$BUILD/metcd-bench" compare --a http://127.0.0.1:$EC --b http://127.0.0.1:$MC \
        --a-pid $ETCD_PID --b-pid $METCD_PID --op "$op" --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS" --json | tail -n 1
done | python3 -c '
import json, sys
print("| op | etcd req/s | metcd req/s | B/A | etcd p50 | metcd p50 | etcd p99 | metcd p99 | etcd CPU/req | metcd CPU/req | CPU B/A | errors A/B |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for line in sys.stdin:
    r = json.loads(line)
    cpu = r["b_cpu_us"] / r["a_cpu_us"] if r["a_cpu_us"] > 0 else 0
    print("| %s | %.0f | %.0f | %.2f | %.2f ms | %.2f ms | %.1f ms | %.1f ms | %.1f us | %.1f us | %.2f | %d/%d |" % (
        r["op"], r["a_rps"], r["b_rps"], r["rps_ratio"], r["a_p50_ms"], r["b_p50_ms"],
        r["a_p99_ms"], r["b_p99_ms"], r["a_cpu_us"], r["b_cpu_us"], cpu,
        r["a_errors"], r["b_errors"]))
    if r["op"] == "watch":
        print("| watch events/s | %.0f | %.0f | %.2f | | | | | | | | resyncs %d/%d |" % (
            r["a_events_per_s"], r["b_events_per_s"],
            r["b_events_per_s"] / r["a_events_per_s"] if r["a_events_per_s"] else 0,
            r["a_resyncs"], r["b_resyncs"]))
'
echo "# RSS after the runs: etcd $(sed -n 's/^VmRSS:\s*//p' /proc/$ETCD_PID/status)," \
    "metcd $(sed -n 's/^VmRSS:\s*//p' /proc/$METCD_PID/status)"
