# Keel's front door. `make run` and `make test` are the README's two commands.
JOBS ?= $(shell nproc)
KEEL := build/debug/src/keel

.PHONY: all bootstrap build run test test-asan fuzz fuzz-long soak soak-short bench package package-test \
	package-install-test format format-check clean

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

# Ten minutes per fuzzer (issue 16); not in CI.
fuzz-long: bootstrap
	@scripts/fuzz 600

# Ten minutes of mixed load at saturation on a release build (docs/operations.md); not in CI.
soak: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target keel
	bench/soak.sh 600

# The same for 60 s: a quick check after a change to the server or the pools.
soak-short: bootstrap
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS) --target keel
	bench/soak.sh 60

# The Debian package (build/package/keel_<version>_<arch>.deb) and its checks
# (docs/operations.md): package-test inspects it without root; package-install-test installs,
# starts, queries and purges it on this machine (root; CI and throw-away machines only).
package: bootstrap
	@scripts/package

package-test: package
	@scripts/package-test

package-install-test: package
	@scripts/package-test --install

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
