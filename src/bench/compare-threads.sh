#!/bin/sh
# Starts two fresh metcd members side by side on loopback, A with
# --threads 1 (one loop for clients, raft and the store) and B with
# --threads N, runs metcd-bench compare for each load (alternating A and B),
# prints a Markdown table and stops both.
#
# Usage: sh src/bench/compare-threads.sh [BUILD_DIR] [N] [DURATION] [ROUNDS] [OPS]
#   defaults: build 2 5s 2 "list get put lock"; CONNS=64
set -eu
BUILD=${1:-build}
N=${2:-2}
DURATION=${3:-5s}
ROUNDS=${4:-2}
OPS=${5:-list get put lock}
CONNS=${CONNS:-64}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

TMP=$(mktemp -d)
start() { # NAME THREADS CLIENT_PORT PEER_PORT
    "$BUILD/metcd" --name default --data-dir "$TMP/$1" \
        --listen-client-urls http://127.0.0.1:$3 --advertise-client-urls http://127.0.0.1:$3 \
        --listen-peer-urls http://127.0.0.1:$4 --initial-advertise-peer-urls http://127.0.0.1:$4 \
        --initial-cluster default=http://127.0.0.1:$4 --threads "$2" >"$TMP/$1.log" 2>&1 &
}
AC=$(free_port); AP=$(free_port); BC=$(free_port); BP=$(free_port)
start a 1 "$AC" "$AP"
A_PID=$!
start b "$N" "$BC" "$BP"
B_PID=$!
cleanup() {
    kill "$A_PID" "$B_PID" 2>/dev/null || true
    wait "$A_PID" "$B_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
for url in http://127.0.0.1:$AC http://127.0.0.1:$BC; do
    i=0
    until curl -s -o /dev/null --max-time 1 "$url/v2/keys/"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$url did not start" >&2; exit 1; }
        sleep 0.1
    done
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$CONNS connections, $ROUNDS rounds of $DURATION per server, $(nproc) cores"
echo "# A = metcd --threads 1 (pid $A_PID), B = metcd --threads $N (pid $B_PID)"
echo "| load | A req/s | B req/s | B/A | A p99 | B p99 | A CPU/req | B CPU/req |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for op in $OPS; do
    "$BUILD/metcd-bench" compare --a http://127.0.0.1:$AC --b http://127.0.0.1:$BC \
        --a-pid $A_PID --b-pid $B_PID --op "$op" --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS" --json | tail -n 1 |
        python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("| %s | %.0f | %.0f | %.2f | %.1f ms | %.1f ms | %.1f us | %.1f us |" % (
    r["op"], r["a_rps"], r["b_rps"], r["rps_ratio"], r["a_p99_ms"], r["b_p99_ms"],
    r["a_cpu_us"], r["b_cpu_us"]))'
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
