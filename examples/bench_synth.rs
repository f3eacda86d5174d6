//! Benchmark input generator: multiplies real recorded TCP sessions into a large capture of
//! many distinct, interleaved flows (used by `scripts/bench.sh`; not part of capd itself).
//!
//! Each template is a pcap file holding one recorded TCP connection on Ethernet (for the
//! benchmark, the openssl mTLS sessions in `captures/`). Copy `i` of a template keeps every
//! byte of the recorded payload and every header field except these, which it rewrites:
//!
//! - addresses and ports: its own client address and ephemeral port (unique across the first
//!   1.8e9 copies), one of 64 server addresses, server port 443 (so that tshark dissects TLS
//!   without a hint), and locally administered MAC addresses;
//! - initial sequence numbers: a fresh one per direction, applied to `seq`, `ack` (when the ACK
//!   flag is set) and SACK blocks, so that flows do not share sequence space;
//! - timing: sessions start as a Poisson process at `--rate` sessions per second, and each
//!   session's packet gaps are stretched by its own factor in [0.5, 1.5], keeping their order;
//! - checksums: the IPv4 header checksum and the TCP checksum are recomputed.
//!
//! Copies cycle through the templates in order. The output is sorted by timestamp with a heap
//! of the sessions in progress, so memory stays proportional to the concurrent sessions, not to
//! the length of the output. The same arguments always give the same file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use etherparse::{
    Ethernet2Header, Ipv4Header, Ipv6Header, LinkHeader, NetHeaders, PacketHeaders, PayloadSlice,
    TcpHeader, TransportHeader,
};
use pcap::{Capture, Linktype, Packet, PacketHeader};

/// Server port of every copy: TLS's registered port, dissected as TLS by every tool.
const SERVER_PORT: u16 = 443;
/// Server addresses the copies are spread over.
const SERVERS: u64 = 64;
/// Client addresses, and client ports in Linux's default ephemeral range (32768..61000):
/// about 1.8e9 distinct client endpoints.
const CLIENT_ADDRS: u64 = 65_521;
const FIRST_CLIENT_PORT: u64 = 32_768;
const CLIENT_PORTS: u64 = 28_232;
/// A step coprime with `CLIENT_PORTS`, so each address's ports come in a scattered order.
const PORT_STEP: u64 = 7_919;
/// SACK option kind (RFC 2018 section 3).
const TCPOPT_SACK: u8 = 5;

#[derive(Debug, Parser)]
#[command(about = "Multiply recorded TCP sessions into a large capture of distinct flows")]
struct Args {
    /// Output pcap file.
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Write whole sessions until at least this many packets.
    #[arg(short = 'n', long, default_value_t = 1_000_000)]
    packets: u64,
    /// New sessions per second of capture time (mean of a Poisson process).
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Seed for start times, stretch factors and sequence numbers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Template captures, each one recorded TCP connection on Ethernet.
    #[arg(required = true)]
    templates: Vec<PathBuf>,
}

enum Ip {
    V4(Ipv4Header),
    V6(Ipv6Header),
}

/// One packet of a template, decoded once.
struct TemplatePacket {
    /// Nanoseconds after the template's first packet.
    offset_ns: u64,
    from_client: bool,
    eth: Ethernet2Header,
    ip: Ip,
    tcp: TcpHeader,
    payload: Vec<u8>,
    /// Bytes after the IP packet (Ethernet padding), copied as recorded.
    trailer: Vec<u8>,
}

struct Template {
    packets: Vec<TemplatePacket>,
}

/// A session in progress, keyed by its next packet's time.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    ts_ns: u64,
    copy: u64,
    index: usize,
    start_ns: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_synth: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of sessions per second");
    }
    let mut templates = Vec::new();
    let mut base_ns = u64::MAX;
    for path in &args.templates {
        let (t, first_ns) =
            load_template(path).with_context(|| format!("template {}", path.display()))?;
        base_ns = base_ns.min(first_ns);
        templates.push(t);
    }

    let dead = Capture::dead(Linktype::ETHERNET).context("creating a pcap writer")?;
    let mut out = dead
        .savefile(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    let mut rng = SplitMix(args.seed);
    let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    let mut next_start_ns = base_ns;
    let mut next_copy = 0u64;
    let mut scheduled = 0u64;
    let (mut written, mut bytes, mut peak) = (0u64, 0u64, 0usize);
    let mut last_ts = 0u64;
    let mut buf = Vec::with_capacity(70_000);

    loop {
        // Start every session due before the earliest pending packet.
        while scheduled < args.packets
            && heap
                .peek()
                .is_none_or(|Reverse(p)| next_start_ns <= p.ts_ns)
        {
            let t = &templates[(next_copy % templates.len() as u64) as usize];
            heap.push(Reverse(Pending {
                ts_ns: next_start_ns,
                copy: next_copy,
                index: 0,
                start_ns: next_start_ns,
            }));
            scheduled += t.packets.len() as u64;
            next_copy += 1;
            // Exponential gap: -ln(U)/rate, U in (0, 1].
            let gap_s = -rng.unit().ln() / args.rate;
            next_start_ns = next_start_ns.saturating_add((gap_s * 1e9) as u64);
        }
        peak = peak.max(heap.len());
        let Some(Reverse(p)) = heap.pop() else { break };
        let t = &templates[(p.copy % templates.len() as u64) as usize];
        let copy = Variant::new(args.seed, p.copy);
        let tp = &t.packets[p.index];
        buf.clear();
        copy.write_packet(tp, &mut buf)?;
        let ts = PacketHeader {
            ts: libc::timeval {
                tv_sec: (p.ts_ns / 1_000_000_000) as libc::time_t,
                tv_usec: ((p.ts_ns % 1_000_000_000) / 1000) as libc::suseconds_t,
            },
            caplen: buf.len() as u32,
            len: buf.len() as u32,
        };
        out.write(&Packet::new(&ts, &buf));
        written += 1;
        bytes += buf.len() as u64;
        last_ts = p.ts_ns;
        if let Some(next) = t.packets.get(p.index + 1) {
            heap.push(Reverse(Pending {
                ts_ns: p.start_ns.saturating_add(copy.stretch(next.offset_ns)),
                copy: p.copy,
                index: p.index + 1,
                start_ns: p.start_ns,
            }));
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "packets={written} sessions={next_copy} frame_bytes={bytes} span_s={:.3} peak_concurrent_sessions={peak}",
        last_ts.saturating_sub(base_ns) as f64 / 1e9
    );
    Ok(())
}

/// What one copy changes: derived from the seed and the copy number alone.
struct Variant {
    index: u64,
    /// Gap stretch factor, in 1/1024ths (512..1536).
    stretch_1024: u64,
    client_isn_shift: u32,
    server_isn_shift: u32,
}

impl Variant {
    fn new(seed: u64, index: u64) -> Self {
        let mut r = SplitMix(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let a = r.next();
        let b = r.next();
        Variant {
            index,
            stretch_1024: 512 + (a % 1025),
            client_isn_shift: b as u32,
            server_isn_shift: (b >> 32) as u32,
        }
    }

    fn stretch(&self, offset_ns: u64) -> u64 {
        ((offset_ns as u128 * self.stretch_1024 as u128) / 1024) as u64
    }

    /// The `m`-th use of a client address takes port `(m * PORT_STEP + offset) mod CLIENT_PORTS`
    /// in the ephemeral range, with an offset per address: distinct for the address's first
    /// `CLIENT_PORTS` sessions, and scattered as a real client's ports are.
    fn client_port(&self) -> u16 {
        let addr = self.index % CLIENT_ADDRS;
        let m = (self.index / CLIENT_ADDRS) % CLIENT_PORTS;
        let offset = SplitMix(addr).next() % CLIENT_PORTS;
        (FIRST_CLIENT_PORT + (m * PORT_STEP + offset) % CLIENT_PORTS) as u16
    }

    fn client_v4(&self) -> [u8; 4] {
        let k = (self.index % CLIENT_ADDRS) as u32 + 1;
        (0x0a00_0000 | k).to_be_bytes()
    }

    fn server_v4(&self) -> [u8; 4] {
        let k = (self.index % SERVERS) as u32 + 1;
        (0xac10_0000 | k).to_be_bytes()
    }

    fn client_v6(&self) -> [u8; 16] {
        let k = (self.index % CLIENT_ADDRS) as u128 + 1;
        (0xfd00_00c0_0000_0000_0000_0000_0000_0000u128 | k).to_be_bytes()
    }

    fn server_v6(&self) -> [u8; 16] {
        let k = (self.index % SERVERS) as u128 + 1;
        (0xfd00_0050_0000_0000_0000_0000_0000_0000u128 | k).to_be_bytes()
    }

    fn write_packet(&self, tp: &TemplatePacket, buf: &mut Vec<u8>) -> Result<()> {
        const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 1];
        const SERVER_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 1];
        let (own_shift, peer_shift) = if tp.from_client {
            (self.client_isn_shift, self.server_isn_shift)
        } else {
            (self.server_isn_shift, self.client_isn_shift)
        };
        let mut eth = tp.eth.clone();
        let mut tcp = tp.tcp.clone();
        let (client_port, server_port) = (self.client_port(), SERVER_PORT);
        if tp.from_client {
            (eth.source, eth.destination) = (CLIENT_MAC, SERVER_MAC);
            (tcp.source_port, tcp.destination_port) = (client_port, server_port);
        } else {
            (eth.source, eth.destination) = (SERVER_MAC, CLIENT_MAC);
            (tcp.source_port, tcp.destination_port) = (server_port, client_port);
        }
        tcp.sequence_number = tcp.sequence_number.wrapping_add(own_shift);
        if tcp.ack {
            tcp.acknowledgment_number = tcp.acknowledgment_number.wrapping_add(peer_shift);
        }
        if let Some(options) = shift_sack(tcp.options.as_slice(), peer_shift) {
            tcp.set_options_raw(&options)
                .map_err(|e| anyhow!("rewriting TCP options: {e}"))?;
        }
        eth.write(buf)?;
        match &tp.ip {
            Ip::V4(h) => {
                let mut ip = h.clone();
                let (c, s) = (self.client_v4(), self.server_v4());
                (ip.source, ip.destination) = if tp.from_client { (c, s) } else { (s, c) };
                ip.header_checksum = ip.calc_header_checksum();
                tcp.checksum = tcp
                    .calc_checksum_ipv4(&ip, &tp.payload)
                    .map_err(|e| anyhow!("TCP checksum: {e}"))?;
                ip.write(buf)
                    .map_err(|e| anyhow!("writing IPv4 header: {e}"))?;
            }
            Ip::V6(h) => {
                let mut ip = h.clone();
                let (c, s) = (self.client_v6(), self.server_v6());
                (ip.source, ip.destination) = if tp.from_client { (c, s) } else { (s, c) };
                tcp.checksum = tcp
                    .calc_checksum_ipv6(&ip, &tp.payload)
                    .map_err(|e| anyhow!("TCP checksum: {e}"))?;
                ip.write(buf)
                    .map_err(|e| anyhow!("writing IPv6 header: {e}"))?;
            }
        }
        tcp.write(buf)?;
        buf.extend_from_slice(&tp.payload);
        buf.extend_from_slice(&tp.trailer);
        Ok(())
    }
}

/// The options with every SACK block edge moved by `shift`, or `None` if there is no SACK
/// option (RFC 2018 section 3: kind 5, length 2 + 8n, pairs of 32-bit sequence numbers).
fn shift_sack(options: &[u8], shift: u32) -> Option<Vec<u8>> {
    let mut out = options.to_vec();
    let mut changed = false;
    let mut i = 0;
    while let Some(&kind) = out.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = usize::from(*out.get(i + 1)?);
                if len < 2 || i + len > out.len() {
                    return None;
                }
                if kind == TCPOPT_SACK {
                    for edge in out[i + 2..i + len].chunks_exact_mut(4) {
                        let v = u32::from_be_bytes([edge[0], edge[1], edge[2], edge[3]]);
                        edge.copy_from_slice(&v.wrapping_add(shift).to_be_bytes());
                        changed = true;
                    }
                }
                i += len;
            }
        }
    }
    changed.then_some(out)
}

/// Reads a template: one TCP connection, Ethernet framing, whole frames. Returns it with the
/// time of its first packet in nanoseconds.
fn load_template(path: &Path) -> Result<(Template, u64)> {
    let mut cap = Capture::from_file(path).map_err(|e| anyhow!("cannot read it: {e}"))?;
    if cap.get_datalink() != Linktype::ETHERNET {
        bail!("its link type is not Ethernet");
    }
    let mut packets = Vec::new();
    let mut first_ns = None;
    let mut client: Option<(Vec<u8>, u16)> = None;
    let mut n = 0u64;
    loop {
        let p = match cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => bail!("damaged after frame {n}: {e}"),
        };
        n += 1;
        let h = p.header;
        if h.caplen != h.len {
            bail!("frame {n} was truncated by the snap length");
        }
        let ts_ns = u64::try_from(h.ts.tv_sec)
            .ok()
            .zip(u64::try_from(h.ts.tv_usec).ok())
            .and_then(|(s, us)| {
                s.checked_mul(1_000_000_000)?
                    .checked_add(us.checked_mul(1000)?)
            })
            .ok_or_else(|| anyhow!("frame {n} has a timestamp out of range"))?;
        let first = *first_ns.get_or_insert(ts_ns);
        let offset_ns = ts_ns
            .checked_sub(first)
            .ok_or_else(|| anyhow!("frame {n} is earlier than frame 1"))?;
        let headers = PacketHeaders::from_ethernet_slice(p.data)
            .map_err(|e| anyhow!("frame {n} does not decode: {e}"))?;
        let Some(LinkHeader::Ethernet2(eth)) = headers.link else {
            bail!("frame {n} has no Ethernet header");
        };
        if !headers.link_exts.is_empty() {
            bail!("frame {n} has VLAN or MACsec headers");
        }
        let Some(TransportHeader::Tcp(tcp)) = headers.transport else {
            bail!("frame {n} is not TCP");
        };
        let PayloadSlice::Tcp(payload) = headers.payload else {
            bail!("frame {n} has no TCP payload slice");
        };
        let (ip, src, dst, ip_len) = match headers.net {
            Some(NetHeaders::Ipv4(h, exts)) if exts.is_empty() => {
                let len = usize::from(h.total_len);
                let (src, dst) = (h.source.to_vec(), h.destination.to_vec());
                (Ip::V4(h), src, dst, len)
            }
            Some(NetHeaders::Ipv6(h, exts)) if exts.is_empty() => {
                let len = Ipv6Header::LEN + usize::from(h.payload_length);
                let (src, dst) = (h.source.to_vec(), h.destination.to_vec());
                (Ip::V6(h), src, dst, len)
            }
            _ => bail!("frame {n} is not plain IPv4 or IPv6 (no extension headers)"),
        };
        let trailer = p
            .data
            .get(eth.header_len() + ip_len..)
            .unwrap_or_default()
            .to_vec();
        let client = client.get_or_insert_with(|| (src.clone(), tcp.source_port));
        let from_client = src == client.0 && tcp.source_port == client.1;
        let to_client = dst == client.0 && tcp.destination_port == client.1;
        if !from_client && !to_client {
            bail!("frame {n} belongs to another connection: a template holds exactly one");
        }
        packets.push(TemplatePacket {
            offset_ns,
            from_client,
            eth,
            ip,
            tcp,
            payload: payload.to_vec(),
            trailer,
        });
    }
    if packets.is_empty() {
        bail!("it holds no packets");
    }
    Ok((Template { packets }, first_ns.unwrap_or(0)))
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and the same on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}
