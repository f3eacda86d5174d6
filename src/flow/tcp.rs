//! Per-connection TCP sequence analysis, reproducing Wireshark 4.0's `dissect_tcp()` and
//! `tcp_analyze_sequence_number()` (epan/dissectors/packet-tcp.c) with its default preferences:
//! relative sequence numbers, sequence analysis on, window scaling learnt from the handshake.
//!
//! State is kept per direction, as Wireshark's `tcp_flow_t` (`fwd` is the direction of the
//! segment being analysed, `rev` the other one). Wireshark compares absolute sequence numbers and
//! treats the value 0 as "not seen yet"; so does this file, since that quirk decides labels in
//! real captures. Wireshark's list of unacknowledged segments only feeds RTT and bytes-in-flight
//! figures, never a label, so it is not kept: state per connection is a few dozen bytes.
//!
//! `Connection::analyze` runs the steps of `dissect_tcp()` in Wireshark's order: base sequence
//! numbers, the analysis, window scaling of the displayed window, then the handshake
//! bookkeeping (SYN time, first RTT, `is_first_ack`) and the window-scale option, which
//! Wireshark handles after the analysis of the same frame. The analysis itself, which gives a
//! segment its labels, is `tcp/sequence.rs`.

mod sequence;

use super::analysis::{Analysis, Label};
use crate::event::{DupAck, TcpFlags, Timestamp};

/// Window scale still unknown (no SYN seen): Wireshark's `-1`.
const WS_UNKNOWN: i8 = -1;
/// The handshake showed window scaling is off: Wireshark's `-2`.
const WS_NONE: i8 = -2;

/// One direction's state (Wireshark's `tcp_flow_t` and `tcp_analyze_seq_flow_info_t`).
#[derive(Debug, Clone)]
pub struct DirState {
    /// Initial sequence number (for a SYN) or first seen minus one.
    pub base_seq: Option<u32>,
    /// A SYN (or SYN-ACK) was seen from this side.
    pub saw_syn: bool,
    /// Window scale shift; `WS_UNKNOWN` or `WS_NONE` when not in use.
    win_scale: i8,
    /// Last raw (unscaled) window, `u32::MAX` before any segment.
    window: u32,
    is_first_ack: bool,
    nextseq: u32,
    /// Time of `nextseq` (a `Timestamp` kept as its two halves: the state packs tighter).
    nextseq_secs: i64,
    nextseq_nanos: u32,
    maxseqtobeacked: u32,
    lastack: u32,
    /// Time of `lastack`, as two halves.
    lastack_secs: i64,
    lastack_nanos: u32,
    lastnondupack: u64,
    /// Wireshark keeps this unsigned and stores -1 in it after an ACKed unseen segment, so a
    /// later check `dupacknum >= 2` passes; that quirk is kept (`u32::MAX` is its -1).
    dupacknum: u32,
    /// Labels of this side's last segment (only keep-alive and zero-window-probe are read).
    last_segment: Analysis,
}

impl Default for DirState {
    fn default() -> Self {
        DirState {
            base_seq: None,
            saw_syn: false,
            win_scale: WS_UNKNOWN,
            window: u32::MAX,
            is_first_ack: false,
            nextseq: 0,
            nextseq_secs: 0,
            nextseq_nanos: 0,
            maxseqtobeacked: 0,
            lastack: 0,
            lastack_secs: 0,
            lastack_nanos: 0,
            lastnondupack: 0,
            dupacknum: 0,
            last_segment: Analysis::default(),
        }
    }
}

impl DirState {
    /// The shift applied to this side's advertised window, if scaling is known to be in use.
    pub fn window_shift(&self) -> Option<u8> {
        (self.win_scale >= 0).then_some(self.win_scale as u8)
    }
}

/// What the analysis says about one segment.
#[derive(Debug, Clone, Default)]
pub struct SegmentAnalysis {
    pub analysis: Analysis,
    pub dup_ack: Option<DupAck>,
    pub rel_seq: u32,
    pub rel_ack: u32,
    /// Window after scaling, as Wireshark displays it.
    pub win: u32,
}

/// The fields of a segment the analysis reads.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub frame: u64,
    pub ts: Timestamp,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub len: u32,
    /// The shift of the segment's window scale option, if it has one.
    pub window_scale: Option<u8>,
}

/// Both directions of one TCP conversation. `dirs[0]` is the side whose address sorts first
/// (Wireshark's `flow1`).
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub dirs: [DirState; 2],
    /// Time of the most recent pure SYN (`ts_mru_syn`).
    syn_time: Option<Timestamp>,
    /// Time from the SYN to the first pure ACK (`ts_first_rtt`), in nanoseconds (saturated
    /// at about 292 years either way, which keeps the state small).
    pub first_rtt_ns: Option<i64>,
}

impl Connection {
    /// Whether a pure SYN with this sequence number starts a new conversation on the same
    /// addresses and ports (Wireshark: a SYN whose sequence number differs from the base
    /// sequence number already recorded for that direction; issue 15097).
    pub fn syn_starts_new_conversation(&self, dir: usize, seg: &Segment) -> bool {
        let pure_syn = seg.flags.syn() && !seg.flags.ack();
        pure_syn && matches!(self.dirs[dir].base_seq, Some(b) if b != seg.seq)
    }

    /// Runs the analysis for one segment travelling in direction `dir` (0 or 1).
    /// `reused` marks the first SYN of a conversation that replaced an older one.
    pub fn analyze(&mut self, dir: usize, seg: &Segment, reused: bool) -> SegmentAnalysis {
        let fwd_i = dir & 1;
        let rev_i = fwd_i ^ 1;
        let mut out = SegmentAnalysis::default();
        if reused {
            out.analysis.insert(Label::ReusedPorts);
        }
        let flags = seg.flags;
        let pure_syn = flags.syn() && !flags.ack();

        // A SYN repeating the recorded ISN: restore nextseq, as a RST may have moved it
        // (Wireshark issue 17616). It is then flagged as a retransmission by the analysis.
        if pure_syn && self.dirs[fwd_i].base_seq == Some(seg.seq) {
            let d = &mut self.dirs[fwd_i];
            d.nextseq = d.maxseqtobeacked;
        }
        // A SYN-ACK with a new ISN on a known conversation: ports reused (issue 16944).
        if flags.syn()
            && flags.ack()
            && let Some(b) = self.dirs[fwd_i].base_seq
            && b != seg.seq
        {
            self.dirs[fwd_i].base_seq = Some(seg.seq);
            out.analysis.insert(Label::ReusedPorts);
        }

        // Base sequence numbers: the ISN for a SYN, otherwise one before the first byte seen
        // (bug 1542); the peer's from the first ACK's acknowledgement number.
        if self.dirs[fwd_i].base_seq.is_none() {
            let d = &mut self.dirs[fwd_i];
            if flags.syn() {
                d.base_seq = Some(seg.seq);
                d.saw_syn = true;
            } else {
                d.base_seq = Some(seg.seq.wrapping_sub(1));
            }
        }
        if flags.ack() && self.dirs[rev_i].base_seq.is_none() {
            self.dirs[rev_i].base_seq = Some(seg.ack.wrapping_sub(1));
        }

        self.analyze_sequence_number(fwd_i, seg, &mut out);

        let base = self.dirs[fwd_i].base_seq.unwrap_or(0);
        out.rel_seq = seg.seq.wrapping_sub(base);
        // Without ACK the field is shown as sent (Wireshark makes it relative only with ACK).
        out.rel_ack = if flags.ack() {
            seg.ack.wrapping_sub(self.dirs[rev_i].base_seq.unwrap_or(0))
        } else {
            seg.ack
        };

        // Displayed window: SYNs are never scaled.
        out.win = u32::from(seg.window);
        if !flags.syn()
            && let Some(shift) = self.dirs[fwd_i].window_shift()
        {
            out.win = u32::from(seg.window) << shift;
        }

        // Handshake bookkeeping that dissect_tcp() does after the analysis.
        if flags.syn() {
            if !flags.ack() {
                self.syn_time = Some(seg.ts);
            }
            self.dirs[fwd_i].is_first_ack = true;
        }
        let pure_ack = flags.ack() && !flags.syn();
        if pure_ack
            && self.first_rtt_ns.is_none()
            && let Some(t) = self.syn_time
        {
            let rtt = seg
                .ts
                .nanos_since(t)
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            self.first_rtt_ns = Some(rtt as i64);
        }
        if pure_ack {
            self.dirs[fwd_i].is_first_ack = false;
        }

        // Window scale option (parsed after the analysis in Wireshark), then
        // verify_tcp_window_scaling() for SYN and SYN-ACK.
        if let Some(shift) = seg.window_scale {
            // RFC 7323 section 2.3: a shift above 14 is used as 14.
            self.dirs[fwd_i].win_scale = shift.min(14) as i8;
        }
        if flags.syn() {
            if self.dirs[fwd_i].win_scale == WS_UNKNOWN {
                self.dirs[fwd_i].win_scale = WS_NONE;
                self.dirs[rev_i].win_scale = WS_NONE;
            } else if flags.ack() && self.dirs[rev_i].win_scale == WS_NONE {
                self.dirs[fwd_i].win_scale = WS_NONE;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TcpOpt;

    pub(super) const C: usize = 0; // client direction
    pub(super) const S: usize = 1; // server direction

    /// One conversation fed segment by segment (shared with `sequence`'s tests).
    pub(super) struct Run {
        conn: Connection,
        frame: u64,
        now: Timestamp,
    }

    impl Run {
        pub(super) fn new() -> Self {
            Run {
                conn: Connection::default(),
                frame: 0,
                now: Timestamp::new(1000, 0),
            }
        }

        /// Sends a segment `ms` milliseconds after the previous one.
        #[allow(clippy::too_many_arguments)]
        pub(super) fn seg(
            &mut self,
            dir: usize,
            ms: u64,
            seq: u32,
            ack: u32,
            flags: u16,
            win: u16,
            len: u32,
            opts: &[TcpOpt],
        ) -> SegmentAnalysis {
            self.frame += 1;
            let ns = self.now.as_nanos() + i128::from(ms) * 1_000_000;
            self.now = Timestamp::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32);
            let s = Segment {
                frame: self.frame,
                ts: self.now,
                seq,
                ack,
                flags: TcpFlags(flags),
                window: win,
                len,
                window_scale: opts.iter().rev().find_map(|o| match o {
                    TcpOpt::WindowScale(s) => Some(*s),
                    _ => None,
                }),
            };
            self.conn.analyze(dir, &s, false)
        }

        /// Three-way handshake with client ISN 1000 and server ISN 5000; 10 ms RTT.
        pub(super) fn handshake(&mut self) {
            let f = TcpFlags::SYN;
            self.seg(C, 0, 1000, 0, f, 65535, 0, &[TcpOpt::WindowScale(7)]);
            self.seg(
                S,
                5,
                5000,
                1001,
                f | TcpFlags::ACK,
                65535,
                0,
                &[TcpOpt::WindowScale(7)],
            );
            self.seg(C, 5, 1001, 5001, TcpFlags::ACK, 512, 0, &[]);
        }
    }

    pub(super) const A: u16 = TcpFlags::ACK;
    pub(super) const PA: u16 = TcpFlags::ACK | TcpFlags::PSH;

    pub(super) fn labels(r: &SegmentAnalysis) -> Vec<&'static str> {
        r.analysis.iter().map(Label::name).collect()
    }

    #[test]
    fn handshake_gives_relative_numbers_and_scaled_window() {
        let mut r = Run::new();
        let syn = r.seg(
            C,
            0,
            1000,
            0,
            TcpFlags::SYN,
            65535,
            0,
            &[TcpOpt::WindowScale(7)],
        );
        assert_eq!((syn.rel_seq, syn.rel_ack, syn.win), (0, 0, 65535));
        let mut r2 = Run::new();
        let rst = r2.seg(C, 0, 5, 777, TcpFlags::RST, 0, 0, &[]);
        assert_eq!(
            rst.rel_ack, 777,
            "without ACK the acknowledgement field is shown raw"
        );
        let sa = r.seg(
            S,
            5,
            5000,
            1001,
            TcpFlags::SYN | A,
            65535,
            0,
            &[TcpOpt::WindowScale(7)],
        );
        assert_eq!((sa.rel_seq, sa.rel_ack), (0, 1));
        let ack = r.seg(C, 5, 1001, 5001, A, 512, 0, &[]);
        assert_eq!((ack.rel_seq, ack.rel_ack, ack.win), (1, 1, 512 << 7));
        assert!(ack.analysis.is_empty());
        assert_eq!(r.conn.first_rtt_ns, Some(10_000_000));
    }

    #[test]
    fn missing_syn_starts_relative_numbers_at_one() {
        let mut r = Run::new();
        let first = r.seg(C, 0, 77_000, 99_000, PA, 100, 10, &[]);
        assert_eq!((first.rel_seq, first.rel_ack), (1, 1));
        // Without a handshake the window scale is unknown, so the window is shown raw.
        assert_eq!(first.win, 100);
    }

    #[test]
    fn relative_numbers_survive_sequence_wraparound() {
        let mut r = Run::new();
        r.seg(C, 0, u32::MAX - 1, 0, TcpFlags::SYN, 1000, 0, &[]);
        r.seg(S, 1, 10, u32::MAX, TcpFlags::SYN | A, 1000, 0, &[]);
        r.seg(C, 1, u32::MAX, 11, A, 1000, 0, &[]);
        let d = r.seg(C, 1, u32::MAX, 11, PA, 1000, 100, &[]);
        assert_eq!(d.rel_seq, 1);
        let next = r.seg(C, 1, 99, 11, PA, 1000, 100, &[]);
        assert_eq!(next.rel_seq, 101);
        assert!(next.analysis.is_empty(), "{:?}", labels(&next));
    }

    #[test]
    fn repeated_syn_with_the_same_isn_is_a_retransmission() {
        let mut r = Run::new();
        r.seg(C, 0, 1000, 0, TcpFlags::SYN, 65535, 0, &[]);
        let again = r.seg(C, 1000, 1000, 0, TcpFlags::SYN, 65535, 0, &[]);
        assert_eq!(labels(&again), ["retransmission"]);
    }

    #[test]
    fn a_syn_with_a_new_isn_starts_a_new_conversation() {
        let mut r = Run::new();
        r.handshake();
        let s = Segment {
            frame: 9,
            ts: r.now,
            seq: 777,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            window: 100,
            len: 0,
            window_scale: None,
        };
        assert!(r.conn.syn_starts_new_conversation(C, &s));
        assert!(
            !r.conn
                .syn_starts_new_conversation(C, &Segment { seq: 1000, ..s })
        );
    }

    // The scenarios below were each checked against tshark 4.0 on an equivalent capture.

    #[test]
    fn syn_ack_with_a_new_isn_is_reused_ports_beyond_the_old_next_seq() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        // The server answers again with a new ISN: Wireshark rebases its numbers but keeps
        // the old next sequence number, so the SYN-ACK also looks like it skipped data.
        let sa = r.seg(S, 100, 9000, 1101, TcpFlags::SYN | A, 512, 0, &[]);
        assert_eq!(labels(&sa), ["lost_segment", "reused_ports"]);
        assert_eq!((sa.rel_seq, sa.rel_ack), (0, 101));
        let ack = r.seg(C, 1, 1101, 9001, A, 512, 0, &[]);
        assert_eq!(labels(&ack), ["ack_lost_segment"]);
        assert_eq!(ack.rel_ack, 1);
    }

    proptest::proptest! {
        /// A clean in-order exchange from any pair of ISNs (so across the 2^32 wrap too) has
        /// no labels, and relative numbers count the bytes sent, as Wireshark's do.
        #[test]
        fn in_order_exchange_from_any_isn_is_unlabelled_and_counts_bytes(
            cisn in proptest::prop_oneof![
                proptest::prelude::any::<u32>(),
                (u32::MAX - 100_000)..=u32::MAX,
            ],
            sisn in proptest::prop_oneof![
                proptest::prelude::any::<u32>(),
                (u32::MAX - 100_000)..=u32::MAX,
            ],
            sizes in proptest::collection::vec(1u32..3000, 1..40),
        ) {
            let mut r = Run::new();
            let syn = TcpFlags::SYN;
            r.seg(C, 0, cisn, 0, syn, 65535, 0, &[]);
            r.seg(S, 1, sisn, cisn.wrapping_add(1), syn | A, 65535, 0, &[]);
            r.seg(C, 1, cisn.wrapping_add(1), sisn.wrapping_add(1), A, 65535, 0, &[]);
            let mut sent = 1u32;
            for len in sizes {
                let seq = cisn.wrapping_add(sent);
                let d = r.seg(C, 1, seq, sisn.wrapping_add(1), PA, 65535, len, &[]);
                proptest::prop_assert!(d.analysis.is_empty(), "{:?}", labels(&d));
                proptest::prop_assert_eq!(d.rel_seq, sent);
                sent = sent.wrapping_add(len);
                let a = r.seg(S, 1, sisn.wrapping_add(1), cisn.wrapping_add(sent), A, 65535, 0, &[]);
                proptest::prop_assert!(a.analysis.is_empty(), "{:?}", labels(&a));
                proptest::prop_assert_eq!((a.rel_seq, a.rel_ack), (1, sent));
            }
        }
    }
}
