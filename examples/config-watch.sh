#!/bin/sh
# Watching configuration with wait=true.
#
# A service reads its configuration once, remembers X-Etcd-Index, and then
# long-polls with wait=true&waitIndex=<last seen + 1> on the config
# directory (recursive). Because the watch starts from an index, no change
# is missed between two polls: changes made while the service was
# reconnecting come back from etcd's event history (the last 1000 events;
# older ones give error 401, after which the service reads everything again).
#
# Usage: ENDPOINT=http://127.0.0.1:2379 ./config-watch.sh
# Needs: curl. Every wait is bounded.
set -eu
ENDPOINT=${ENDPOINT:-http://127.0.0.1:2379}
CFG=$ENDPOINT/v2/keys/examples/config/app

curl -s --max-time 5 -X DELETE "$CFG?recursive=true" >/dev/null || true
curl -s -o /dev/null --max-time 5 -X PUT "$CFG/log_level" -d value=info
curl -s -o /dev/null --max-time 5 -X PUT "$CFG/workers" -d value=4

# Initial read: the values, and the index to watch from.
index=$(curl -s -D - -o /dev/null --max-time 5 "$CFG?recursive=true" | tr -d '\r' |
    sed -n 's/^X-Etcd-Index: //Ip')
echo "config at index $index: $(curl -s --max-time 5 "$CFG?recursive=true&sorted=true" |
    grep -o '"key":"[^"]*","value":"[^"]*"' | tr '\n' ' ')"

# An operator changes two settings while the service is busy.
curl -s -o /dev/null --max-time 5 -X PUT "$CFG/log_level" -d value=debug
curl -s -o /dev/null --max-time 5 -X PUT "$CFG/workers" -d value=8
(sleep 1; curl -s -o /dev/null --max-time 5 -X DELETE "$CFG/workers") &

# The service catches up from history, then waits for the live change.
seen=0
while [ $seen -lt 3 ]; do
    event=$(curl -s --max-time 5 "$CFG?wait=true&recursive=true&waitIndex=$((index + 1))")
    [ -n "$event" ] || { echo "no event within 5 s" >&2; exit 1; }
    index=$(echo "$event" | sed 's/.*"node":{[^}]*"modifiedIndex":\([0-9]*\).*/\1/')
    echo "change at $index: $(echo "$event" | grep -o '"action":"[^"]*"\|"key":"[^"]*"\|"value":"[^"]*"' |
        head -n 3 | tr '\n' ' ')"
    seen=$((seen + 1))
done
wait
curl -s --max-time 5 -X DELETE "$CFG?recursive=true" >/dev/null
echo "ok"
