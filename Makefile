# metcd: the etcd v2 API in C.
#   make run    install dependencies if missing, build, start one member
#   make test   install dependencies if missing, build, run every test in a
#               normal and an ASan+UBSan build; last line "N passed, M failed"
#   make build  build only (binaries in build/)
#   make bench  etcd 3.4.23 and metcd side by side in one run: GET, PUT, the
#               lock pattern, a 1000-child listing and the watch fan-out
#               (BENCH_DURATION per round and server, BENCH_ROUNDS rounds)

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
BENCH_DURATION ?= 5s
BENCH_ROUNDS ?= 2

BUILD_PKGS = meson ninja-build pkg-config gcc libc6-dev libh2o-evloop-dev libssl-dev \
             libjansson-dev liblmdb-dev libleveldb-dev libyaml-dev libcmocka-dev libcrypt-dev
TEST_PKGS  = python3 curl etcd-server etcd-client python3-etcd clang libclang-rt-14-dev chromium \
             valgrind wrk etcd-discovery dnsmasq-base

.PHONY: all build run test deps test-deps unit fuzz fuzz-long bench format clean

all: build

deps:
	@./scripts/install-deps.sh $(BUILD_PKGS)

test-deps: deps
	@./scripts/install-deps.sh $(TEST_PKGS)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) --buildtype=debug -Db_sanitize=thread -Db_lundef=false

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debug -Dfuzz=true -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/metcd --name default --data-dir ./default.metcd \
	    --listen-client-urls http://127.0.0.1:2379 \
	    --advertise-client-urls http://127.0.0.1:2379 \
	    --listen-peer-urls http://127.0.0.1:2380 \
	    --initial-advertise-peer-urls http://127.0.0.1:2380

# Every test runs in both builds; the summary counts them all. The API,
# watch and --threads tests also run in a ThreadSanitizer build. The fuzz
# targets run briefly last (FUZZ_SECONDS each).
test: test-deps $(BUILD)/build.ninja $(ASAN_BUILD)/build.ninja $(TSAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/run-tests.sh $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)

unit: $(BUILD)/build.ninja
	ninja -C $(BUILD) && meson test -C $(BUILD) --print-errorlogs

fuzz-long: test-deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	FUZZ_SECONDS=$${FUZZ_SECONDS:-3600} ./tests/fuzz/run-all.sh $(FUZZ_BUILD)

bench: test-deps build
	sh src/bench/compare-etcd.sh $(BUILD) $(BENCH_DURATION) $(BENCH_ROUNDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
