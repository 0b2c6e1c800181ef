#!/bin/sh
# A work queue with in-order keys.
#
# Producers POST to the queue directory: etcd names each new key after the
# store index, zero-padded to 20 digits, so the keys sort in arrival order.
# A consumer lists the directory sorted, takes the first item and removes
# it with a compare-and-delete on its modifiedIndex: if two consumers take
# the same item, only one delete succeeds (the other gets error 101 and
# tries the next item). An empty queue is waited on with wait=true.
#
# Usage: ENDPOINT=http://127.0.0.1:2379 ./queue.sh
# Needs: curl. Every wait is bounded.
set -eu
ENDPOINT=${ENDPOINT:-http://127.0.0.1:2379}
Q=$ENDPOINT/v2/keys/examples/queue/jobs

curl -s --max-time 5 -X DELETE "$Q?recursive=true" >/dev/null || true

for job in resize-image send-mail build-report; do
    curl -s --max-time 5 -X POST "$Q" -d value=$job | sed -n 's/.*"key":"\([^"]*\)".*/enqueued \1/p'
done

# dequeue: prints the value of the oldest job and deletes it, or nothing.
dequeue() {
    listing=$(curl -s --max-time 5 "$Q?sorted=true")
    first=$(echo "$listing" | grep -o '"key":"[^"]*","value":"[^"]*","modifiedIndex":[0-9]*' |
        head -n 1)
    [ -n "$first" ] || return 0
    key=$(echo "$first" | sed 's/"key":"\([^"]*\)".*/\1/')
    value=$(echo "$first" | sed 's/.*"value":"\([^"]*\)".*/\1/')
    index=$(echo "$first" | sed 's/.*"modifiedIndex":\([0-9]*\)/\1/')
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE \
        "$ENDPOINT/v2/keys$key?prevIndex=$index")
    [ "$status" = 200 ] && echo "$value"
}

order=""
for i in 1 2 3; do
    order="$order $(dequeue)"
done
echo "dequeued in order:$order"
[ "$order" = " resize-image send-mail build-report" ] || exit 1

# The queue is empty now: wait (at most 5 s) for the next job.
(sleep 1; curl -s -o /dev/null --max-time 5 -X POST "$Q" -d value=late-job) &
event=$(curl -s --max-time 5 "$Q?wait=true&recursive=true")
wait
echo "woken by: $event"
case $event in *late-job*) ;; *) exit 1 ;; esac
[ "$(dequeue)" = late-job ] || exit 1
curl -s --max-time 5 -X DELETE "$Q?recursive=true&dir=true" >/dev/null
echo "ok"
