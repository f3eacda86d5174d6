#!/usr/bin/env bash
# Regenerates capd's sample captures from real traffic on this machine, then their golden
# outputs. Needs root (tcpdump on lo, network namespaces), openssl, python3 and a release build
# (capd itself plays the lab's server and client in the lab-* captures).
#
#   sudo captures/make.sh            # every capture, then goldens
#   sudo captures/make.sh NAME...    # only these captures (names without .pcap), then goldens
#
# Each capture is small and described in captures/README.md. Certificates are made fresh in a
# temporary directory on every run, so regenerated captures differ in keys and randomness;
# the golden files are rewritten from them and reviewed like code.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
capd=${CAPD:-$top/target/release/capd}
work=$(mktemp -d /tmp/capd-captures.XXXXXX)
pids=()

cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    ip netns del capd-a 2>/dev/null || true
    ip netns del capd-b 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "make.sh: $1 is required" >&2; exit 1; }; }
need tcpdump; need openssl; need python3
[ "$(id -u)" = 0 ] || { echo "make.sh: run as root (tcpdump and network namespaces need it)" >&2; exit 1; }
[ -x "$capd" ] || (cd "$top" && cargo build --release --quiet)

# A CA and CA-signed certificates for localhost (server and client), and a second CA whose
# client certificate the server must reject.
make_certs() {
    local d=$1
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 3650 -subj "/CN=capd sample CA" 2>/dev/null
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue-ca.key -out rogue-ca.pem \
            -days 3650 -subj "/CN=capd rogue CA" 2>/dev/null
        printf "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth,clientAuth\n" > ext.cnf
        for n in server client rogue; do
            local ca=ca
            [ "$n" = rogue ] && ca=rogue-ca
            openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=localhost" 2>/dev/null
            openssl x509 -req -in $n.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -out $n.crt -days 825 \
                -extfile ext.cnf 2>/dev/null
        done
    )
}

# capture NAME FILTER IFACE -- COMMAND...: records IFACE while COMMAND runs.
capture() {
    local name=$1 filter=$2 iface=$3
    shift 4
    local out="$here/$name.pcap"
    tcpdump -i "$iface" --immediate-mode -U -s 262144 -w "$out.tmp" "$filter" 2>"$work/tcpdump-$name.log" &
    local tp=$!
    pids+=("$tp")
    # Wait until tcpdump is listening.
    for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump-$name.log" && break; sleep 0.1; done
    # tcpdump reports listening slightly before its filter is attached.
    sleep 1
    "$@" || true
    sleep 0.5
    kill -INT "$tp" 2>/dev/null || true
    wait "$tp" 2>/dev/null || true
    mv "$out.tmp" "$out"
    echo "captured $name.pcap: $(tcpdump -r "$out" 2>/dev/null | wc -l) frames"
}

# openssl s_server requiring a client certificate, sending one line, and a client.
openssl_pair() {
    local host=$1 port=$2 version=$3 client_cert=$4 extra=${5:-}
    local c="$work/certs"
    local target=$host
    [[ $host == *:* ]] && target="[$host]"
    (sleep 1.5; echo "2026-11-25 18:00:00") | timeout 10 openssl s_server -accept "$target:$port" "$version" \
        -cert "$c/server.crt" -key "$c/server.key" -CAfile "$c/ca.pem" -Verify 1 -verify_return_error -naccept 1 -quiet $extra \
        >"$work/server.log" 2>&1 &
    local sp=$!
    sleep 0.5
    local cert_args=()
    case $client_cert in
        good) cert_args=(-cert "$c/client.crt" -key "$c/client.key") ;;
        rogue) cert_args=(-cert "$c/rogue.crt" -key "$c/rogue.key") ;;
        none) cert_args=() ;;
    esac
    timeout 8 openssl s_client -connect "$target:$port" "$version" "${cert_args[@]}" -CAfile "$c/ca.pem" \
        -quiet -ign_eof </dev/null >"$work/client.log" 2>&1 || true
    wait "$sp" 2>/dev/null || true
}

# The Rust lab's certificates: the lab's layout from capd lab certs, and a certificate the lab
# CA signed whose validity ended in 2021 (the server must refuse it).
make_lab_certs() {
    "$capd" lab certs --out "$work/lab" >/dev/null
    "$capd" lab certs --out "$work/lab-expired" --ca-from "$work/lab" \
        --not-before 2020-01-01 --not-after 2021-01-01 >/dev/null
}

# capd lab server on HOST:15001 and one capd lab client with CLIENT_ARGS; the server is
# stopped with SIGTERM once the client is done.
lab_pair() {
    local host=$1
    shift
    "$capd" lab server --bind "$host" --port 15001 --certs "$work/lab" >"$work/lab-server.log" 2>&1 &
    local sp=$!
    pids+=("$sp")
    for _ in $(seq 50); do grep -q "Listening on" "$work/lab-server.log" && break; sleep 0.1; done
    timeout 10 "$capd" lab client --host "$host" --port 15001 "$@" >"$work/lab-client.log" 2>&1 || true
    # The server lingers briefly for the client's close_notify and FIN.
    sleep 0.3
    kill -TERM "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    sed 's/^/  server: /' "$work/lab-server.log"
    sed 's/^/  client: /' "$work/lab-client.log"
}

make_certs "$work/certs"
make_lab_certs

selected() {
    local n=$1
    shift
    [ ${#targets[@]} -eq 0 ] && return 0
    for t in "${targets[@]}"; do [ "$t" = "$n" ] && return 0; done
    return 1
}
targets=("$@")

if selected openssl-mtls12; then
    capture openssl-mtls12 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good
fi
if selected openssl-mtls12-ipv6; then
    capture openssl-mtls12-ipv6 "tcp port 15001" lo -- openssl_pair ::1 15001 -tls1_2 good
fi
if selected openssl-no-client-cert; then
    capture openssl-no-client-cert "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 none
fi
if selected openssl-rogue-client-cert; then
    capture openssl-rogue-client-cert "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 rogue
fi
if selected openssl-tls13; then
    capture openssl-tls13 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_3 good
fi
if selected openssl-mtls12-frag512; then
    # Records capped at 512 bytes: the certificate chain spans several records and segments.
    capture openssl-mtls12-frag512 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good "-max_send_frag 512"
fi
if selected midstream; then
    # The same kind of session with its first five frames (handshake and Client Hello) cut:
    # relative numbers must start at 1 and roles come from the ports.
    capture midstream-full "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good
    editcap -r "$here/midstream-full.pcap" "$here/midstream.pcap" 6-100000 >/dev/null
    rm -f "$here/midstream-full.pcap"
fi
if selected lab-mtls12; then
    # The lab itself: capd lab server and capd lab client over IPv4, the client's certificate
    # accepted, the time sent.
    capture lab-mtls12 "tcp port 15001" lo -- lab_pair 127.0.0.1 --certs "$work/lab"
fi
if selected lab-mtls12-ipv6; then
    capture lab-mtls12-ipv6 "tcp port 15001" lo -- lab_pair ::1 --certs "$work/lab"
fi
if selected lab-no-client-cert; then
    # The client presents no certificate: the server ends the handshake with an alert.
    capture lab-no-client-cert "tcp port 15001" lo -- lab_pair 127.0.0.1 --certs "$work/lab" --no-cert
fi
if selected lab-expired-client-cert; then
    # The client presents a certificate from the lab CA that expired in 2021: the server
    # ends the handshake with a certificate_expired alert.
    capture lab-expired-client-cert "tcp port 15001" lo -- lab_pair 127.0.0.1 --certs "$work/lab-expired"
fi
if selected plaintext-15001; then
    # Plain text on the lab's port: capd must not call it TLS.
    plain() {
        python3 - <<'PY'
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 15001)); srv.listen(1)
def serve():
    c, _ = srv.accept(); c.recv(100); c.sendall(b"2026-11-25 18:00:00\n"); c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection(("127.0.0.1", 15001)); cl.sendall(b"GET time\r\n"); cl.recv(100); cl.close(); t.join(); srv.close()
PY
    }
    capture plaintext-15001 "tcp port 15001" lo -- plain
fi
if selected refused-15001; then
    # A connection attempt to a closed port: SYN answered by RST.
    refused() { python3 -c 'import socket
try: socket.create_connection(("127.0.0.1", 15001), timeout=2)
except OSError: pass'; }
    capture refused-15001 "tcp port 15001" lo -- refused
fi

# Real packet loss between network namespaces (captures/lossy.sh).
lossy=()
for n in lossy-tcp lossy-tls; do if selected "$n"; then lossy+=("$n"); fi; done
[ ${#lossy[@]} -eq 0 ] || "$here/lossy.sh" "${lossy[@]}"

"$here/bless.sh"
