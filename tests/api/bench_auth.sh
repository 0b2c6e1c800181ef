#!/bin/bash
# What v2 auth costs a GET (not a test: numbers depend on the machine).
# Usage: tests/api/bench_auth.sh METCD_BIN [ETCD_BIN]
# Starts etcd and metcd in turn (one member each, fresh data dirs, free
# loopback ports), with a user "svc" whose role may read /app/*, and
# measures GET /v2/keys/app/k with wrk (16 connections, 5 s, after a 2 s
# warm-up that also fills metcd's cache of checked passwords): auth off,
# then auth on with svc's basic auth. Prints requests/s and the server's
# CPU time per request (from /proc), then the load average.
set -eu
MB=$1
EB=${2:-/usr/bin/etcd}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fp() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
run() {
    local kind=$1 bin=$2 P1 P2
    P1=$(fp)
    P2=$(fp)
    "$bin" --enable-v2=true --name b --data-dir "$D/$kind" \
        --listen-client-urls http://127.0.0.1:$P1 --advertise-client-urls http://127.0.0.1:$P1 \
        --listen-peer-urls http://127.0.0.1:$P2 --initial-advertise-peer-urls http://127.0.0.1:$P2 \
        --initial-cluster b=http://127.0.0.1:$P2 > "$D/$kind.log" 2>&1 &
    local pid=$!
    local U=http://127.0.0.1:$P1 i=0
    until curl -sf $U/health > /dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
    curl -s -X PUT $U/v2/keys/app/k -d value=hello > /dev/null
    curl -s -X PUT $U/v2/auth/users/root -d '{"user":"root","password":"rootpw"}' > /dev/null
    curl -s -X PUT $U/v2/auth/roles/app \
        -d '{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}' > /dev/null
    curl -s -X PUT $U/v2/auth/users/svc -d '{"user":"svc","password":"s","roles":["app"]}' > /dev/null
    for mode in off on; do
        local H=()
        if [ $mode = on ]; then
            curl -s -X PUT $U/v2/auth/enable > /dev/null
            H=(-H "Authorization: Basic $(printf svc:s | base64)")
        fi
        wrk -t1 -c8 -d2s "${H[@]}" $U/v2/keys/app/k > /dev/null
        local t0 t1 out n rps bad
        t0=$(awk '{print $14+$15}' /proc/$pid/stat)
        out=$(wrk -t1 -c16 -d5s "${H[@]}" $U/v2/keys/app/k)
        t1=$(awk '{print $14+$15}' /proc/$pid/stat)
        n=$(echo "$out" | awk '/requests in/{print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        bad=$(echo "$out" | awk '/Non-2xx/{print $NF}')
        printf '%-6s auth %-3s %9s req/s %6.1f us CPU/request%s\n' $kind $mode $rps \
            "$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)" \
            "${bad:+ ($bad answers not 2xx)}"
    done
    kill $pid
    wait $pid 2> /dev/null || true
}
run etcd "$EB"
run metcd "$MB"
uptime
