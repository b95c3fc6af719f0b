# tierflow: `make run` to see it work, `make test` to prove it. Both install what is
# missing (Debian 12 packages), build, and go.
BUILD   ?= build
RUN_DIR ?= .run
JOBS    ?= $(shell nproc)

DEPS := cmake ninja-build ccache g++ pkg-config make git ca-certificates procps curl \
        libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
        librdkafka-dev libhiredis-dev prometheus-cpp-dev libsqlite3-dev sqlite3 \
        libpqxx-dev libpq-dev postgresql libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev \
        libabsl-dev libicu-dev libcurl4-openssl-dev libgtest-dev libgmock-dev \
        libbenchmark-dev redis-server redis-tools clang-format libssl-dev libcpp-httplib-dev \
        clang libclang-rt-14-dev libjs-chart.js chromium fonts-wqy-microhei python3 python3-websocket \
        libjemalloc-dev liblz4-dev

.PHONY: deps build test test-unit test-e2e run demo down bench fuzz fmt clean

deps:
	@tools/scripts/deps.sh $(DEPS)

build: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2 -L 'unit|integration|e2e'

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2 -L unit

test-e2e: build
	ctest --test-dir $(BUILD) --output-on-failure -L e2e

# Starts the local stack, streams the demo workload, shows the result, runs until Ctrl-C.
run: build
	@BUILD=$(BUILD) RUN_DIR=$(RUN_DIR) deploy/local/demo.sh --stay

# The same, then stops the stack and exits.
demo: build
	@BUILD=$(BUILD) RUN_DIR=$(RUN_DIR) deploy/local/demo.sh

down:
	@BUILD=$(BUILD) RUN_DIR=$(RUN_DIR) deploy/local/stack.sh down

# Benchmarks print their figures beside a baseline measured in the same run.
bench: build
	ctest --test-dir $(BUILD) -L bench --verbose

# libFuzzer (clang, ASan, UBSan) over ingest's event parser and validators for
# FUZZ_SECONDS (600); `make test` runs the same for 30 s. Findings stay in $(BUILD)/fuzz-out.
FUZZ_SECONDS ?= 600
fuzz: build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=$(abspath $(BUILD))/fuzz-out \
	  ctest --test-dir $(BUILD) -L fuzz --output-on-failure --timeout $$(( $(FUZZ_SECONDS) + 300 ))

fmt:
	@git ls-files '*.cpp' '*.h' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(RUN_DIR)
