//! Events as a sequence (ladder) diagram per TCP flow, drawn as the events arrive: the client's
//! lifeline on the left, the server's on the right, one arrow per packet in time order, and each
//! flow's summaries (`flow`, then its `tls_handshake`s) when the flow ends.
//!
//! Concurrent flows are interleaved, not grouped: grouping would hold arrows back until a flow
//! ends, which defeats watching live. Each flow gets a header naming its endpoints when it first
//! appears, and every arrow carries its flow's tag (`#0`) in the margin, next to the frame number
//! and the relative time (Wireshark's No. and Time columns).
//!
//! Packet events do not say which side is the client, so the roles are inferred from the flow's
//! first packet with the flow table's own rule (`flow::table::server_port_score`): a SYN's sender
//! is the client, a SYN-ACK's receiver is, otherwise the likelier server port is the server.
//!
//! Arrow labels are the analysis labels as Wireshark writes them (`[TCP Retransmission]`,
//! highlighted), then the TLS items of the Info column, or for plain TCP the flags with relative
//! `Seq=`, `Ack=` and `Len=`. A label too long for the lane wraps between the lifelines at item
//! boundaries and is cut with `...` after `MAX_LABEL_LINES` lines. With `-V` each arrow is
//! followed by its packet-list entry (Protocol, Length, full Info), wrapped the same way but never
//! cut. Lines fit in `width` columns (`COLUMNS`, default 100) unless the lane would be narrower
//! than `MIN_LANE`. The drawing itself is plain ASCII; the summaries are `human`'s.

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use super::Sink;
use super::human::{Detail, Human, HumanOptions};
use super::info::{Info, protocol, write_flags, write_prefix};
use crate::decode::HeaderProblem;
use crate::event::{AppInfo, Endpoint, Event, FlowId, PacketEvent};
use crate::flow::Label;
use crate::flow::table::server_port_score;

mod words;

use words::{Word, cap, pad, sanitize, width, words_width, wrap};

/// Terminal width when `COLUMNS` is unset or not a number.
pub const DEFAULT_WIDTH: usize = 100;
/// Widest drawing accepted from `COLUMNS`, so that a silly value cannot make huge lines.
pub const MAX_WIDTH: usize = 1000;
/// Narrowest lane (both lifelines included); a narrower terminal gets longer lines.
const MIN_LANE: usize = 30;
/// Lines an arrow's label may take before it is cut.
const MAX_LABEL_LINES: usize = 3;
/// Margin before the lane: frame (5), time (9), flow tag (4) and their spaces; grows as needed.
const DEFAULT_MARGIN: usize = 21;

/// Ladder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LadderOptions {
    pub color: bool,
    /// Follow each arrow with the packet's full packet-list entry (`-V`).
    pub verbose: bool,
    /// Columns to draw in.
    pub width: usize,
}

impl Default for LadderOptions {
    fn default() -> Self {
        LadderOptions {
            color: false,
            verbose: false,
            width: DEFAULT_WIDTH,
        }
    }
}

/// The drawing width for a `COLUMNS` value: a positive number up to `MAX_WIDTH`, else the default.
pub fn width_from_columns(columns: Option<&str>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .map_or(DEFAULT_WIDTH, |c| c.min(MAX_WIDTH))
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const ALARM: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// A flow being drawn: who stands on the left, and its TLS summaries held for its end.
struct Lane {
    client: Endpoint,
    /// `tls_handshake` summaries already rendered, printed after the flow's summary.
    pending: Vec<u8>,
}

/// A run of text drawn in one colour (`None`: the terminal's own).
type Piece = (String, Option<&'static str>);

/// Writes events as ladder diagrams.
pub struct Ladder<W: Write> {
    out: W,
    opts: LadderOptions,
    lanes: FxHashMap<FlowId, Lane>,
    /// Width of the margin so far; it only grows, so arrows stay aligned.
    margin: usize,
    /// Something was printed (a blank line then separates the next flow's header).
    started: bool,
}

impl<W: Write> Ladder<W> {
    pub fn new(out: W, opts: LadderOptions) -> Self {
        Ladder {
            out,
            opts,
            lanes: FxHashMap::default(),
            margin: DEFAULT_MARGIN,
            started: false,
        }
    }

    /// Width of the lane, lifelines included, for the current margin.
    fn lane(&self) -> usize {
        self.opts.width.saturating_sub(self.margin).max(MIN_LANE)
    }

    fn summaries(&self) -> HumanOptions {
        HumanOptions {
            detail: Detail::Quiet,
            color: self.opts.color,
        }
    }

    /// Writes pieces as one line, coloured when asked.
    fn line(&mut self, pieces: &[Piece]) -> io::Result<()> {
        let mut s = String::new();
        if self.opts.color {
            // One escape per run of a colour; blanks join the run they sit in.
            let mut run: Option<&'static str> = None;
            for (text, color) in pieces {
                if text.is_empty() || (run.is_some() && text.trim().is_empty()) {
                    s.push_str(text);
                    continue;
                }
                if *color != run {
                    if run.is_some() {
                        s.push_str(RESET);
                    }
                    if let Some(c) = color {
                        s.push_str(c);
                    }
                    run = *color;
                }
                s.push_str(text);
            }
            if run.is_some() {
                s.push_str(RESET);
            }
        } else {
            for (text, _) in pieces {
                s.push_str(text);
            }
        }
        // Trailing blanks of the header lines are noise in files and terminals alike.
        s.truncate(s.trim_end().len());
        writeln!(self.out, "{s}")
    }

    /// The margin text padded to the current margin width, widening it when needed.
    fn margin_text(&mut self, text: String) -> String {
        let len = width(&text);
        if len > self.margin {
            self.margin = len;
        }
        pad(text, self.margin)
    }

    fn packet(&mut self, p: &PacketEvent) -> io::Result<()> {
        let (src, _) = p.endpoints();
        if !self.lanes.contains_key(&p.flow) {
            let (client, server) = roles(p);
            self.header(p.flow, client, server)?;
            self.lanes.insert(
                p.flow,
                Lane {
                    client,
                    pending: Vec::new(),
                },
            );
        }
        let from_client = self.lanes.get(&p.flow).is_none_or(|l| l.client == src);
        let margin = format!("{:>5} {:>9} #{:<3}", p.frame, seconds(p.rel_ns), p.flow);
        let margin = self.margin_text(margin + " ");
        let inner = self.lane() - 2;
        // The label area leaves room for the arrow's shaft and head on either side.
        let room = inner.saturating_sub(8).max(1);
        let lines = cap(wrap(&label(p), room), MAX_LABEL_LINES, room);
        let color = arrow_color(p);
        let blank = " ".repeat(self.margin);

        let first = lines.first().map(Vec::as_slice).unwrap_or(&[]);
        let used = words_width(first);
        let mut pieces: Vec<Piece> = vec![(margin, None), ("|".into(), None)];
        let gap = if used == 0 { 0 } else { 1 };
        if from_client {
            pieces.push(("--- ".into(), color));
            pieces.extend(paint_words(first, color));
            let shaft = inner.saturating_sub(4 + used + gap + 1).max(1);
            pieces.push((format!("{}{}>", " ".repeat(gap), "-".repeat(shaft)), color));
        } else {
            pieces.push(("<-- ".into(), color));
            pieces.extend(paint_words(first, color));
            let shaft = inner.saturating_sub(4 + used + gap).max(1);
            pieces.push((format!("{}{}", " ".repeat(gap), "-".repeat(shaft)), color));
        }
        pieces.push(("|".into(), None));
        self.line(&pieces)?;
        for more in lines.iter().skip(1) {
            self.between(&blank, 4, &paint_words(more, color), inner)?;
        }
        if self.opts.verbose {
            let entry = sanitize(&format!("{} {} {}", protocol(p), p.len, Info(p)));
            let words: Vec<Word> = entry.split(' ').map(Word::plain).collect();
            let room = inner.saturating_sub(4).max(1);
            for l in wrap(&words, room) {
                self.between(&blank, 2, &paint_words(&l, Some(DIM)), inner)?;
            }
        }
        self.started = true;
        Ok(())
    }

    /// A line between the lifelines: `indent` blanks, the pieces, blanks up to the right one.
    fn between(
        &mut self,
        margin: &str,
        indent: usize,
        text: &[Piece],
        inner: usize,
    ) -> io::Result<()> {
        let used: usize = text.iter().map(|(t, _)| width(t)).sum();
        let mut pieces: Vec<Piece> = vec![(margin.to_string(), None), ("|".into(), None)];
        pieces.push((" ".repeat(indent), None));
        pieces.extend(text.iter().cloned());
        pieces.push((" ".repeat(inner.saturating_sub(indent + used)), None));
        pieces.push(("|".into(), None));
        self.line(&pieces)
    }

    /// The flow's header: its tag, then the client over the left lifeline and the server over
    /// the right one (on two lines when they do not fit on one).
    fn header(&mut self, flow: FlowId, client: Endpoint, server: Endpoint) -> io::Result<()> {
        if self.started {
            writeln!(self.out)?;
        }
        self.started = true;
        let tag = self.margin_text(format!("{:>15} #{flow} ", "flow"));
        let lane = self.lane();
        let left = format!("client {client}");
        let right = format!("server {server}");
        let (l, r) = (width(&left), width(&right));
        if l + 2 + r <= lane {
            let gap = " ".repeat(lane - l - r);
            self.line(&[(tag, None), (format!("{left}{gap}{right}"), Some(BOLD))])
        } else {
            let blank = " ".repeat(self.margin);
            let gap = " ".repeat(lane.saturating_sub(r));
            self.line(&[(tag, None), (left, Some(BOLD))])?;
            self.line(&[(blank, None), (format!("{gap}{right}"), Some(BOLD))])
        }
    }

    fn tls(&mut self, ev: &Event, flow: FlowId) -> io::Result<()> {
        let opts = self.summaries();
        match self.lanes.get_mut(&flow) {
            // Held until the flow's end, so that a flow's summaries read together.
            Some(lane) => Human::new(&mut lane.pending, opts).emit(ev),
            None => Human::new(&mut self.out, opts).emit(ev),
        }
    }

    fn flow(&mut self, ev: &Event, flow: FlowId) -> io::Result<()> {
        let opts = self.summaries();
        Human::new(&mut self.out, opts).emit(ev)?;
        if let Some(lane) = self.lanes.remove(&flow) {
            self.out.write_all(&lane.pending)?;
        }
        Ok(())
    }
}

impl<W: Write> Sink for Ladder<W> {
    fn emit(&mut self, ev: &Event) -> io::Result<()> {
        match ev {
            Event::Packet(p) => self.packet(p),
            Event::TlsHandshake(t) => self.tls(ev, t.flow),
            Event::Flow(f) => self.flow(ev, f.flow),
            Event::Malformed(m) => writeln!(self.out, "{:>5} malformed: {}", m.frame, m.reason),
            Event::Stats(_) => {
                if self.started {
                    writeln!(self.out)?;
                }
                let opts = self.summaries();
                Human::new(&mut self.out, opts).emit(ev)
            }
            // Frames outside TCP belong to no ladder.
            Event::Other(_) => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The flow's client and server, judged from its first packet as the flow table judges them.
fn roles(p: &PacketEvent) -> (Endpoint, Endpoint) {
    let (src, dst) = p.endpoints();
    let flags = p.tcp.flags;
    let src_is_server = if flags.syn() {
        flags.ack()
    } else {
        server_port_score(p.sport) > server_port_score(p.dport)
    };
    if src_is_server {
        (dst, src)
    } else {
        (src, dst)
    }
}

/// The arrow's colour: red for analysis labels (a window update aside), green for TLS, cyan for
/// SYN, FIN and RST, as the packet list colours its lines.
fn arrow_color(p: &PacketEvent) -> Option<&'static str> {
    if p.tcp.analysis.iter().any(|l| l != Label::WindowUpdate) {
        Some(RED)
    } else if matches!(p.app, AppInfo::Tls(_)) {
        Some(GREEN)
    } else if p.tcp.flags.syn() || p.tcp.flags.fin() || p.tcp.flags.rst() {
        Some(CYAN)
    } else {
        None
    }
}

/// The words of an arrow's label.
fn label(p: &PacketEvent) -> Vec<Word> {
    let mut words = Vec::new();
    if p.tcp.problem.is_none() {
        let mut prefix = String::new();
        write_prefix(p, &mut prefix);
        // Each label is `[...] `; the brackets hold no `] ` of their own.
        words.extend(
            prefix
                .split_terminator("] ")
                .map(|l| Word::alarm(format!("{l}]"))),
        );
    }
    match (&p.app, p.tcp.problem) {
        (_, Some(HeaderProblem::BogusLength | HeaderProblem::ShortSegment)) => {
            tcp_words(p, &mut words);
            words.push(Word::alarm("[Malformed Packet]"));
        }
        (AppInfo::None, None) => tcp_words(p, &mut words),
        (AppInfo::SegmentOfPdu { .. }, None) => {
            tcp_words(p, &mut words);
            words.push(Word::plain("[TCP segment of a reassembled PDU]"));
        }
        (AppInfo::Tls(tls), None) => {
            let n = tls.items.len();
            for (i, item) in tls.items.iter().enumerate() {
                let comma = if i + 1 < n { "," } else { "" };
                words.push(Word::plain(format!("{item}{comma}")));
            }
            if tls.malformed {
                words.push(Word::alarm("[Malformed Packet]"));
            }
        }
        (AppInfo::Replaced { text, .. }, None) => words.push(Word::alarm(*text)),
        (AppInfo::ReassemblyError(msg), None) => {
            tcp_words(p, &mut words);
            words.push(Word::alarm(format!(
                "[Reassembly error, protocol TCP: {msg}]"
            )));
        }
    }
    for w in &mut words {
        w.text = sanitize(&w.text);
    }
    words
}

/// Flags as Wireshark names them, relative `Seq=`, `Ack=` (with ACK) and `Len=` (with data).
fn tcp_words(p: &PacketEvent, words: &mut Vec<Word>) {
    let t = &p.tcp;
    let mut flags = String::new();
    write_flags(t.flags, &mut flags);
    words.push(Word::plain(flags));
    words.push(Word::plain(format!("Seq={}", t.seq)));
    if t.flags.ack() {
        words.push(Word::plain(format!("Ack={}", t.ack)));
    }
    if t.payload_len > 0 {
        words.push(Word::plain(format!("Len={}", t.payload_len)));
    }
}

/// Words as coloured pieces, a space between them; analysis labels stand out.
fn paint_words(words: &[Word], color: Option<&'static str>) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(words.len() * 2);
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            pieces.push((" ".to_string(), None));
        }
        pieces.push((w.text.clone(), if w.alarm { Some(ALARM) } else { color }));
    }
    pieces
}

/// Seconds with microsecond precision, as Wireshark's relative Time column.
fn seconds(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    format!(
        "{sign}{}.{:06}",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::TlsSession;
    use crate::event::{DupAck, TcpFlags, TcpSummary, Timestamp, TlsInfo};
    use crate::flow::{EndReason, FlowSummary, Handshake, LabelCounts};

    const CLIENT: (&str, u16) = ("127.0.0.1", 45392);
    const SERVER: (&str, u16) = ("127.0.0.1", 15001);

    fn packet(frame: u64, from_client: bool, flags: u16) -> PacketEvent {
        let (src, dst) = if from_client {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        PacketEvent {
            frame,
            ts: Timestamp::default(),
            rel_ns: frame as i64 * 1000,
            flow: 0,
            src: src.0.parse().unwrap(),
            sport: src.1,
            dst: dst.0.parse().unwrap(),
            dport: dst.1,
            len: 66,
            caplen: 66,
            tunnel: None,
            tcp: TcpSummary {
                flags: TcpFlags(flags),
                ..TcpSummary::default()
            },
            tls: Vec::new(),
            app: AppInfo::None,
        }
    }

    fn tls(mut p: PacketEvent, items: &[&str]) -> PacketEvent {
        p.app = AppInfo::Tls(TlsInfo {
            protocol: "TLSv1.2",
            items: items.iter().map(|i| i.to_string().into()).collect(),
            malformed: false,
        });
        p
    }

    fn draw(events: &[Event], opts: LadderOptions) -> String {
        let mut out = Vec::new();
        let mut l = Ladder::new(&mut out, opts);
        for e in events {
            l.emit(e).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn draw_packets(packets: Vec<PacketEvent>) -> String {
        let events: Vec<Event> = packets.into_iter().map(Event::Packet).collect();
        draw(&events, LadderOptions::default())
    }

    fn arrows(out: &str) -> Vec<&str> {
        out.lines().filter(|l| l.contains("|")).collect()
    }

    fn summary(flow: FlowId) -> FlowSummary {
        FlowSummary {
            flow,
            client: Endpoint {
                ip: CLIENT.0.parse().unwrap(),
                port: CLIENT.1,
            },
            server: Endpoint {
                ip: SERVER.0.parse().unwrap(),
                port: SERVER.1,
            },
            state: "SF",
            history: "ShADadfF".into(),
            handshake: Handshake::default(),
            start: Timestamp::default(),
            end: Timestamp::default(),
            duration: 0.0,
            client_packets: 1,
            client_bytes: 1,
            client_payload_bytes: 0,
            server_packets: 1,
            server_bytes: 1,
            server_payload_bytes: 0,
            analysis: LabelCounts::default(),
            reason: EndReason::Fin,
            gap_bytes: [0, 0],
        }
    }

    #[test]
    fn handshake_arrows_point_from_sender_to_receiver() {
        let mut syn_ack = packet(2, false, TcpFlags::SYN | TcpFlags::ACK);
        syn_ack.tcp.ack = 1;
        let mut ack = packet(3, true, TcpFlags::ACK);
        ack.tcp.seq = 1;
        ack.tcp.ack = 1;
        let out = draw_packets(vec![packet(1, true, TcpFlags::SYN), syn_ack, ack]);
        let a = arrows(&out);
        assert_eq!(a.len(), 3, "{out}");
        assert!(
            a[0].contains("|--- SYN Seq=0 ---") && a[0].ends_with("->|"),
            "{out}"
        );
        assert!(a[1].contains("|<-- SYN, ACK Seq=0 Ack=1 ---") && a[1].ends_with("-|"));
        assert!(!a[1].contains('>'), "{out}");
        assert!(a[2].contains("|--- ACK Seq=1 Ack=1 ---") && a[2].ends_with("->|"));
        let header = out.lines().next().unwrap();
        assert!(header.contains("flow #0"), "{header}");
        assert!(header.find("client 127.0.0.1:45392") < header.find("server 127.0.0.1:15001"));
        assert!(header.ends_with("server 127.0.0.1:15001"), "{header}");
    }

    #[test]
    fn arrows_margin_shows_frame_time_and_flow_tag() {
        let out = draw_packets(vec![packet(7, true, TcpFlags::SYN)]);
        let a = arrows(&out)[0];
        assert!(a.starts_with("    7  0.000007 #0   |"), "{a:?}");
    }

    #[test]
    fn first_packet_from_the_server_port_puts_the_server_right() {
        // Mid-stream: no SYN, so the likelier server port (15001) decides.
        let mut p = packet(1, false, TcpFlags::ACK | TcpFlags::PSH);
        p.tcp.payload_len = 10;
        let out = draw_packets(vec![p]);
        assert!(
            out.lines()
                .next()
                .unwrap()
                .ends_with("server 127.0.0.1:15001")
        );
        let a = arrows(&out)[0];
        assert!(a.contains("|<-- PSH, ACK Seq=0 Ack=0 Len=10 -"), "{a}");
    }

    #[test]
    fn a_syn_ack_first_makes_its_receiver_the_client() {
        let out = draw_packets(vec![packet(1, false, TcpFlags::SYN | TcpFlags::ACK)]);
        assert!(out.contains("client 127.0.0.1:45392"), "{out}");
        assert!(arrows(&out)[0].contains("|<-- SYN, ACK"), "{out}");
    }

    #[test]
    fn tls_items_label_the_arrow_and_wrap_at_item_boundaries() {
        let p = tls(
            packet(6, false, TcpFlags::ACK | TcpFlags::PSH),
            &[
                "Server Hello",
                "Certificate",
                "Server Key Exchange",
                "Certificate Request",
                "Server Hello Done",
            ],
        );
        let out = draw_packets(vec![p]);
        let a = arrows(&out);
        assert_eq!(a.len(), 2, "{out}");
        assert!(
            a[0].contains(
                "|<-- Server Hello, Certificate, Server Key Exchange, Certificate Request, -"
            ),
            "{out}"
        );
        assert!(
            a[1].trim_start().starts_with("|    Server Hello Done "),
            "{out}"
        );
        for l in out.lines() {
            assert!(width(l) <= DEFAULT_WIDTH, "{l}");
        }
        // Both lifelines stay in the same columns.
        assert_eq!(a[0].rfind('|'), a[1].rfind('|'));
        assert_eq!(a[0].find('|'), a[1].find('|'));
    }

    #[test]
    fn narrow_terminals_wrap_whole_items_where_they_fit() {
        let p = tls(
            packet(6, false, TcpFlags::ACK),
            &["Server Hello", "Certificate", "Server Key Exchange"],
        );
        let out = draw(
            &[Event::Packet(p)],
            LadderOptions {
                width: 60,
                ..LadderOptions::default()
            },
        );
        let a = arrows(&out);
        assert!(a[0].contains("Server Hello, Certificate, -"), "{out}");
        assert!(a[1].contains("|    Server Key Exchange "), "{out}");
        assert!(out.lines().all(|l| width(l) <= 60), "{out}");
    }

    #[test]
    fn endless_labels_are_cut_after_three_lines() {
        let items = vec!["Application Data"; 200];
        let out = draw_packets(vec![tls(packet(9, true, TcpFlags::ACK), &items)]);
        let a = arrows(&out);
        assert_eq!(a.len(), MAX_LABEL_LINES, "{out}");
        assert!(a[2].contains("... "), "{out}");
        assert!(out.lines().all(|l| width(l) <= DEFAULT_WIDTH), "{out}");
    }

    #[test]
    fn analysis_labels_come_first_and_stand_out_in_colour() {
        let mut p = packet(12, true, TcpFlags::ACK);
        p.tcp.analysis.insert(Label::DuplicateAck);
        p.tcp.dup_ack = Some(DupAck { frame: 11, num: 1 });
        p.tcp.analysis.insert(Label::Retransmission);
        let plain = draw_packets(vec![p.clone()]);
        assert!(
            plain.contains("|--- [TCP Dup ACK 11#1] [TCP Retransmission] ACK Seq=0 Ack=0 ---"),
            "{plain}"
        );
        assert!(
            !plain.contains('\x1b'),
            "no colours unless asked: {plain:?}"
        );
        let coloured = draw(
            &[Event::Packet(p)],
            LadderOptions {
                color: true,
                ..LadderOptions::default()
            },
        );
        assert!(
            coloured.contains(&format!(
                "{ALARM}[TCP Dup ACK 11#1] [TCP Retransmission] {RESET}{RED}ACK"
            )),
            "{coloured:?}"
        );
        assert!(
            coloured.contains(&format!("{RED}--- {RESET}")),
            "{coloured:?}"
        );
    }

    #[test]
    fn verbose_adds_the_packet_list_entry_between_the_lifelines() {
        let mut syn = packet(1, true, TcpFlags::SYN);
        syn.tcp.win = 65495;
        let out = draw(
            &[Event::Packet(syn)],
            LadderOptions {
                verbose: true,
                ..LadderOptions::default()
            },
        );
        let a = arrows(&out);
        assert_eq!(a.len(), 2, "{out}");
        assert!(
            a[1].contains("|  TCP 66 45392 \u{2192} 15001 [SYN] Seq=0 Win=65495 Len=0 "),
            "{out}"
        );
        assert_eq!(width(a[0]), width(a[1]), "{out}");
        assert!(a[1].ends_with('|'));
    }

    #[test]
    fn tls_summary_waits_for_its_flows_end() {
        let session = TlsSession {
            flow: 0,
            client: "127.0.0.1:45392".parse().unwrap(),
            server: "127.0.0.1:15001".parse().unwrap(),
            ..TlsSession::default()
        };
        let out = draw(
            &[
                Event::Packet(packet(1, true, TcpFlags::SYN)),
                Event::TlsHandshake(Box::new(session)),
                Event::Packet(packet(2, true, TcpFlags::FIN | TcpFlags::ACK)),
                Event::Flow(Box::new(summary(0))),
            ],
            LadderOptions::default(),
        );
        let fin = out.find("FIN, ACK").unwrap();
        let flow = out.find("flow 0 127.0.0.1:45392").unwrap();
        let session = out.find("TLS session").unwrap();
        assert!(fin < flow && flow < session, "{out}");
    }

    #[test]
    fn interleaved_flows_each_get_a_header_and_tagged_arrows() {
        let mut other = packet(2, true, TcpFlags::SYN);
        other.flow = 1;
        other.sport = 45394;
        let out = draw_packets(vec![
            packet(1, true, TcpFlags::SYN),
            other,
            packet(3, false, TcpFlags::SYN | TcpFlags::ACK),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("flow #0") && lines[0].contains(":45392"));
        assert!(lines[1].contains(" #0 "));
        assert_eq!(lines[2], "", "a blank line before another flow's header");
        assert!(lines[3].contains("flow #1") && lines[3].contains(":45394"));
        assert!(lines[4].contains(" #1 ") && lines[5].contains(" #0 "));
    }

    #[test]
    fn hostile_content_never_breaks_the_drawing() {
        let mut p = tls(
            packet(u64::MAX, true, 0xfff),
            &["\u{1F600} Ünïcödé \x1b[2J", &"x".repeat(500), ""],
        );
        p.rel_ns = i64::MIN;
        p.flow = u32::MAX;
        p.tcp.seq = u32::MAX;
        p.tcp.payload_len = u32::MAX;
        p.src = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let mut q = p.clone();
        q.app = AppInfo::None;
        for width in [1, 10, 40, DEFAULT_WIDTH, MAX_WIDTH] {
            for verbose in [false, true] {
                let out = draw(
                    &[Event::Packet(p.clone()), Event::Packet(q.clone())],
                    LadderOptions {
                        width,
                        verbose,
                        color: true,
                    },
                );
                assert!(
                    !out.contains("\x1b[2J"),
                    "control characters are neutralised"
                );
                if width >= DEFAULT_WIDTH {
                    assert!(out.contains("Seq=4294967295"), "{out}");
                }
            }
        }
    }

    #[test]
    fn columns_give_the_width_within_bounds() {
        assert_eq!(width_from_columns(None), DEFAULT_WIDTH);
        assert_eq!(width_from_columns(Some("132")), 132);
        assert_eq!(width_from_columns(Some(" 80\n")), 80);
        assert_eq!(width_from_columns(Some("0")), DEFAULT_WIDTH);
        assert_eq!(width_from_columns(Some("wide")), DEFAULT_WIDTH);
        assert_eq!(
            width_from_columns(Some("99999999999999999999999")),
            DEFAULT_WIDTH
        );
        assert_eq!(width_from_columns(Some("5000")), MAX_WIDTH);
    }
}
