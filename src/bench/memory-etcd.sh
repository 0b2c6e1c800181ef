#!/bin/sh
# Loads the same number of keys into a fresh etcd 3.4.23 and a fresh metcd
# (metcd-bench --op fill) and prints each server's resident memory before and
# after, plus the time a sorted recursive GET of the whole prefix takes.
#
# Usage: sh src/bench/memory-etcd.sh [BUILD_DIR] [KEYS] [VALUE_SIZE]
#   defaults: build 1000000 100
set -eu
BUILD=${1:-build}
KEYS=${2:-1000000}
VSIZE=${3:-100}
ETCD=${ETCD:-/usr/bin/etcd}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss() { sed -n 's/^VmRSS:\s*//p' /proc/$1/status; }

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

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $KEYS keys of $VSIZE bytes"
for side in "etcd $ETCD_PID $EC" "metcd $METCD_PID $MC"; do
    set -- $side
    before=$(rss $2)
    start=$(date +%s.%N)
    "$BUILD/metcd-bench" --endpoints http://127.0.0.1:$3 --op fill --keys "$KEYS" \
        --value-size "$VSIZE" --duration 600s --json >"$TMP/fill.json"
    end=$(date +%s.%N)
    after=$(rss $2)
    peak_fill=$(sed -n 's/^VmHWM:\s*//p' /proc/$2/status)
    t0=$(date +%s.%N)
    bytes=$(curl -s --max-time 120 -o /dev/null -w '%{size_download}' \
        "http://127.0.0.1:$3/v2/keys/bench?recursive=true&sorted=true")
    t1=$(date +%s.%N)
    peak=$(sed -n 's/^VmHWM:\s*//p' /proc/$2/status)
    echo "$1: RSS before $before, after the fill $after (peak $peak_fill; after the GET $peak);" \
        "fill $(python3 -c "print('%.1f' % ($end - $start))") s" \
        "($(python3 -c "import json; r=json.load(open('$TMP/fill.json')); print('%.0f req/s, %d errors' % (r['rps'], r['errors']))"));" \
        "sorted recursive GET of all keys: $bytes bytes in $(python3 -c "print('%.2f' % ($t1 - $t0))") s"
done
