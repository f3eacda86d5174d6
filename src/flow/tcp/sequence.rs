//! `tcp_analyze_sequence_number()` of Wireshark 4.0 (epan/dissectors/packet-tcp.c): the checks
//! that give a segment its analysis labels (zero window and its probes, lost segment,
//! keep-alive, window update and full, duplicate ACK, ACKed unseen segment, retransmissions
//! and out-of-order), in Wireshark's order and on absolute sequence numbers.
//!
//! `Connection::analyze` (`tcp.rs`) calls it after the base sequence numbers are set and before
//! the window scaling and handshake bookkeeping; the per-direction state it reads and moves on
//! is `tcp.rs`'s `DirState`.

use super::{Connection, Segment, SegmentAnalysis, WS_NONE, WS_UNKNOWN};
use crate::event::{DupAck, Timestamp};
use crate::flow::analysis::Label;
use crate::flow::seq::SeqNumber;

/// Out-of-order vs retransmission threshold when the handshake RTT is unknown (3 ms).
const DEFAULT_OOO_THRESHOLD_NS: i128 = 3_000_000;
/// A retransmission within 20 ms of the second duplicate ACK is a fast retransmission.
const FAST_RETRANSMISSION_WINDOW_NS: i128 = 20_000_000;

impl Connection {
    /// `tcp_analyze_sequence_number()`: the checks in Wireshark's order, on absolute numbers.
    pub(super) fn analyze_sequence_number(
        &mut self,
        fwd_i: usize,
        seg: &Segment,
        out: &mut SegmentAnalysis,
    ) {
        let (seq, ack, seglen) = (seg.seq, seg.ack, seg.len);
        let window = u32::from(seg.window);
        let flags = seg.flags;
        let syn_fin_rst = flags.syn() || flags.fin() || flags.rst();
        let a = &mut out.analysis;
        let [d0, d1] = &mut self.dirs;
        let (fwd, rev) = if fwd_i == 0 { (d0, d1) } else { (d1, d0) };
        let s = |v: u32| SeqNumber(v);

        'fwd: {
            // Zero window probe: one byte at the next expected sequence number while the
            // peer advertises a zero window.
            if seglen == 1 && seq == fwd.nextseq && rev.window == 0 {
                a.insert(Label::ZeroWindowProbe);
                break 'fwd;
            }
            // Zero window: a zero window on anything but SYN, FIN or RST.
            if window == 0 && !syn_fin_rst {
                a.insert(Label::ZeroWindow);
            }
            // Lost segment: the segment starts beyond the highest byte seen so far.
            if fwd.nextseq != 0 && s(seq) > s(fwd.nextseq) && !flags.rst() {
                a.insert(Label::LostSegment);
            }
            // Keep-alive: 0 or 1 byte starting one before the next expected byte.
            if (seglen == 0 || seglen == 1) && seq == fwd.nextseq.wrapping_sub(1) && !syn_fin_rst {
                a.insert(Label::KeepAlive);
            }
            // Window update: no data, same seq/ack as before, a new non-zero window.
            if seglen == 0
                && window != 0
                && window != fwd.window
                && seq == fwd.nextseq
                && ack == fwd.lastack
                && !syn_fin_rst
            {
                a.insert(Label::WindowUpdate);
            }
            // Window full: data reaching exactly the edge of the peer's advertised window,
            // when its scaling is known.
            if seglen > 0 && rev.win_scale != WS_UNKNOWN && !syn_fin_rst {
                let shift = if rev.is_first_ack || rev.win_scale == WS_NONE {
                    0
                } else {
                    rev.win_scale as u32
                };
                let edge = rev.lastack.wrapping_add(rev.window.wrapping_shl(shift));
                if seq.wrapping_add(seglen) == edge {
                    a.insert(Label::WindowFull);
                }
            }
            let repeats_last_ack =
                seglen == 0 && seq == fwd.nextseq && ack == fwd.lastack && !syn_fin_rst;
            // Keep-alive ACK: repeats the previous ACK right after a keep-alive from the peer.
            if repeats_last_ack
                && window != 0
                && window == fwd.window
                && rev.last_segment.contains(Label::KeepAlive)
            {
                a.insert(Label::KeepAliveAck);
                break 'fwd;
            }
            // Zero window probe ACK: repeats the zero window right after a probe.
            if repeats_last_ack
                && window == 0
                && window == fwd.window
                && rev.last_segment.contains(Label::ZeroWindowProbe)
            {
                a.insert(Label::ZeroWindowProbeAck);
                break 'fwd;
            }
            // Duplicate ACK: same window, seq and ack as the previous segment, no data.
            if repeats_last_ack && window != 0 && window == fwd.window {
                fwd.dupacknum = if fwd.dupacknum == u32::MAX {
                    1
                } else {
                    fwd.dupacknum.wrapping_add(1)
                };
                a.insert(Label::DuplicateAck);
                out.dup_ack = Some(DupAck {
                    frame: fwd.lastnondupack,
                    num: fwd.dupacknum,
                });
            }
        }

        // A new acknowledgement number resets the duplicate-ACK count.
        if ack != fwd.lastack {
            fwd.lastnondupack = seg.frame;
            fwd.dupacknum = 0;
        }

        // ACKed unseen segment: acknowledges data beyond what was seen the other way.
        if rev.maxseqtobeacked != 0 && s(ack) > s(rev.maxseqtobeacked) && flags.ack() {
            if s(rev.maxseqtobeacked) < s(rev.nextseq) {
                rev.maxseqtobeacked = rev.nextseq;
                a.insert(Label::AckLostSegment);
            } else {
                if rev.dupacknum == 0 {
                    a.insert(Label::AckLostSegment);
                }
                rev.dupacknum = u32::MAX;
            }
        }

        // Retransmission, fast retransmission, spurious retransmission or out-of-order:
        // data (or SYN/FIN) that does not advance the sequence number.
        'retrans: {
            if !(seglen > 0 || flags.syn() || flags.fin()) {
                break 'retrans;
            }
            if a.contains(Label::KeepAlive) {
                break 'retrans;
            }
            let mut seq_not_advanced = fwd.nextseq != 0 && s(seq) < s(fwd.nextseq);
            // More than one byte starting one before nextseq: new data after a window probe.
            if seglen > 1 && fwd.nextseq.wrapping_sub(1) == seq {
                seq_not_advanced = false;
            }
            // Spurious: everything in it was already acknowledged.
            if seglen > 0 && rev.lastack != 0 && s(seq.wrapping_add(seglen)) <= s(rev.lastack) {
                a.insert(Label::SpuriousRetransmission);
                a.insert(Label::Retransmission);
                break 'retrans;
            }
            // Fast: two or more duplicate ACKs for this sequence number, within 20 ms.
            let since_dupack =
                elapsed_ns(seg.ts, Timestamp::new(rev.lastack_secs, rev.lastack_nanos));
            if seq_not_advanced
                && rev.dupacknum >= 2
                && rev.lastack == seq
                && since_dupack < FAST_RETRANSMISSION_WINDOW_NS
            {
                a.insert(Label::FastRetransmission);
                a.insert(Label::Retransmission);
                break 'retrans;
            }
            // Out-of-order: arrived within one handshake RTT (3 ms when unknown) of the
            // highest segment so far and does not just end where that one ended.
            let since_next =
                elapsed_ns(seg.ts, Timestamp::new(fwd.nextseq_secs, fwd.nextseq_nanos));
            let threshold = self
                .first_rtt_ns
                .filter(|t| *t != 0)
                .map_or(DEFAULT_OOO_THRESHOLD_NS, i128::from);
            let syn_fin = u32::from(flags.syn() || flags.fin());
            if seq_not_advanced
                && since_next < threshold
                && fwd.nextseq != seq.wrapping_add(seglen).wrapping_add(syn_fin)
            {
                a.insert(Label::OutOfOrder);
                break 'retrans;
            }
            if seq_not_advanced {
                a.insert(Label::Retransmission);
            }
        }

        // Highest sequence number seen; zero window probes do not advance it.
        let mut nextseq = seq.wrapping_add(seglen);
        if (seglen > 0 || flags.syn() || flags.fin()) && (flags.syn() || flags.fin()) {
            nextseq = nextseq.wrapping_add(1);
        }
        let probe = a.contains(Label::ZeroWindowProbe);
        if (s(nextseq) > s(fwd.nextseq) || fwd.nextseq == 0) && !probe {
            fwd.nextseq = nextseq;
            (fwd.nextseq_secs, fwd.nextseq_nanos) = (seg.ts.secs, seg.ts.nanos);
        }
        // Highest contiguous sequence number, for "ACKed unseen segment".
        if (seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0) && !probe {
            fwd.maxseqtobeacked = fwd.nextseq;
        }
        fwd.window = window;
        fwd.lastack = ack;
        (fwd.lastack_secs, fwd.lastack_nanos) = (seg.ts.secs, seg.ts.nanos);
        fwd.last_segment = *a;
    }
}

/// Nanoseconds from `since` to `now`; a clock running backwards counts as "long ago", as
/// Wireshark's unsigned arithmetic makes it.
fn elapsed_ns(now: Timestamp, since: Timestamp) -> i128 {
    let d = now.nanos_since(since);
    if d < 0 { i128::MAX } else { d }
}

#[cfg(test)]
mod tests {
    use crate::event::{DupAck, TcpFlags};
    use crate::flow::tcp::tests::{A, C, PA, Run, S, labels};

    #[test]
    fn segment_beyond_next_expected_is_previous_segment_not_captured() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        let gap = r.seg(C, 1, 1201, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&gap), ["lost_segment"]);
    }

    #[test]
    fn old_data_long_after_is_retransmission_and_soon_after_is_out_of_order() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(C, 1, 1201, 5001, PA, 512, 100, &[]);
        // Within one handshake RTT (10 ms) of the highest segment: out of order.
        let ooo = r.seg(C, 2, 1101, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&ooo), ["out_of_order"]);
        // Long after: a retransmission.
        let re = r.seg(C, 300, 1101, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&re), ["retransmission"]);
    }

    #[test]
    fn third_duplicate_ack_makes_fast_retransmission() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(C, 1, 1101, 5001, PA, 512, 100, &[]); // lost in the network
        r.seg(C, 1, 1201, 5001, PA, 512, 100, &[]);
        let first = r.seg(S, 5, 5001, 1101, A, 512, 0, &[]);
        assert!(first.analysis.is_empty());
        let d1 = r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        assert_eq!(labels(&d1), ["duplicate_ack"]);
        assert_eq!(d1.dup_ack, Some(DupAck { frame: 7, num: 1 }));
        let d2 = r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        assert_eq!(d2.dup_ack, Some(DupAck { frame: 7, num: 2 }));
        let fr = r.seg(C, 1, 1101, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&fr), ["retransmission", "fast_retransmission"]);
    }

    #[test]
    fn fast_retransmission_needs_to_follow_the_dup_acks_within_20ms() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(C, 1, 1101, 5001, PA, 512, 100, &[]);
        r.seg(S, 5, 5001, 1101, A, 512, 0, &[]);
        r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        let late = r.seg(C, 25, 1101, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&late), ["retransmission"]);
    }

    #[test]
    fn after_an_acked_unseen_segment_a_resend_counts_as_fast_retransmission() {
        // Wireshark stores -1 in its unsigned duplicate-ACK counter after an ACKed unseen
        // segment, so a resend of what the peer last acknowledged passes the ">= 2 duplicate
        // ACKs" test without any duplicate ACK.
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(S, 1, 5001, 1101, PA, 512, 100, &[]);
        let unseen = r.seg(S, 1, 5101, 1301, A, 512, 0, &[]);
        assert_eq!(labels(&unseen), ["ack_lost_segment"]);
        let resend = r.seg(S, 1, 5001, 1301, PA, 512, 100, &[]);
        assert_eq!(labels(&resend), ["retransmission", "fast_retransmission"]);
    }

    #[test]
    fn resending_acknowledged_data_is_spurious() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(S, 5, 5001, 1101, A, 512, 0, &[]);
        let sp = r.seg(C, 300, 1001, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&sp), ["retransmission", "spurious_retransmission"]);
    }

    #[test]
    fn one_byte_before_next_seq_is_keep_alive_and_its_echo_keep_alive_ack() {
        let mut r = Run::new();
        r.handshake();
        r.seg(S, 5, 5001, 1001, A, 512, 0, &[]);
        let ka = r.seg(C, 1000, 1000, 5001, A, 512, 0, &[]);
        assert_eq!(labels(&ka), ["keep_alive"]);
        let kaa = r.seg(S, 1, 5001, 1001, A, 512, 0, &[]);
        assert_eq!(labels(&kaa), ["keep_alive_ack"]);
    }

    #[test]
    fn zero_window_then_probe_then_probe_ack() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        let zw = r.seg(S, 1, 5001, 1101, A, 0, 0, &[]);
        assert_eq!(labels(&zw), ["zero_window"]);
        let probe = r.seg(C, 100, 1101, 5001, A, 512, 1, &[]);
        assert_eq!(labels(&probe), ["zero_window_probe"]);
        let pack = r.seg(S, 1, 5001, 1101, A, 0, 0, &[]);
        assert_eq!(labels(&pack), ["zero_window", "zero_window_probe_ack"]);
    }

    #[test]
    fn same_numbers_with_a_new_window_is_window_update() {
        let mut r = Run::new();
        r.handshake();
        let wu = r.seg(C, 1, 1001, 5001, A, 1024, 0, &[]);
        assert_eq!(labels(&wu), ["window_update"]);
    }

    #[test]
    fn data_up_to_the_peers_window_edge_is_window_full() {
        let mut r = Run::new();
        r.handshake();
        // Server's last ACK: 1001 with window 512 (unscaled, since is_first_ack holds until
        // its first pure ACK); the server then ACKs and scaling applies: 2 << 7 = 256 bytes.
        r.seg(S, 1, 5001, 1001, A, 2, 0, &[]);
        let full = r.seg(C, 1, 1001, 5001, PA, 512, 256, &[]);
        assert_eq!(labels(&full), ["window_full"]);
    }

    #[test]
    fn acknowledging_unseen_data_is_ack_lost_segment() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        let ack = r.seg(S, 5, 5001, 1301, A, 512, 0, &[]);
        assert_eq!(labels(&ack), ["ack_lost_segment"]);
    }

    // The scenarios below were each checked against tshark 4.0 on an equivalent capture.

    #[test]
    fn a_rst_beyond_the_next_sequence_number_is_no_lost_segment() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        let rst = r.seg(C, 1, 1500, 0, TcpFlags::RST, 512, 0, &[]);
        assert!(rst.analysis.is_empty(), "{:?}", labels(&rst));
    }

    #[test]
    fn a_new_window_is_a_window_update_and_data_does_not_reset_the_dup_ack_count() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(S, 1, 5001, 1101, A, 512, 0, &[]); // frame 5
        let wu = r.seg(S, 1, 5001, 1101, A, 600, 0, &[]);
        assert_eq!(labels(&wu), ["window_update"]);
        let data = r.seg(S, 1, 5001, 1101, PA, 600, 10, &[]);
        assert!(data.analysis.is_empty(), "{:?}", labels(&data));
        // The acknowledgement number never changed, so the count goes on from frame 5.
        let d1 = r.seg(S, 1, 5011, 1101, A, 600, 0, &[]);
        assert_eq!(d1.dup_ack, Some(DupAck { frame: 5, num: 1 }));
        let d2 = r.seg(S, 1, 5011, 1101, A, 600, 0, &[]);
        assert_eq!(d2.dup_ack, Some(DupAck { frame: 5, num: 2 }));
    }

    #[test]
    fn a_zero_window_probe_does_not_advance_the_next_sequence_number() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(S, 1, 5001, 1101, A, 0, 0, &[]);
        let probe = r.seg(C, 100, 1101, 5001, A, 512, 1, &[]);
        assert_eq!(labels(&probe), ["zero_window_probe"]);
        r.seg(S, 1, 5001, 1101, A, 0, 0, &[]);
        let opened = r.seg(S, 100, 5001, 1101, A, 512, 0, &[]);
        assert_eq!(labels(&opened), ["window_update"]);
        // The probed byte comes again as the start of real data: not a retransmission.
        let data = r.seg(C, 1, 1101, 5001, PA, 512, 100, &[]);
        assert!(data.analysis.is_empty(), "{:?}", labels(&data));
    }

    #[test]
    fn fast_retransmission_wins_over_out_of_order() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(C, 0, 1201, 5001, PA, 512, 100, &[]);
        r.seg(S, 0, 5001, 1101, A, 512, 0, &[]);
        r.seg(S, 0, 5001, 1101, A, 512, 0, &[]);
        r.seg(S, 0, 5001, 1101, A, 512, 0, &[]);
        // Within the out-of-order threshold too, but the duplicate ACKs decide.
        let re = r.seg(C, 0, 1101, 5001, PA, 512, 100, &[]);
        assert_eq!(labels(&re), ["retransmission", "fast_retransmission"]);
    }

    #[test]
    fn a_one_byte_keep_alive_is_no_retransmission() {
        let mut r = Run::new();
        r.handshake();
        r.seg(C, 1, 1001, 5001, PA, 512, 100, &[]);
        r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        let ka = r.seg(C, 1000, 1100, 5001, A, 512, 1, &[]);
        assert_eq!(labels(&ka), ["keep_alive"]);
        let kaa = r.seg(S, 1, 5001, 1101, A, 512, 0, &[]);
        assert_eq!(labels(&kaa), ["keep_alive_ack"]);
    }
}
