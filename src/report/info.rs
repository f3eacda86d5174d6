//! Wireshark 4.0's Info and Protocol columns for a TCP frame, rendered from the packet event.
//!
//! The TCP line is built as `dissect_tcp()` builds it: ports, `[flags]`, `Seq=`, `Ack=` (only
//! with ACK), `Win=`, `Urg=` (only with URG), `Len=`, then the options in header order. The
//! analysis labels are prepended by `tcp_print_sequence_number_analysis()` one after the other
//! with `col_prepend_fence_fstr`, so the last one printed ends up first. Application
//! dissectors clear the column after that fence and append their own items with ", ".

use std::fmt::{self, Write};

use crate::decode::HeaderProblem;
use crate::event::{AppInfo, PacketEvent, TcpFlags, TcpOpt};
use crate::flow::Label;

/// Displays the Info column of a packet event.
pub struct Info<'a>(pub &'a PacketEvent);

impl fmt::Display for Info<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_info(self.0, f)
    }
}

/// The Protocol column of a packet event (`TCP`, `TLSv1.2`, `GTP <TCP>` ...).
pub struct Protocol<'a>(pub &'a PacketEvent);

impl fmt::Display for Protocol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = match &self.0.app {
            AppInfo::Tls(t) => t.protocol,
            AppInfo::Replaced { protocol, .. } => protocol,
            _ => "TCP",
        };
        match self.0.tunnel {
            // GTP-U fences its name around the inner protocol's (packet-gtp.c).
            Some("GTP") => write!(f, "GTP <{inner}>"),
            _ => f.write_str(inner),
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

pub fn write_flags(flags: TcpFlags, w: &mut impl Write) -> fmt::Result {
    let mut first = true;
    for (bit, name) in FLAG_NAMES {
        if flags.has(bit) {
            if !first {
                w.write_str(", ")?;
            }
            w.write_str(name)?;
            first = false;
        }
    }
    if flags.0 & TcpFlags::RESERVED != 0 {
        if !first {
            w.write_str(", ")?;
        }
        w.write_str("Reserved")?;
        first = false;
    }
    if first {
        w.write_str("<None>")?;
    }
    Ok(())
}

/// The analysis prefix, in display order (reverse of Wireshark's prepend order).
pub fn write_prefix(p: &PacketEvent, w: &mut impl Write) -> fmt::Result {
    let a = p.tcp.analysis;
    if a.contains(Label::ZeroWindowProbeAck) {
        w.write_str("[TCP ZeroWindowProbeAck] ")?;
    }
    if a.contains(Label::ZeroWindow) {
        w.write_str("[TCP ZeroWindow] ")?;
    }
    if a.contains(Label::ZeroWindowProbe) {
        w.write_str("[TCP ZeroWindowProbe] ")?;
    }
    if let (true, Some(d)) = (a.contains(Label::DuplicateAck), p.tcp.dup_ack)
        && d.num > 0
    {
        write!(w, "[TCP Dup ACK {}#{}] ", d.frame, d.num)?;
    }
    if a.contains(Label::KeepAliveAck) {
        w.write_str("[TCP Keep-Alive ACK] ")?;
    }
    if a.contains(Label::KeepAlive) {
        w.write_str("[TCP Keep-Alive] ")?;
    }
    if a.contains(Label::WindowFull) {
        w.write_str("[TCP Window Full] ")?;
    }
    if a.contains(Label::WindowUpdate) {
        w.write_str("[TCP Window Update] ")?;
    }
    if a.contains(Label::AckLostSegment) {
        w.write_str("[TCP ACKed unseen segment] ")?;
    }
    if a.contains(Label::LostSegment) {
        w.write_str("[TCP Previous segment not captured] ")?;
    }
    if a.contains(Label::OutOfOrder) {
        w.write_str("[TCP Out-Of-Order] ")?;
    }
    // Wireshark flags fast and spurious retransmissions with their own bit only; capd's
    // label set also carries `retransmission` for them, as tshark's fields do.
    if a.contains(Label::SpuriousRetransmission) {
        w.write_str("[TCP Spurious Retransmission] ")?;
    } else if a.contains(Label::FastRetransmission) {
        w.write_str("[TCP Fast Retransmission] ")?;
    } else if a.contains(Label::Retransmission) {
        w.write_str("[TCP Retransmission] ")?;
    }
    if a.contains(Label::ReusedPorts) {
        w.write_str("[TCP Port numbers reused] ")?;
    }
    Ok(())
}

/// Whether `write_prefix` writes anything: every label prints except a duplicate ACK
/// without a count.
fn has_prefix(p: &PacketEvent) -> bool {
    let a = p.tcp.analysis;
    a.iter().any(|l| l != Label::DuplicateAck)
        || (a.contains(Label::DuplicateAck) && p.tcp.dup_ack.is_some_and(|d| d.num > 0))
}

/// Ports, flags, `Seq=`, `Ack=` (with ACK) and `Win=`.
fn write_tcp_fields(p: &PacketEvent, w: &mut impl Write) -> fmt::Result {
    let t = &p.tcp;
    write!(w, "{} \u{2192} {} [", p.sport, p.dport)?;
    write_flags(t.flags, w)?;
    write!(w, "] Seq={}", t.seq)?;
    if t.flags.ack() {
        write!(w, " Ack={}", t.ack)?;
    }
    write!(w, " Win={}", t.win)
}

/// The TCP summary line without prefix.
fn write_tcp_line(p: &PacketEvent, w: &mut impl Write) -> fmt::Result {
    let t = &p.tcp;
    write_tcp_fields(p, w)?;
    if t.flags.has(TcpFlags::URG) {
        write!(w, " Urg={}", t.urgent)?;
    }
    write!(w, " Len={}", t.payload_len)?;
    for o in &t.options {
        match *o {
            TcpOpt::Mss(v) => write!(w, " MSS={v}")?,
            TcpOpt::WindowScale(s) => write!(w, " WS={}", 1u32 << s.min(14))?,
            TcpOpt::SackPermitted => w.write_str(" SACK_PERM")?,
            TcpOpt::Sack(l, r) => write!(w, " SLE={l} SRE={r}")?,
            TcpOpt::Timestamps(v, e) => write!(w, " TSval={v} TSecr={e}")?,
            TcpOpt::Other(_) => {}
        }
    }
    if t.header_truncated {
        w.write_str("[Packet size limited during capture]")?;
    }
    Ok(())
}

/// Writes the Info column of `p`.
pub fn write_info(p: &PacketEvent, w: &mut impl Write) -> fmt::Result {
    match p.tcp.problem {
        // dissect_tcp() stops after Seq/Ack/Win, before the analysis is printed.
        Some(HeaderProblem::BogusLength) => {
            write_tcp_fields(p, w)?;
            return write!(
                w,
                ", bogus TCP header length ({}, must be at least 20)",
                p.tcp.header_len
            );
        }
        // No segment length; the options run past the datagram, which ends dissection.
        Some(HeaderProblem::ShortSegment) => {
            write_tcp_fields(p, w)?;
            if p.tcp.flags.has(TcpFlags::URG) {
                write!(w, " Urg={}", p.tcp.urgent)?;
            }
            return w.write_str("[Malformed Packet]");
        }
        None => {}
    }
    write_prefix(p, w)?;
    let has_prefix = has_prefix(p);
    match &p.app {
        AppInfo::None => write_tcp_line(p, w),
        // col_add_fstr replaces what follows the labels' fence (which ends in a space).
        AppInfo::Replaced { text, .. } => w.write_str(text),
        AppInfo::ReassemblyError(msg) => {
            write_tcp_line(p, w)?;
            write!(w, "[Reassembly error, protocol TCP: {msg}]")
        }
        AppInfo::SegmentOfPdu { tcp_line: true } => {
            write_tcp_line(p, w)?;
            w.write_str(" [TCP segment of a reassembled PDU]")
        }
        AppInfo::SegmentOfPdu { tcp_line: false } => {
            // The TLS dissector cleared the column after the fence; TCP then appends with a
            // space separator, which is added whenever the column is not empty.
            if has_prefix {
                w.write_char(' ')?;
            }
            w.write_str("[TCP segment of a reassembled PDU]")
        }
        AppInfo::Tls(tls) => {
            let mut first = !has_prefix;
            for item in &tls.items {
                if !first {
                    w.write_str(", ")?;
                }
                w.write_str(item)?;
                first = false;
            }
            if tls.malformed {
                w.write_str("[Malformed Packet]")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DupAck, TcpSummary, Timestamp};

    fn packet(flags: u16) -> PacketEvent {
        PacketEvent {
            frame: 1,
            ts: Timestamp::default(),
            rel_ns: 0,
            flow: 0,
            src: "192.168.18.50".parse().unwrap(),
            sport: 56981,
            dst: "74.125.239.97".parse().unwrap(),
            dport: 443,
            len: 78,
            caplen: 78,
            tunnel: None,
            tcp: TcpSummary {
                flags: TcpFlags(flags),
                win: 65535,
                ..TcpSummary::default()
            },
            tls: Vec::new(),
            app: AppInfo::None,
        }
    }

    #[test]
    fn syn_line_matches_wireshark() {
        let mut p = packet(TcpFlags::SYN);
        p.tcp.options.extend([
            TcpOpt::Mss(1460),
            TcpOpt::WindowScale(4),
            TcpOpt::Timestamps(455452086, 0),
            TcpOpt::SackPermitted,
        ]);
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
        p.tcp
            .options
            .extend([TcpOpt::Timestamps(1, 2), TcpOpt::Sack(421, 422)]);
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
        )
        .unwrap();
        assert_eq!(s, "SYN, ECE, CWR");
        s.clear();
        write_flags(TcpFlags(0), &mut s).unwrap();
        assert_eq!(s, "<None>");
    }
}
