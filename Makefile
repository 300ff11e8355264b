# The README's promise: `make run` and `make test` do all the set-up on Debian 12.

RELEASE_DIR := build/release
DEBUG_DIR   := build/debug
DATA_DIR    ?= ./data
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test test-unit test-asan bench format clean

all: build

deps:
	@scripts/install-deps

$(RELEASE_DIR)/build.ninja:
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

$(DEBUG_DIR)/build.ninja:
	cmake -S . -B $(DEBUG_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRIPTIDE_SANITIZE=ON \
	  -DRIPTIDE_BENCH=OFF $(CMAKE_FLAGS)

## build: Release build; the server lands at build/release/riptide
build: deps $(RELEASE_DIR)/build.ninja
	ninja -C $(RELEASE_DIR) -j $(JOBS)

## run: build, then serve on an embedded data directory (DATA_DIR, default ./data)
run: build
	$(RELEASE_DIR)/riptide serve --data-dir $(DATA_DIR)

## test: build, then every test level (unit, crash)
test: build
	ctest --test-dir $(RELEASE_DIR) --output-on-failure -j $(JOBS)

## test-asan: unit tests under AddressSanitizer and UndefinedBehaviorSanitizer
test-asan: deps $(DEBUG_DIR)/build.ninja
	ninja -C $(DEBUG_DIR) -j $(JOBS) unit_tests
	ctest --test-dir $(DEBUG_DIR) --output-on-failure -j $(JOBS) -L unit

## bench: storage micro-benchmarks beside the disk's plain write+fsync loop
bench: build
	$(RELEASE_DIR)/bench/storage_bench --dir $(or $(BENCH_DIR),$(RELEASE_DIR)/bench-data)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
