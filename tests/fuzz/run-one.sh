#!/bin/sh
# Runs one libFuzzer target for $FUZZ_SECONDS (default 20) over a copy of its
# seed corpus, so that the committed corpus only changes by hand.
# Usage: run-one.sh <fuzzer> <seed-corpus-dir>
set -eu
fuzzer=$1
seeds=$2
secs=${FUZZ_SECONDS:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
# libFuzzer exits with 77 on a crash by default, which meson reads as
# "skipped": make every finding a failure.
rc=0
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$work/" -print_final_stats=1 "$work" || rc=$?
exit $rc
