#!/bin/sh
# A mutual-exclusion lock with prevExist=false.
#
# Taking the lock is creating a key that must not exist yet
# (PUT ?prevExist=false): exactly one client wins, the others get error 105
# "Key already exists" (HTTP 412). The key has a TTL, so a holder that dies
# releases the lock by itself; a live holder refreshes it. Releasing is a
# compare-and-delete on the holder's own value, so a client never deletes a
# lock that expired and was taken by someone else. A waiting client watches
# the key (wait=true) for its deletion or expiry instead of polling.
#
# Usage: ENDPOINT=http://127.0.0.1:2379 ./lock.sh
# Needs: curl. Every wait is bounded (curl --max-time).
set -eu
ENDPOINT=${ENDPOINT:-http://127.0.0.1:2379}
LOCK=$ENDPOINT/v2/keys/examples/lock/printer
TTL=10

# try_lock OWNER: prints the HTTP status of the create (201 = we hold it).
try_lock() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "$LOCK?prevExist=false" \
        -d value="$1" -d ttl=$TTL
}

# unlock OWNER: deletes the key only if it still holds OWNER.
unlock() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE "$LOCK?prevValue=$1"
}

curl -s --max-time 5 -X DELETE "$LOCK" >/dev/null || true   # leftovers of an earlier run

echo "alice tries the lock: HTTP $(try_lock alice)"   # 201: alice holds it
echo "bob tries the lock:   HTTP $(try_lock bob)"     # 412: error 105, already held
printf "bob gets: "; curl -s --max-time 5 -X PUT "$LOCK?prevExist=false" -d value=bob -d ttl=$TTL


# Bob waits for the lock to be released (bounded to 10 s), while alice
# refreshes her TTL once and then releases it.
(
    sleep 1
    curl -s -o /dev/null --max-time 5 -X PUT "$LOCK?refresh=true&prevExist=true" -d ttl=$TTL
    echo "bob tries to release alice's lock: HTTP $(unlock bob)"   # 412: compare failed
    echo "alice releases the lock: HTTP $(unlock alice)"           # 200
) &
event=$(curl -s --max-time 10 "$LOCK?wait=true")
wait
echo "bob saw: $event"
case $event in
*'"action":"compareAndDelete"'* | *'"action":"expire"'* | *'"action":"delete"'*) ;;
*) echo "unexpected event" >&2; exit 1 ;;
esac
status=$(try_lock bob)
echo "bob tries again: HTTP $status"
[ "$status" = 201 ] || exit 1
unlock bob >/dev/null
echo "ok"
