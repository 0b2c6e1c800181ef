#!/bin/sh
# Restart time after kill -9, per backend (docs/benchmarks.md, "Backends"):
#   sh src/bench/restart.sh BUILD_DIR KEYS OTHER_METCD BACKEND...
# For each BACKEND (memory, lmdb, leveldb): one member of BUILD_DIR's metcd
# is filled with KEYS keys of 100 bytes (metcd-bench --op fill) and killed
# with SIGKILL; then the same data dir is restarted with OTHER_METCD (a
# metcd built from another commit, "old") and with this build ("new"),
# alternately, twice each, every start ended by SIGKILL again. Each line:
# process start to the first 200 from /health (the election included),
# the CPU the process used until then (user + system, from /proc), and its
# anonymous memory.
set -eu
USAGE="usage: restart.sh BUILD_DIR KEYS OTHER_METCD BACKEND..."
BUILD=${1:?$USAGE}
KEYS=${2:?$USAGE}
OTHER=${3:?$USAGE}
shift 3
[ $# -gt 0 ] || { echo "$USAGE" >&2; exit 2; }
. "$(dirname "$0")/lib.sh"
C=$(bench_free_port)
P=$(bench_free_port)

# up BIN BACKEND: starts BIN on $TMP/BACKEND, waits (20 min at most) for /health.
up() {
    bench_start "$1" "$2" --name default --data-dir "$TMP/$2" --backend "$2" \
        --listen-client-urls "http://127.0.0.1:$C" --advertise-client-urls "http://127.0.0.1:$C" \
        --listen-peer-urls "http://127.0.0.1:$P" --initial-advertise-peer-urls "http://127.0.0.1:$P" \
        --initial-cluster "default=http://127.0.0.1:$P"
    bench_wait_health "http://127.0.0.1:$C" 120000
}

# down: SIGKILL to the member; one runs at a time, so none is left to stop.
down() {
    kill -9 "$BENCH_PID"
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PIDS=""
}

bench_header "restart after kill -9, $KEYS keys of 100 bytes"
for b in "$@"; do
    up "$BUILD/metcd" "$b"
    t0=$(date +%s)
    "$BUILD/metcd-bench" run --endpoints "http://127.0.0.1:$C" --op fill --keys "$KEYS" \
        --value-size 100 --conns 64 --duration 600s >/dev/null
    echo "$b: filled in $(($(date +%s) - t0)) s"
    down
    for round in 1 2; do
        for which in old new; do
            bin=$OTHER
            [ $which = old ] || bin=$BUILD/metcd
            sleep 1
            t0=$(date +%s%3N)
            up "$bin" "$b"
            t1=$(date +%s%3N)
            ticks=$(awk '{print $14 + $15}' "/proc/$BENCH_PID/stat")
            anon=$(awk '/^RssAnon/ {print $2}' "/proc/$BENCH_PID/status")
            echo "$b $which (round $round): restart $((t1 - t0)) ms," \
                "CPU $((ticks * 1000 / $(getconf CLK_TCK))) ms, anonymous $((anon / 1024)) MB"
            down
        done
    done
    echo "$b: data dir $(du -sm "$TMP/$b" | cut -f1) MB"
    rm -rf "$TMP/$b"
done
bench_header "end"
