#!/bin/sh
# metcd against the floor (docs/benchmarks.md, "The floor"):
#   sh src/bench/floor.sh [BUILD_DIR] [DURATION] [ROUNDS]
# Starts one metcd member and `metcd-bench floor`, a stand-in server that
# answers every request with one fixed answer of metcd's size and does
# nothing else (with --sync: appends the requests of each wakeup to
# a file and fdatasyncs it once before answering, as a durable PUT must),
# both with one loop per core, and runs `metcd-bench compare` of metcd (A)
# against the floor (B): GET of one key against the plain floor, PUT of
# random keys against the syncing one. The floor's CPU per request is what
# the kernel's loopback TCP, epoll and (for PUT) fdatasync cost here, under
# which no server on this machine can go.
set -eu
BUILD=${1:-build}
DURATION=${2:-5s}
ROUNDS=${3:-2}
CONNS=${CONNS:-64}
. "$(dirname "$0")/lib.sh"
MC=$(bench_free_port); MP=$(bench_free_port); FC=$(bench_free_port); SC=$(bench_free_port)
bench_start_metcd metcd "$MC" "$MP"
METCD_PID=$BENCH_PID
bench_start "$BUILD/metcd-bench" floor floor --listen "$FC" --threads "$(nproc)"
FLOOR_PID=$BENCH_PID
mkdir "$TMP/sync"
bench_start "$BUILD/metcd-bench" floor-sync floor --listen "$SC" --threads "$(nproc)" --sync "$TMP/sync"
SYNC_PID=$BENCH_PID
bench_wait_up "http://127.0.0.1:$MC" "http://127.0.0.1:$FC" "http://127.0.0.1:$SC"
bench_header "$CONNS connections, $ROUNDS rounds of $DURATION per server"
echo "# A = metcd (pid $METCD_PID), B = metcd-bench floor (pids $FLOOR_PID, with --sync $SYNC_PID)"
echo "| load | metcd req/s | floor req/s | metcd p99 | floor p99 | metcd CPU/req | floor CPU/req |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for op in get put; do
    if [ $op = get ]; then port=$FC pid=$FLOOR_PID; else port=$SC pid=$SYNC_PID; fi
    "$BUILD/metcd-bench" compare --a "http://127.0.0.1:$MC" --b "http://127.0.0.1:$port" \
        --a-pid "$METCD_PID" --b-pid "$pid" --op $op --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS" --json | tail -n 1 |
        python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("| %s | %.0f | %.0f | %.1f ms | %.1f ms | %.1f us | %.1f us |" % (
    r["op"], r["a_rps"], r["b_rps"], r["a_p99_ms"], r["b_p99_ms"], r["a_cpu_us"], r["b_cpu_us"]))'
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
