# Keel's front door. `make run` and `make test` are the README's two commands.
JOBS ?= $(shell nproc)
KEEL := build/debug/src/keel

.PHONY: all bootstrap build run test test-asan fuzz bench format format-check clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset debug >/dev/null
	@cmake --build build/debug -j $(JOBS)

# Set up, install the demo addons (with demo data) on the embedded PostgreSQL, and serve.
run:
	@scripts/run

test:
	@scripts/test

test-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j $(JOBS) --target keel_unit_tests
	@ctest --preset asan -j $(JOBS)

fuzz: bootstrap
	@scripts/fuzz 20

# Benchmarks, in a release build; each prints its measurements and whether its target is met.
bench: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target install_bench http_load keel
	build/release/bench/install_bench
	bench/rest_bench.sh

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
