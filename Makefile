# The two commands: `make run` (whole system locally) and `make test` (every test).
# Both install their own Debian packages first.
MAKEFLAGS += --no-print-directory
BUILD_DIR ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo

# Sanitizer and fuzzing builds (tests/fuzz, tests/sanitizers): clang, in their own dirs,
# each with its own test MariaDB port so they can run beside `make test`.
SAN_CXX ?= clang++-16
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
ASAN_DB_PORT ?= 13317
TSAN_DB_PORT ?= 13327
FUZZ_SMOKE_RUNS ?= 8000
FUZZ_LONG_RUNS ?= 100000
FUZZ_TARGETS = fuzz_customers fuzz_sales fuzz_contracts fuzz_complaints fuzz_performance
# The tests that exercise the pool, the outbox and the schedulers (sweeps, relays).
TSAN_TESTS = common_test db_test complaints_service_test contracts_service_test
SUPP = $(CURDIR)/tests/sanitizers
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0 \
  LSAN_OPTIONS=suppressions=$(SUPP)/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(SUPP)/ubsan.supp \
  TSAN_OPTIONS=suppressions=$(SUPP)/tsan.supp:ignore_noninstrumented_modules=1:second_deadlock_stack=1:halt_on_error=0:exitcode=66
ASAN_CMAKE = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_CXX_COMPILER=$(SAN_CXX) \
  -DKEFU_SANITIZE=address,undefined -DKEFU_FUZZ=ON -DKEFU_TEST_DB_PORT=$(ASAN_DB_PORT)
TSAN_CMAKE = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_CXX_COMPILER=$(SAN_CXX) \
  -DKEFU_SANITIZE=thread -DKEFU_TEST_DB_PORT=$(TSAN_DB_PORT)

.PHONY: all deps build run test bench bench-scale bench-memory clean fuzz-smoke fuzz-long test-sanitize reliability

all: build

deps:
	@tools/dev/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	@tools/dev/run.sh $(BUILD_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600
	@$(MAKE) fuzz-smoke

# Each service's libFuzzer target (ASan+UBSan) for a short run from the seed corpus.
fuzz-smoke: deps
	@cmake -S . -B $(ASAN_BUILD_DIR) $(ASAN_CMAKE) >/dev/null
	@cmake --build $(ASAN_BUILD_DIR) -j$(JOBS) --target $(FUZZ_TARGETS)
	@$(SAN_ENV) tools/dev/fuzz.sh $(ASAN_BUILD_DIR) $(FUZZ_SMOKE_RUNS)

fuzz-long: deps
	@cmake -S . -B $(ASAN_BUILD_DIR) $(ASAN_CMAKE) >/dev/null
	@cmake --build $(ASAN_BUILD_DIR) -j$(JOBS) --target $(FUZZ_TARGETS)
	@$(SAN_ENV) KEFU_FUZZ_MAX_TIME=1800 tools/dev/fuzz.sh $(ASAN_BUILD_DIR) $(FUZZ_LONG_RUNS)

# The unit and integration suite under ASan+UBSan (all but the deploy checks), then the
# pool, outbox and scheduler tests under ThreadSanitizer.
test-sanitize: deps
	@cmake -S . -B $(ASAN_BUILD_DIR) $(ASAN_CMAKE) >/dev/null
	@cmake --build $(ASAN_BUILD_DIR) -j$(JOBS)
	@cd $(ASAN_BUILD_DIR) && $(SAN_ENV) ctest --output-on-failure -j$(JOBS) --timeout 900 -LE deploy
	@cmake -S . -B $(TSAN_BUILD_DIR) $(TSAN_CMAKE) >/dev/null
	@cmake --build $(TSAN_BUILD_DIR) -j$(JOBS) --target $(TSAN_TESTS)
	@cd $(TSAN_BUILD_DIR) && $(SAN_ENV) ctest --output-on-failure --timeout 900 \
	  -R '^($(subst $() ,|,$(TSAN_TESTS)))$$'

# The long runs: the fuzz targets for FUZZ_LONG_RUNS executions each, the fault tests
# at 10,000 records, then a soak of mixed load at half capacity (KEFU_SOAK_WINDOWS x
# KEFU_SOAK_WINDOW, 6 x 5 min) that fails on any error or on memory growing over 10%.
reliability: build
	@$(MAKE) fuzz-long
	@cd $(BUILD_DIR) && KEFU_RELIABILITY_RECORDS=10000 ctest --output-on-failure -L reliability
	@tools/bench/run-suite.sh $(BUILD_DIR) soak

# The standard suite (floors, ratios, latency, overload, memory), then the scale run.
bench: build
	@tools/bench/run-suite.sh $(BUILD_DIR)
	@tools/bench/scale.sh $(BUILD_DIR)

# Only the scale run: the tables at 10,000 and at 1,000,000 rows, the same calls timed at
# both, with the plans of their statements.
bench-scale: build
	@tools/bench/scale.sh $(BUILD_DIR)

# Each service's resident memory idle, after a million calls and over ten minutes at half
# its peak (about an hour: kept out of `make bench`).
bench-memory: build
	@tools/bench/memory.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR) .run
