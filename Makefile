# The README's promise: `make run` and `make test` do all the set-up on Debian 12.
SHELL := /bin/bash

RELEASE_DIR := build/release
DEBUG_DIR   := build/debug
DATA_DIR    ?= ./data
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX      ?= /usr/local
SYSCONFDIR  ?= /etc

.PHONY: all deps configure build run test test-unit test-asan fuzz bench bench-peers bench-http bench-delayed docs install format clean

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

## test-asan: unit and end-to-end tests under AddressSanitizer and UndefinedBehaviorSanitizer
test-asan: deps $(DEBUG_DIR)/build.ninja
	ninja -C $(DEBUG_DIR) -j $(JOBS) unit_tests riptide crash_test rdkafka_roundtrip rdkafka_group \
	  sarama_client io_shim
	ctest --test-dir $(DEBUG_DIR) --output-on-failure -j $(JOBS) -L 'unit|core|integration'

FUZZ_DIR     := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_kafka_request fuzz_kafka_response fuzz_record_batch fuzz_partition_open \
                fuzz_config fuzz_http_inputs fuzz_sasl

$(FUZZ_DIR)/build.ninja:
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIPTIDE_FUZZ=ON -DRIPTIDE_BENCH=OFF $(CMAKE_FLAGS)

## fuzz: every decoding entry point, the data directory's files and the config file under
## libFuzzer + ASan/UBSan, FUZZ_SECONDS each
fuzz: deps $(FUZZ_DIR)/build.ninja
	ninja -C $(FUZZ_DIR) -j $(JOBS) $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  corpus=$(FUZZ_DIR)/corpus/$$t; mkdir -p $$corpus; seeds=; \
	  case $$t in fuzz_kafka_request) seeds=tests/fuzz/corpus/request;; \
	    fuzz_record_batch) seeds=tests/fuzz/corpus/record_batch;; \
	    fuzz_partition_open) seeds=tests/fuzz/corpus/partition_open;; \
	    fuzz_config) seeds=config;; \
	    fuzz_sasl) seeds=tests/fuzz/corpus/sasl;; esac; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_DIR)/tests/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -print_final_stats=1 $$corpus $$seeds 2>&1 | grep -E "^(stat::number_of_executed_units|#[0-9]+ +DONE)|ERROR|SUMMARY" ; \
	  test $${PIPESTATUS[0]} -eq 0 || { echo "fuzz: $$t FAILED (crash input in the current directory)"; exit 1; }; \
	done

## bench: storage micro-benchmarks beside the disk's plain write+fsync loop
bench: build
	$(RELEASE_DIR)/bench/storage_bench --dir $(or $(BENCH_DIR),$(RELEASE_DIR)/bench-data)

## docs: refresh the tables in docs/ and config/riptide.example.toml from the binary
docs: deps $(RELEASE_DIR)/build.ninja
	ninja -C $(RELEASE_DIR) -j $(JOBS) riptide
	scripts/update-docs --riptide $(RELEASE_DIR)/riptide

## install: the binary, example config, /etc config, systemd unit and docs under PREFIX
## (default /usr/local; configuration under SYSCONFDIR, default /etc; DESTDIR honoured)
install: deps $(RELEASE_DIR)/build.ninja
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
	  -DCMAKE_INSTALL_SYSCONFDIR=$(SYSCONFDIR) > /dev/null
	ninja -C $(RELEASE_DIR) -j $(JOBS) riptide
	DESTDIR=$(DESTDIR) cmake --install $(RELEASE_DIR)

## bench-peers: Riptide beside NATS JetStream, Redis Streams and RabbitMQ on the same
## workloads, one table (BENCH_MODE=quick for short runs; installs the peers first)
BENCH_MODE ?= full
bench-peers: deps
	@scripts/install-peers
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	ninja -C $(RELEASE_DIR) -j $(JOBS) riptide $$(ninja -C $(RELEASE_DIR) -t targets all | grep -oE '^(nats|redis|rabbitmq)_bench' | sort -u)
	/usr/bin/python3 bench/peers/run.py --build-dir $(RELEASE_DIR) $(if $(filter quick,$(BENCH_MODE)),--quick)

## bench-http: the HTTP API under load: HTTP produce beside Kafka produce, 10,000 idle
## WebSocket subscribers, fan-out to 1,000 beside NATS over WebSocket (when nats-server is
## installed: scripts/install-peers); BENCH_MODE=quick for a short run
bench-http: build
	/usr/bin/python3 bench/http_bench.py --build-dir $(RELEASE_DIR) $(if $(filter quick,$(BENCH_MODE)),--quick)

## bench-delayed: 1,000,000 records held for delayed delivery (broker memory), then how
## soon after its due time each of 20,000 timed records is seen by a Kafka consumer
bench-delayed: build
	/usr/bin/python3 bench/delayed.py --riptide $(RELEASE_DIR)/riptide

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
