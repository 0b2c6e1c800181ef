# Shell functions the side-by-side benchmark scripts share (sourced, not
# run): a temporary directory, free loopback ports, one-member etcd and
# metcd started on them, a bounded wait until they answer, and a cleanup
# that stops only the processes started here.
#
# After `. src/bench/lib.sh`: $TMP exists and is removed at exit; every
# bench_start_* appends its pid to $BENCH_PIDS and sets $BENCH_PID.
ETCD=${ETCD:-/usr/bin/etcd}
TMP=$(mktemp -d)
BENCH_PIDS=""

bench_cleanup() {
    [ -z "$BENCH_PIDS" ] || kill $BENCH_PIDS 2>/dev/null || true
    [ -z "$BENCH_PIDS" ] || wait $BENCH_PIDS 2>/dev/null || true
    rm -rf "$TMP"
}
trap bench_cleanup EXIT INT TERM

bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_start_etcd NAME CLIENT_PORT PEER_PORT [FLAG...]: a one-member etcd
# 3.4.23 with v2 on, data in $TMP/NAME, log in $TMP/NAME.log.
bench_start_etcd() {
    _n=$1 _c=$2 _p=$3
    shift 3
    "$ETCD" --enable-v2=true --data-dir "$TMP/$_n" \
        --listen-client-urls http://127.0.0.1:$_c --advertise-client-urls http://127.0.0.1:$_c \
        --listen-peer-urls http://127.0.0.1:$_p --initial-advertise-peer-urls http://127.0.0.1:$_p \
        --initial-cluster default=http://127.0.0.1:$_p "$@" >"$TMP/$_n.log" 2>&1 &
    BENCH_PID=$!
    BENCH_PIDS="$BENCH_PIDS $BENCH_PID"
}

# bench_start_metcd NAME CLIENT_PORT PEER_PORT [FLAG...]: the same with
# $BUILD/metcd.
bench_start_metcd() {
    _n=$1 _c=$2 _p=$3
    shift 3
    "$BUILD/metcd" --name default --data-dir "$TMP/$_n" \
        --listen-client-urls http://127.0.0.1:$_c --advertise-client-urls http://127.0.0.1:$_c \
        --listen-peer-urls http://127.0.0.1:$_p --initial-advertise-peer-urls http://127.0.0.1:$_p \
        --initial-cluster default=http://127.0.0.1:$_p "$@" >"$TMP/$_n.log" 2>&1 &
    BENCH_PID=$!
    BENCH_PIDS="$BENCH_PIDS $BENCH_PID"
}

# bench_start PROGRAM NAME [ARG...]: any other process (a proxy), log in
# $TMP/NAME.log.
bench_start() {
    _prog=$1 _n=$2
    shift 2
    "$_prog" "$@" >"$TMP/$_n.log" 2>&1 &
    BENCH_PID=$!
    BENCH_PIDS="$BENCH_PIDS $BENCH_PID"
}

# bench_wait_up URL...: waits (10 s at most each) until GET URL/v2/keys/
# answers 200; exits 1 naming the first that does not.
bench_wait_up() {
    for _u in "$@"; do
        _i=0
        until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$_u/v2/keys/")" = 200 ]; do
            _i=$((_i + 1))
            [ $_i -lt 100 ] || { echo "$_u did not start" >&2; exit 1; }
            sleep 0.1
        done
    done
}

# bench_wait_health URL TRIES: polls URL/health every 10 ms until it answers
# 200 (a restart measures to that point); exits 1 after TRIES polls.
bench_wait_health() {
    _i=0
    until curl -sf -m 1 "$1/health" >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ $_i -lt "$2" ] || { echo "$1 did not start" >&2; exit 1; }
        sleep 0.01
    done
}

# The first comment line of every table: when, the machine's load, cores.
bench_header() {
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $*"
}

# bench_compare_table BENCH A_URL B_URL A_PID B_PID: runs `BENCH compare`
# for each load in $OPS ($CONNS connections, $ROUNDS alternating rounds of
# $DURATION) and prints a Markdown table of A against B. A load OP:N runs
# OP with --write-percent N (list:10: listings and 10% PUTs of children);
# $BENCH_ARGS, when set, goes to every run (--keys N --no-populate).
bench_compare_table() {
    echo "| load | A req/s | B req/s | B/A | A p99 | B p99 | A CPU/req | B CPU/req |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for _load in $OPS; do
        _op=${_load%%:*}
        _wp=
        [ "$_op" = "$_load" ] || _wp="--write-percent ${_load#*:}"
        # shellcheck disable=SC2086 # _wp and BENCH_ARGS are words to split
        "$1" compare --a "$2" --b "$3" --a-pid "$4" --b-pid "$5" --op "$_op" $_wp ${BENCH_ARGS:-} \
            --conns "$CONNS" --duration "$DURATION" --rounds "$ROUNDS" --json | tail -n 1 |
            LOAD="$_load" python3 -c '
import json, os, sys
r = json.loads(sys.stdin.read())
print("| %s | %.0f | %.0f | %.2f | %.1f ms | %.1f ms | %.1f us | %.1f us |" % (
    os.environ["LOAD"], r["a_rps"], r["b_rps"], r["rps_ratio"], r["a_p99_ms"], r["b_p99_ms"],
    r["a_cpu_us"], r["b_cpu_us"]))'
    done
}
