#!/bin/sh
# A data set larger than the memory the member may use (docs/benchmarks.md,
# "Large data sets"):
#   sh src/bench/large.sh BUILD_DIR KEYS BACKEND [LIMIT_MB]
# One member of BUILD_DIR's metcd on BACKEND (lmdb or leveldb) is filled
# with KEYS keys of 100 bytes in one directory (metcd-bench --op fill,
# FILL_CONNS connections, default 256; its requests and errors printed)
# and killed with SIGKILL. It is
# restarted twice (each start ended by SIGKILL again) to time the restart:
# process start to the first 200 from /health, the CPU used until then and
# the anonymous memory (RssAnon). Then it is started once more and serves
# 10 s each of GET of random keys among all KEYS, PUT of random keys, and
# 90/10 GET/PUT, with errors counted by metcd-bench, anonymous memory after
# each, and a GET of one key written before the first kill. With LIMIT_MB
# every start (the fill too) is inside a cgroup v1 memory group limited to
# LIMIT_MB (run as root).
set -eu
USAGE="usage: large.sh BUILD_DIR KEYS BACKEND [LIMIT_MB]"
BUILD=${1:?$USAGE}
KEYS=${2:?$USAGE}
BACKEND=${3:?$USAGE}
LIMIT=${4:-}
. "$(dirname "$0")/lib.sh"
C=$(bench_free_port)
P=$(bench_free_port)
CG=""
if [ -n "$LIMIT" ]; then
    CG=/sys/fs/cgroup/memory/metcd-large-$$
    mkdir "$CG"
    echo $((LIMIT * 1024 * 1024)) >"$CG/memory.limit_in_bytes"
    trap 'bench_cleanup; rmdir "$CG" 2>/dev/null || true' EXIT INT TERM
fi

# up [CGROUP]: starts the member (inside CGROUP when given), waits for /health.
up() {
    set -- "$BUILD/metcd" --name default --data-dir "$TMP/data" --backend "$BACKEND" \
        --listen-client-urls "http://127.0.0.1:$C" --advertise-client-urls "http://127.0.0.1:$C" \
        --listen-peer-urls "http://127.0.0.1:$P" --initial-advertise-peer-urls "http://127.0.0.1:$P" \
        --initial-cluster "default=http://127.0.0.1:$P" "$@"
    if [ -n "$CG" ]; then
        sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@" >>"$TMP/metcd.log" 2>&1 &
    else
        "$@" >>"$TMP/metcd.log" 2>&1 &
    fi
    BENCH_PID=$!
    BENCH_PIDS="$BENCH_PIDS $BENCH_PID"
    bench_wait_health "http://127.0.0.1:$C" 120000
}

down() {
    kill -9 "$BENCH_PID"
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PIDS=""
}

anon() {
    echo "$(($(awk '/^RssAnon/ {print $2}' "/proc/$BENCH_PID/status") / 1024)) MB"
}

bench_header "$KEYS keys of 100 bytes on $BACKEND${LIMIT:+, restarted in a ${LIMIT} MB memory cgroup}"
up
t0=$(date +%s)
"$BUILD/metcd-bench" run --endpoints "http://127.0.0.1:$C" --op fill --keys "$KEYS" \
    --value-size 100 --conns "${FILL_CONNS:-256}" --duration 3600s |
    sed -n 's/^requests/fill: requests/p; s/^first error/fill: first error/p'
echo "filled in $(($(date +%s) - t0)) s, anonymous $(anon)"
curl -sf -XPUT "http://127.0.0.1:$C/v2/keys/large-check" -d value=kept >/dev/null
down
echo "data dir $(du -sm "$TMP/data" | cut -f1) MB:" \
    "$(cd "$TMP/data/member" && du -sm -- * | tr '\t\n' ' ')"
for round in 1 2 3; do
    sleep 1
    t0=$(date +%s%3N)
    up
    t1=$(date +%s%3N)
    ticks=$(awk '{print $14 + $15}' "/proc/$BENCH_PID/stat")
    [ $round = 3 ] || {
        echo "restart $round: $((t1 - t0)) ms, CPU $((ticks * 1000 / $(getconf CLK_TCK))) ms," \
            "anonymous $(anon)"
        down
    }
done
for op in get put mixed; do
    "$BUILD/metcd-bench" run --endpoints "http://127.0.0.1:$C" --op $op --keys "$KEYS" \
        --value-size 100 --conns 64 --duration 10s --no-populate --pid "$BENCH_PID" |
        sed "s/^/$op: /"
    echo "$op: anonymous $(anon)"
done
[ "$(curl -sf "http://127.0.0.1:$C/v2/keys/large-check" | sed 's/.*"value":"\([^"]*\)".*/\1/')" = kept ] ||
    { echo "the key written before the kill is missing" >&2; exit 1; }
echo "the key written before the kill is there"
[ -z "$CG" ] || echo "cgroup: peak $(($(cat "$CG/memory.max_usage_in_bytes") / 1048576)) MB, failcnt $(cat "$CG/memory.failcnt")"
