//! Wireshark 4.0's Info and Protocol columns for a TCP frame, rendered from the packet event.
//!
//! The TCP line is built as `dissect_tcp()` builds it: ports, `[flags]`, `Seq=`, `Ack=` (only
//! with ACK), `Win=`, `Urg=` (only with URG), `Len=`, then the options in header order. The
//! analysis labels are prepended by `tcp_print_sequence_number_analysis()` one after the other
//! with `col_prepend_fence_fstr`, so the last one printed ends up first. Application
//! dissectors clear the column after that fence and append their own items with ", ".

use std::borrow::Cow;
use std::fmt;

use super::jsonw::JsonBuf;
use crate::decode::HeaderProblem;
use crate::event::{AppInfo, PacketEvent, TcpFlags, TcpOpt};
use crate::flow::Label;

/// The numbers of the TCP line that the JSON packet line shows in fields of its own too
/// (`sport`, `dport`, `tcp.seq`, `tcp.ack`, `tcp.win`, `tcp.payload_len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Sport,
    Dport,
    Seq,
    Ack,
    Win,
    Len,
}

/// Where the Info column is written: straight into a JSON string, or into text.
pub trait InfoOut {
    /// Text that needs no JSON escaping (the column's own fixed words).
    fn lit(&mut self, s: &'static str);
    /// Any other text (escaped when the output is JSON).
    fn text(&mut self, s: &str);
    fn num(&mut self, n: u64);
    /// One of the numbers that the JSON packet line shows in fields of its own too: a writer
    /// that made their digits for those fields copies them.
    fn shown(&mut self, _which: Shown, n: u32) {
        self.num(u64::from(n));
    }
    /// An item a dissector named: from its tables when borrowed, formatted when owned.
    // Whether the name is borrowed or owned is the point: not a `&str`.
    #[allow(clippy::ptr_arg)]
    fn item(&mut self, s: &Cow<'static, str>) {
        self.text(s);
    }
}

impl InfoOut for String {
    fn lit(&mut self, s: &'static str) {
        self.push_str(s);
    }
    fn text(&mut self, s: &str) {
        self.push_str(s);
    }
    fn num(&mut self, n: u64) {
        self.push_str(itoa::Buffer::new().format(n));
    }
}

impl InfoOut for JsonBuf {
    fn lit(&mut self, s: &'static str) {
        self.raw(s);
    }
    fn text(&mut self, s: &str) {
        self.escaped(s);
    }
    // Whether the name is borrowed or owned is the point: not a `&str`.
    #[allow(clippy::ptr_arg)]
    fn item(&mut self, s: &Cow<'static, str>) {
        self.cow_text(s);
    }
    fn num(&mut self, n: u64) {
        match u32::try_from(n) {
            Ok(n) => self.u32(n),
            Err(_) => self.u64(n),
        }
    }
}

/// Displays the Info column of a packet event.
pub struct Info<'a>(pub &'a PacketEvent);

impl fmt::Display for Info<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_info(self.0, &mut s);
        f.write_str(&s)
    }
}

/// The Protocol column of a packet event (`TCP`, `TLSv1.2`, `GTP <TCP>` ...).
pub struct Protocol<'a>(pub &'a PacketEvent);

impl Protocol<'_> {
    /// The protocol inside any tunnel, and whether GTP-U fences it (`GTP <TCP>`).
    pub fn parts(&self) -> (&'static str, bool) {
        let inner = match &self.0.app {
            AppInfo::Tls(t) => t.protocol,
            AppInfo::Replaced { protocol, .. } => protocol,
            _ => "TCP",
        };
        // GTP-U fences its name around the inner protocol's (packet-gtp.c).
        (inner, self.0.tunnel == Some("GTP"))
    }
}

impl fmt::Display for Protocol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (inner, true) => write!(f, "GTP <{inner}>"),
            (inner, false) => f.write_str(inner),
        }
    }
}

/// The Protocol column of a packet event.
pub fn protocol(p: &PacketEvent) -> Protocol<'_> {
    Protocol(p)
}

/// Wireshark's flag names (`tcp_flags_to_str`): NS is "AE" since 4.0.
const FLAG_NAMES: [(u16, &str); 9] = [
    (TcpFlags::FIN, "FIN"),
    (TcpFlags::SYN, "SYN"),
    (TcpFlags::RST, "RST"),
    (TcpFlags::PSH, "PSH"),
    (TcpFlags::ACK, "ACK"),
    (TcpFlags::URG, "URG"),
    (TcpFlags::ECE, "ECE"),
    (TcpFlags::CWR, "CWR"),
    (TcpFlags::NS, "AE"),
];

pub fn write_flags(flags: TcpFlags, w: &mut impl InfoOut) {
    let mut first = true;
    for (bit, name) in FLAG_NAMES {
        if flags.has(bit) {
            if !first {
                w.lit(", ");
            }
            w.lit(name);
            first = false;
        }
    }
    if flags.0 & TcpFlags::RESERVED != 0 {
        if !first {
            w.lit(", ");
        }
        w.lit("Reserved");
        first = false;
    }
    if first {
        w.lit("<None>");
    }
}

/// The analysis prefix, in display order (reverse of Wireshark's prepend order).
pub fn write_prefix(p: &PacketEvent, w: &mut impl InfoOut) {
    let a = p.tcp.analysis;
    if a.is_empty() {
        return;
    }
    if a.contains(Label::ZeroWindowProbeAck) {
        w.lit("[TCP ZeroWindowProbeAck] ");
    }
    if a.contains(Label::ZeroWindow) {
        w.lit("[TCP ZeroWindow] ");
    }
    if a.contains(Label::ZeroWindowProbe) {
        w.lit("[TCP ZeroWindowProbe] ");
    }
    if let (true, Some(d)) = (a.contains(Label::DuplicateAck), p.tcp.dup_ack)
        && d.num > 0
    {
        w.lit("[TCP Dup ACK ");
        w.num(d.frame);
        w.lit("#");
        w.num(u64::from(d.num));
        w.lit("] ");
    }
    if a.contains(Label::KeepAliveAck) {
        w.lit("[TCP Keep-Alive ACK] ");
    }
    if a.contains(Label::KeepAlive) {
        w.lit("[TCP Keep-Alive] ");
    }
    if a.contains(Label::WindowFull) {
        w.lit("[TCP Window Full] ");
    }
    if a.contains(Label::WindowUpdate) {
        w.lit("[TCP Window Update] ");
    }
    if a.contains(Label::AckLostSegment) {
        w.lit("[TCP ACKed unseen segment] ");
    }
    if a.contains(Label::LostSegment) {
        w.lit("[TCP Previous segment not captured] ");
    }
    if a.contains(Label::OutOfOrder) {
        w.lit("[TCP Out-Of-Order] ");
    }
    // Wireshark flags fast and spurious retransmissions with their own bit only; capd's
    // label set also carries `retransmission` for them, as tshark's fields do.
    if a.contains(Label::SpuriousRetransmission) {
        w.lit("[TCP Spurious Retransmission] ");
    } else if a.contains(Label::FastRetransmission) {
        w.lit("[TCP Fast Retransmission] ");
    } else if a.contains(Label::Retransmission) {
        w.lit("[TCP Retransmission] ");
    }
    if a.contains(Label::ReusedPorts) {
        w.lit("[TCP Port numbers reused] ");
    }
}

/// Whether `write_prefix` writes anything: every label prints except a duplicate ACK
/// without a count.
fn has_prefix(p: &PacketEvent) -> bool {
    let a = p.tcp.analysis;
    a.iter().any(|l| l != Label::DuplicateAck)
        || (a.contains(Label::DuplicateAck) && p.tcp.dup_ack.is_some_and(|d| d.num > 0))
}

/// Ports, flags, `Seq=`, `Ack=` (with ACK) and `Win=`.
fn write_tcp_fields(p: &PacketEvent, w: &mut impl InfoOut) {
    let t = &p.tcp;
    w.shown(Shown::Sport, u32::from(p.sport));
    w.lit(" \u{2192} ");
    w.shown(Shown::Dport, u32::from(p.dport));
    w.lit(" [");
    write_flags(t.flags, w);
    w.lit("] Seq=");
    w.shown(Shown::Seq, t.seq);
    if t.flags.ack() {
        w.lit(" Ack=");
        w.shown(Shown::Ack, t.ack);
    }
    w.lit(" Win=");
    w.shown(Shown::Win, t.win);
}

/// The TCP summary line without prefix.
fn write_tcp_line(p: &PacketEvent, w: &mut impl InfoOut) {
    let t = &p.tcp;
    write_tcp_fields(p, w);
    if t.flags.has(TcpFlags::URG) {
        w.lit(" Urg=");
        w.num(u64::from(t.urgent));
    }
    w.lit(" Len=");
    w.shown(Shown::Len, t.payload_len);
    t.options.for_each(|o| match o {
        TcpOpt::Mss(v) => {
            w.lit(" MSS=");
            w.num(u64::from(v));
        }
        TcpOpt::WindowScale(s) => {
            w.lit(" WS=");
            w.num(1u64 << s.min(14));
        }
        TcpOpt::SackPermitted => w.lit(" SACK_PERM"),
        TcpOpt::Sack(l, r) => {
            w.lit(" SLE=");
            w.num(u64::from(l));
            w.lit(" SRE=");
            w.num(u64::from(r));
        }
        TcpOpt::Timestamps(v, e) => {
            w.lit(" TSval=");
            w.num(u64::from(v));
            w.lit(" TSecr=");
            w.num(u64::from(e));
        }
        TcpOpt::Other(_) => {}
    });
    if t.header_truncated {
        w.lit("[Packet size limited during capture]");
    }
}

/// Writes the Info column of `p`.
pub fn write_info(p: &PacketEvent, w: &mut impl InfoOut) {
    match p.tcp.problem {
        // dissect_tcp() stops after Seq/Ack/Win, before the analysis is printed.
        Some(HeaderProblem::BogusLength) => {
            write_tcp_fields(p, w);
            w.lit(", bogus TCP header length (");
            w.num(u64::from(p.tcp.header_len));
            w.lit(", must be at least 20)");
            return;
        }
        // No segment length; the options run past the datagram, which ends dissection.
        Some(HeaderProblem::ShortSegment) => {
            write_tcp_fields(p, w);
            if p.tcp.flags.has(TcpFlags::URG) {
                w.lit(" Urg=");
                w.num(u64::from(p.tcp.urgent));
            }
            w.lit("[Malformed Packet]");
            return;
        }
        None => {}
    }
    write_prefix(p, w);
    match &p.app {
        AppInfo::None => write_tcp_line(p, w),
        // col_add_fstr replaces what follows the labels' fence (which ends in a space).
        AppInfo::Replaced { text, .. } => w.text(text),
        AppInfo::ReassemblyError(msg) => {
            write_tcp_line(p, w);
            w.lit("[Reassembly error, protocol TCP: ");
            w.text(msg);
            w.lit("]");
        }
        AppInfo::SegmentOfPdu { tcp_line: true } => {
            write_tcp_line(p, w);
            w.lit(" [TCP segment of a reassembled PDU]");
        }
        AppInfo::SegmentOfPdu { tcp_line: false } => {
            // The TLS dissector cleared the column after the fence; TCP then appends with a
            // space separator, which is added whenever the column is not empty.
            if has_prefix(p) {
                w.lit(" ");
            }
            w.lit("[TCP segment of a reassembled PDU]");
        }
        AppInfo::Tls(tls) => {
            let mut first = !has_prefix(p);
            for item in &tls.items {
                if !first {
                    w.lit(", ");
                }
                w.item(item);
                first = false;
            }
            if tls.malformed {
                w.lit("[Malformed Packet]");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DupAck, TcpOptions, TcpSummary, sample_packet};

    fn packet(flags: u16) -> PacketEvent {
        PacketEvent {
            src: "192.168.18.50".parse().unwrap(),
            sport: 56981,
            dst: "74.125.239.97".parse().unwrap(),
            dport: 443,
            len: 78,
            caplen: 78,
            tcp: TcpSummary {
                flags: TcpFlags(flags),
                win: 65535,
                ..TcpSummary::default()
            },
            ..sample_packet()
        }
    }

    #[test]
    fn syn_line_matches_wireshark() {
        let mut p = packet(TcpFlags::SYN);
        // MSS 1460, WS 4, timestamps 455452086/0, SACK permitted.
        p.tcp.options = TcpOptions::new(
            &[
                2, 4, 0x05, 0xb4, 3, 3, 4, 8, 10, 0x1b, 0x25, 0xa5, 0xb6, 0, 0, 0, 0, 4, 2,
            ],
            0,
        );
        assert_eq!(
            Info(&p).to_string(),
            "56981 \u{2192} 443 [SYN] Seq=0 Win=65535 Len=0 MSS=1460 WS=16 TSval=455452086 TSecr=0 SACK_PERM"
        );
    }

    #[test]
    fn dup_ack_prefix_and_sack_edges() {
        let mut p = packet(TcpFlags::ACK);
        p.tcp.seq = 4675;
        p.tcp.ack = 368;
        p.tcp.win = 42880;
        p.tcp.analysis.insert(Label::DuplicateAck);
        p.tcp.dup_ack = Some(DupAck { frame: 19, num: 1 });
        // Timestamps 1/2 (after two no-ops), one SACK block 1421-1422 shown relative to 1000.
        p.tcp.options = TcpOptions::new(
            &[
                1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0x05, 0x8d, 0, 0, 0x05, 0x8e,
            ],
            1000,
        );
        assert_eq!(
            Info(&p).to_string(),
            "[TCP Dup ACK 19#1] 56981 \u{2192} 443 [ACK] Seq=4675 Ack=368 Win=42880 Len=0 TSval=1 TSecr=2 SLE=421 SRE=422"
        );
    }

    #[test]
    fn later_prepended_labels_come_first() {
        let mut p = packet(TcpFlags::ACK);
        p.tcp.analysis.insert(Label::LostSegment);
        p.tcp.analysis.insert(Label::AckLostSegment);
        assert!(
            Info(&p).to_string().starts_with(
                "[TCP ACKed unseen segment] [TCP Previous segment not captured] 56981"
            )
        );
    }

    #[test]
    fn fast_retransmission_shows_only_its_own_label() {
        let mut p = packet(TcpFlags::ACK | TcpFlags::PSH);
        p.tcp.analysis.insert(Label::Retransmission);
        p.tcp.analysis.insert(Label::FastRetransmission);
        assert!(
            Info(&p)
                .to_string()
                .starts_with("[TCP Fast Retransmission] 56981")
        );
    }

    #[test]
    fn flag_list_uses_wireshark_names() {
        let mut s = String::new();
        write_flags(
            TcpFlags(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR),
            &mut s,
        );
        assert_eq!(s, "SYN, ECE, CWR");
        s.clear();
        write_flags(TcpFlags(0), &mut s);
        assert_eq!(s, "<None>");
    }
}
