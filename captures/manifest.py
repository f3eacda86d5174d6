#!/usr/bin/env python3
"""Writes captures/expected/NAME.json: what capd's tls_handshake events must say about a
capture, from what the peers that made it report, never from capd or tshark.

    manifest.py openssl OUT.json CONN_PREFIX        # openssl s_client sessions
    manifest.py lab OUT.json --server-chain PEM [--client-chain PEM] --client-log LOG

openssl: CONN_PREFIX.connN.msg is s_client's -msg log of connection N (every TLS message it
sent, >>>, or received, <<<, with its bytes, the encrypted ones in the clear), .out its
stdout (the "New, TLSv1.2, Cipher is ..." line, the negotiated ALPN), .cmd the two command
lines. lab: the chains are the certificate files the lab's server and client were given
(rustls sends a file's certificates in order), the outcome is the lab client's log.

Certificate facts come from `openssl x509` on each DER. Conventions (those of capd's
CONTRACT.md where it speaks, of tshark 4.0 where it does not):
- subject/issuer: RDNs in DER order, short names, ", " between them (`O=capd lab, CN=x`).
- serial: the DER INTEGER's content octets in lowercase hex, as tshark's x509af.serialNumber
  shows them: openssl prints the magnitude (9DC0...), so a 00 is put back in front when its top
  bit is set, as DER requires for a positive number.
- not_before/not_after: RFC 3339 UTC; san: the values in order, IP addresses in RFC 5952 form
  (openssl writes ::1 as 0:0:0:0:0:0:0:1, tshark as ::1); sha256: of the DER, lowercase hex.
What a passive observer cannot see (TLS 1.3 certificates and EncryptedExtensions) is expected
as absent (no certificates, mutual false, alpn null) and recorded under "hidden". `alert` is the
alert that ended a failed handshake; a session that completed its handshake expects null
(its close_notify comes after the summary is due).
"""

import argparse
import glob
import ipaddress
import json
import re
import subprocess
import sys
import tempfile

HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def die(msg):
    print(f"manifest.py: {msg}", file=sys.stderr)
    sys.exit(1)


def cipher_table():
    """IANA id -> (IANA name, OpenSSL name), as `openssl ciphers -stdname` reports them."""
    out = subprocess.run(
        ["openssl", "ciphers", "-V", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
        capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.match(r"\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+- (\S+)", line)
        if m:
            table[int(m[1] + m[2], 16)] = (m[3], m[4])
    return table


def x509_facts(der):
    with tempfile.NamedTemporaryFile(suffix=".der") as f:
        f.write(der)
        f.flush()
        out = subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-in", f.name, "-noout",
             "-nameopt", "sep_comma_plus_space,sname,utf8,esc_2253",
             "-subject", "-issuer", "-serial", "-dateopt", "iso_8601", "-startdate", "-enddate",
             "-fingerprint", "-sha256", "-ext", "subjectAltName"],
            capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    fields = {}
    for line in lines:
        for key in ("subject", "issuer", "serial", "notBefore", "notAfter"):
            if line.startswith(key + "="):
                fields[key] = line[len(key) + 1:]
        if line.startswith("sha256 Fingerprint="):
            fields["sha256"] = line.split("=", 1)[1].replace(":", "").lower()
    san = []
    for i, line in enumerate(lines):
        if line.startswith("X509v3 Subject Alternative Name"):
            for entry in lines[i + 1].strip().split(", "):
                kind, _, value = entry.partition(":")
                san.append(str(ipaddress.ip_address(value)) if kind == "IP Address" else value)
    serial = fields["serial"].lower()
    if int(serial[0], 16) >= 8:
        serial = "00" + serial

    def rfc3339(t):
        # openssl: "2026-11-26 07:19:54Z"
        return t.replace(" ", "T")

    return {
        "subject": fields["subject"],
        "issuer": fields["issuer"],
        "serial": serial,
        "not_before": rfc3339(fields["notBefore"]),
        "not_after": rfc3339(fields["notAfter"]),
        "san": san,
        "sha256": fields["sha256"],
    }


def pem_chain(path):
    text = open(path).read()
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    ders = []
    for pem in pems:
        ders.append(subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem.encode(),
                                   capture_output=True, check=True).stdout)
    return ders


# --- s_client's -msg log -------------------------------------------------------------------

def read_msg_log(path):
    """Messages in order: (sent_by_client, kind, text after the length, bytes)."""
    entries = []
    head = re.compile(r"^(<<<|>>>) [^,]*, (\w+) \[length [0-9a-f]+\](?:, (.*))?$")
    for line in open(path):
        m = head.match(line.rstrip("\n"))
        if m:
            entries.append([m[1] == ">>>", m[2], m[3] or "", bytearray()])
        elif line.startswith("    ") and entries:
            entries[-1][3] += bytes.fromhex(line.strip())
    return [(c, k, t, bytes(b)) for c, k, t, b in entries if k != "RecordHeader" and k != "InnerContent"]


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            die("truncated message in the -msg log")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def num(self, n):
        return int.from_bytes(self.take(n), "big")

    def vec(self, n):
        return self.take(self.num(n))

    def done(self):
        return self.i >= len(self.b)


def extensions(r):
    exts = {}
    if r.done():
        return exts
    e = Reader(r.vec(2))
    while not e.done():
        t = e.num(2)
        exts[t] = e.vec(2)
    return exts


def client_hello_sni(body):
    r = Reader(body)
    r.take(2 + 32)
    r.vec(1)
    r.vec(2)
    r.vec(1)
    sni = extensions(r).get(0)
    if sni is None:
        return None
    s = Reader(Reader(sni).vec(2))
    s.num(1)
    return s.vec(2).decode()


def server_hello(body):
    """(version, cipher id, alpn or None), or None for a HelloRetryRequest."""
    r = Reader(body)
    version = r.num(2)
    if r.take(32) == HRR_RANDOM:
        return None
    r.vec(1)
    cipher = r.num(2)
    r.num(1)
    exts = extensions(r)
    if 0x2B in exts:
        version = int.from_bytes(exts[0x2B], "big")
    alpn = None
    if 0x10 in exts:
        a = Reader(Reader(exts[0x10]).vec(2))
        alpn = a.vec(1).decode()
    return version, cipher, alpn


def certificate_chain(body, tls13):
    r = Reader(body)
    if tls13:
        r.vec(1)  # certificate_request_context
    entries = Reader(r.vec(3))
    ders = []
    while not entries.done():
        ders.append(entries.vec(3))
        if tls13:
            entries.vec(2)  # per-certificate extensions
    return ders


def openssl_session(prefix, n, ciphers):
    log = read_msg_log(f"{prefix}.conn{n}.msg")
    out = open(f"{prefix}.conn{n}.out").read()
    hs = [(c, t, b[4:]) for c, k, t, b in log if k == "Handshake"]
    ch = [b for c, t, b in hs if c and t == "ClientHello"]
    shs = [server_hello(b) for c, t, b in hs if not c and t == "ServerHello"]
    shs = [s for s in shs if s]
    if not ch or not shs:
        die(f"{prefix} connection {n}: no ClientHello and ServerHello in the -msg log")
    version, cipher, alpn = shs[0]
    tls13 = version == 0x0304
    name, ossl_name = ciphers[cipher]

    summary = re.search(r"^(New|Reused), (\S+), Cipher is (\S+)", out, re.M)
    resumed = bool(summary) and summary[1] == "Reused"
    if summary and summary[3] != "(NONE)":
        # openssl's own summary must agree with the ServerHello it logged.
        if summary[3] != ossl_name or summary[2] != "TLSv" + VERSIONS[version][4:]:
            die(f"{prefix} connection {n}: summary {summary[0]!r} disagrees with the ServerHello")
        said_alpn = re.search(r"^ALPN protocol: (\S+)", out, re.M)
        if not tls13 and (said_alpn[1] if said_alpn else None) != alpn:
            die(f"{prefix} connection {n}: ALPN line disagrees with the ServerHello")

    chains = {True: [], False: []}
    for c, t, b in hs:
        if t == "Certificate":
            chains[c] = [x509_facts(d) for d in certificate_chain(b, tls13)]

    # The first alert, who sent it, and whether it travelled encrypted: after its sender's
    # ChangeCipherSpec in TLS 1.2, after the ServerHello in TLS 1.3.
    alert, ccs, seen_sh = None, {True: False, False: False}, False
    for c, k, t, b in log:
        # s_client logs the ChangeCipherSpec it sends but not the one it receives; a Finished
        # always follows its sender's ChangeCipherSpec.
        if k == "ChangeCipherSpec" or (k == "Handshake" and t == "Finished"):
            ccs[c] = True
        if k == "Handshake" and t == "ServerHello":
            seen_sh = True
        if k == "Alert" and alert is None:
            level, desc = t.split(" ", 1)
            encrypted = ccs[c] if not tls13 else seen_sh
            alert = {
                "level": None if encrypted else level,
                "description": None if encrypted else desc,
                "encrypted": encrypted,
                "from": "client" if c else "server",
            }
            fatal = level == "fatal"
    finished = {c for c, t, b in hs if t == "Finished"}
    established = finished == {True, False} and not (alert and fatal)

    session = {
        "version": VERSIONS[version],
        "cipher_suite": name,
        "cipher_suite_id": cipher,
        "sni": client_hello_sni(ch[0]),
        "alpn": None if tls13 else alpn,
        "mutual": bool(chains[True]) and not tls13,
        "resumed": resumed,
        "established": established,
        "alert": None if established else alert,
        "server_certs": [] if tls13 else chains[False],
        "client_certs": [] if tls13 else chains[True],
    }
    if tls13:
        said_alpn = re.search(r"^ALPN protocol: (\S+)", out, re.M)
        session["hidden"] = {
            "why": "TLS 1.3 encrypts everything after the ServerHello",
            "alpn": said_alpn[1] if said_alpn else None,
            "mutual": bool(chains[True]),
            "server_certs": chains[False],
            "client_certs": chains[True],
        }
    cmd = open(f"{prefix}.conn{n}.cmd").read().splitlines()
    return session, cmd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["openssl", "lab"])
    p.add_argument("out")
    p.add_argument("prefix", nargs="?")
    p.add_argument("--server-chain")
    p.add_argument("--client-chain")
    p.add_argument("--client-log")
    p.add_argument("--cipher", help="lab: the suite the lab's rustls server prefers (IANA name)")
    p.add_argument("--setting", action="append", default=[], help="lab: KEY=VALUE to record")
    a = p.parse_args()
    ciphers = cipher_table()
    name = a.out.rsplit("/", 1)[-1].removesuffix(".json")

    if a.kind == "openssl":
        sessions, commands = [], []
        conns = sorted(glob.glob(f"{a.prefix}.conn*.msg"))
        if not conns:
            die(f"no -msg logs under {a.prefix}")
        for n in range(1, len(conns) + 1):
            s, cmd = openssl_session(a.prefix, n, ciphers)
            sessions.append(s)
            commands.append(cmd)
        manifest = {
            "capture": f"{name}.pcap",
            "source": "openssl s_client -msg logs and summaries; certificate facts from openssl x509",
            "settings": {"commands": commands},
            "sessions": sessions,
        }
    else:
        log = open(a.client_log).read()
        by_name = {v[0]: k for k, v in ciphers.items()}
        alert = None
        m = re.search(r"received fatal alert: (\w+)", log)
        if m:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", m[1]).lower()
            alert = {"level": "fatal", "description": snake, "encrypted": False, "from": "server"}
        established = "Secure communication received" in log
        client_certs = [x509_facts(d) for d in pem_chain(a.client_chain)] if a.client_chain else []
        settings = dict(s.split("=", 1) for s in a.setting)
        manifest = {
            "capture": f"{name}.pcap",
            "source": "capd lab certs' certificate files (openssl x509) and the lab client's log",
            "settings": settings,
            "sessions": [{
                "version": "TLS 1.2",
                "cipher_suite": a.cipher,
                "cipher_suite_id": by_name[a.cipher],
                "sni": settings.get("sni"),
                "alpn": None,
                "mutual": bool(client_certs),
                "resumed": False,
                "established": established,
                "alert": alert,
                "server_certs": [x509_facts(d) for d in pem_chain(a.server_chain)],
                "client_certs": client_certs,
            }],
        }
    with open(a.out, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
