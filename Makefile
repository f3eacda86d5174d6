# The two commands a newcomer needs (see README.md):
#   make run    set up, build, and replay the bundled mTLS lab capture
#   make test   set up, build, and run every test (what CI runs)
#   make bench  the benchmark: about 10 minutes, root, writes bench/RESULTS.md;
#               not part of make test. scripts/bench.sh --quick is the short version.

CAPD := target/release/capd
SAMPLE := captures/lab-mtls12.pcap

.PHONY: run test bench setup setup-test setup-bench build lint

run: setup build
	$(CAPD) -r $(SAMPLE)

test: setup-test build lint
	cargo test --release

bench: setup-bench build
	scripts/bench.sh

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh test

setup-bench:
	@scripts/setup.sh bench

build:
	cargo build --release

lint:
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
