#!/usr/bin/env bash
# Builds capd with profile-guided optimization (PGO): the compiler lays out and inlines the code
# by how often each branch ran on real traffic, which keeps the per-packet path together in the
# instruction cache. Not part of `make build` (it compiles capd twice, about five minutes):
# `make bench` measures this build, and `make release` makes it.
#
#   scripts/pgo.sh     builds target/pgo/HOST/release/capd and prints its path
#
# 1. builds an instrumented capd (target/pgo-gen), which counts every branch it takes;
# 2. trains it: replays every capture in captures/ (and, when it sits beside the repository,
#    every capture of ../shared/corpus) with --json, with human output, and with --json
#    --threads 2. The benchmark's inputs are not used: the profile comes from the sample
#    captures alone;
# 3. merges the counts (llvm-profdata, from rustup's llvm-tools or the llvm package of the
#    compiler's LLVM version) and builds capd again with them (target/pgo).
#
# Output is byte for byte the same as the plain build's: only code layout and inlining change.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
gen_dir=$top/target/pgo-gen
use_dir=$top/target/pgo
data=$top/target/pgo-data

say() { echo "pgo: $*" >&2; }
die() {
    echo "pgo: $*" >&2
    exit 1
}

command -v cargo >/dev/null || die "cargo is not installed (scripts/setup.sh says how)"
llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$llvm_major" ] && [ -n "$host" ] || die "cannot tell the compiler's LLVM version from rustc -vV"

# find_profdata: the llvm-profdata that reads this compiler's profiles, on stdout.
find_profdata() {
    local p
    p=$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata
    [ -x "$p" ] && { echo "$p"; return 0; }
    for p in "llvm-profdata-$llvm_major" llvm-profdata; do
        if command -v "$p" >/dev/null && "$p" --version 2>/dev/null | grep -q "LLVM version $llvm_major\."; then
            command -v "$p"
            return 0
        fi
    done
    return 1
}

profdata=$(find_profdata) || {
    say "llvm-profdata for LLVM $llvm_major is missing: trying rustup's llvm-tools, then the llvm-$llvm_major package"
    if command -v rustup >/dev/null; then
        rustup component add llvm-tools >&2 || true
    fi
    profdata=$(find_profdata) || {
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "llvm-$llvm_major" >&2 || true
        fi
        profdata=$(find_profdata) ||
            die "no llvm-profdata for LLVM $llvm_major: run 'rustup component add llvm-tools' or install llvm-$llvm_major"
    }
}

# Both builds name the host as their target, so that RUSTFLAGS reach capd's code alone and not
# the build scripts and procedural macros, whose runs during the build would otherwise add
# their own counts to the profile.
say "building an instrumented capd in $gen_dir"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$data" \
    cargo build --release --quiet --bin capd --target "$host" --target-dir "$gen_dir" \
    --manifest-path "$top/Cargo.toml" || die "the instrumented build failed"
rm -rf "$data"

inputs=("$top"/captures/*.pcap "$top"/captures/*.pcapng)
corpus=$top/../shared/corpus
[ -d "$corpus" ] && inputs+=("$corpus"/*.pcap "$corpus"/*.pcapng)
trained=0
for f in "${inputs[@]}"; do
    [ -f "$f" ] || continue
    for mode in "--json" "" "--json --threads 2"; do
        # Malformed captures end with an error on purpose; their counts still count.
        # shellcheck disable=SC2086
        "$gen_dir/$host/release/capd" -r "$f" $mode >/dev/null 2>&1 || true
    done
    trained=$((trained + 1))
done
[ "$trained" -gt 0 ] || die "no captures to train on in $top/captures"
ls "$data"/*.profraw >/dev/null 2>&1 || die "the instrumented capd wrote no profile into $data"
say "trained on $trained captures; merging with $profdata"
"$profdata" merge -o "$data/capd.profdata" "$data" || die "llvm-profdata could not merge the profiles"

say "building capd with the profile in $use_dir"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$data/capd.profdata" \
    cargo build --release --quiet --bin capd --target "$host" --target-dir "$use_dir" \
    --manifest-path "$top/Cargo.toml" || die "the optimized build failed"
echo "$use_dir/$host/release/capd"
