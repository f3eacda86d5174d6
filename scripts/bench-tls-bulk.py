#!/usr/bin/env python3
"""One bounded bulk transfer over mutual TLS 1.2, for scripts/bench.sh to record.

    bench-tls-bulk.py server PORT BYTES CERTDIR   serve one client, send BYTES, close
    bench-tls-bulk.py client PORT CERTDIR         connect, read to the end, print the count

The server requires a client certificate signed by CERTDIR/ca.pem (mTLS, as the lab does) and
writes 16 KiB at a time, so records span several TCP segments. Both sides give up after 60 s.
"""
import socket
import ssl
import sys

CHUNK = 16 * 1024
DEADLINE_S = 60


def close_notify(tls):
    """Ends the session with close_notify alerts both ways, as a well-behaved peer does."""
    try:
        tls.unwrap()
    except (OSError, ssl.SSLError):
        pass


def server(port, total, certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(f"{certs}/server.crt", f"{certs}/server.key")
    ctx.load_verify_locations(f"{certs}/ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(DEADLINE_S)
    print("listening", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(DEADLINE_S)
    with ctx.wrap_socket(conn, server_side=True) as tls:
        block = bytes(range(256)) * (CHUNK // 256)
        sent = 0
        while sent < total:
            n = min(CHUNK, total - sent)
            tls.sendall(block[:n])
            sent += n
        close_notify(tls)
    srv.close()
    print(f"sent {sent}", flush=True)


def client(port, certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(f"{certs}/client.crt", f"{certs}/client.key")
    ctx.load_verify_locations(f"{certs}/ca.pem")
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    got = 0
    with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        while True:
            data = tls.recv(1 << 20)
            if not data:
                break
            got += len(data)
        close_notify(tls)
    print(f"received {got}", flush=True)


def main():
    args = sys.argv[1:]
    try:
        if len(args) == 4 and args[0] == "server":
            server(int(args[1]), int(args[2]), args[3])
        elif len(args) == 3 and args[0] == "client":
            client(int(args[1]), args[2])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, ssl.SSLError, ValueError) as e:
        print(f"bench-tls-bulk: {args[0]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
