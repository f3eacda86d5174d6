# The two commands a newcomer needs (see README.md):
#   make run    set up, build, and replay the bundled mTLS lab capture
#   make test   set up, build, and run every test (what CI runs)

CAPD := target/release/capd
SAMPLE := captures/lab-mtls12.pcap

.PHONY: run test setup setup-test build lint

run: setup build
	$(CAPD) -r $(SAMPLE)

test: setup-test build lint
	cargo test --release

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh test

build:
	cargo build --release

lint:
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
