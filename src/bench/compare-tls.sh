#!/bin/sh
# TLS side by side: etcd 3.4.23 (v2 enabled) and metcd on https:// client
# URLs with --cert-file, --key-file, --trusted-ca-file and --client-cert-auth
# (certificates made here by tests/lib/certs.py), then metcd-bench compare
# over TLS with a client certificate for each load, one Markdown table. The
# same loads over plain HTTP are in src/bench/compare-etcd.sh.
#
# Usage: sh src/bench/compare-tls.sh [BUILD_DIR] [DURATION] [ROUNDS] [OPS]
#   BUILD_DIR  where metcd and metcd-bench are (default build)
#   DURATION   per round and server (default 5s); ROUNDS (default 2)
#   OPS        loads to run (default "get put")
# Environment: CONNS (64); METCD_ARGS, extra flags for metcd.
# Needs /usr/bin/etcd, openssl, curl and python3.
set -eu
BUILD=${1:-build}
DURATION=${2:-5s}
ROUNDS=${3:-2}
OPS=${4:-get put}
CONNS=${CONNS:-64}
METCD_ARGS=${METCD_ARGS:-}

. "$(dirname "$0")/lib.sh"
LIB=$(cd "$(dirname "$0")/../../tests/lib" && pwd)
eval "$(python3 - "$LIB" "$TMP/certs" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import certs
c = certs.Certs(sys.argv[2])
print("SERVER=%s SERVER_KEY=%s CA=%s CLIENT=%s CLIENT_KEY=%s"
      % (c.server, c.server_key, c.ca.cert, c.client, c.client_key))
PY
)"
EC=$(bench_free_port); EP=$(bench_free_port); MC=$(bench_free_port); MP=$(bench_free_port)
# The later --listen/--advertise-client-urls win over lib.sh's http:// ones.
tls() {
    echo "--listen-client-urls https://127.0.0.1:$1 --advertise-client-urls https://127.0.0.1:$1" \
        "--cert-file $SERVER --key-file $SERVER_KEY --trusted-ca-file $CA --client-cert-auth"
}
# shellcheck disable=SC2046 # tls prints several flags
bench_start_etcd etcd "$EC" "$EP" $(tls "$EC")
ETCD_PID=$BENCH_PID
# shellcheck disable=SC2046,SC2086 # several flags
bench_start_metcd metcd "$MC" "$MP" $(tls "$MC") $METCD_ARGS
METCD_PID=$BENCH_PID
for port in $EC $MC; do
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$CA" \
        --cert "$CLIENT" --key "$CLIENT_KEY" "https://127.0.0.1:$port/v2/keys/")" = 200 ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "https://127.0.0.1:$port did not start" >&2; exit 1; }
        sleep 0.1
    done
done

bench_header "TLS (--client-cert-auth, ECDSA P-256 certificates), $CONNS connections, $ROUNDS rounds of $DURATION per server"
echo "# A = etcd $("$ETCD" --version | sed -n 's/^etcd Version: //p') (pid $ETCD_PID)," \
    "B = metcd $("$BUILD/metcd" --version 2>/dev/null | sed -n "s/^metcd Version: //p") (pid $METCD_PID) $METCD_ARGS"
: >"$TMP/results"
for op in $OPS; do
    "$BUILD/metcd-bench" compare --a "https://127.0.0.1:$EC" --b "https://127.0.0.1:$MC" \
        --cert-file "$CLIENT" --key-file "$CLIENT_KEY" --ca-file "$CA" \
        --a-pid "$ETCD_PID" --b-pid "$METCD_PID" --op "$op" --conns "$CONNS" \
        --duration "$DURATION" --rounds "$ROUNDS" --json | tail -n 1 >>"$TMP/results"
done
python3 - "$TMP/results" <<'PY'
import json, sys
names = {"get": "GET one key (of 1000), https", "put": "PUT random keys, https",
         "mixed": "mixed, 10% PUT, https", "list": "GET a 1000-child directory, https"}
print("| workload | etcd req/s | metcd req/s | metcd/etcd | etcd p99 | metcd p99 | etcd CPU/req | metcd CPU/req | CPU metcd/etcd | errors etcd/metcd |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    cpu = r["b_cpu_us"] / r["a_cpu_us"] if r["a_cpu_us"] > 0 else 0
    print("| %s | %.0f | %.0f | %.2f | %.1f ms | %.1f ms | %.1f us | %.1f us | %.2f | %d/%d |" % (
        names.get(r["op"], r["op"]), r["a_rps"], r["b_rps"], r["rps_ratio"], r["a_p99_ms"],
        r["b_p99_ms"], r["a_cpu_us"], r["b_cpu_us"], cpu, r["a_errors"], r["b_errors"]))
PY
echo "# load average now $(cut -d' ' -f1-3 /proc/loadavg)"
