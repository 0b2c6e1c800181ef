#!/bin/sh
# The storage backends side by side (docs/benchmarks.md, "Backends"):
#   sh src/bench/backends.sh BUILD_DIR KEYS RESTART_KEYS [OTHER_METCD]
# 1. server CPU per request, memory backend (A) against lmdb and leveldb (B)
#    in the same run: GET and mixed 90/10 over KEYS keys (each member filled
#    once with them first), PUT, and a listing of a 1000-child directory; with OTHER_METCD (a metcd binary built from
#    another commit) also that binary's memory backend (A) against this one's
#    (B), to see what the engine code costs when no engine is used;
# 2. restart time after kill -9 with RESTART_KEYS keys of 100 bytes, per
#    backend: from the start of the process to the first 200 from /health
#    (which includes the election), and the memory it then holds.
# BACKEND_FLAGS (e.g. "--backend-cache-nodes 20000") go to the lmdb and
# leveldb members of part 1: with a cache smaller than KEYS most GETs read
# the engine, as on a data set larger than the cache.
# Loopback ports 23900-23999; every process started here is killed by PID.
set -eu
USAGE="usage: backends.sh BUILD_DIR KEYS RESTART_KEYS [OTHER_METCD]"
BUILD=${1:?$USAGE}
KEYS=${2:?$USAGE}
RKEYS=${3:?$USAGE}
OTHER=${4:-}
DUR=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-2}
BENCH=$BUILD/metcd-bench
. "$(dirname "$0")/lib.sh"

# start BIN BACKEND PORT DIR [FLAG...]: starts one member, sets PID, waits for /health
start() {
    _bin=$1 _b=$2 _port=$3 _dir=$4
    shift 4
    "$_bin" --name m --data-dir "$_dir" --backend "$_b" \
        --listen-client-urls "http://127.0.0.1:$_port" --advertise-client-urls "http://127.0.0.1:$_port" \
        --listen-peer-urls "http://127.0.0.1:$((_port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((_port + 1))" \
        --initial-cluster "m=http://127.0.0.1:$((_port + 1))" "$@" >>"$_dir.log" 2>&1 &
    PID=$!
    BENCH_PIDS="$BENCH_PIDS $PID"
    bench_wait_health "http://127.0.0.1:$_port" 6000
}

now_ms() { date +%s%3N; }

echo "# uptime: $(uptime)"
# fill PORT: writes the KEYS keys once (the compares below do not).
fill() {
    "$BENCH" run --endpoints "http://127.0.0.1:$1" --op fill --keys "$KEYS" --value-size 100 \
        --conns 256 --duration 3600s >/dev/null
}

echo "# 1. CPU per request (B/A), $KEYS keys"
start "$BUILD/metcd" memory 23900 "$TMP/mem"
MEM=$PID
fill 23900
for b in lmdb leveldb; do
    port=23910
    [ $b = leveldb ] && port=23920
    # shellcheck disable=SC2086 # BACKEND_FLAGS: several flags
    start "$BUILD/metcd" $b $port "$TMP/$b" ${BACKEND_FLAGS:-}
    fill $port
    for op in get put mixed; do
        echo "## memory (A) vs $b (B): $op"
        "$BENCH" compare --a http://127.0.0.1:23900 --b "http://127.0.0.1:$port" \
            --a-pid "$MEM" --b-pid "$PID" --op $op --keys "$KEYS" --conns 64 \
            --duration "$DUR" --rounds "$ROUNDS" --no-populate
    done
    echo "## memory (A) vs $b (B): list of a 1000-child directory"
    "$BENCH" compare --a http://127.0.0.1:23900 --b "http://127.0.0.1:$port" \
        --a-pid "$MEM" --b-pid "$PID" --op list --keys 1000 --prefix /list --conns 16 \
        --duration "$DUR" --rounds "$ROUNDS"
    kill "$PID"
done
if [ -n "$OTHER" ]; then
    start "$OTHER" memory 23930 "$TMP/other"
    for op in get put; do
        echo "## $OTHER memory (A) vs this memory (B): $op"
        "$BENCH" compare --a http://127.0.0.1:23930 --b http://127.0.0.1:23900 \
            --a-pid "$PID" --b-pid "$MEM" --op $op --keys "$KEYS" --conns 64 \
            --duration "$DUR" --rounds "$ROUNDS"
    done
    kill "$PID"
fi
kill "$MEM"

echo "# 2. restart after kill -9, $RKEYS keys of 100 bytes"
for b in memory lmdb leveldb; do
    start "$BUILD/metcd" $b 23940 "$TMP/r-$b"
    "$BENCH" run --endpoints http://127.0.0.1:23940 --op fill --keys "$RKEYS" --value-size 100 \
        --conns 64 --duration 600s >/dev/null
    kill -9 "$PID"
    sleep 1
    t0=$(now_ms)
    start "$BUILD/metcd" $b 23940 "$TMP/r-$b"
    t1=$(now_ms)
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
    anon=$(awk '/^RssAnon/ {print $2}' "/proc/$PID/status")
    echo "$b: restart $((t1 - t0)) ms, RSS $((rss / 1024)) MB, anonymous $((anon / 1024)) MB," \
        "data dir $(du -sm "$TMP/r-$b" | cut -f1) MB"
    # The next backend binds the same ports: wait until this one is gone.
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    rm -rf "$TMP/r-$b"
done
