#!/bin/sh
# Each storage engine against etcd 3.4.23 and the memory engine, in one run
# (docs/benchmarks.md, "Engines against etcd"):
#   sh src/bench/engines-etcd.sh BUILD_DIR KEYS [DURATION] [ROUNDS]
#   OPS="get put mixed list" (the default) chooses the loads.
# Starts etcd (v2 on) and three metcd members (memory, lmdb, leveldb, each
# with its default --backend-cache-nodes), fills each once with KEYS keys
# of 100 bytes, then for each load (GET of random keys among the KEYS, PUT
# of random keys, 90/10 GET/PUT, GET of a 1000-child directory) runs
# `metcd-bench compare` of etcd (A) against each metcd engine (B) in turn,
# and prints one Markdown table: throughput, p99 and server CPU per request
# of both, and each engine's CPU per request against etcd's and against the
# memory engine's of the same load. A second table compares lmdb and
# leveldb (B) with the memory engine (A) directly, alternating in one
# `compare` per load, which the servers' other work disturbs least.
# Before the loads it waits (at most 120 s) until every server is idle:
# etcd writes v2 snapshots and collects garbage well after a fill.
# Every process started here is killed by PID; ports are free loopback ones.
set -eu
USAGE="usage: engines-etcd.sh BUILD_DIR KEYS [DURATION] [ROUNDS]"
BUILD=${1:?$USAGE}
KEYS=${2:?$USAGE}
DURATION=${3:-5s}
ROUNDS=${4:-2}
BENCH=$BUILD/metcd-bench
. "$(dirname "$0")/lib.sh"

EC=$(bench_free_port)
bench_start_etcd etcd "$EC" "$(bench_free_port)"
ETCD_PID=$BENCH_PID
ENGINES="memory lmdb leveldb"
for e in $ENGINES; do
    c=$(bench_free_port)
    bench_start_metcd "$e" "$c" "$(bench_free_port)" --backend "$e"
    eval "PORT_$e=$c PID_$e=$BENCH_PID"
done
bench_wait_up "http://127.0.0.1:$EC"
for e in $ENGINES; do
    eval "bench_wait_up http://127.0.0.1:\$PORT_$e"
done

bench_header "$KEYS keys of 100 bytes, 64 connections, $ROUNDS rounds of $DURATION per server"
echo "# A = etcd $("$ETCD" --version | sed -n 's/^etcd Version: //p'), B = metcd on each engine"
for p in $EC $PORT_memory $PORT_lmdb $PORT_leveldb; do
    "$BENCH" run --endpoints "http://127.0.0.1:$p" --op fill --keys "$KEYS" --value-size 100 \
        --conns 256 --duration 3600s >/dev/null
done

# settle: until the servers used under 30 ms of CPU together in one second.
ticks() {
    t=0
    for p in $ETCD_PID $PID_memory $PID_lmdb $PID_leveldb; do
        t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
    done
    echo $t
}
i=0
while [ $i -lt 120 ]; do
    t0=$(ticks)
    sleep 1
    [ $(($(ticks) - t0)) -lt 3 ] && break
    i=$((i + 1))
done
echo "# servers idle after the fills: ${i} s waited"

OUT=$TMP/results.jsonl
DIRECT=$TMP/direct.jsonl
for op in ${OPS:-get put mixed list}; do
    for e in $ENGINES; do
        eval "port=\$PORT_$e pid=\$PID_$e"
        if [ $op = list ]; then
            set -- --keys 1000 --prefix /list
        else
            set -- --keys "$KEYS" --no-populate
        fi
        "$BENCH" compare --a "http://127.0.0.1:$EC" --b "http://127.0.0.1:$port" \
            --a-pid "$ETCD_PID" --b-pid "$pid" --op $op --conns 64 --value-size 100 \
            --duration "$DURATION" --rounds "$ROUNDS" --json "$@" | tail -n 1 |
            sed "s/^{/{\"engine\":\"$e\",/" >>"$OUT"
        [ $e = memory ] && continue
        "$BENCH" compare --a "http://127.0.0.1:$PORT_memory" --b "http://127.0.0.1:$port" \
            --a-pid "$PID_memory" --b-pid "$pid" --op $op --conns 64 --value-size 100 \
            --duration "$DURATION" --rounds "$ROUNDS" --json "$@" | tail -n 1 |
            sed "s/^{/{\"engine\":\"$e\",/" >>"$DIRECT"
    done
done

python3 - "$OUT" "$DIRECT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mem = {r["op"]: r["b_cpu_us"] for r in rows if r["engine"] == "memory"}
print("| load | engine | etcd req/s | metcd req/s | metcd/etcd | etcd p99 | metcd p99 "
      "| etcd CPU/req | metcd CPU/req | CPU vs etcd | CPU vs memory | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| %s | %s | %.0f | %.0f | %.2f | %.1f ms | %.1f ms | %.1f us | %.1f us | %.2f | %.2f | %d/%d |" % (
        r["op"], r["engine"], r["a_rps"], r["b_rps"], r["rps_ratio"], r["a_p99_ms"],
        r["b_p99_ms"], r["a_cpu_us"], r["b_cpu_us"], r["b_cpu_us"] / r["a_cpu_us"],
        r["b_cpu_us"] / mem[r["op"]], r.get("a_errors", 0), r.get("b_errors", 0)))
print()
print("| load | engine | memory req/s | engine req/s | memory CPU/req | engine CPU/req "
      "| CPU vs memory, alternating |")
print("|---|---|---:|---:|---:|---:|---:|")
for l in open(sys.argv[2]):
    r = json.loads(l)
    print("| %s | %s | %.0f | %.0f | %.1f us | %.1f us | %.2f |" % (
        r["op"], r["engine"], r["a_rps"], r["b_rps"], r["a_cpu_us"], r["b_cpu_us"],
        r["b_cpu_us"] / r["a_cpu_us"]))
EOF
echo "# RSS after the runs: etcd $(awk '/^VmRSS/ {print $2}' /proc/$ETCD_PID/status) kB," \
    "memory $(awk '/^VmRSS/ {print $2}' /proc/$PID_memory/status) kB," \
    "lmdb $(awk '/^VmRSS/ {print $2}' /proc/$PID_lmdb/status) kB," \
    "leveldb $(awk '/^VmRSS/ {print $2}' /proc/$PID_leveldb/status) kB;" \
    "load average now $(cut -d' ' -f1-3 /proc/loadavg)"
