#!/bin/sh
# Three-member clusters: etcd 3.4.23 against metcd, on loopback, same machine,
# same run. For each of ROUNDS rounds it starts a fresh 3-member etcd cluster,
# measures it and stops it, then does the same with a 3-member metcd cluster:
#   - PUT at 64 connections on the leader (wrk + wrk-put.lua, durable on both),
#   - GET of one key at 64 connections on a follower (wrk),
#   - failover: kill -9 the leader, time until the first acknowledged PUT on a
#     surviving member (FAILOVERS times per cluster; the killed member is
#     restarted on its data dir between two kills),
#   - CPU time of the three members per request (utime+stime, /proc/PID/stat).
# Prints a Markdown table of the medians over the rounds, with metcd/etcd
# (ratio of the medians; "met" judges that ratio against the targets) and
# the median of the per-round ratios (each round runs etcd then metcd).
#
# Usage: sh src/bench/cluster-etcd.sh [BUILD_DIR] [DURATION] [ROUNDS] [FAILOVERS]
#   BUILD_DIR  where metcd is (default build)
#   DURATION   seconds per wrk run (default 10); ROUNDS (default 3)
#   FAILOVERS  leader kills per cluster and round (default 3)
# Environment: ETCD (/usr/bin/etcd), CONNS (64), SNAPSHOT_COUNT (10000, the
# same for both), HEARTBEAT (100), ELECTION (1000), KEEP_LOGS=1 keeps the
# temp dir. Needs wrk, curl and python3 (standard library only).
set -eu
BUILD=${1:-build}
DURATION=${2:-10}
ROUNDS=${3:-3}
FAILOVERS=${4:-3}
ETCD=${ETCD:-/usr/bin/etcd}
CONNS=${CONNS:-64}
SNAPSHOT_COUNT=${SNAPSHOT_COUNT:-10000}
HEARTBEAT=${HEARTBEAT:-100}
ELECTION=${ELECTION:-1000}
HERE=$(cd "$(dirname "$0")" && pwd)
METCD=$(cd "$BUILD" && pwd)/metcd
[ -x "$METCD" ] || { echo "no $METCD (build it first)" >&2; exit 1; }
[ -x "$ETCD" ] || { echo "no $ETCD" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cluster-etcd.XXXXXX")
PIDS=""             # every member PID this script started and has not reaped
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "# logs kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
cat >"$TMP/h.py" <<'EOF'
import http.client, json, os, re, signal, socket, statistics, sys, threading, time

def get(url, path, timeout=1.0):
    host, port = url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()

def put(url, path, body, timeout):
    host, port = url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("PUT", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()

def ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))

def leader(timeout, *urls):
    # Waits (bounded) until every given member is healthy and exactly one is
    # StateLeader, and all agree on it; prints its index (1-based) among urls.
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            states, leaders = [], set()
            for u in urls:
                st, body = get(u, "/health")
                if st != 200:
                    raise ValueError
                st, body = get(u, "/v2/stats/self")
                s = json.loads(body)
                states.append(s.get("state"))
                leaders.add(s.get("leaderInfo", {}).get("leader"))
            if states.count("StateLeader") == 1 and len(leaders) == 1:
                print(states.index("StateLeader") + 1)
                return
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit("no agreed leader among %s within %ss" % (" ".join(urls), timeout))

def wait_key(url, path, timeout):
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        try:
            if get(url, path)[0] == 200:
                return
        except Exception:
            pass
        time.sleep(0.02)
    sys.exit("%s%s not readable within %ss" % (url, path, timeout))

def prober(pid, bound, *urls):
    # kill -9 the leader, then start a PUT every 10 ms (alternating between
    # the surviving members; each with a 1 s timeout, at most 100 in flight)
    # and print the seconds from the kill to the first acknowledged one.
    pid, bound = int(pid), float(bound)
    done = threading.Event()
    first = []
    lock = threading.Lock()
    def attempt(n, url):
        try:
            st = put(url, "/v2/keys/failover/p%d" % n, "value=x", 1.0)
            if st in (200, 201):
                t = time.monotonic()
                with lock:
                    first.append(t)
                done.set()
        except Exception:
            pass
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    n = 0
    threads = []
    while not done.is_set() and time.monotonic() - t0 < bound:
        threads = [t for t in threads if t.is_alive()]
        if len(threads) < 100:
            t = threading.Thread(target=attempt, args=(n, urls[n % len(urls)]), daemon=True)
            t.start()
            threads.append(t)
            n += 1
        done.wait(0.01)
    if not first:
        sys.exit("no acknowledged PUT within %ss of the kill" % bound)
    print("%.3f %d" % (min(first) - t0, n))

def cpu(*pids):
    # utime+stime of the given processes, in seconds
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        with open("/proc/%s/stat" % p) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    print("%.2f" % (total / tck))

def wrkparse(path, kind, rnd, op, cpu0, cpu1):
    text = open(path).read()
    def lat(p):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
        v = float(m.group(1))
        return v * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    bad = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errs = sum(int(x) for x in m.groups()) if m else 0
    cpu_us = (float(cpu1) - float(cpu0)) * 1e6 / reqs if reqs else 0
    for k, v in (("rps", rps), ("p50", lat(50)), ("p99", lat(99)), ("cpu", cpu_us),
                 ("errors", bad + errs)):
        print(kind, rnd, op + "_" + k, v)

def table(path):
    vals = {}
    for line in open(path):
        kind, rnd, metric, v = line.split()
        vals.setdefault((kind, metric), []).append(float(v))
    def med(kind, metric):
        v = vals.get((kind, metric))
        return statistics.median(v) if v else None
    rows = [
        ("PUT req/s, 64 conns, on the leader", "put_rps", "%.0f", ">= 2.5", lambda r: r >= 2.5),
        ("PUT p50", "put_p50", "%.2f ms", "", None),
        ("PUT p99", "put_p99", "%.2f ms", "< 1", lambda r: r < 1),
        ("PUT CPU per request (3 members)", "put_cpu", "%.1f us", "", None),
        ("GET req/s, 64 conns, on a follower", "get_rps", "%.0f", ">= 2", lambda r: r >= 2),
        ("GET p50", "get_p50", "%.2f ms", "", None),
        ("GET p99", "get_p99", "%.2f ms", "", None),
        ("GET CPU per request (3 members)", "get_cpu", "%.1f us", "", None),
        ("failover, kill -9 leader to first acknowledged PUT", "failover", "%.0f ms", "<= 1", lambda r: r <= 1),
    ]
    def paired(metric):
        # median over the rounds of (metcd median / etcd median) within a round
        per = {}
        for line in open(path):
            kind, rnd, m, v = line.split()
            if m == metric:
                per.setdefault(rnd, {}).setdefault(kind, []).append(float(v))
        r = [statistics.median(d["metcd"]) / statistics.median(d["etcd"])
             for d in per.values() if d.get("etcd") and d.get("metcd")
             and statistics.median(d["etcd"]) > 0]
        return statistics.median(r) if r else None
    print("| measure (median of all runs) | etcd | metcd | metcd/etcd | per-round metcd/etcd (median) | target | met |")
    print("|---|---|---|---|---|---|---|")
    for name, metric, fmt, target, ok in rows:
        a, b = med("etcd", metric), med("metcd", metric)
        if metric == "failover":
            a = a * 1000 if a is not None else None
            b = b * 1000 if b is not None else None
        fa = fmt % a if a is not None else "-"
        fb = fmt % b if b is not None else "-"
        ratio = b / a if a and b is not None else None
        fr = "%.2f" % ratio if ratio is not None else "-"
        met = ("yes" if ok(ratio) else "no") if ok and ratio is not None else ""
        pr = paired(metric)
        fp = "%.2f" % pr if pr is not None else "-"
        print("| %s | %s | %s | %s | %s | %s | %s |" % (name, fa, fb, fr, fp, target, met))
    n = {k: len(vals.get((k, "failover"), [])) for k in ("etcd", "metcd")}
    e = {k: sum(vals.get((k, m), [0])[i] for m in ("put_errors", "get_errors")
                for i in range(len(vals.get((k, m), []))))
         for k in ("etcd", "metcd")}
    print()
    print("Failover samples: etcd %d, metcd %d (all samples, ms: etcd %s; metcd %s)." % (
        n["etcd"], n["metcd"],
        " ".join("%.0f" % (x * 1000) for x in vals.get(("etcd", "failover"), [])),
        " ".join("%.0f" % (x * 1000) for x in vals.get(("metcd", "failover"), []))))
    print("wrk errors (non-2xx and socket errors), all runs: etcd %d, metcd %d." % (e["etcd"], e["metcd"]))
    for metric, name, fmt in (("put_rps", "PUT req/s", "%.0f"), ("put_p99", "PUT p99 ms", "%.1f"),
                              ("get_rps", "GET req/s", "%.0f")):
        print("Per round, %s: etcd %s; metcd %s." % (name,
            " ".join(fmt % x for x in vals.get(("etcd", metric), [])),
            " ".join(fmt % x for x in vals.get(("metcd", metric), []))))

globals()[sys.argv[1]](*sys.argv[2:])
EOF
py() { python3 "$TMP/h.py" "$@"; }

# start_member KIND I: starts member I (1..3) of the current cluster
start_member() {
    eval "cp=\$CPORT_$2 pp=\$PPORT_$2"
    dir=$TMP/$1-r$ROUND-m$2
    set -- "$1" "$2" --name "m$2" --data-dir "$dir" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "$INITIAL" --initial-cluster-token "bench-$1-$ROUND" \
        --initial-cluster-state new \
        --heartbeat-interval "$HEARTBEAT" --election-timeout "$ELECTION" \
        --snapshot-count "$SNAPSHOT_COUNT"
    _k=$1 _i=$2
    shift 2
    if [ "$_k" = etcd ]; then
        "$ETCD" --enable-v2=true "$@" >>"$dir.log" 2>&1 &
    else
        "$METCD" "$@" >>"$dir.log" 2>&1 &
    fi
    eval "PID_$_i=$!"
    PIDS="$PIDS $!"
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s; reaps it
stop_pid() {
    kill "$1" 2>/dev/null || true
    n=0
    while kill -0 "$1" 2>/dev/null && [ $n -lt 100 ]; do
        # a zombie still answers kill -0: check the state
        st=$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null || echo Z)
        [ "$st" = Z ] && break
        sleep 0.1; n=$((n + 1))
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

url() { eval "echo http://127.0.0.1:\$CPORT_$1"; }
pid() { eval "echo \$PID_$1"; }
cluster_cpu() { py cpu "$PID_1" "$PID_2" "$PID_3"; }

run_cluster() {   # run_cluster KIND
    kind=$1
    set -- $(py ports 6)
    CPORT_1=$1 PPORT_1=$2 CPORT_2=$3 PPORT_2=$4 CPORT_3=$5 PPORT_3=$6
    INITIAL="m1=http://127.0.0.1:$PPORT_1,m2=http://127.0.0.1:$PPORT_2,m3=http://127.0.0.1:$PPORT_3"
    for i in 1 2 3; do start_member "$kind" $i; done
    L=$(py leader 30 "$(url 1)" "$(url 2)" "$(url 3)")
    F=$((L % 3 + 1))
    echo "# $kind round $ROUND: members $PID_1 $PID_2 $PID_3, leader m$L" >&2

    # PUT on the leader
    c0=$(cluster_cpu)
    timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
        -s "$HERE/wrk-put.lua" "$(url $L)" >"$TMP/wrk.out" 2>&1
    c1=$(cluster_cpu)
    py wrkparse "$TMP/wrk.out" "$kind" "$ROUND" put "$c0" "$c1" >>"$TMP/results"
    grep -E "Requests/sec|requests in|Non-2xx" "$TMP/wrk.out" | sed "s/^/# $kind put: /" >&2

    # GET of one key on a follower
    L=$(py leader 30 "$(url 1)" "$(url 2)" "$(url 3)")
    F=$((L % 3 + 1))
    curl -s -o /dev/null --max-time 5 -X PUT "$(url $L)/v2/keys/bench/get" -d value=hello
    py wait_key "$(url $F)" /v2/keys/bench/get 10
    c0=$(cluster_cpu)
    timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
        "$(url $F)/v2/keys/bench/get" >"$TMP/wrk.out" 2>&1
    c1=$(cluster_cpu)
    py wrkparse "$TMP/wrk.out" "$kind" "$ROUND" get "$c0" "$c1" >>"$TMP/results"
    grep -E "Requests/sec|requests in|Non-2xx" "$TMP/wrk.out" | sed "s/^/# $kind get (follower m$F): /" >&2

    # failover: kill -9 the leader, first acknowledged PUT on a survivor
    k=0
    while [ $k -lt "$FAILOVERS" ]; do
        L=$(py leader 30 "$(url 1)" "$(url 2)" "$(url 3)")
        a=$((L % 3 + 1)); b=$(((L + 1) % 3 + 1))
        lp=$(pid $L)
        r=$(py prober "$lp" 30 "$(url $a)" "$(url $b)")
        wait "$lp" 2>/dev/null || true
        PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$lp" | tr '\n' ' ')
        echo "$kind $ROUND failover ${r% *}" >>"$TMP/results"
        echo "# $kind failover $((k + 1)): killed m$L, first acknowledged PUT after ${r% *} s (${r#* } attempts)" >&2
        start_member "$kind" "$L"         # restart on its data dir
        k=$((k + 1))
    done
    py leader 30 "$(url 1)" "$(url 2)" "$(url 3)" >/dev/null
    for i in 1 2 3; do stop_pid "$(pid $i)"; done
    rm -rf "$TMP/$kind-r$ROUND-m1" "$TMP/$kind-r$ROUND-m2" "$TMP/$kind-r$ROUND-m3"
}

EV=$("$ETCD" --version | sed -n 's/^etcd Version: //p')
MV=$("$METCD" --version 2>/dev/null | sed -n 's/^metcd Version: //p')
MC=$(cd "$HERE" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
: >"$TMP/results"
ROUND=1
while [ $ROUND -le "$ROUNDS" ]; do
    run_cluster etcd
    run_cluster metcd
    ROUND=$((ROUND + 1))
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "# $START, $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)),"
echo "# load average $LOAD0 at the start, $LOAD1 at the end"
echo "# etcd $EV and metcd $MV (commit $MC), 3 members each on 127.0.0.1,"
echo "# --heartbeat-interval $HEARTBEAT --election-timeout $ELECTION --snapshot-count $SNAPSHOT_COUNT,"
echo "# $ROUNDS rounds (etcd, metcd alternating), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2),"
echo "# ${DURATION} s per wrk run, $CONNS connections, $FAILOVERS leader kills per cluster and round"
echo
py table "$TMP/results"
