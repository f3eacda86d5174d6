#!/usr/bin/env bash
# Where a replay's work goes, thread by thread. Not a test and not the benchmark
# (scripts/bench.sh): a tool for telling whether a change moved work, and on which thread.
#
#   scripts/profile.sh instructions [-n PACKETS] [CAPD [CAPTURE [CAPD ARGS...]]]
#       Instructions each thread ran over the first PACKETS packets (default 100000), under
#       callgrind: exact and repeatable, so two builds compare even on a noisy host. The
#       callgrind files are left in $PROFILE_DIR (default /tmp/capd-profile) for
#       callgrind_annotate.
#   scripts/profile.sh threads [CAPD [CAPTURE [CAPD ARGS...]]]
#       CPU milliseconds each thread used over one whole replay (perf stat, attached as the
#       replay starts, so its first milliseconds are not counted), and the wall time. With one
#       worker the engine thread is the pipeline's critical path: a replay takes about as long
#       as that thread's CPU time.
#
# CAPD defaults to target/release/capd and CAPTURE to $BENCH_DIR/mtls-1x.pcap
# (BENCH_DIR defaults to /tmp/capd-bench; `make bench` makes the capture). Output goes to
# /dev/null, as in the benchmark's `--json` rows; give `--json` among the arguments for those.

set -euo pipefail

die() {
    echo "profile: $*" >&2
    exit 2
}

mode=${1:-}
[ $# -gt 0 ] && shift
packets=100000
if [ "$mode" = instructions ] && [ "${1:-}" = -n ]; then
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number of packets"
    packets=$2
    shift 2
fi
capd=${1:-target/release/capd}
[ $# -gt 0 ] && shift
capture=${1:-${BENCH_DIR:-/tmp/capd-bench}/mtls-1x.pcap}
[ $# -gt 0 ] && shift
[ -x "$capd" ] || die "$capd is not an executable (build it with cargo build --release)"
[ -r "$capture" ] || die "cannot read $capture (make bench creates the benchmark's captures)"

# name FILE INSTRUCTIONS: which of capd's threads a callgrind file is, from the functions it
# ran; the dispatcher (`--threads`) runs nothing of capd's that is not inlined. The main
# thread is looked for before the engine's, whose functions it may call: in a profile-guided
# build (scripts/pgo.sh) `run_with` is inlined and `pipeline` itself (not its closures) names it.
name() {
    if grep -q 'capd::shard::work' "$1"; then echo worker
    elif grep -q 'capd::shard::Shards::merge\|capd::run::run_with\|capd::run::pipeline\($\|[^:]\)' "$1"; then echo main
    elif grep -q 'capd::engine::Engine' "$1"; then echo engine
    elif grep -q 'capd::capture::deliver\|capd::capture::pcapfile\|capd::capture::Sending' "$1"; then echo capture
    elif [ "$2" -gt 1000000 ]; then echo dispatch
    else echo other
    fi
}

case $mode in
instructions)
    command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install -y valgrind)"
    dir=${PROFILE_DIR:-/tmp/capd-profile}
    mkdir -p "$dir"
    out=$dir/callgrind.$(date +%s).$$
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
        "$capd" -r "$capture" -c "$packets" "$@" >/dev/null 2>"$out.stderr" ||
        die "the replay failed: $(tail -3 "$out.stderr")"
    total=0
    for f in "$out"-*; do
        n=$(sed -n 's/^summary: //p; s/^totals: //p' "$f" | head -1)
        [ -n "$n" ] || continue
        total=$((total + n))
        printf '%-9s %15s instructions  %s\n' "$(name "$f" "$n")" "$n" "$f"
    done
    printf '%-9s %15s instructions over %s packets\n' total "$total" "$packets"
    ;;
threads)
    command -v perf >/dev/null || die "perf is not installed (apt-get install -y linux-perf)"
    stats=$(mktemp)
    t0=$EPOCHREALTIME
    "$capd" -r "$capture" "$@" >/dev/null &
    pid=$!
    # perf follows only the threads there when it attaches: wait (up to a second) for the
    # last of capd's pipeline threads to start, the engine's or, with --threads, the
    # dispatcher's (spawned after the workers), else a thread may be missing from the list.
    for _ in $(seq 200); do
        grep -qsxE 'capd-(engine|dispatch)' /proc/"$pid"/task/*/comm && break
        sleep 0.005
    done
    perf stat -e task-clock --per-thread -p "$pid" -o "$stats" &
    perf_pid=$!
    wait "$pid" || die "the replay failed"
    t1=$EPOCHREALTIME
    # perf notices the end within a second.
    wait "$perf_pid" || true
    awk '/task-clock/ { sub(/-[0-9]+$/, "", $1); ms[$1] += $2 }
         END { for (t in ms) printf "%-14s %9.0f ms CPU\n", t, ms[t] }' "$stats" | sort
    rm -f "$stats"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%-14s %9.0f ms\n", "wall", (b - a) * 1000 }'
    ;;
*)
    die "usage: scripts/profile.sh instructions [-n PACKETS] [CAPD [CAPTURE [ARGS...]]] | threads [CAPD [CAPTURE [ARGS...]]]"
    ;;
esac
