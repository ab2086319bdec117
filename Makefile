# The two commands: `make run` (whole system locally) and `make test` (every test).
# Both install their own Debian packages first.
MAKEFLAGS += --no-print-directory
BUILD_DIR ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build run test bench clean

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

bench: build
	@tools/bench/run-suite.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) .run
