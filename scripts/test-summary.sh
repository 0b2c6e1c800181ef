#!/bin/sh
# Sums the "Ok:/Fail:/..." blocks of the meson test logs given as arguments
# and prints the closing line "N passed, M failed" (timeouts count as failed).
set -eu
ok=0; fail=0; skip=0
for log in "$@"; do
    [ -f "$log" ] || { fail=$((fail + 1)); continue; }
    o=$(sed -n 's/^Ok:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^Fail:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    t=$(sed -n 's/^Timeout:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    x=$(sed -n 's/^Unexpected Pass:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    s=$(sed -n 's/^Skipped:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [ -z "$o" ]; then fail=$((fail + 1)); continue; fi
    ok=$((ok + o)); fail=$((fail + ${f:-0} + ${t:-0} + ${x:-0})); skip=$((skip + ${s:-0}))
done
if [ "$skip" -gt 0 ]; then
    echo "$ok passed, $fail failed, $skip skipped"
else
    echo "$ok passed, $fail failed"
fi
[ "$fail" -eq 0 ]
