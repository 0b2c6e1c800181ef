#!/bin/sh
# Starts etcd 3.4.23 (v2 enabled) and metcd side by side on loopback (both
# durable: a PUT is answered once its WAL record is fdatasync'ed), runs
# metcd-bench compare for each load, then the watch fan-out on each server
# in turn, prints a Markdown table, and stops both. `make bench` runs it.
#
# Usage: sh src/bench/compare-etcd.sh [BUILD_DIR] [DURATION] [ROUNDS] [OPS]
#   BUILD_DIR  where metcd and metcd-bench are (default build)
#   DURATION   per round and server (default 5s); ROUNDS (default 2)
#   OPS        loads to run (default "get put lock list"; also mixed, watch)
# Environment: CONNS (64); FANOUT watchers on one key (10000, 0: no fan-out;
#   also run with no server at all, bench-watch-fanout's floor mode),
#   FANOUT_ROUNDS (3); METCD_ARGS, extra flags for metcd (e.g. --threads 1; the default is one loop per core).
# Needs /usr/bin/etcd and python3 (only to format the table).
set -eu
BUILD=${1:-build}
DURATION=${2:-5s}
ROUNDS=${3:-2}
OPS=${4:-get put lock list}
CONNS=${CONNS:-64}
FANOUT=${FANOUT:-10000}
FANOUT_ROUNDS=${FANOUT_ROUNDS:-3}
METCD_ARGS=${METCD_ARGS:-}

# Each fan-out watcher holds one descriptor in the client and one in the
# server: take the hard limit (the servers inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

. "$(dirname "$0")/lib.sh"
EC=$(bench_free_port); EP=$(bench_free_port); MC=$(bench_free_port); MP=$(bench_free_port)
bench_start_etcd etcd "$EC" "$EP"
ETCD_PID=$BENCH_PID
# shellcheck disable=SC2086 # METCD_ARGS holds several flags
bench_start_metcd metcd "$MC" "$MP" $METCD_ARGS
METCD_PID=$BENCH_PID
bench_wait_up http://127.0.0.1:$EC http://127.0.0.1:$MC

bench_header "$CONNS connections, $ROUNDS rounds of $DURATION per server"
echo "# A = etcd $("$ETCD" --version | sed -n 's/^etcd Version: //p') (pid $ETCD_PID)," \
    "B = metcd $("$BUILD/metcd" --version 2>/dev/null | sed -n "s/^metcd Version: //p") (pid $METCD_PID) $METCD_ARGS"
: >"$TMP/results"
for op in $OPS; do
    "$BUILD/metcd-bench" compare --a http://127.0.0.1:$EC --b http://127.0.0.1:$MC \
        --a-pid $ETCD_PID --b-pid $METCD_PID --op "$op" --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS" --json | tail -n 1 >>"$TMP/results"
done
# Watch fan-out: FANOUT long polls on one key and one PUT, alternating the
# servers round by round.
FAN="$BUILD/tests/api/bench-watch-fanout"
if [ "$FANOUT" -gt 0 ] && [ -x "$FAN" ]; then
    r=0
    while [ $r -lt "$FANOUT_ROUNDS" ]; do
        for side in a b; do
            if [ $side = a ]; then port=$EC; pid=$ETCD_PID; else port=$MC; pid=$METCD_PID; fi
            [ -t 2 ] && printf '\r\033[Kfan-out %s round %d/%d: %d watchers' \
                "$side" $((r + 1)) "$FANOUT_ROUNDS" "$FANOUT" >&2
            line=$("$FAN" fanout "$port" "$FANOUT" 1 "$pid" | grep '^round' || true)
            echo "fanout $side $line" >>"$TMP/results"
        done
        r=$((r + 1))
    done
    [ -t 2 ] && printf '\r\033[K' >&2
    # The floor: the same number of answers written by bare processes (one
    # per core, as metcd's loops) with no HTTP server, read by the same
    # client: what the kernel alone costs on this machine.
    "$FAN" floor "$FANOUT" "$(nproc)" "$FANOUT_ROUNDS" | grep '^round' | sed 's/^/floor /' >>"$TMP/results" || true
fi
python3 - "$TMP/results" <<'PY'
import json, re, sys
rows, fan, floor = [], {"a": [], "b": []}, []
for line in open(sys.argv[1]):
    if line.startswith("floor "):
        m = re.search(r"last ([0-9.]+) ms; writers' CPU ([0-9.]+) ms", line)
        if m:
            floor.append(tuple(float(x) for x in m.groups()))
        continue
    if line.startswith("fanout "):
        side = line.split()[1]
        m = re.search(r"PUT answered after ([0-9.]+) ms.*last ([0-9.]+) ms.*?(\d+) wrong; "
                      r"server CPU ([0-9.]+) ms", line)
        if m:
            fan[side].append(tuple(float(x) for x in m.groups()))
        else:
            fan[side].append(None)
        continue
    rows.append(json.loads(line))
names = {"get": "GET one key (of 1000)", "put": "PUT random keys", "mixed": "mixed, 10% PUT",
         "lock": "lock (create prevExist=false, delete)", "list": "GET a 1000-child directory",
         "watch": "watch (PUT side)"}
print("| workload | etcd req/s | metcd req/s | metcd/etcd | etcd p99 | metcd p99 | etcd CPU/req | metcd CPU/req | CPU metcd/etcd | errors etcd/metcd |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    cpu = r["b_cpu_us"] / r["a_cpu_us"] if r["a_cpu_us"] > 0 else 0
    print("| %s | %.0f | %.0f | %.2f | %.1f ms | %.1f ms | %.1f us | %.1f us | %.2f | %d/%d |" % (
        names.get(r["op"], r["op"]), r["a_rps"], r["b_rps"], r["rps_ratio"],
        r["a_p99_ms"], r["b_p99_ms"], r["a_cpu_us"], r["b_cpu_us"], cpu,
        r["a_errors"], r["b_errors"]))
    if r["op"] == "watch":
        print("| watch events/s | %.0f | %.0f | %.2f | | | | | | resyncs %d/%d |" % (
            r["a_events_per_s"], r["b_events_per_s"],
            r["b_events_per_s"] / r["a_events_per_s"] if r["a_events_per_s"] else 0,
            r["a_resyncs"], r["b_resyncs"]))
def span(v):
    v = sorted(v)
    return "%.1f ms" % v[0] if v[0] == v[-1] else "%.1f-%.1f ms" % (v[0], v[-1])
if fan["a"] or fan["b"]:
    ok = {s: [x for x in fan[s] if x] for s in fan}
    failed = {s: len(fan[s]) - len(ok[s]) for s in fan}
    print()
    print("| watch fan-out, one PUT, %d rounds | etcd | metcd | no server (floor) |" % max(len(fan["a"]), len(fan["b"])))
    print("|---|---:|---:|---:|")
    for i, f, what in ((0, None, "PUT answered"), (1, 0, "last watcher has its event"),
                       (3, 1, "server CPU for the fan-out")):
        print("| %s | %s | %s | %s |" % (what, span([x[i] for x in ok["a"]]) if ok["a"] else "-",
                                        span([x[i] for x in ok["b"]]) if ok["b"] else "-",
                                        span([x[f] for x in floor]) if floor and f is not None else "-"))
    print("| rounds failed or with a wrong event | %d | %d | |" % (
        failed["a"] + sum(1 for x in ok["a"] if x[2]), failed["b"] + sum(1 for x in ok["b"] if x[2])))
PY
echo "# RSS after the runs: etcd $(sed -n 's/^VmRSS:\s*//p' /proc/$ETCD_PID/status)," \
    "metcd $(sed -n 's/^VmRSS:\s*//p' /proc/$METCD_PID/status); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
