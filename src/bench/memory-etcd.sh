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

. "$(dirname "$0")/lib.sh"
rss() { sed -n 's/^VmRSS:\s*//p' /proc/$1/status; }

EC=$(bench_free_port); EP=$(bench_free_port); MC=$(bench_free_port); MP=$(bench_free_port)
bench_start_etcd etcd "$EC" "$EP"
ETCD_PID=$BENCH_PID
bench_start_metcd metcd "$MC" "$MP"
METCD_PID=$BENCH_PID
bench_wait_up http://127.0.0.1:$EC http://127.0.0.1:$MC

bench_header "$KEYS keys of $VSIZE bytes"
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
