#!/bin/sh
# Measures the API's cost with wrk (not a test: numbers depend on the machine).
# Usage: tests/api/bench_api.sh PORT PID
#   PORT/PID: a running server (api-test-server, metcd or etcd) to load.
# Prints requests/s and the server's CPU time per request for GET and PUT of
# one key, and for a sorted recursive listing of 1000 keys of 100 bytes.
set -eu
P=$1
PID=$2
U=http://127.0.0.1:$P
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
curl -s -XPUT $U/v2/keys/bench -d value=hello >/dev/null
printf 'wrk.method = "PUT"\nwrk.body = "value=hello"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n' > $tmp/put.lua
printf 'wrk.path = "/v2/keys/benchlist?recursive=true&sorted=true"\n' > $tmp/list.lua
v=$(head -c 100 /dev/zero | tr '\0' v)
i=0
while [ $i -lt 1000 ]; do
    printf 'PUT /v2/keys/benchlist/k%04d?value=%s HTTP/1.1\r\nHost: x\r\n\r\n' $i $v
    i=$((i + 1))
done > $tmp/fill
/usr/bin/python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $P)); s.sendall(open('$tmp/fill', 'rb').read())
buf = b''
while buf.count(b'HTTP/1.1 20') < 1000: buf += s.recv(1 << 20)
"
run() {
    name=$1
    shift
    t0=$(cpu)
    out=$(wrk "$@")
    t1=$(cpu)
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    echo "$name: $rps req/s, server CPU $(((t1 - t0) * 10000000 / n / 1000)) us/request"
}
run get -t2 -c64 -d5s $U/v2/keys/bench
run put -t2 -c64 -d5s -s $tmp/put.lua $U/v2/keys/bench
run list1000 -t1 -c4 -d5s -s $tmp/list.lua $U
