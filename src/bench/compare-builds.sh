#!/bin/sh
# Starts two fresh metcd members side by side on loopback, A from one
# build directory and B from another (e.g. a build of an older commit and
# the current one), both with the same flags, runs metcd-bench compare for
# each load (alternating A and B), prints a Markdown table and stops both.
#
# Usage: sh src/bench/compare-builds.sh A_BUILD B_BUILD [DURATION] [ROUNDS] [OPS]
#   defaults: 5s 3 "get put lock list"; CONNS=64; METCD_ARGS: flags for both
#   (e.g. --threads 0, since older builds defaulted to --threads 1);
#   KEYS=N: both members are first filled with N keys of 100 bytes, and
#   the loads use those N keys (PUT and GET of random keys among them).
set -eu
A_BUILD=$1
B_BUILD=$2
DURATION=${3:-5s}
ROUNDS=${4:-3}
OPS=${5:-get put lock list}
CONNS=${CONNS:-64}
METCD_ARGS=${METCD_ARGS:-}

. "$(dirname "$0")/lib.sh"
AC=$(bench_free_port); AP=$(bench_free_port); BC=$(bench_free_port); BP=$(bench_free_port)
# shellcheck disable=SC2086 # METCD_ARGS holds several flags
BUILD=$A_BUILD
bench_start_metcd a "$AC" "$AP" $METCD_ARGS
A_PID=$BENCH_PID
# shellcheck disable=SC2086
BUILD=$B_BUILD
bench_start_metcd b "$BC" "$BP" $METCD_ARGS
B_PID=$BENCH_PID
bench_wait_up http://127.0.0.1:$AC http://127.0.0.1:$BC
if [ -n "${KEYS:-}" ]; then
    for _u in http://127.0.0.1:$AC http://127.0.0.1:$BC; do
        "$B_BUILD/metcd-bench" --endpoints "$_u" --op fill --keys "$KEYS" --conns 256 \
            --duration 10m | grep -E '^(requests|target)'
    done
    BENCH_ARGS="--keys $KEYS --no-populate"
fi
bench_header "$CONNS connections, $ROUNDS rounds of $DURATION per server"
echo "# A = $A_BUILD/metcd (pid $A_PID), B = $B_BUILD/metcd (pid $B_PID) $METCD_ARGS"
bench_compare_table "$B_BUILD/metcd-bench" http://127.0.0.1:$AC http://127.0.0.1:$BC $A_PID $B_PID
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
