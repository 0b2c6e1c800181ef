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

. "$(dirname "$0")/lib.sh"
AC=$(bench_free_port); AP=$(bench_free_port); BC=$(bench_free_port); BP=$(bench_free_port)
bench_start_metcd a "$AC" "$AP" --threads 1
A_PID=$BENCH_PID
bench_start_metcd b "$BC" "$BP" --threads "$N"
B_PID=$BENCH_PID
bench_wait_up http://127.0.0.1:$AC http://127.0.0.1:$BC
bench_header "$CONNS connections, $ROUNDS rounds of $DURATION per server"
echo "# A = metcd --threads 1 (pid $A_PID), B = metcd --threads $N (pid $B_PID)"
bench_compare_table "$BUILD/metcd-bench" http://127.0.0.1:$AC http://127.0.0.1:$BC $A_PID $B_PID
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
