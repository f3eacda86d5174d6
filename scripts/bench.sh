#!/usr/bin/env bash
# capd's benchmark (issue 6). Not part of `make test`: timing never decides a test.
#
#   scripts/bench.sh            full run, about 10 minutes on 2 cores; writes bench/RESULTS.md
#   scripts/bench.sh --quick    smaller inputs (in $BENCH_DIR/quick), one run each, about a minute;
#                               writes $BENCH_DIR/quick/RESULTS-quick.md
#
# Options: --runs N (timed runs per command, default 5, so that the median shrugs off a slow or
# lucky run on a noisy machine; a command stops repeating once it has used 100 s, and a run is
# stopped at 300 s), --no-live (skip the live test), --no-pgo (measure the plain build alone),
# --out FILE (where the results go).
# Environment: BENCH_DIR (scratch directory, default /tmp/capd-bench), CAPD (the binary to
# measure; by default the profile-guided build of scripts/pgo.sh, with the plain
# `cargo build --release` binary timed beside it on the 1x mTLS and bulk captures).
#
# In one run it:
#  1. makes its inputs in BENCH_DIR, reusing those whose stamp still matches:
#     - mtls-1x.pcap: >= 1 M packets of complete mTLS sessions, made by examples/bench_synth from
#       the real openssl sessions in captures/ (distinct flows, fresh ISNs, valid checksums,
#       Poisson arrivals so thousands of sessions overlap), checked with tshark; and 4x and 16x
#       longer versions for the scaling table;
#     - bulk.pcap: a real mTLS 1.2 transfer of 256 MiB (scripts/bench-tls-bulk.py) recorded by
#       tcpdump on the loopback of a network namespace of its own, MTU 1500, one segment a frame;
#  2. times on each file: capd --json and human output, tshark with TCP analysis and TLS handshake
#     fields, tcpdump -n, and the decode-only floor (examples/bench_floor): packets/s, MB/s (file
#     bytes), peak RSS, and the ratios capd/tshark and capd/floor;
#  3. scaling: capd --json throughput and peak RSS at 1x, 4x and 16x the mTLS capture, and on
#     the 1x capture's sessions replayed one after another (mtls-1x-serial.pcap: about 140 open
#     at once instead of 10,000), which shows what the many concurrent flows cost;
#  4. live: in a network namespace of its own, a bounded UDP+TCP load on lo (examples/bench_load)
#     while capd, tcpdump or tshark captures it; kernel and queue drops, and the time from the end
#     of the load to the tool printing the marker connection sent right after it;
#  5. writes the results as markdown (machine, versions, commands) and prints them.
#
# Needs root (network namespaces), tshark, tcpdump, openssl, python3, GNU time, iproute2.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cmdline="scripts/bench.sh${*:+ $*}"

quick=0
runs=5
runs_given=0
live=1
pgo=1
out=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --runs)
            [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "bench: --runs needs a positive number" >&2; exit 2; }
            runs=$2
            runs_given=1
            shift
            ;;
        --no-live) live=0 ;;
        --no-pgo) pgo=0 ;;
        --out)
            [ $# -ge 2 ] || { echo "bench: --out needs a file name" >&2; exit 2; }
            out=$2
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "bench: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

BENCH_DIR=${BENCH_DIR:-/tmp/capd-bench}
plain=$top/target/release/capd
# The profile-guided build is made after the plain one (below), unless CAPD names a binary.
given=${CAPD:-}
[ -n "$given" ] && pgo=0
CAPD=${CAPD:-$plain}
examples=$top/target/release/examples
synth=$examples/bench_synth
floor=$examples/bench_floor
load=$examples/bench_load
watch=$examples/bench_watch

mtls_packets=1000000
bulk_mib=256
live_seconds=3
budget_s=100
cap_s=300
scales=(1 4 16)
if [ $quick = 1 ]; then
    mtls_packets=100000
    bulk_mib=32
    live_seconds=1
    cap_s=60
    [ $runs_given = 1 ] || runs=1
fi
if [ $quick = 1 ]; then
    # Its own inputs, so that a quick run does not replace the full run's.
    BENCH_DIR=$BENCH_DIR/quick
    [ -n "$out" ] || out=$BENCH_DIR/RESULTS-quick.md
fi
[ -n "$out" ] || out=$top/bench/RESULTS.md
live_udp_pps=${BENCH_LIVE_UDP_PPS:-200000}
live_tcp_pps=${BENCH_LIVE_TCP_PPS:-100000}
marker_port=65009
probe_port=65008
templates=("$top"/captures/openssl-mtls12.pcap "$top"/captures/openssl-mtls12-ipv6.pcap
    "$top"/captures/openssl-mtls12-frag512.pcap "$top"/captures/openssl-tls13.pcap)
tshark_fields=(-o tcp.analyze_sequence_numbers:TRUE -T fields -e frame.number
    -e tcp.analysis.flags -e tls.handshake.type)

say() { echo "bench: $*" >&2; }
die() {
    echo "bench: $*" >&2
    exit 1
}

# --- preflight -------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root: the bulk recording and the live test use network namespaces"
for tool in tshark tcpdump openssl python3 ip cargo; do
    command -v "$tool" >/dev/null || die "$tool is required (scripts/setup.sh test installs the test tools)"
done
[ -x /usr/bin/time ] || die "GNU time is required for peak memory: apt-get install time"
mkdir -p "$BENCH_DIR"
work=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
pids=()
namespaces=()

cleanup() {
    local p ns
    for p in "${pids[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for ns in "${namespaces[@]:-}"; do
        [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "building capd and the benchmark tools"
(cd "$top" && cargo build --release --quiet --bin capd --example bench_synth --example bench_floor \
    --example bench_load --example bench_watch) || die "the build failed"
if [ $pgo = 1 ]; then
    say "building capd with profile-guided optimization (scripts/pgo.sh, about five minutes)"
    CAPD=$("$here/pgo.sh") || die "the profile-guided build failed (--no-pgo measures the plain build)"
fi
[ -x "$CAPD" ] || die "$CAPD is not an executable"
# The tree as built, not as it is when the results are written.
capd_version="$("$CAPD" --version 2>/dev/null | head -1) (git $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$top" diff --quiet HEAD -- . ':(exclude)bench/RESULTS.md' 2>/dev/null || echo ", modified"))"

# --- helpers ---------------------------------------------------------------------------------
calc() { awk "BEGIN { printf \"%s\", $* }"; }
fmt() { awk -v v="$2" "BEGIN { printf \"$1\", v }"; }

# kv KEY TEXT: the value in TEXT's key=value or "key":value.
kv() { grep -oE "\\b$1\"?[=:][0-9.a-z]+" <<<"$2" | head -1 | sed -E 's/.*[=:]//'; }

# A digest of what an input is made from, so a stale input is regenerated.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# valid FILE STAMP: the file exists and was made from exactly this.
valid() { [ -s "$1" ] && [ -f "$1.stamp" ] && [ "$(cat "$1.stamp")" = "$2 $(stat -c %s "$1")" ]; }
seal() { echo "$2 $(stat -c %s "$1")" >"$1.stamp"; }

# measure KEY CMD...: times CMD (stdout to /dev/null) $runs times, or fewer once it has used
# $budget_s seconds, and records "runs wall_min wall_median cpu_median peak_rss_kib" in
# $work/res.KEY. A run longer than $cap_s is stopped and recorded as "timeout CAP".
measure() {
    local key=$1
    shift
    local walls=() cpus=() peak=0 spent=0 i t0 t1 u s m rc
    for ((i = 0; i < runs; i++)); do
        t0=$EPOCHREALTIME
        rc=0
        /usr/bin/time -o "$work/time" -f '%U %S %M' timeout -s KILL "$cap_s" "$@" >/dev/null 2>"$work/stderr" || rc=$?
        t1=$EPOCHREALTIME
        if [ $rc = 124 ] || [ $rc = 137 ]; then
            say "  $key: stopped after $cap_s s"
            echo "timeout $cap_s" >"$work/res.$key"
            return 0
        fi
        [ $rc = 0 ] || die "$key failed: $(grep -v '^Command exited' "$work/stderr" | tail -3)"
        read -r u s m < <(tail -1 "$work/time")
        walls+=("$(calc "$t1 - $t0")")
        cpus+=("$(calc "$u + $s")")
        [ "$m" -gt "$peak" ] && peak=$m
        spent=$(calc "$spent + $t1 - $t0")
        say "  $key run $((i + 1)): $(fmt %.2f "${walls[-1]}") s, $((m / 1024)) MiB"
        awk -v s="$spent" -v b="$budget_s" 'BEGIN { exit !(s > b) }' && break
    done
    local sorted_w sorted_c
    sorted_w=$(printf '%s\n' "${walls[@]}" | sort -g)
    sorted_c=$(printf '%s\n' "${cpus[@]}" | sort -g)
    echo "${#walls[@]} $(head -1 <<<"$sorted_w") $(median <<<"$sorted_w") $(median <<<"$sorted_c") $peak" >"$work/res.$key"
}
timed_out() { [ "$(res "$1" 1)" = timeout ]; }
median() { awk '{ v[NR] = $1 } END { printf "%s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
res() { cut -d' ' -f"$2" "$work/res.$1"; }

# --- inputs ----------------------------------------------------------------------------------
# Checks the generator's output with tshark on a small sample: no malformed frames, no bad
# checksums, no expert errors, and one Client Hello per session.
check_synth() {
    local sample=$work/check.pcap sessions bad hellos
    sessions=$("$synth" -o "$sample" -n 3000 "${templates[@]}" | sed -n 's/.*sessions=\([0-9]*\).*/\1/p')
    bad=$(tshark -r "$sample" -n -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
        -Y '_ws.malformed || tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.expert.severity >= error' \
        2>/dev/null | wc -l)
    hellos=$(tshark -r "$sample" -n -Y 'tls.handshake.type == 1' 2>/dev/null | wc -l)
    [ "$bad" = 0 ] || die "the generated capture has $bad malformed or badly checksummed frames (tshark)"
    [ "$hellos" = "$sessions" ] || die "tshark sees $hellos Client Hellos in $sessions generated sessions"
    say "generator checked by tshark: $sessions sessions, $hellos Client Hellos, no malformed frames"
}

synth_stamp=$(stamp_of "$top/examples/bench_synth.rs" "${templates[@]}")
checked=0
# synth_input FILE PACKETS [BENCH_SYNTH_ARGS...]: makes FILE from the templates with
# examples/bench_synth, unless its stamp says it was made from exactly these.
synth_input() {
    local f=$1 n=$2 st
    shift 2
    st="$synth_stamp $n${*:+ $*}"
    if valid "$f" "$st"; then
        say "reusing $f"
        return 0
    fi
    [ $checked = 1 ] || { check_synth; checked=1; }
    say "generating $f ($n packets${*:+, $*})"
    "$synth" -o "$f.tmp" -n "$n" "$@" "${templates[@]}" >"$f.info"
    mv "$f.tmp" "$f"
    seal "$f" "$st"
}
for scale in "${scales[@]}"; do
    synth_input "$BENCH_DIR/mtls-${scale}x.pcap" $((mtls_packets * scale))
done
# The same sessions with few open at once: 100 new sessions/s instead of 10,000.
serial=$BENCH_DIR/mtls-1x-serial.pcap
serial_rate=100
synth_input "$serial" "$mtls_packets" --rate "$serial_rate"

make_certs() {
    local d=$1
    [ -s "$d/client.key" ] && return 0
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 3650 -subj "/CN=capd bench CA" 2>/dev/null
        printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" >ext.cnf
        for n in server client; do
            openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=localhost" 2>/dev/null
            openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.crt -days 825 \
                -extfile ext.cnf 2>/dev/null
        done
    ) || die "making certificates in $d failed"
}

# wait_for FILE TEXT SECONDS: until FILE contains TEXT.
wait_for() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Records one real mTLS bulk transfer on the loopback of a namespace of its own. MTU 1500 and
# one segment per GSO packet, so the capture holds wire-sized frames as on Ethernet.
record_bulk() {
    local f=$1 bytes=$(($2 * 1024 * 1024)) ns=capd-bench-$$-rec
    make_certs "$BENCH_DIR/certs"
    ip netns add "$ns" || die "cannot create network namespace $ns"
    namespaces+=("$ns")
    ip netns exec "$ns" ip link set lo mtu 1500 up
    ip netns exec "$ns" ip link set lo gso_max_size 1500 gso_max_segs 1
    ip netns exec "$ns" tcpdump -i lo -n -s 262144 -B 262144 -c 2000000 -w "$f.tmp" 'tcp port 443' \
        2>"$work/rec-tcpdump.log" &
    local tp=$!
    pids+=("$tp")
    wait_for "$work/rec-tcpdump.log" "listening on" 10 || die "tcpdump did not start: $(cat "$work/rec-tcpdump.log")"
    sleep 1 # tcpdump says it listens slightly before its filter is attached
    ip netns exec "$ns" timeout 90 python3 "$here/bench-tls-bulk.py" server 443 "$bytes" "$BENCH_DIR/certs" \
        >"$work/rec-server.log" 2>&1 &
    local sp=$!
    pids+=("$sp")
    wait_for "$work/rec-server.log" listening 10 || die "the bulk TLS server did not start: $(cat "$work/rec-server.log")"
    ip netns exec "$ns" timeout 90 python3 "$here/bench-tls-bulk.py" client 443 "$BENCH_DIR/certs" \
        >"$work/rec-client.log" 2>&1 || die "the bulk TLS client failed: $(cat "$work/rec-client.log")"
    wait "$sp" || die "the bulk TLS server failed: $(cat "$work/rec-server.log")"
    grep -q "received $bytes" "$work/rec-client.log" || die "the bulk transfer was short: $(cat "$work/rec-client.log")"
    sleep 0.5
    kill -INT "$tp" 2>/dev/null || true
    wait "$tp" || true
    ip netns del "$ns"
    local drops
    drops=$(awk '/dropped by kernel/ { print $1 }' "$work/rec-tcpdump.log")
    [ "${drops:-x}" = 0 ] || die "the bulk recording lost ${drops:-an unknown number of} packets in the kernel (a busy machine?); run again"
    mv "$f.tmp" "$f"
}

bulk=$BENCH_DIR/bulk.pcap
bulk_stamp="$(stamp_of "$here/bench-tls-bulk.py") $bulk_mib"
if valid "$bulk" "$bulk_stamp"; then
    say "reusing $bulk"
else
    say "recording $bulk ($bulk_mib MiB over mTLS 1.2)"
    record_bulk "$bulk" "$bulk_mib"
    seal "$bulk" "$bulk_stamp"
fi

# Packet counts, from the floor tool; this pass also brings each file into the page cache.
declare -A packets bytes
count() {
    local line
    line=$("$floor" "$1") || die "cannot read $1"
    packets[$1]=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' <<<"$line")
    bytes[$1]=$(stat -c %s "$1")
}

# --- replay throughput -----------------------------------------------------------------------
mtls=$BENCH_DIR/mtls-1x.pcap
for f in "$mtls" "$bulk"; do
    count "$f"
    n=$(basename "$f" .pcap)
    say "timing on $f (${packets[$f]} packets)"
    measure "$n.floor" "$floor" "$f"
    measure "$n.capd_json" "$CAPD" -r "$f" --json
    if [ $pgo = 1 ]; then
        measure "$n.capd_json_plain" "$plain" -r "$f" --json
    fi
    measure "$n.capd_json2" "$CAPD" -r "$f" --json --threads 2
    measure "$n.capd_human" "$CAPD" -r "$f"
    measure "$n.tshark" tshark -r "$f" -n "${tshark_fields[@]}"
    measure "$n.tcpdump" tcpdump -nr "$f"
done

# --- scaling ---------------------------------------------------------------------------------
for scale in "${scales[@]}"; do
    f=$BENCH_DIR/mtls-${scale}x.pcap
    [ "$scale" = 1 ] && continue
    count "$f"
    say "scaling: $f (${packets[$f]} packets)"
    measure "mtls-${scale}x.capd_json" "$CAPD" -r "$f" --json
    measure "mtls-${scale}x.capd_json2" "$CAPD" -r "$f" --json --threads 2
done

count "$serial"
say "concurrency: $serial (${packets[$serial]} packets)"
measure "serial.capd_json" "$CAPD" -r "$serial" --json
measure "serial.capd_json2" "$CAPD" -r "$serial" --json --threads 2

# --- live ------------------------------------------------------------------------------------
declare -A live_res
# live_one NAME MARKER CMD...: runs CMD in the live namespace with its stdout watched, drives the
# load, stops CMD with SIGINT, and leaves its figures in $work/live.NAME.*.
live_one() {
    local name=$1 marker=$2 ns=$3
    shift 3
    local fifo=$work/live.fifo ready=$work/live.$name.ready seen=$work/live.$name.seen i
    rm -f "$fifo"
    mkfifo -m 600 "$fifo"
    "$watch" --marker "$marker" --ready "$ready" --seen "$seen" <"$fifo" >"$work/live.$name.watch" &
    local wp=$!
    pids+=("$wp")
    ip netns exec "$ns" "$@" >"$fifo" 2>"$work/live.$name.err" &
    local tp=$!
    pids+=("$tp")
    for ((i = 0; i < 150; i++)); do
        [ -s "$ready" ] && break
        kill -0 "$tp" 2>/dev/null || die "$name stopped at start: $(tail -3 "$work/live.$name.err")"
        ip netns exec "$ns" "$load" --probe $probe_port
        sleep 0.1
    done
    [ -s "$ready" ] || die "$name saw no traffic on lo within 15 s"
    sleep 0.5
    ip netns exec "$ns" timeout 60 "$load" --seconds "$live_seconds" --udp-pps "$live_udp_pps" \
        --tcp-pps "$live_tcp_pps" --marker-port $marker_port >"$work/live.$name.load" ||
        die "the load generator failed"
    # A tool that has fallen behind prints the marker late; give it 30 s.
    for ((i = 0; i < 300; i++)); do
        [ -s "$seen" ] && break
        sleep 0.1
    done
    kill -INT "$tp" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$tp" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$tp" 2>/dev/null || true
    wait "$tp" || true
    wait "$wp" || true
}

if [ $live = 1 ]; then
    ns=capd-bench-$$-live
    ip netns add "$ns" || die "cannot create network namespace $ns"
    namespaces+=("$ns")
    ip netns exec "$ns" ip link set lo up
    say "live: capd, tcpdump and tshark on the lo of namespace $ns, ${live_seconds} s of load each"
    live_one capd "\"dport\":$marker_port," "$ns" "$CAPD" -i lo --json
    live_one tcpdump "> 127.0.0.1.$marker_port:" "$ns" tcpdump -i lo -n -l
    live_one tshark $'\t'"$marker_port"$'\t' "$ns" tshark -i lo -n -l -o tcp.analyze_sequence_numbers:TRUE \
        -T fields -e frame.number -e tcp.dstport -e tcp.analysis.flags -e tls.handshake.type
    ip netns del "$ns"
    for name in capd tcpdump tshark; do
        l=$(cat "$work/live.$name.load")
        w=$(head -1 "$work/live.$name.watch")
        last=$(sed -n 's/^last_line=//p' "$work/live.$name.watch")
        err=$(cat "$work/live.$name.err")
        end=$(kv load_end "$l")
        at=$(kv marker_at "$w")
        live_res[$name.sent]=$(($(kv udp_sent "$l") + $(kv tcp_writes "$l")))
        live_res[$name.secs]=$(kv seconds "$l")
        if [ "$at" = none ] || [ -z "$at" ]; then
            live_res[$name.latency]="not seen in 30 s"
        else
            live_res[$name.latency]=$(fmt %.1f "$(calc "($at - $end) * 1000")")
        fi
        case $name in
            capd)
                live_res[$name.captured]=$(kv packets "$last")
                live_res[$name.kernel]=$(kv dropped_kernel "$last")
                live_res[$name.queue]=$(kv dropped_queue "$last")
                ;;
            tcpdump)
                live_res[$name.captured]=$(awk '/packets captured/ { print $1 }' <<<"$err")
                live_res[$name.kernel]=$(awk '/dropped by kernel/ { print $1 }' <<<"$err")
                live_res[$name.queue]="n/a"
                ;;
            tshark)
                live_res[$name.captured]=$(awk '/packets? captured/ { print $1 }' <<<"$err")
                live_res[$name.kernel]=$(awk '/dropped/ { s += $1 } END { print s + 0 }' <<<"$err")
                live_res[$name.queue]="n/a"
                ;;
        esac
    done
fi

# --- report ----------------------------------------------------------------------------------
mib() { fmt %.0f "$(calc "$1 / 1024")"; }
mpps() { fmt %.3f "$(calc "${packets[$1]} / $2 / 1e6")"; }
mbps() { fmt %.0f "$(calc "${bytes[$1]} / $2 / 1e6")"; }
ratio() {
    if timed_out "$1" || timed_out "$2"; then
        echo "n/a (a run was stopped at $cap_s s)"
    else
        fmt %.2f "$(calc "$(res "$2" 3) / $(res "$1" 3)")"
    fi
}

row() { # row FILE KEY LABEL
    local f=$1 key=$2 label=$3 med
    if timed_out "$key"; then
        echo "| $label | 0 | stopped at $cap_s s | < $(mpps "$f" "$cap_s") | < $(mbps "$f" "$cap_s") | | |"
        return
    fi
    med=$(res "$key" 3)
    echo "| $label | $(res "$key" 1) | $(fmt %.3f "$(res "$key" 2)") / $(fmt %.3f "$med") | $(mpps "$f" "$med") | $(mbps "$f" "$med") | $(mib "$(res "$key" 5)") | $(fmt %.2f "$(res "$key" 4)") |"
}

# target_rows: issue 6's targets against this run's figures (median wall times).
target_rows() {
    local best_mtls best_bulk key k f rss_m rss_b
    yes_no() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (a >= b) : (a <= b); print ok ? "yes" : "**no**" }'; }
    best() { # best FILE KEY...: the highest rate of the keys that ran
        local f=$1 r=0 v
        shift
        for k in "$@"; do
            timed_out "$k" && continue
            v=$(calc "${packets[$f]} / $(res "$k" 3) / 1e6")
            r=$(awk -v a="$r" -v b="$v" 'BEGIN { print (b > a) ? b : a }')
        done
        echo "$r"
    }
    best_mtls=$(best "$mtls" mtls-1x.capd_json mtls-1x.capd_json2)
    f=$bulk
    best_bulk=0
    for key in bulk.capd_json bulk.capd_json2; do
        timed_out "$key" && continue
        k=$(calc "${bytes[$f]} / $(res "$key" 3) / 1e6")
        best_bulk=$(awk -v a="$best_bulk" -v b="$k" 'BEGIN { print (b > a) ? b : a }')
    done
    rss_m=$(mib "$(res mtls-1x.capd_json 5)")
    rss_b=$(mib "$(res bulk.capd_json 5)")
    echo "| capd --json on mtls-1x.pcap: at least 2.0 M packets/s | $(fmt %.3f "$best_mtls") M packets/s (best of 1 and 2 threads) | $(yes_no "$best_mtls" 2.0 ">=") |"
    echo "| capd --json on bulk.pcap: at least 1000 MB/s | $(fmt %.0f "$best_bulk") MB/s (best of 1 and 2 threads) | $(yes_no "$best_bulk" 1000 ">=") |"
    echo "| peak RSS at most 64 MiB, mtls-1x.pcap | $rss_m MiB (1 thread) | $(yes_no "$rss_m" 64 "<=") |"
    echo "| peak RSS at most 64 MiB, bulk.pcap | $rss_b MiB (1 thread) | $(yes_no "$rss_b" 64 "<=") |"
    # The longest capture measured, against the 1x one (within 1 MiB: allocator noise).
    local last=${scales[${#scales[@]}-1]}
    if [ "$last" != 1 ] && ! timed_out "mtls-${last}x.capd_json"; then
        local rss_l
        rss_l=$(mib "$(res "mtls-${last}x.capd_json" 5)")
        echo "| a ${last}x longer mTLS capture does not raise peak RSS (1 thread) | $rss_m MiB at 1x, $rss_l MiB at ${last}x | $(yes_no "$rss_l" "$((rss_m + 1))" "<=") |"
    fi
    if [ $live = 1 ]; then
        local drops=$((${live_res[capd.kernel]:-1} + ${live_res[capd.queue]:-1}))
        local lat=${live_res[capd.latency]}
        echo "| live on lo: no kernel or queue drops | ${live_res[capd.kernel]} kernel, ${live_res[capd.queue]} queue | $( [ "$drops" = 0 ] && echo yes || echo '**no**') |"
        local lat_ok='**no**'
        [[ $lat =~ ^[0-9.]+$ ]] && lat_ok=$(yes_no "$lat" 100 "<=")
        echo "| live on lo: last packet reported within 100 ms of the load's end | $lat ms | $lat_ok |"
    fi
}

loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
ram=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

{
    echo "# capd benchmark results"
    echo
    echo "Produced by \`$cmdline\` (\`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC'); BENCH_DIR=$BENCH_DIR."
    echo "Each command ran up to $runs times (fewer once it had used ${budget_s} s); times are wall seconds"
    echo "of the whole process, min / median; rates use the median; peak RSS is the largest of the runs."
    echo "MB/s is the capture file's size (10^6 bytes) over the median time."
    echo
    echo "- machine: $(nproc) CPUs ($cpu), $ram RAM, Linux $(uname -r)"
    echo "- load average (1, 5, 15 min) at the start: $loadavg_start; at the end: $loadavg_end. Above $(nproc), other work"
    echo "  competed for the CPUs and wall times are inflated: compare figures from the same run, and CPU seconds."
    echo "- capd: $capd_version; $(rustc --version)"
    if [ $pgo = 1 ]; then
        echo "- capd is built with profile-guided optimization (\`scripts/pgo.sh\`, \`make release\`): trained by replaying"
        echo "  the sample captures of captures/ and the shared corpus, never the benchmark's inputs. The plain"
        echo "  \`cargo build --release\` binary is timed beside it (rows \"plain build\"); output is identical."
    elif [ -n "$given" ]; then
        echo "- capd: the binary CAPD named, $given."
    else
        echo "- capd as built by \`cargo build --release\` (no profile-guided optimization)."
    fi
    echo "- $(tshark --version 2>/dev/null | head -1)"
    echo "- $(tcpdump --version 2>&1 | head -1), $(tcpdump --version 2>&1 | sed -n 2p)"
    echo
    echo "## Targets (issue 6)"
    echo
    echo "| target | this run | met |"
    echo "|---|---|---|"
    target_rows
    echo
    echo "## Inputs"
    echo
    echo "| file | packets | MB | made of |"
    echo "|---|---:|---:|---|"
    info=$(cat "$mtls.info")
    echo "| mtls-1x.pcap | ${packets[$mtls]} | $(fmt %.0f "$(calc "${bytes[$mtls]} / 1e6")") | $(kv sessions "$info") complete mTLS sessions over $(kv span_s "$info") s, up to $(kv peak_concurrent_sessions "$info") at once: the real openssl sessions of captures/ (TLS 1.2 and 1.3, IPv4 and IPv6, 512-byte records) multiplied into distinct flows, 10,000 new sessions/s |"
    echo "| bulk.pcap | ${packets[$bulk]} | $(fmt %.0f "$(calc "${bytes[$bulk]} / 1e6")") | one real mTLS 1.2 session carrying $bulk_mib MiB (python ssl), recorded by tcpdump on a namespace's lo at MTU 1500, one segment per frame |"
    for f in "$mtls" "$bulk"; do
        n=$(basename "$f" .pcap)
        echo
        echo "## Replay: $n.pcap"
        echo
        echo "| tool | runs | wall min / median (s) | M packets/s | MB/s | peak RSS (MiB) | CPU median (s) |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        row "$f" "$n.capd_json" "capd -r --json"
        if [ $pgo = 1 ]; then
            row "$f" "$n.capd_json_plain" "capd -r --json, plain build (no PGO)"
        fi
        row "$f" "$n.capd_json2" "capd -r --json --threads 2"
        row "$f" "$n.capd_human" "capd -r (human)"
        row "$f" "$n.tshark" "tshark, TCP analysis + TLS fields"
        row "$f" "$n.tcpdump" "tcpdump -nr"
        row "$f" "$n.floor" "floor: libpcap + etherparse decode"
        echo
        echo "Throughput ratios: capd --json / tshark = **$(ratio "$n.capd_json" "$n.tshark")**, capd --json / floor = **$(ratio "$n.capd_json" "$n.floor")**;"
        echo "capd --json --threads 2 / tshark = $(ratio "$n.capd_json2" "$n.tshark"), capd --json --threads 2 / floor = $(ratio "$n.capd_json2" "$n.floor");"
        echo "capd human / tshark = $(ratio "$n.capd_human" "$n.tshark"), capd human / floor = $(ratio "$n.capd_human" "$n.floor")."
    done
    echo
    echo "## Scaling: capd -r --json on longer mTLS captures"
    echo
    echo "Same session rate, so the number of concurrent flows stays the same while the capture grows."
    echo "Each row gives 1 worker (the default) and 2 (\`--threads 2\`). With 1 the pipeline has three threads (capture,"
    echo "the engine, and the main thread writing its events); with 2 it has five (capture, dispatch, 2 workers, and the"
    echo "merging main thread), on the 2 CPUs."
    echo
    echo "| capture | packets | threads | runs | wall median (s) | M packets/s | MB/s | peak RSS (MiB) | CPU median (s) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for scale in "${scales[@]}"; do
        f=$BENCH_DIR/mtls-${scale}x.pcap
        for threads in 1 2; do
            key=mtls-${scale}x.capd_json
            [ "$threads" = 2 ] && key=mtls-${scale}x.capd_json2
            if timed_out "$key"; then
                echo "| ${scale}x | ${packets[$f]} | $threads | 0 | stopped at $cap_s s | | | | |"
                continue
            fi
            med=$(res "$key" 3)
            echo "| ${scale}x | ${packets[$f]} | $threads | $(res "$key" 1) | $(fmt %.3f "$med") | $(mpps "$f" "$med") | $(mbps "$f" "$med") | $(mib "$(res "$key" 5)") | $(fmt %.2f "$(res "$key" 4)") |"
        done
    done
    echo
    echo "## Concurrency: the same sessions, fewer at once"
    echo
    sinfo=$(cat "$serial.info")
    echo "mtls-1x-serial.pcap holds the sessions of mtls-1x.pcap (same templates and count), started at $serial_rate"
    echo "a second instead of 10,000: up to $(kv peak_concurrent_sessions "$sinfo") open at once, against $(kv peak_concurrent_sessions "$info")."
    echo "capd runs the same instructions per packet on both (callgrind); the difference in time is what"
    echo "keeping the state of that many flows costs in memory traffic, once it no longer fits in the caches."
    echo
    echo "| capture | open at once | threads | runs | wall median (s) | M packets/s | peak RSS (MiB) | CPU median (s) | wall time against mtls-1x |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    # conc_row FILE INFO THREADS KEY BASE_KEY: one row, its wall time against BASE_KEY's.
    conc_row() {
        local f=$1 open threads=$3 k=$4 med
        open=$(kv peak_concurrent_sessions "$2")
        if timed_out "$k"; then
            echo "| $(basename "$f") | $open | $threads | 0 | stopped at $cap_s s | | | | |"
            return
        fi
        med=$(res "$k" 3)
        echo "| $(basename "$f") | $open | $threads | $(res "$k" 1) | $(fmt %.3f "$med") | $(mpps "$f" "$med") | $(mib "$(res "$k" 5)") | $(fmt %.2f "$(res "$k" 4)") | $(ratio "$5" "$k") |"
    }
    conc_row "$mtls" "$info" 1 mtls-1x.capd_json mtls-1x.capd_json
    conc_row "$serial" "$sinfo" 1 serial.capd_json mtls-1x.capd_json
    conc_row "$mtls" "$info" 2 mtls-1x.capd_json2 mtls-1x.capd_json2
    conc_row "$serial" "$sinfo" 2 serial.capd_json2 mtls-1x.capd_json2
    if [ $live = 1 ]; then
        echo
        echo "## Live: lo of a private network namespace"
        echo
        echo "Load: examples/bench_load for ${live_seconds} s, targets $live_udp_pps UDP datagrams/s and $live_tcp_pps TCP writes/s"
        echo "(64 bytes each, Nagle off; TCP also carries the receiver's ACKs), then a marker connection to the closed"
        echo "port $marker_port. Latency: from the end of the load to the tool printing the marker. Each tool runs alone,"
        echo "with its default kernel buffer (libpcap's 2 MiB for tcpdump and tshark; capd's 16 MiB TPACKET_V3 ring, blocks"
        echo "handed over within 5 ms), its output read by examples/bench_watch. A tool that drops packets"
        echo "has less backlog, so its latency must be read together with its drops."
        echo
        echo "| tool | command | load sent (UDP + TCP writes) | packets captured | kernel drops | queue drops | last packet after end of load (ms) |"
        echo "|---|---|---:|---:|---:|---:|---:|"
        echo "| capd | \`capd -i lo --json\` | ${live_res[capd.sent]} in ${live_res[capd.secs]} s | ${live_res[capd.captured]} | ${live_res[capd.kernel]} | ${live_res[capd.queue]} | ${live_res[capd.latency]} |"
        echo "| tcpdump | \`tcpdump -i lo -n -l\` | ${live_res[tcpdump.sent]} in ${live_res[tcpdump.secs]} s | ${live_res[tcpdump.captured]} | ${live_res[tcpdump.kernel]} | ${live_res[tcpdump.queue]} | ${live_res[tcpdump.latency]} |"
        echo "| tshark | \`tshark -i lo -n -l\` + the fields below | ${live_res[tshark.sent]} in ${live_res[tshark.secs]} s | ${live_res[tshark.captured]} | ${live_res[tshark.kernel]} | ${live_res[tshark.queue]} | ${live_res[tshark.latency]} |"
    fi
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "capd -r FILE --json > /dev/null"
    echo "capd -r FILE --json --threads 2 > /dev/null"
    echo "capd -r FILE > /dev/null"
    echo "tshark -r FILE -n ${tshark_fields[*]} > /dev/null"
    echo "tcpdump -nr FILE > /dev/null"
    echo "target/release/examples/bench_floor FILE"
    echo "target/release/examples/bench_synth -o mtls-Nx.pcap -n N*$mtls_packets captures/openssl-{mtls12,mtls12-ipv6,mtls12-frag512,tls13}.pcap"
    echo "target/release/examples/bench_synth -o mtls-1x-serial.pcap -n $mtls_packets --rate $serial_rate captures/openssl-{mtls12,mtls12-ipv6,mtls12-frag512,tls13}.pcap"
    echo '```'
} >"$work/results.md"

mkdir -p "$(dirname "$out")"
cp "$work/results.md" "$out"
cat "$out"
say "results written to $out"
