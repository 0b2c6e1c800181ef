#!/bin/sh
# Runs every fuzz target of a -Dfuzz=true build for $FUZZ_SECONDS each.
# Usage: FUZZ_SECONDS=3600 tests/fuzz/run-all.sh build-fuzz
set -eu
build=${1:-build-fuzz}
exec meson test -C "$build" --suite fuzz --print-errorlogs --timeout-multiplier 0
