#!/usr/bin/env bash
# Records the lossy sample captures from real packet loss: a client and a server in two network
# namespaces, joined through a third (the "router") whose nftables forward chain drops a random
# share of segments with `numgen random mod 100 < N drop`.
#
#   sudo captures/lossy.sh                 # lossy-tcp.pcap and lossy-tls.pcap
#   sudo captures/lossy.sh lossy-tls       # only this one
#
# Why a router: a drop in the sending host's own output (or egress) path is reported back to
# its TCP, which simply sends the segment again later, so nothing is ever lost on the wire.
# Dropping while forwarding is what a lossy network does: the sender learns of it only from
# duplicate ACKs or a timeout.
#
#   lossy-tcp  a plain 150 kB upload to port 5001, captured at the receiving server:
#              previous segment not captured, duplicate ACKs, fast and timeout retransmissions,
#              out-of-order segments (retransmissions arriving within one handshake RTT of
#              newer data) and spurious retransmissions (the server's ACKs are dropped too).
#   lossy-tls  a TLS 1.2 session with a client certificate on port 443; the server sends
#              100 kB to a client with a small receive buffer that waits a second before
#              reading; captured at the sending server: retransmissions of captured segments,
#              duplicate ACKs, fast retransmissions, window full and zero window.
#
# Loss is random, so a run is checked with tshark and repeated (at most 8 times) until the
# capture shows the labels its description promises. Every process runs under `timeout`; the
# namespaces (capd-loss-<pid>-*) are removed on every exit path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out_dir=${LOSSY_OUT:-$here}
tag=capd-loss-$$
ns_a=$tag-a
ns_r=$tag-r
ns_b=$tag-b
work=$(mktemp -d /tmp/capd-lossy.XXXXXX)
pids=()

cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for n in "$ns_a" "$ns_r" "$ns_b"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() { command -v "$1" >/dev/null || { echo "lossy.sh: $1 is required" >&2; exit 1; }; }
need ip; need nft; need tcpdump; need tshark; need python3; need openssl
[ "$(id -u)" = 0 ] || { echo "lossy.sh: run as root (network namespaces and tcpdump need it)" >&2; exit 1; }

# Client 192.0.2.1 (TEST-NET-1) -- router -- server 198.51.100.1 (TEST-NET-2). MTU 1000 and
# one segment per packet (no GSO), so each drop removes exactly one ordinary segment.
setup_net() {
    local n
    for n in "$ns_a" "$ns_r" "$ns_b"; do
        ip netns add "$n"
        ip -n "$n" link set lo up
    done
    ip link add cl0 netns "$ns_a" type veth peer name rt0 netns "$ns_r"
    ip link add sv0 netns "$ns_b" type veth peer name rt1 netns "$ns_r"
    ip -n "$ns_a" addr add 192.0.2.1/24 dev cl0
    ip -n "$ns_r" addr add 192.0.2.254/24 dev rt0
    ip -n "$ns_r" addr add 198.51.100.254/24 dev rt1
    ip -n "$ns_b" addr add 198.51.100.1/24 dev sv0
    for pair in "$ns_a cl0" "$ns_r rt0" "$ns_r rt1" "$ns_b sv0"; do
        # shellcheck disable=SC2086
        set -- $pair
        ip -n "$1" link set "$2" mtu 1000 gso_max_segs 1 up
    done
    ip -n "$ns_a" route add default via 192.0.2.254
    ip -n "$ns_b" route add default via 198.51.100.254
    ip netns exec "$ns_r" sysctl -qw net.ipv4.ip_forward=1
}

# loss PORT TO_SERVER_PCT TO_CLIENT_PCT: the router drops that share of non-SYN segments.
loss() {
    ip netns exec "$ns_r" nft flush ruleset
    ip netns exec "$ns_r" nft -f - <<EOF
table inet capd_lossy {
    chain forward {
        type filter hook forward priority 0; policy accept;
        tcp dport $1 tcp flags ! syn numgen random mod 100 < $2 drop
        tcp sport $1 tcp flags ! syn numgen random mod 100 < $3 drop
    }
}
EOF
}

# A CA, and server and client certificates it signed.
make_certs() {
    local d=$work/certs n
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 3650 -subj "/CN=capd lossy sample CA" 2>/dev/null
        printf "subjectAltName=DNS:server.capd.test,IP:198.51.100.1\nextendedKeyUsage=serverAuth,clientAuth\n" >ext.cnf
        for n in server client; do
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr \
                -subj "/CN=$n.capd.test" 2>/dev/null
            openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.crt -days 825 \
                -extfile ext.cnf 2>/dev/null
        done
    )
}

# The two ends of both transfers, in one small Python program.
cat >"$work/peer.py" <<'PY'
import socket, ssl, sys, time

role, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
certs = sys.argv[4] if len(sys.argv) > 4 else ""
data = bytes(i % 251 for i in range(size))

def tls_context(server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    name = "server" if server else "client"
    ctx.load_cert_chain(f"{certs}/{name}.crt", f"{certs}/{name}.key")
    ctx.load_verify_locations(f"{certs}/ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx

if role == "tcp-server":          # receives an upload, answers with its size
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.51.100.1", port)); s.listen(1); s.settimeout(10)
    c, _ = s.accept(); c.settimeout(20); got = 0
    while True:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.sendall(b"received %d\n" % got); c.close()
elif role == "tcp-client":
    c = socket.create_connection(("198.51.100.1", port), timeout=20)
    c.sendall(data); c.shutdown(socket.SHUT_WR); c.recv(100); c.close()
elif role == "tls-server":        # requires a client certificate, sends the bulk data
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.51.100.1", port)); s.listen(1); s.settimeout(10)
    c, _ = s.accept(); c.settimeout(20)
    t = tls_context(True).wrap_socket(c, server_side=True)
    t.recv(100); t.sendall(data)
    try:
        t.unwrap().close()
    except (ssl.SSLError, OSError):
        c.close()
elif role == "tls-client":        # a small receive buffer, read only after a pause
    c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    c.settimeout(20); c.connect(("198.51.100.1", port))
    t = tls_context(False).wrap_socket(c, server_hostname="server.capd.test")
    t.sendall(b"GET /bulk\r\n"); time.sleep(1.0); got = 0
    try:
        while True:
            d = t.recv(65536)
            if not d: break
            got += len(d)
        t.unwrap()
    except (ssl.SSLError, OSError):
        pass
    c.close()
PY

# record NAME PORT TO_SERVER% TO_CLIENT% SIDE(ns) IFACE KIND SIZE: one transfer, captured.
record() {
    local name=$1 port=$2 up=$3 down=$4 ns=$5 iface=$6 kind=$7 size=$8
    local out=$work/$name.pcap
    loss "$port" "$up" "$down"
    ip netns exec "$ns" timeout 40 tcpdump -i "$iface" -n -U --immediate-mode -B 16384 -s 262144 \
        -Z root -w "$out" "tcp port $port" 2>"$work/tcpdump.log" &
    local tp=$!
    pids+=("$tp")
    for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.log" && break; sleep 0.1; done
    sleep 0.5
    ip netns exec "$ns_b" timeout 30 python3 "$work/peer.py" "$kind-server" "$port" "$size" "$work/certs" &
    local sp=$!
    pids+=("$sp")
    sleep 0.3
    ip netns exec "$ns_a" timeout 30 python3 "$work/peer.py" "$kind-client" "$port" "$size" "$work/certs" || true
    wait "$sp" 2>/dev/null || true
    sleep 0.3
    kill -INT "$tp" 2>/dev/null || true
    wait "$tp" 2>/dev/null || true
    if grep -q "[1-9][0-9]* packets dropped by kernel" "$work/tcpdump.log"; then
        echo "lossy.sh: tcpdump itself dropped packets; retrying" >&2
        return 1
    fi
}

# has FILE FIELD...: every tcp.analysis field (or other display filter) matches some frame.
has() {
    local f=$1 x
    shift
    for x in "$@"; do
        [ "$(tshark -r "$f" -Y "$x" 2>/dev/null | wc -l)" -gt 0 ] || { echo "  (no $x yet)"; return 1; }
    done
}

make_one() {
    local name=$1 try
    for try in 1 2 3 4 5 6 7 8; do
        case $name in
            lossy-tcp)
                record "$name" 5001 8 5 "$ns_b" sv0 tcp 150000 || continue
                has "$work/$name.pcap" tcp.analysis.lost_segment tcp.analysis.duplicate_ack \
                    tcp.analysis.retransmission tcp.analysis.fast_retransmission \
                    tcp.analysis.out_of_order tcp.analysis.spurious_retransmission || continue
                ;;
            lossy-tls)
                record "$name" 443 4 6 "$ns_b" sv0 tls 100000 || continue
                has "$work/$name.pcap" tcp.analysis.duplicate_ack tcp.analysis.retransmission \
                    tcp.analysis.fast_retransmission tcp.analysis.window_full \
                    tcp.analysis.zero_window "tls.handshake.type == 11 && tcp.srcport != 443" \
                    "tls.record.content_type == 23" || continue
                ;;
            *)
                echo "lossy.sh: unknown capture $name (lossy-tcp or lossy-tls)" >&2
                exit 2
                ;;
        esac
        mv "$work/$name.pcap" "$out_dir/$name.pcap"
        echo "captured $name.pcap (try $try): $(tshark -r "$out_dir/$name.pcap" 2>/dev/null | wc -l) frames," \
            "$(stat -c %s "$out_dir/$name.pcap") bytes"
        return 0
    done
    echo "lossy.sh: $name did not show every promised label in 8 tries" >&2
    exit 1
}

setup_net
make_certs
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(lossy-tcp lossy-tls)
for n in "${names[@]}"; do make_one "$n"; done
