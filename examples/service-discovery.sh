#!/bin/sh
# Service discovery with TTL heartbeats.
#
# Each instance of a service registers itself as a key under
# /examples/services/<service>/ whose value is its address, with a TTL. While
# it is alive it refreshes the TTL (refresh=true: the value stays, watchers
# are not woken). Clients list the directory to find live instances, and
# watch it recursively to learn of arrivals and departures. An instance that
# stops heartbeating disappears by itself when its TTL runs out ("expire").
#
# Usage: ENDPOINT=http://127.0.0.1:2379 ./service-discovery.sh
# Needs: curl. Runs about 5 seconds; every wait is bounded.
set -eu
ENDPOINT=${ENDPOINT:-http://127.0.0.1:2379}
DIR=$ENDPOINT/v2/keys/examples/services/web
TTL=2

curl -s --max-time 5 -X DELETE "$DIR?recursive=true" >/dev/null || true

register() { # register ID ADDRESS
    curl -s -o /dev/null --max-time 5 -X PUT "$DIR/$1" -d value="$2" -d ttl=$TTL
}
heartbeat() { # heartbeat ID: keep the value, push the expiry back
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT \
        "$DIR/$1?refresh=true&prevExist=true" -d ttl=$TTL
}

register web1 10.0.0.1:8080
register web2 10.0.0.2:8080
echo "registered web1 and web2 with a ${TTL}s TTL"
echo "instances: $(curl -s --max-time 5 "$DIR?sorted=true" | grep -o '"value":"[^"]*"' | tr '\n' ' ')"

# web1 keeps heartbeating every second; web2 stops (it "crashed").
(
    for i in 1 2 3 4; do
        sleep 1
        heartbeat web1 >/dev/null
    done
) &

# A client watches the directory until it sees web2 expire (at most 8 s).
event=$(curl -s --max-time 8 "$DIR?wait=true&recursive=true")
wait
echo "watcher saw: $event"
case $event in
*'"action":"expire"'*'"key":"/examples/services/web/web2"'*) ;;
*) echo "expected web2 to expire" >&2; exit 1 ;;
esac
listing=$(curl -s --max-time 5 "$DIR?sorted=true")
echo "instances now: $(echo "$listing" | grep -o '"value":"[^"]*"' | tr '\n' ' ')"
echo "$listing" | grep -q web1 || { echo "web1 should still be there" >&2; exit 1; }
if echo "$listing" | grep -q web2; then echo "web2 should be gone" >&2; exit 1; fi
curl -s --max-time 5 -X DELETE "$DIR?recursive=true" >/dev/null
echo "ok"
