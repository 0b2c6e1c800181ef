#!/bin/sh
# Builds and runs every test in three builds: normal, ASan+UBSan, and the
# clang libFuzzer build (fuzz suite only, FUZZ_SECONDS each); with a fourth
# build dir, a ThreadSanitizer build of metcd runs the API, watch and
# --threads tests. Always ends with the line "N passed, M failed"; a build
# that fails to compile counts as one failure.
# Usage: scripts/run-tests.sh BUILD ASAN_BUILD FUZZ_BUILD [TSAN_BUILD]
set -u
build=$1 asan=$2 fuzz=$3 tsan=${4:-}
logs=""
run() { # run <dir> [meson test args...]
    dir=$1; shift
    log="$dir/meson-logs/testlog.txt"
    rm -f "$log"
    if ninja -C "$dir"; then
        meson test -C "$dir" --no-rebuild --print-errorlogs "$@" || true
    else
        echo "build failed in $dir" >&2
    fi
    logs="$logs $log"
}
run "$build" --num-processes 2
run "$asan" --num-processes 2
if [ -n "$tsan" ]; then
    # Only metcd, metcd-hooks (api-threads' owner_wakeup) and the engine
    # commit thread's unit test are built there: these tests need nothing
    # else. The lmdb cases run the commit thread beside the loops' reads.
    log="$tsan/meson-logs/testlog.txt"
    rm -f "$log"
    if ninja -C "$tsan" metcd tests/metcd-hooks tests/store/test-store-engine-commit; then
        meson test -C "$tsan" --no-rebuild --print-errorlogs \
            api-server-metcd api-watch-fanout-metcd api-threads-metcd api-auth \
            store-engine-commit api-server-metcd-lmdb durability-read-back-under-load-lmdb || true
    else
        echo "build failed in $tsan" >&2
    fi
    logs="$logs $log"
fi
FUZZ_SECONDS=${FUZZ_SECONDS:-20} run "$fuzz" --suite fuzz
# shellcheck disable=SC2086
exec ./scripts/test-summary.sh $logs
