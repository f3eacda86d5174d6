# The two commands a newcomer needs (see README.md):
#   make run    set up, build, and replay the bundled mTLS lab capture
#   make test   set up, build, and run every test (what CI runs)
#   make bench  the benchmark: about 20 minutes, root, writes bench/RESULTS.md;
#               not part of make test. scripts/bench.sh --quick is the short version.
#   make release  capd built with profile-guided optimization (scripts/pgo.sh), what the
#               benchmark measures: target/pgo/HOST/release/capd
#   make fuzz   (development, not part of make test) run each fuzz target for FUZZ_SECONDS

CAPD := target/release/capd
SAMPLE := captures/lab-mtls12.pcap

.PHONY: run test bench setup setup-test setup-bench build release lint fuzz

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

release: setup
	scripts/pgo.sh

# The fuzz targets are their own workspace, which no other step builds: they are checked here
# so that a change to capd's API cannot leave them unbuildable until the next `make fuzz`.
lint:
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	cargo fmt --manifest-path fuzz/Cargo.toml --check
	cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

# Fuzzing: cargo-fuzz needs a nightly compiler; without one, stable acts as nightly for the
# build (RUSTC_BOOTSTRAP). Corpora are seeded from the captures (and the shared corpus beside
# the repository, when present); crashes land in fuzz/artifacts/TARGET/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode engine tls
FUZZ_CARGO := $(shell cargo +nightly --version >/dev/null 2>&1 && echo 'cargo +nightly' || echo 'RUSTC_BOOTSTRAP=1 cargo')

fuzz: setup
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	python3 fuzz/seed.py fuzz/corpus captures $(wildcard ../shared/corpus)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_CARGO) fuzz run -s none $$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 || exit 1; \
	done
