#!/usr/bin/env python3
"""Seed corpora for the fuzz targets from capture files (pcap and pcapng).

Usage: fuzz/seed.py OUTDIR CAPTURE_OR_DIR...

Writes OUTDIR/decode (one frame per file), OUTDIR/engine (runs of consecutive frames) and
OUTDIR/tls (each TCP flow's payloads by direction), in the input layouts that
fuzz/src/lib.rs and the targets describe. Standard library only.
"""

import hashlib
import os
import struct
import sys

# capd_fuzz::LINKTYPES, in the same order.
LINKTYPES = [1, 101, 113, 276, 0, 108, 228, 229, 12, 14]
FRAMES_PER_FILE = 200
ENGINE_FRAMES = 48
ENGINE_BYTES = 16 * 1024
TLS_BYTES = 24 * 1024
MAX_RECORD = 0x7FFF


def read_pcap(buf):
    """Yields (linktype, ts_ns, orig_len, data) for a classic pcap file."""
    magic = buf[:4]
    table = {
        b"\xd4\xc3\xb2\xa1": ("<", 1000),
        b"\xa1\xb2\xc3\xd4": (">", 1000),
        b"\x4d\x3c\xb2\xa1": ("<", 1),
        b"\xa1\xb2\x3c\x4d": (">", 1),
    }
    end, scale = table[magic]
    linktype = struct.unpack(end + "I", buf[20:24])[0] & 0x0FFFFFFF
    at = 24
    while at + 16 <= len(buf):
        sec, frac, incl, orig = struct.unpack(end + "IIII", buf[at : at + 16])
        at += 16
        yield linktype, sec * 1_000_000_000 + frac * scale, orig, buf[at : at + incl]
        at += incl


def read_pcapng(buf):
    """Yields (linktype, ts_ns, orig_len, data) for a pcapng file (EPB and SPB blocks)."""
    at, end, ifaces = 0, "<", []
    while at + 12 <= len(buf):
        btype = struct.unpack(end + "I", buf[at : at + 4])[0]
        if btype == 0x0A0D0D0A:
            end = "<" if buf[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        blen = struct.unpack(end + "I", buf[at + 4 : at + 8])[0]
        body = buf[at + 8 : at + blen - 4]
        if blen < 12:
            return
        if btype == 1:
            ifaces.append(struct.unpack(end + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            iface, hi, lo, incl, orig = struct.unpack(end + "IIIII", body[:20])
            lt = ifaces[iface] if iface < len(ifaces) else 1
            yield lt, ((hi << 32) | lo) * 1000, orig, body[20 : 20 + incl]
        elif btype == 3 and len(body) >= 4 and ifaces:
            orig = struct.unpack(end + "I", body[:4])[0]
            yield ifaces[0], 0, orig, body[4 : 4 + orig]
        at += blen


def frames(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        return list(read_pcapng(buf))
    return list(read_pcap(buf))


def tcp_of(linktype, data):
    """(src, sport, dst, dport, flags, payload) of an IPv4/IPv6 TCP frame, else None."""
    if linktype == 1:
        et, at = struct.unpack(">H", data[12:14])[0] if len(data) >= 14 else 0, 14
        while et in (0x8100, 0x88A8) and len(data) >= at + 4:
            et, at = struct.unpack(">H", data[at + 2 : at + 4])[0], at + 4
        ip = data[at:]
    elif linktype == 113:
        ip = data[16:]
    elif linktype == 276:
        ip = data[20:]
    elif linktype in (0, 108):
        ip = data[4:]
    else:
        ip = data
    if not ip:
        return None
    if ip[0] >> 4 == 4 and len(ip) >= 20 and ip[9] == 6:
        ihl, total = (ip[0] & 15) * 4, struct.unpack(">H", ip[2:4])[0]
        src, dst, seg = ip[12:16], ip[16:20], ip[ihl : total or len(ip)]
    elif ip[0] >> 4 == 6 and len(ip) >= 40 and ip[6] == 6:
        plen = struct.unpack(">H", ip[4:6])[0]
        src, dst, seg = ip[8:24], ip[24:40], ip[40 : 40 + plen]
    else:
        return None
    if len(seg) < 20:
        return None
    sport, dport = struct.unpack(">HH", seg[:4])
    off = (seg[12] >> 4) * 4
    return src, sport, dst, dport, seg[13], seg[off:]


def write(outdir, target, blob):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def record(ctl, flag, body):
    body = body[:MAX_RECORD]
    return bytes([ctl]) + struct.pack(">H", len(body) | (0x8000 if flag else 0)) + body


def clock_step(delta_ns):
    """The engine target's control bits for a step of about delta_ns."""
    back, delta = (0x40, -delta_ns) if delta_ns < 0 else (0, delta_ns)
    if delta >= 60_000_000_000:
        return back | min(63, 47 + delta // 60_000_000_000)
    return back | min(47, delta // 100_000)


def seed(outdir, path):
    recs = frames(path)
    for lt, _, orig, data in recs[:FRAMES_PER_FILE]:
        if lt in LINKTYPES:
            cut = 0 if orig <= len(data) else min(254, orig - len(data))
            write(outdir, "decode", bytes([LINKTYPES.index(lt), cut]) + data)
    run, size, last = b"", 0, None
    for i, (lt, ts, orig, data) in enumerate(recs):
        if lt not in LINKTYPES:
            continue
        step = clock_step(ts - last) if last is not None else 0
        last = ts
        run += record(step, orig > len(data), data)
        size += 1
        if size == ENGINE_FRAMES or len(run) >= ENGINE_BYTES or i == len(recs) - 1:
            write(outdir, "engine", bytes([LINKTYPES.index(lt), 0]) + run)
            run, size = b"", 0
    flows = {}
    for lt, _, _, data in recs:
        t = tcp_of(lt, data)
        if t is None:
            continue
        src, sport, dst, dport, flags, payload = t
        key = tuple(sorted([(src, sport), (dst, dport)]))
        f = flows.setdefault(key, {"client": None, "out": b""})
        if flags & 0x12 == 0x02:
            f["client"] = (src, sport)
        if f["client"] is None:
            f["client"] = (src, sport) if sport > dport else (dst, dport)
        if payload and len(f["out"]) < TLS_BYTES:
            f["out"] += record(int(f["client"] != (src, sport)), False, payload)
    for f in flows.values():
        if f["out"]:
            write(outdir, "tls", b"\xc0\x2f\x03\x03" + f["out"])


def main():
    outdir, inputs = sys.argv[1], sys.argv[2:]
    for p in inputs:
        paths = [p]
        if os.path.isdir(p):
            paths = sorted(
                os.path.join(p, n) for n in os.listdir(p) if n.endswith((".pcap", ".pcapng"))
            )
        for path in paths:
            try:
                seed(outdir, path)
            except (KeyError, struct.error, IndexError) as e:
                print(f"seed.py: skipping {path}: {e!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
