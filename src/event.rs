//! `Event`: everything the core can say about a capture, as owned data.
//!
//! The engine produces these; `report/` renders them as human lines, ladders or JSON Lines
//! (CONTRACT.md). Nothing here formats text for people: variants carry facts, and a new fact is a
//! new field or variant, never a free-text string.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::{Serialize, Serializer};

use crate::dissect::{TlsRecord, TlsSession};
use crate::flow::{Analysis, FlowSummary};

/// Small integer naming a TCP flow, unique within one run, assigned in order of first sight.
pub type FlowId = u32;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch, as libpcap reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Self { secs, nanos }
    }

    /// Nanoseconds since the epoch; wide enough for any pcap timestamp.
    pub fn as_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// Seconds since the epoch as a float, the form CONTRACT.md gives `ts`.
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// Signed nanoseconds from `earlier` to `self`.
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        match self.narrow_nanos_since(earlier) {
            Some(ns) => i128::from(ns),
            None => self.wide_nanos_since(earlier),
        }
    }

    /// `nanos_since` when it fits an `i64` (spans up to 292 years), in `i64` arithmetic: the
    /// engine takes several spans per frame, and `i128` multiplication costs several
    /// instructions more.
    fn narrow_nanos_since(self, earlier: Timestamp) -> Option<i64> {
        self.secs
            .checked_sub(earlier.secs)?
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(self.nanos) - i64::from(earlier.nanos))
    }

    #[cold]
    #[inline(never)]
    fn wide_nanos_since(self, earlier: Timestamp) -> i128 {
        // One wide multiplication, not two.
        (i128::from(self.secs) - i128::from(earlier.secs)) * 1_000_000_000
            + (i128::from(self.nanos) - i128::from(earlier.nanos))
    }

    /// Signed nanoseconds from `earlier` to `self`, as a float: the exact span rounded to the
    /// nearest `f64`. Worked out in `i64` whenever it fits (292 years), where the conversion
    /// is one instruction; the `i128` conversion is a library call. The narrow path does not
    /// start from the `i128` span: the optimizer folds a conversion of the `i128` narrowed to
    /// `i64` back into the `i128` conversion, call and all.
    pub fn nanos_since_f64(self, earlier: Timestamp) -> f64 {
        match self.narrow_nanos_since(earlier) {
            Some(ns) => ns as f64,
            None => self.wide_nanos_since(earlier) as f64,
        }
    }

    /// Milliseconds from `earlier` to `self`, as a float.
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        self.nanos_since_f64(earlier) / 1e6
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// One side of a TCP conversation. Displays as `ip:port`, or `[ip]:port` for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    /// A packet's source and destination, from its addresses and ports.
    pub fn pair(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (Endpoint, Endpoint) {
        (
            Endpoint {
                ip: src,
                port: sport,
            },
            Endpoint {
                ip: dst,
                port: dport,
            },
        )
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Self {
        Endpoint {
            ip: a.ip(),
            port: a.port(),
        }
    }
}

/// `ip:port`, `[ip]:port` for IPv6 (as `SocketAddr` reads them).
impl std::str::FromStr for Endpoint {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<SocketAddr>().map(Endpoint::from)
    }
}

/// `0.0.0.0:0`: what a summary not filled in yet holds.
impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 0,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The TCP flags of a segment: the 12 bits after the data offset (3 reserved, then NS/AE, CWR,
/// ECE, URG, ACK, PSH, RST, SYN, FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
    /// The three reserved bits (Wireshark shows them as `Reserved`).
    pub const RESERVED: u16 = 0xe00;

    /// Short names in CONTRACT.md's order (`FIN SYN RST PSH ACK URG ECE CWR NS`).
    pub const NAMES: [(u16, &'static str); 9] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
        (Self::NS, "NS"),
    ];

    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }

    /// Names of the set flags, in CONTRACT.md's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(bit, _)| self.has(*bit))
            .map(|(_, name)| name)
    }
}

impl Serialize for TcpFlags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// A TCP option as Wireshark lists it in the Info column, in the order it appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOpt {
    Mss(u16),
    /// Window scale shift count (Wireshark shows the multiplier `1 << shift`).
    WindowScale(u8),
    SackPermitted,
    /// One SACK block, already relative to the peer's initial sequence number.
    Sack(u32, u32),
    Timestamps(u32, u32),
    /// Any other option, kept by kind.
    Other(u8),
}

/// Up to this many options are kept per segment: 40 option bytes hold at most 13 that carry data
/// (kind + length each), and no-ops are not kept.
pub const MAX_TCP_OPTS: usize = 20;

/// A segment's TCP option bytes as sent (at most 40), parsed when read: every packet event
/// carries them, and 41 bytes move through the pipeline more cheaply than the parsed list.
#[derive(Debug, Clone, Copy)]
pub struct TcpOptions {
    raw: [u8; 40],
    len: u8,
    /// SACK edges are shown relative to this (the peer's initial sequence number).
    sack_base: u32,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            raw: [0; 40],
            len: 0,
            sack_base: 0,
        }
    }
}

impl TcpOptions {
    /// The options in `raw` (past 40 bytes, which a TCP header cannot hold, ignored), with SACK
    /// edges to be shown relative to `sack_base`.
    pub fn new(raw: &[u8], sack_base: u32) -> Self {
        let mut o = TcpOptions {
            sack_base,
            ..TcpOptions::default()
        };
        let n = raw.len().min(o.raw.len());
        // The lengths nearly every segment's options have (NOP, NOP, Timestamps; a SYN's
        // five) are copied in moves of fixed size rather than by a call to `memcpy`.
        match n {
            0 => {}
            12 => o.raw[..12].copy_from_slice(&raw[..12]),
            20 => o.raw[..20].copy_from_slice(&raw[..20]),
            _ => o.raw[..n].copy_from_slice(&raw[..n]),
        }
        o.len = n as u8;
        o
    }

    /// Gives `f` the options in order, as `decode::parse_options` reads them, SACK edges made
    /// relative (without building their list first).
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(TcpOpt)) {
        let base = self.sack_base;
        crate::decode::for_each_option(&self.raw[..usize::from(self.len)], |o| {
            f(match o {
                TcpOpt::Sack(l, r) => TcpOpt::Sack(l.wrapping_sub(base), r.wrapping_sub(base)),
                o => o,
            })
        });
    }
}

/// What capd knows of the TCP header of one segment, with sequence numbers made relative.
#[derive(Debug, Clone, Default)]
pub struct TcpSummary {
    pub flags: TcpFlags,
    /// Relative sequence number, as Wireshark's `tcp.seq`.
    pub seq: u32,
    /// Relative acknowledgement number, as Wireshark's `tcp.ack` (0 without ACK).
    pub ack: u32,
    pub raw_seq: u32,
    pub raw_ack: u32,
    /// Window after scaling, as Wireshark's `tcp.window_size`.
    pub win: u32,
    pub win_raw: u16,
    pub urgent: u16,
    /// Segment data length from the IP header (Wireshark's `Len=`), whatever was captured.
    pub payload_len: u32,
    pub analysis: Analysis,
    /// For a duplicate ACK: the frame of the ACK it repeats and its running count.
    pub dup_ack: Option<DupAck>,
    pub options: TcpOptions,
    /// The header or its options were cut by the snapshot length.
    pub header_truncated: bool,
    /// The header's length field is wrong (the frame also counts as malformed).
    pub problem: Option<crate::decode::HeaderProblem>,
    /// The data offset field, in bytes.
    pub header_len: u8,
}

/// Wireshark's `[TCP Dup ACK <frame>#<num>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DupAck {
    pub frame: u64,
    pub num: u32,
}

/// Where the Info column's application part comes from, as Wireshark 4.0 builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AppInfo {
    /// Plain TCP: the Info column is the TCP summary line.
    #[default]
    None,
    /// The segment only carries part of a PDU that completes later
    /// (`[TCP segment of a reassembled PDU]`); `tcp_line` says whether the TCP summary stays.
    SegmentOfPdu { tcp_line: bool },
    /// TLS took over the Info and Protocol columns.
    Tls(TlsInfo),
    /// Reassembly replaced the Info column after the analysis labels with `text`
    /// (`[Illegal Segments]` for a PDU rebuilt from conflicting copies).
    Replaced {
        protocol: &'static str,
        text: &'static str,
    },
    /// TCP reassembly threw this error; the TCP line is followed by
    /// `[Reassembly error, protocol TCP: <message>]`.
    ReassemblyError(&'static str),
}

/// The TLS part of a frame's Info and Protocol columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Protocol column text: `TLSv1.2`, `TLSv1.3`, `TLSv1`, `SSLv3`, `SSLv2`, `SSL`.
    pub protocol: &'static str,
    /// Info column items, in order (`Client Hello`, `Application Data`, ...).
    pub items: Vec<Cow<'static, str>>,
    /// A record was malformed (Wireshark appends `[Malformed Packet]`).
    pub malformed: bool,
}

/// One frame that decoded as IPv4/IPv6 TCP (CONTRACT.md `packet`).
#[derive(Debug, Clone)]
pub struct PacketEvent {
    pub frame: u64,
    pub ts: Timestamp,
    /// Nanoseconds since the first frame of the capture (Wireshark's Time column).
    pub rel_ns: i64,
    pub flow: FlowId,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    /// Frame length on the wire.
    pub len: u32,
    /// Bytes captured of the frame.
    pub caplen: u32,
    /// The tunnel the segment was found in (`GTP`, `GRE`, ...), if any.
    pub tunnel: Option<&'static str>,
    pub tcp: TcpSummary,
    pub tls: Vec<TlsRecord>,
    pub app: AppInfo,
}

impl PacketEvent {
    /// Source and destination, address and port.
    pub fn endpoints(&self) -> (Endpoint, Endpoint) {
        Endpoint::pair(self.src, self.sport, self.dst, self.dport)
    }
}

/// A frame that claimed to be something it could not be (CONTRACT.md `stats.malformed`).
#[derive(Debug, Clone, Serialize)]
pub struct MalformedEvent {
    pub frame: u64,
    pub ts: Timestamp,
    /// What was wrong, as a short lowercase phrase.
    pub reason: &'static str,
}

/// A frame that did not decode as IPv4/IPv6 TCP, kept for the human packet list.
#[derive(Debug, Clone)]
pub struct OtherFrameEvent {
    pub frame: u64,
    pub ts: Timestamp,
    pub rel_ns: i64,
    pub len: u32,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// Protocol column text (`UDP`, `ICMP`, `ARP`, ...).
    pub protocol: &'static str,
    /// Transport ports where the protocol has them.
    pub ports: Option<(u16, u16)>,
    /// Payload length where known.
    pub payload_len: Option<u32>,
}

/// Totals for the run (CONTRACT.md `stats`), the last event of every run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StatsEvent {
    /// Frames read that passed the filters.
    pub packets: u64,
    /// Sum of their lengths on the wire.
    pub bytes: u64,
    pub flows: u64,
    pub tls_handshakes: u64,
    /// Frames the kernel dropped (libpcap `ps_drop`; 0 for replays).
    pub dropped_kernel: u64,
    /// Frames the interface dropped (libpcap `ps_ifdrop`).
    pub dropped_interface: u64,
    /// Frames the pipeline could not take in time.
    pub dropped_queue: u64,
    pub malformed: u64,
    /// Frames that decoded as TCP.
    pub tcp_packets: u64,
    /// Frames libpcap received (`ps_recv`; for replays, records read including filtered ones).
    pub received: u64,
    /// Flows dropped from the table to respect its cap.
    pub flows_evicted: u64,
    /// Flow directions whose stream reassembly was abandoned at a byte cap.
    pub reassembly_abandoned: u64,
    /// TLS segments that did not start with a record where one was expected (data missing
    /// from the capture); dissection resumed at the next record boundary.
    pub tls_unsynced: u64,
    /// TLS handshake messages or records too large to reassemble within capd's bounds.
    pub tls_oversized: u64,
}

/// Everything the engine can report. Packet events dominate and are kept inline: boxing
/// them would cost an allocation per frame, while the rare large summaries are boxed.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    Packet(PacketEvent),
    Other(OtherFrameEvent),
    Malformed(MalformedEvent),
    TlsHandshake(Box<TlsSession>),
    Flow(Box<FlowSummary>),
    Stats(StatsEvent),
}

impl Event {
    /// Dropping the event frees nothing: it has no boxes and its lists have no memory (as
    /// after `TlsSpares::reclaim`).
    pub fn holds_no_memory(&self) -> bool {
        match self {
            Event::Packet(p) => {
                p.tls.capacity() == 0
                    && !matches!(&p.app, AppInfo::Tls(info) if info.items.capacity() > 0)
            }
            Event::Other(_) | Event::Malformed(_) | Event::Stats(_) => true,
            Event::TlsHandshake(_) | Event::Flow(_) => false,
        }
    }
}

/// A plain TCP packet from 10.0.0.1:40000 to [::1]:443, for tests to change as they need.
#[cfg(test)]
pub(crate) fn sample_packet() -> PacketEvent {
    PacketEvent {
        frame: 1,
        ts: Timestamp::default(),
        rel_ns: 0,
        flow: 0,
        src: "10.0.0.1".parse().unwrap(),
        sport: 40000,
        dst: "::1".parse().unwrap(),
        dport: 443,
        len: 60,
        caplen: 60,
        tunnel: None,
        tcp: TcpSummary::default(),
        tls: Vec::new(),
        app: AppInfo::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_spans_round_the_whole_span_as_the_wide_conversion_does() {
        let t = |secs, nanos| Timestamp::new(secs, nanos);
        let pairs = [
            (t(1_700_000_000, 5), t(1_700_000_000, 0)),
            (t(1_700_000_000, 0), t(1_700_000_001, 999_999_999)),
            (t(9_000_000_000, 1), t(0, 0)),
            // Spans beyond i64 nanoseconds (292 years) take the wide path.
            (t(i64::MAX, 999_999_999), t(i64::MIN, 0)),
            (t(i64::MIN, 0), t(i64::MAX, 999_999_999)),
            (t(i64::MAX / 1_000_000_000 + 1, 0), t(0, 0)),
            // Whole seconds past i64 nanoseconds, brought back within them by the nanoseconds.
            (t(i64::MAX / 1_000_000_000 + 1, 0), t(0, 999_999_999)),
            (t(0, 999_999_999), t(i64::MAX / 1_000_000_000 + 1, 0)),
        ];
        for (a, b) in pairs {
            assert_eq!(a.nanos_since(b), a.wide_nanos_since(b), "{a:?} - {b:?}");
            assert_eq!(
                a.nanos_since_f64(b).to_bits(),
                (a.wide_nanos_since(b) as f64).to_bits(),
                "{a:?} - {b:?}"
            );
            assert_eq!(a.millis_since(b), a.nanos_since(b) as f64 / 1e6);
        }
    }

    #[test]
    fn only_events_with_lists_or_boxes_hold_memory() {
        assert!(Event::Packet(sample_packet()).holds_no_memory());
        assert!(Event::Stats(StatsEvent::default()).holds_no_memory());
        let mut records = sample_packet();
        records.tls = Vec::with_capacity(1);
        let mut items = sample_packet();
        items.app = AppInfo::Tls(TlsInfo {
            protocol: "TLSv1.2",
            items: vec![Cow::Borrowed("Client Hello")],
            malformed: false,
        });
        for p in [records, items] {
            let mut ev = Event::Packet(p);
            assert!(!ev.holds_no_memory());
            // Written and emptied of its lists, as the output thread leaves it.
            crate::dissect::frame::TlsSpares::default().reclaim(&mut ev);
            assert!(ev.holds_no_memory());
        }
        let session = Event::TlsHandshake(Box::default());
        assert!(!session.holds_no_memory());
    }

    #[test]
    fn ipv6_endpoint_uses_brackets() {
        let ep = Endpoint {
            ip: "::1".parse().unwrap(),
            port: 15001,
        };
        assert_eq!(ep.to_string(), "[::1]:15001");
        let ep4 = Endpoint {
            ip: "127.0.0.1".parse().unwrap(),
            port: 443,
        };
        assert_eq!(ep4.to_string(), "127.0.0.1:443");
    }

    #[test]
    fn flags_list_in_contract_order() {
        let f = TcpFlags(TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN);
        assert_eq!(f.names().collect::<Vec<_>>(), ["FIN", "PSH", "ACK"]);
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"["FIN","PSH","ACK"]"#);
    }

    #[test]
    fn packet_endpoints_are_source_then_destination() {
        let (src, dst) = sample_packet().endpoints();
        assert_eq!(src.to_string(), "10.0.0.1:40000");
        assert_eq!(dst.to_string(), "[::1]:443");
    }

    #[test]
    fn timestamp_differences_keep_nanoseconds() {
        let a = Timestamp::new(10, 999_999_999);
        let b = Timestamp::new(11, 1);
        assert_eq!(b.nanos_since(a), 2);
        assert_eq!(a.nanos_since(b), -2);
    }
}
