# ponder: `make demo` runs the main job, `make test` builds and runs the tests. Both install the
# Debian packages they need first (scripts/install-deps.sh).
BUILD ?= build
JOBS ?= $(shell nproc)
THREADS ?= $(shell nproc)

.PHONY: all deps build test test-sanitize demo bench clean
all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

# Tests run one at a time, each with every core: OpenMP threads spin while they wait, so running
# several multi-threaded tests at once on few cores slows all of them down.
test: build
	cd $(BUILD) && OMP_NUM_THREADS=$(THREADS) ctest --output-on-failure --timeout 900

# The suite again under AddressSanitizer and UndefinedBehaviorSanitizer (the slow live-PyTorch and
# learning tests excepted).
test-sanitize: deps
	cmake -S . -B $(BUILD)-asan -DPONDER_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD)-asan -j$(JOBS) --target ponder ponder_tests
	cd $(BUILD)-asan && OMP_NUM_THREADS=$(THREADS) ctest --output-on-failure --timeout 900 -E 'Live|a_tiny_model'

demo: build
	scripts/demo.sh $(BUILD)

bench: build
	$(BUILD)/ponder bench

clean:
	rm -rf $(BUILD) $(BUILD)-asan
