#!/bin/sh
# Leader election.
#
# Every candidate tries to create the same key with prevExist=false and a
# TTL; the one whose create succeeds is the leader and refreshes the TTL
# while it leads. The others watch the key; when the leader resigns
# (compare-and-delete of its own value) or dies (the TTL expires), the
# watchers wake up and race to create the key again.
#
# Usage: ENDPOINT=http://127.0.0.1:2379 ./leader-election.sh
# Needs: curl. Every wait is bounded.
set -eu
ENDPOINT=${ENDPOINT:-http://127.0.0.1:2379}
KEY=$ENDPOINT/v2/keys/examples/election/leader
TTL=5

curl -s --max-time 5 -X DELETE "$KEY" >/dev/null || true

campaign() { # campaign NAME: prints 201 when NAME becomes the leader
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "$KEY?prevExist=false" \
        -d value="$1" -d ttl=$TTL
}
leader() {
    curl -s --max-time 5 "$KEY" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p'
}

for name in node-a node-b node-c; do
    echo "$name campaigns: HTTP $(campaign $name)"
done
echo "leader: $(leader)"
[ "$(leader)" = node-a ] || exit 1

# node-b waits for a change of leadership (at most 10 s) and campaigns then.
(
    index=$(curl -s -D - -o /dev/null --max-time 5 "$KEY" | tr -d '\r' |
        sed -n 's/^X-Etcd-Index: //Ip')
    curl -s -o /dev/null --max-time 10 "$KEY?wait=true&waitIndex=$((index + 1))"
    echo "node-b saw the leader go; campaigns: HTTP $(campaign node-b)"
) &
sleep 1
# The leader refreshes its term once, then resigns.
curl -s -o /dev/null --max-time 5 -X PUT "$KEY?refresh=true&prevExist=true" -d ttl=$TTL
echo "node-a resigns: HTTP $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    -X DELETE "$KEY?prevValue=node-a")"
wait
echo "leader: $(leader)"
[ "$(leader)" = node-b ] || exit 1
curl -s --max-time 5 -X DELETE "$KEY?prevValue=node-b" >/dev/null
echo "ok"
