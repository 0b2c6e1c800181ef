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
CONNS=${CONNS:-32}

. "$(dirname "$0")/lib.sh"
EC=$(bench_free_port); EP=$(bench_free_port); EX=$(bench_free_port)
MC=$(bench_free_port); MP=$(bench_free_port); MX=$(bench_free_port)
bench_start_etcd etcd "$EC" "$EP"
bench_start "$ETCD" etcd-proxy --proxy on --data-dir "$TMP/etcd-proxy" \
    --listen-client-urls http://127.0.0.1:$EX --initial-cluster default=http://127.0.0.1:$EP
ETCD_PROXY_PID=$BENCH_PID
bench_start_metcd metcd "$MC" "$MP"
bench_start "$BUILD/metcd" metcd-proxy --proxy on --data-dir "$TMP/metcd-proxy" \
    --listen-client-urls http://127.0.0.1:$MX --initial-cluster default=http://127.0.0.1:$MP
METCD_PROXY_PID=$BENCH_PID
bench_wait_up http://127.0.0.1:$EX http://127.0.0.1:$MX

bench_header "$CONNS connections, $ROUNDS rounds of $DURATION per side"
echo "# A = etcd proxy (pid $ETCD_PROXY_PID) in front of etcd, B = metcd proxy" \
    "(pid $METCD_PROXY_PID) in front of metcd; CPU per request is the proxy's"
for op in $OPS; do
    "$BUILD/metcd-bench" compare --a http://127.0.0.1:$EX --b http://127.0.0.1:$MX \
        --a-pid $ETCD_PROXY_PID --b-pid $METCD_PROXY_PID --op "$op" --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS"
done
