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
# the golden files are rewritten from them and reviewed like code. Each TLS capture also gets
# captures/expected/NAME.json (captures/manifest.py): what its tls_handshake events must say,
# from what openssl and the lab report in the same run, since certificates change every run.
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
        # ECDSA P-256 certificates from the same CA: a server for lab.example whose serial has
        # its top bit set (DER then starts it with 00, which serial reporting must keep or drop
        # consistently), and a client with e-mail and URI names.
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec-server.key -out ec-server.csr \
            -subj "/O=capd lab/CN=lab.example" 2>/dev/null
        printf "subjectAltName=DNS:lab.example,DNS:*.lab.example\nextendedKeyUsage=serverAuth\n" > ec-server.cnf
        openssl x509 -req -in ec-server.csr -CA ca.pem -CAkey ca.key -out ec-server.crt -days 398 \
            -set_serial "0x9$(openssl rand -hex 15 | cut -c2-)" -extfile ec-server.cnf 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec-client.key -out ec-client.csr \
            -subj "/O=capd lab/OU=clients/CN=capd client" 2>/dev/null
        printf "subjectAltName=email:client@lab.example,URI:spiffe://lab.example/client\nextendedKeyUsage=clientAuth\n" \
            > ec-client.cnf
        openssl x509 -req -in ec-client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ec-client.crt -days 90 \
            -extfile ec-client.cnf 2>/dev/null
        # A 2048-bit finite-field group (RFC 7919 ffdhe2048) for DHE.
        openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out ffdhe2048.pem 2>/dev/null
    )
}

# capture NAME FILTER IFACE -- COMMAND...: records IFACE while COMMAND runs.
capture() {
    local name=$1 filter=$2 iface=$3
    shift 4
    local out="$here/$name.pcap"
    cap=$name
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

# openssl_pair HOST PORT VERSION CLIENT_CERT [--certs rsa|ecdsa] [--server ARGS] [--client ARGS]
#              [--conns 2]
# openssl s_server requiring a client certificate (CLIENT_CERT good, rogue or none), sending one
# line ("2026-11-25 18:00:00") about 1 s into each connection, and openssl s_client. With one
# connection the server then closes; with --conns 2 the client connects twice, the second time
# offering the first session (-sess_out, then -sess_in), and closes each connection itself.
# s_client's -msg log and summary of connection N go to $work/$cap.connN.{msg,out}, the command
# lines to .cmd: captures/manifest.py reads them.
openssl_pair() {
    local host=$1 port=$2 version=$3 client_cert=$4
    shift 4
    local certs=rsa server_extra="" client_extra="" conns=1
    while [ $# -gt 0 ]; do
        case $1 in
            --certs) certs=$2 ;;
            --server) server_extra=$2 ;;
            --client) client_extra=$2 ;;
            --conns) conns=$2 ;;
            *) echo "openssl_pair: unknown option $1" >&2; return 1 ;;
        esac
        shift 2
    done
    local c="$work/certs"
    local target=$host
    [[ $host == *:* ]] && target="[$host]"
    local key=server good=client
    [ "$certs" = ecdsa ] && key=ec-server good=ec-client
    local cert_args=()
    case $client_cert in
        good) cert_args=(-cert "$c/$good.crt" -key "$c/$good.key") ;;
        rogue) cert_args=(-cert "$c/rogue.crt" -key "$c/rogue.key") ;;
        none) cert_args=() ;;
    esac
    # shellcheck disable=SC2206 # the extra arguments are words by design
    local server=(openssl s_server -accept "$target:$port" "$version" -cert "$c/$key.crt" -key "$c/$key.key"
        -CAfile "$c/ca.pem" -Verify 1 -verify_return_error -naccept "$conns" -quiet $server_extra)
    # shellcheck disable=SC2206
    local client=(openssl s_client -connect "$target:$port" "$version" "${cert_args[@]}" -CAfile "$c/ca.pem"
        $client_extra)
    local n sess
    if [ "$conns" = 1 ]; then
        (sleep 1.5; echo "2026-11-25 18:00:00") | timeout 10 "${server[@]}" >"$work/server.log" 2>&1 &
        local sp=$!
        sleep 0.5
        timeout 8 "${client[@]}" -ign_eof -msg -msgfile "$work/$cap.conn1.msg" </dev/null \
            >"$work/$cap.conn1.out" 2>"$work/$cap.conn1.err" || true
        printf '%s\n' "${server[*]}" "${client[*]} -ign_eof" | sed "s#$work/certs/##g" >"$work/$cap.conn1.cmd"
        wait "$sp" 2>/dev/null || true
        return
    fi
    # Several connections: the server's input is a pipe the script feeds one line per connection.
    rm -f "$work/feed" "$work/$cap.sess"
    mkfifo "$work/feed"
    timeout 20 "${server[@]}" <"$work/feed" >"$work/server.log" 2>&1 &
    local sp=$!
    exec 3>"$work/feed"
    sleep 0.5
    for n in $(seq "$conns"); do
        sess=(-sess_in "$work/$cap.sess")
        [ "$n" = 1 ] && sess=(-sess_out "$work/$cap.sess")
        # The client closes (close_notify) when its input ends, 1.5 s in.
        sleep 1.5 | timeout 8 "${client[@]}" "${sess[@]}" -msg -msgfile "$work/$cap.conn$n.msg" \
            >"$work/$cap.conn$n.out" 2>"$work/$cap.conn$n.err" &
        local cp=$!
        sleep 1
        echo "2026-11-25 18:00:00" >&3
        wait "$cp" || true
        printf '%s\n' "${server[*]}" "${client[*]} ${sess[*]}" | sed "s#$work/##g; s#certs/##g" >"$work/$cap.conn$n.cmd"
    done
    exec 3>&-
    wait "$sp" 2>/dev/null || true
}

# openssl_manifest NAME: captures/expected/NAME.json from the openssl sessions of NAME.
openssl_manifest() {
    mkdir -p "$here/expected"
    python3 "$here/manifest.py" openssl "$here/expected/$1.json" "$work/$1"
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
    cp "$work/lab-client.log" "$work/$cap.client.log"
}

# lab_manifest NAME CLIENT_DIR|none [NOTE]: captures/expected/NAME.json for a lab capture whose client
# presented CLIENT_DIR's certificate (none: no certificate; NOTE describes the client). The
# server always uses $work/lab.
# The lab pins TLS 1.2; with its ECDSA keys rustls prefers ECDHE-ECDSA-AES256-GCM-SHA384; the
# client sends SNI localhost and no ALPN.
lab_manifest() {
    local client=()
    [ "$2" = none ] || client=(--client-chain "$2/cert/CA/localhost/localhost.crt")
    mkdir -p "$here/expected"
    python3 "$here/manifest.py" lab "$here/expected/$1.json" \
        --server-chain "$work/lab/cert/CA/localhost/localhost.crt" "${client[@]}" \
        --client-log "$work/$1.client.log" --cipher TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 \
        --setting "server=capd lab server (TLS 1.2 only, client certificate from the lab CA required)" \
        --setting "client=capd lab client${3:+ $3}" --setting sni=localhost
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
    openssl_manifest openssl-mtls12
fi
if selected openssl-mtls12-ipv6; then
    capture openssl-mtls12-ipv6 "tcp port 15001" lo -- openssl_pair ::1 15001 -tls1_2 good
    openssl_manifest openssl-mtls12-ipv6
fi
if selected openssl-no-client-cert; then
    capture openssl-no-client-cert "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 none
    openssl_manifest openssl-no-client-cert
fi
if selected openssl-rogue-client-cert; then
    capture openssl-rogue-client-cert "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 rogue
    openssl_manifest openssl-rogue-client-cert
fi
if selected openssl-tls13; then
    capture openssl-tls13 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_3 good
    openssl_manifest openssl-tls13
fi
if selected openssl-mtls12-frag512; then
    # Records capped at 512 bytes: the certificate chain spans several records and segments.
    capture openssl-mtls12-frag512 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good \
        --server "-max_send_frag 512"
    openssl_manifest openssl-mtls12-frag512
fi
if selected openssl-ecdhe-ecdsa; then
    # ECDSA P-256 certificates on both sides, ECDHE-ECDSA-AES128-GCM-SHA256, SNI and ALPN.
    capture openssl-ecdhe-ecdsa "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good --certs ecdsa \
        --server "-cipher ECDHE-ECDSA-AES128-GCM-SHA256 -alpn http/1.1" \
        --client "-cipher ECDHE-ECDSA-AES128-GCM-SHA256 -servername lab.example -alpn http/1.1"
    openssl_manifest openssl-ecdhe-ecdsa
fi
if selected openssl-rsa-kx; then
    # RSA key exchange: no Server Key Exchange; the Client Key Exchange carries the premaster
    # secret encrypted to the server's RSA key.
    capture openssl-rsa-kx "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good \
        --server "-cipher AES128-GCM-SHA256" --client "-cipher AES128-GCM-SHA256"
    openssl_manifest openssl-rsa-kx
fi
if selected openssl-dhe; then
    # Finite-field Diffie-Hellman over RFC 7919's 2048-bit group.
    capture openssl-dhe "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good \
        --server "-cipher DHE-RSA-AES128-GCM-SHA256 -dhparam $work/certs/ffdhe2048.pem" \
        --client "-cipher DHE-RSA-AES128-GCM-SHA256"
    openssl_manifest openssl-dhe
fi
if selected openssl-resume12; then
    # Two connections; the second resumes the first by session ID (no tickets), so its
    # handshake is abbreviated: Server Hello, Change Cipher Spec, Finished.
    capture openssl-resume12 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_2 good --conns 2 \
        --server "-no_ticket"
    openssl_manifest openssl-resume12
fi
if selected openssl-resume13; then
    # Two TLS 1.3 connections; the second resumes the first with a ticket (PSK). ECDSA
    # certificates keep the pair of sessions small.
    capture openssl-resume13 "tcp port 15001" lo -- openssl_pair 127.0.0.1 15001 -tls1_3 good --conns 2 \
        --certs ecdsa
    openssl_manifest openssl-resume13
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
    lab_manifest lab-mtls12 "$work/lab"
fi
if selected lab-mtls12-ipv6; then
    capture lab-mtls12-ipv6 "tcp port 15001" lo -- lab_pair ::1 --certs "$work/lab"
    lab_manifest lab-mtls12-ipv6 "$work/lab"
fi
if selected lab-no-client-cert; then
    # The client presents no certificate: the server ends the handshake with an alert.
    capture lab-no-client-cert "tcp port 15001" lo -- lab_pair 127.0.0.1 --certs "$work/lab" --no-cert
    lab_manifest lab-no-client-cert none --no-cert
fi
if selected lab-expired-client-cert; then
    # The client presents a certificate from the lab CA that expired in 2021: the server
    # ends the handshake with a certificate_expired alert.
    capture lab-expired-client-cert "tcp port 15001" lo -- lab_pair 127.0.0.1 --certs "$work/lab-expired"
    lab_manifest lab-expired-client-cert "$work/lab-expired" "(certificate valid 2020-01-01 to 2021-01-01)"
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
