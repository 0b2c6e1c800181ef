#!/bin/sh
# Proxy mode side by side: an etcd 3.4.23 member behind an etcd proxy
# (--proxy on) and a metcd member behind a metcd proxy, on loopback; runs
# metcd-bench compare through the two proxies, reporting each proxy's CPU
# per request (the members' work is the same as without a proxy).
#
# Usage: sh src/bench/proxy-etcd.sh [BUILD_DIR] [DURATION] [ROUNDS] [OPS]
#   BUILD_DIR  where metcd and metcd-bench are (default build)
#   DURATION   per round and side (default 5s); ROUNDS (default 2)
#   OPS        loads (default "get put")
# Environment: CONNS (default 32): client connections, each one a
#   connection (and, in metcd's proxy, a thread) of the proxy.
set -eu
BUILD=${1:-build}
DURATION=${2:-5s}
ROUNDS=${3:-2}
OPS=${4:-get put}
ETCD=${ETCD:-/usr/bin/etcd}
CONNS=${CONNS:-32}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

TMP=$(mktemp -d)
EC=$(free_port); EP=$(free_port); EX=$(free_port)
MC=$(free_port); MP=$(free_port); MX=$(free_port)
"$ETCD" --enable-v2=true --data-dir "$TMP/etcd" \
    --listen-client-urls http://127.0.0.1:$EC --advertise-client-urls http://127.0.0.1:$EC \
    --listen-peer-urls http://127.0.0.1:$EP --initial-advertise-peer-urls http://127.0.0.1:$EP \
    --initial-cluster default=http://127.0.0.1:$EP >"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!
"$ETCD" --proxy on --data-dir "$TMP/etcd-proxy" --listen-client-urls http://127.0.0.1:$EX \
    --initial-cluster default=http://127.0.0.1:$EP >"$TMP/etcd-proxy.log" 2>&1 &
ETCD_PROXY_PID=$!
"$BUILD/metcd" --name default --data-dir "$TMP/metcd" \
    --listen-client-urls http://127.0.0.1:$MC --advertise-client-urls http://127.0.0.1:$MC \
    --listen-peer-urls http://127.0.0.1:$MP --initial-advertise-peer-urls http://127.0.0.1:$MP \
    --initial-cluster default=http://127.0.0.1:$MP >"$TMP/metcd.log" 2>&1 &
METCD_PID=$!
"$BUILD/metcd" --proxy on --data-dir "$TMP/metcd-proxy" --listen-client-urls http://127.0.0.1:$MX \
    --initial-cluster default=http://127.0.0.1:$MP >"$TMP/metcd-proxy.log" 2>&1 &
METCD_PROXY_PID=$!
cleanup() {
    kill "$ETCD_PID" "$ETCD_PROXY_PID" "$METCD_PID" "$METCD_PROXY_PID" 2>/dev/null || true
    wait "$ETCD_PID" "$ETCD_PROXY_PID" "$METCD_PID" "$METCD_PROXY_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for url in http://127.0.0.1:$EX http://127.0.0.1:$MX; do
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/v2/keys/")" = 200 ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$url did not start" >&2; exit 1; }
        sleep 0.1
    done
done

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$CONNS connections, $ROUNDS rounds of $DURATION per side, $(nproc) cores"
echo "# A = etcd proxy (pid $ETCD_PROXY_PID) in front of etcd, B = metcd proxy" \
    "(pid $METCD_PROXY_PID) in front of metcd; CPU per request is the proxy's"
for op in $OPS; do
    "$BUILD/metcd-bench" compare --a http://127.0.0.1:$EX --b http://127.0.0.1:$MX \
        --a-pid $ETCD_PROXY_PID --b-pid $METCD_PROXY_PID --op "$op" --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS"
done
