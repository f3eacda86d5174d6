//! Zeek-style connection summaries: the `history` letters and the `conn_state` of conn.log.
//!
//! This follows Zeek's TCP analyzer (src/analyzer/protocol/tcp/TCP.cc and TCP_Endpoint.cc) step
//! by step for each segment: set up the sender's sequence numbers (`init_endpoint`), record
//! history letters (`update_history`), note a zero window, take the acknowledgement, track the
//! highest sequence number sent (a data segment that does not pass it is a retransmission), and
//! move the sender's endpoint state (`UpdateStateMachine`). `state()` is Zeek's `conn_state()`
//! (base/protocols/conn/main.zeek) over the two endpoint states.
//!
//! History letters are upper case for the originator (client), lower case for the responder.
//! `S H A D F R I Q` appear once per side, except that a SYN, FIN or RST at a new sequence
//! number repeats its letter; `C G T W` (checksum, gap, retransmission, zero window) appear at
//! the 1st, 10th, 100th... occurrence; `^` marks roles chosen against the first packet's
//! direction. Roles are the flow table's, so Zeek's mid-handshake role flip of a SYN answered
//! by a SYN is not reproduced. Sequence numbers are compared in 32-bit serial arithmetic.

use super::seq::SeqNumber;
use super::tcp::Segment;
use crate::event::TcpFlags;

/// A SYN or RST moving the sequence number further than this is not trusted (Zeek's
/// `TOO_LARGE_SEQ_DELTA`).
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// Longest history kept. Zeek repeats S, F and R for each new sequence number, so a flood of
/// odd segments could grow it without end; past this length letters are dropped.
const MAX_HISTORY: usize = 128;

/// A Zeek TCP endpoint state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointState {
    /// Nothing seen from this side yet.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK as its first packet.
    SynAckSent,
    /// Seen only mid-stream (no SYN from this side).
    Partial,
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// Repeating history events (Zeek records them at 1, 10, 100, ... occurrences).
#[derive(Debug, Clone, Copy)]
pub enum Repeat {
    Checksum = 0,
    Gap = 1,
    Retransmission = 2,
    ZeroWindow = 3,
}

/// Zeek's `HIST_*` bits: which once-only letters a side has recorded.
mod hist {
    pub const SYN: u16 = 1 << 0;
    pub const FIN: u16 = 1 << 1;
    pub const RST: u16 = 1 << 2;
    pub const FIN_RST: u16 = 1 << 3;
    pub const DATA: u16 = 1 << 4;
    pub const ACK: u16 = 1 << 5;
    pub const MULTI_FLAG: u16 = 1 << 6;
}

/// One side of the connection (Zeek's `TCP_Endpoint`).
#[derive(Debug, Clone, Copy, Default)]
struct Side {
    state: EndpointState,
    prev_state: EndpointState,
    /// Sequence number before the first byte (the ISN, or one before the first seen).
    start: SeqNumber,
    /// Highest acknowledgement the peer sent for this side's data.
    ack: SeqNumber,
    /// One past the highest sequence number this side sent.
    last: SeqNumber,
    fins: u32,
    hist_last_syn: i32,
    hist_last_fin: i32,
    hist_last_rst: i32,
}

impl Side {
    fn set_state(&mut self, s: EndpointState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    fn init_seqs(&mut self, start: SeqNumber, last: SeqNumber) {
        self.start = start;
        self.ack = start;
        self.last = last;
    }

    /// Zeek's `TCP_Endpoint::Size()`: the bytes this side sent by sequence numbers.
    fn size(&self, peer: &Side) -> u64 {
        let no_data_acked = self.ack == self.start || self.ack == self.start + 1;
        if self.prev_state == EndpointState::SynSent
            && self.state == EndpointState::Reset
            && peer.state == EndpointState::Inactive
            && !no_data_acked
        {
            return 0;
        }
        // Neither the SYN nor the FIN is a byte of data.
        let size = u64::from(self.last.max(self.ack).bytes_since(self.start)).saturating_sub(1);
        if self.fins > 0 {
            size.saturating_sub(1)
        } else {
            size
        }
    }

    /// Established, or closed after being established (Zeek's `is_clean`).
    fn is_clean(&self) -> bool {
        self.state == EndpointState::Established
            || (self.state == EndpointState::Closed
                && self.prev_state == EndpointState::Established)
    }
}

/// History and endpoint states of one connection; index 0 is the client (originator).
#[derive(Debug, Clone, Default)]
pub struct ConnState {
    sides: [Side; 2],
    history: String,
    /// Once-only letters recorded, per side.
    seen: [u16; 2],
    /// Counts of the repeating letters per side: checksum, gap, retransmission, zero window.
    repeats: [[u32; 4]; 2],
}

impl ConnState {
    /// Marks that roles were assigned against the first packet's direction (Zeek's `^`).
    pub fn flipped(&mut self) {
        self.add('^');
    }

    /// The endpoint state of the client (`true`) or server.
    pub fn endpoint(&self, client: bool) -> EndpointState {
        self.sides[usize::from(!client)].state
    }

    fn add(&mut self, ch: char) {
        if self.history.len() < MAX_HISTORY {
            self.history.push(ch);
        }
    }

    fn letter_for(from_client: bool, c: u8) -> char {
        if from_client {
            c.to_ascii_uppercase() as char
        } else {
            c.to_ascii_lowercase() as char
        }
    }

    /// Zeek's `CheckHistory`: records the letter the first time, and says whether it had
    /// been recorded before.
    fn check(&mut self, from_client: bool, bit: u16, c: u8) -> bool {
        let side = usize::from(!from_client);
        if self.seen[side] & bit == 0 {
            self.seen[side] |= bit;
            self.add(Self::letter_for(from_client, c));
            false
        } else {
            true
        }
    }

    /// Records a repeating event; the letter appears at the 1st, 10th, 100th, ... time
    /// (Zeek's `ScaledHistoryEntry`).
    pub fn repeat(&mut self, from_client: bool, what: Repeat) {
        let side = usize::from(!from_client);
        let n = &mut self.repeats[side][what as usize];
        *n = n.saturating_add(1);
        let mut k = *n;
        while k.is_multiple_of(10) {
            k /= 10;
        }
        if k == 1 {
            let c = [b'c', b'g', b't', b'w'][what as usize];
            self.add(Self::letter_for(from_client, c));
        }
    }

    /// Reassembly skipped stream bytes the sender's peer acknowledged but the capture never
    /// had. Zeek records the gap only while both sides are established or cleanly closing:
    /// in other states such gaps come from RST sequence numbers or partial connections.
    pub fn gap(&mut self, from_client: bool) {
        if self.sides.iter().all(Side::is_clean) {
            self.repeat(from_client, Repeat::Gap);
        }
    }

    /// Updates history and endpoint states for one segment, in the order of Zeek's
    /// `TCP_Analyzer::DeliverPacket`.
    pub fn segment(&mut self, from_client: bool, seg: &Segment) {
        let me = usize::from(!from_client);
        let peer = me ^ 1;
        let flags = seg.flags;
        let seq = SeqNumber(seg.seq);
        // Sequence space the segment takes: SYN and FIN count one each; a RST's data does not.
        let mut seg_len = u32::from(flags.syn()) + u32::from(flags.fin());
        if !flags.rst() {
            seg_len = seg_len.wrapping_add(seg.len);
        }
        let one_past = seq + seg_len;

        self.init_endpoint(me, flags, seq, one_past);
        let rel_seq = seq.diff(self.sides[me].start);
        self.update_history(from_client, flags, rel_seq, seg.len);

        // A zero window, unless with or after a RST, or after the peer closed (Zeek's
        // update_window: nothing more is coming from a peer that sent its FIN).
        if seg.window == 0
            && !flags.rst()
            && self.sides[peer].state != EndpointState::Closed
            && self.sides[me].state != EndpointState::Reset
        {
            self.repeat(from_client, Repeat::ZeroWindow);
        }

        if flags.ack() {
            let ack = SeqNumber(seg.ack);
            if self.sides[peer].state == EndpointState::Inactive {
                // Number the peer as if its SYN had been seen (Zeek's init_peer).
                self.sides[peer].init_seqs(ack - 1, ack - 1);
            } else if !flags.rst() {
                // Acknowledgements in RSTs are not trusted (update_ack_seq).
                let p = &mut self.sides[peer];
                let delta = ack.diff(p.ack);
                if !(ack.0 == 0 && delta > TOO_LARGE_SEQ_DELTA) && delta > 0 {
                    p.ack = ack;
                }
            }
        }

        self.update_last_seq(from_client, flags, one_past, seg.len);
        if flags.fin() {
            self.sides[me].fins = self.sides[me].fins.saturating_add(1);
        }
        self.update_state_machine(from_client, flags, seq, seg.len);
    }

    /// Zeek's `init_endpoint`: where the sender's sequence numbering starts.
    fn init_endpoint(&mut self, me: usize, flags: TcpFlags, first: SeqNumber, one_past: SeqNumber) {
        use EndpointState::*;
        let s = &mut self.sides[me];
        match s.state {
            Inactive => {
                if flags.syn() {
                    s.init_seqs(first, one_past);
                } else {
                    // A partial connection: number it as though a SYN came just before, but
                    // do not count the first segment as a retransmission.
                    s.init_seqs(first - 1, first);
                }
            }
            SynSent | SynAckSent => {
                if flags.syn() && first != s.start {
                    s.init_seqs(first, one_past);
                }
            }
            Established | Partial => {
                // A SYN inside the connection: guess it is the one that really opens it.
                if flags.syn() {
                    s.init_seqs(first, one_past);
                }
            }
            Reset => {
                // Numbers set by a RST (perhaps spoofed) give way to this side's SYN.
                if flags.syn() && s.prev_state == Inactive {
                    s.init_seqs(first, one_past);
                }
            }
            Closed => {}
        }
    }

    /// Zeek's `update_history`.
    fn update_history(&mut self, from_client: bool, flags: TcpFlags, rel_seq: i32, len: u32) {
        let me = usize::from(!from_client);
        let bits = u8::from(flags.syn()) + u8::from(flags.fin()) + u8::from(flags.rst());
        if bits > 1 {
            if flags.fin() && flags.rst() {
                self.check(from_client, hist::FIN_RST, b'i');
            } else {
                self.check(from_client, hist::MULTI_FLAG, b'q');
            }
        } else if bits == 1 {
            // Each letter once, unless a later SYN, FIN or RST sits at a new sequence number.
            if flags.syn() {
                let c = if flags.ack() { b'h' } else { b's' };
                if self.check(from_client, hist::SYN, c) && rel_seq != self.sides[me].hist_last_syn
                {
                    self.add(Self::letter_for(from_client, c));
                }
                self.sides[me].hist_last_syn = rel_seq;
            }
            if flags.fin() {
                // A FIN's sequence number is at the end of its data.
                let end = rel_seq.wrapping_add(len as i32);
                if self.check(from_client, hist::FIN, b'f') && end != self.sides[me].hist_last_fin {
                    self.add(Self::letter_for(from_client, b'f'));
                }
                self.sides[me].hist_last_fin = end;
            }
            if flags.rst() {
                if self.check(from_client, hist::RST, b'r')
                    && rel_seq != self.sides[me].hist_last_rst
                {
                    self.add(Self::letter_for(from_client, b'r'));
                }
                self.sides[me].hist_last_rst = rel_seq;
            }
        } else if len > 0 {
            self.check(from_client, hist::DATA, b'd');
        } else if flags.ack() {
            self.check(from_client, hist::ACK, b'a');
        }
    }

    /// Zeek's `update_last_seq`: moves the sender's highest sequence number; data that does
    /// not pass it is a retransmission.
    fn update_last_seq(
        &mut self,
        from_client: bool,
        flags: TcpFlags,
        one_past: SeqNumber,
        len: u32,
    ) {
        let s = &mut self.sides[usize::from(!from_client)];
        let delta = one_past.diff(s.last);
        let wild = !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta);
        if (flags.syn() || flags.rst()) && wild {
            // A SYN or RST far off the stream: not trusted.
        } else if flags.fin() && s.last == s.start + 1 {
            // Only the SYN seen before this FIN (perhaps a connection over 2 GB): take it.
            s.last = one_past;
        } else if s.state == EndpointState::Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            s.last = one_past;
        } else if len > 0 {
            self.repeat(from_client, Repeat::Retransmission);
        }
    }

    /// Zeek's `UpdateStateMachine`: the sender's endpoint state, and the peer's where the
    /// segment settles it. One arm per state the sender was in.
    fn update_state_machine(
        &mut self,
        from_client: bool,
        flags: TcpFlags,
        seq: SeqNumber,
        len: u32,
    ) {
        use EndpointState::*;
        let me = usize::from(!from_client);
        let (syn, ack, fin, rst) = (flags.syn(), flags.ack(), flags.fin(), flags.rst());
        let [a, b] = &mut self.sides;
        let (s, p) = if me == 0 { (a, b) } else { (b, a) };
        match s.state {
            // UpdateInactiveState: the side's first packet.
            Inactive => {
                if syn {
                    if from_client {
                        s.set_state(if ack { SynAckSent } else { SynSent });
                    } else {
                        // The responder's SYN-ACK (or SYN, in a simultaneous open) answers
                        // the originator's SYN: both sides are established.
                        if !ack && p.state == SynAckSent && seq == s.start {
                            // Zeek flips roles here (SYN/SYN-ACK reversal); roles are the
                            // flow table's, so only the states follow.
                            p.set_state(Established);
                        }
                        if p.state == SynSent {
                            p.set_state(Established);
                        }
                        s.set_state(Established);
                    }
                }
                if fin {
                    s.set_state(Closed);
                }
                if rst {
                    s.set_state(Reset);
                }
                if s.state == Inactive {
                    if !from_client && len == 0 && p.state == SynSent {
                        // An ACK of the SYN before the SYN-ACK: not yet a partial connection.
                    } else if ack && p.state == Established {
                        // The peer's SYN-ACK was seen, this side's SYN was not.
                        s.set_state(Established);
                    } else {
                        s.set_state(Partial);
                    }
                }
            }
            // UpdateSYN_SentState: only a FIN or RST moves a side that sent a SYN; the
            // peer's SYN-ACK establishes it.
            SynSent | SynAckSent => {
                if fin {
                    s.set_state(Closed);
                }
                if rst {
                    s.set_state(Reset);
                }
            }
            // UpdateEstablishedState.
            Established | Partial => {
                if syn && s.state == Partial && p.state == Inactive && !ack {
                    s.set_state(SynSent);
                }
                if fin && !rst {
                    s.set_state(Closed);
                    // The peer's FIN then RST was a normal close after all.
                    if p.state == Reset && p.prev_state == Closed {
                        p.set_state(Closed);
                    }
                }
                if rst {
                    s.set_state(Reset);
                }
            }
            // UpdateClosedState: a RST after our FIN counts unless the peer closed too.
            Closed => {
                if rst && p.state != Closed {
                    s.set_state(Reset);
                }
            }
            Reset => {}
        }
    }

    /// Zeek's conn_state for the endpoint pair.
    pub fn state(&self) -> &'static str {
        use EndpointState::*;
        let [o, r] = &self.sides;
        let (os, rs) = (o.state, r.state);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && o.size(r) == 0 && r.size(o) == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if self.rst_after_syn_only() {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive { "SH" } else { "S2" }
        } else if rs == Closed {
            if o_inactive { "SHR" } else { "S3" }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    /// Zeek's `/\^?S[^HAFGIQ]*R.*/` test on the history.
    fn rst_after_syn_only(&self) -> bool {
        let h = self.history.strip_prefix('^').unwrap_or(&self.history);
        let Some(rest) = h.strip_prefix('S') else {
            return false;
        };
        for c in rest.chars() {
            if c == 'R' {
                return true;
            }
            if "HAFGIQ".contains(c) {
                return false;
            }
        }
        false
    }

    pub fn history(&self) -> &str {
        &self.history
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timestamp;

    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    const R: u16 = TcpFlags::RST;
    const P: u16 = TcpFlags::PSH;

    /// Client ISN 100, server ISN 500.
    const C0: u32 = 100;
    const S0: u32 = 500;

    /// One step: from the client?, flags, seq, ack, payload length, window.
    type Step = (bool, u16, u32, u32, u32, u16);

    fn run(steps: &[Step]) -> ConnState {
        let mut c = ConnState::default();
        for &(from_client, flags, seq, ack, len, window) in steps {
            c.segment(
                from_client,
                &Segment {
                    frame: 0,
                    ts: Timestamp::default(),
                    seq,
                    ack,
                    flags: TcpFlags(flags),
                    window,
                    len,
                    window_scale: None,
                },
            );
        }
        c
    }

    /// SYN, SYN-ACK, ACK.
    fn handshake() -> Vec<Step> {
        vec![
            (true, S, C0, 0, 0, 1000),
            (false, S | A, S0, C0 + 1, 0, 1000),
            (true, A, C0 + 1, S0 + 1, 0, 1000),
        ]
    }

    fn with(mut steps: Vec<Step>, more: &[Step]) -> Vec<Step> {
        steps.extend_from_slice(more);
        steps
    }

    #[test]
    fn full_connection_with_fin_both_ways_is_sf() {
        let c = run(&with(
            handshake(),
            &[
                (true, P | A, C0 + 1, S0 + 1, 10, 1000),
                (false, P | A, S0 + 1, C0 + 11, 20, 1000),
                (true, F | A, C0 + 11, S0 + 21, 0, 1000),
                (false, F | A, S0 + 21, C0 + 12, 0, 1000),
                (true, A, C0 + 12, S0 + 22, 0, 1000),
            ],
        ));
        assert_eq!(c.history(), "ShADdFf");
        assert_eq!(c.state(), "SF");
    }

    #[test]
    fn unanswered_syn_is_s0() {
        let c = run(&[(true, S, C0, 0, 0, 1000), (true, S, C0, 0, 0, 1000)]);
        assert_eq!(c.history(), "S");
        assert_eq!(c.state(), "S0");
    }

    #[test]
    fn rst_answering_a_syn_is_rej() {
        let c = run(&[(true, S, C0, 0, 0, 1000), (false, R | A, 0, C0 + 1, 0, 0)]);
        assert_eq!(c.history(), "Sr");
        assert_eq!(c.state(), "REJ");
    }

    #[test]
    fn resets_both_ways_before_any_data_are_rej() {
        let c = run(&with(
            handshake(),
            &[(true, R, C0 + 1, 0, 0, 0), (false, R, S0 + 1, 0, 0, 0)],
        ));
        assert_eq!(c.state(), "REJ");
    }

    #[test]
    fn established_and_open_is_s1() {
        assert_eq!(run(&handshake()).state(), "S1");
    }

    #[test]
    fn syn_ack_establishes_both_sides_even_without_the_final_ack() {
        // Zeek: the responder's SYN-ACK moves both endpoints to ESTABLISHED.
        let c = run(&handshake()[..2]);
        assert_eq!(c.endpoint(true), EndpointState::Established);
        assert_eq!(c.state(), "S1");
    }

    #[test]
    fn simultaneous_open_establishes_both_sides() {
        let c = run(&[
            (true, S, C0, 0, 0, 1000),
            (false, S, S0, 0, 0, 1000),
            (true, S | A, C0, S0 + 1, 0, 1000),
            (false, S | A, S0, C0 + 1, 0, 1000),
            (true, A, C0 + 1, S0 + 1, 0, 1000),
            (false, A, S0 + 1, C0 + 1, 0, 1000),
        ]);
        // Each side's SYN-ACK repeats its SYN's sequence number, so it adds no letter.
        assert_eq!(c.history(), "SsAa");
        assert_eq!(c.state(), "S1");
    }

    #[test]
    fn client_reset_mid_stream_is_rsto_and_server_reset_is_rstr() {
        let base = with(handshake(), &[(true, P | A, C0 + 1, S0 + 1, 5, 1000)]);
        let c = run(&with(base.clone(), &[(true, R, C0 + 6, 0, 0, 0)]));
        assert_eq!((c.state(), c.history()), ("RSTO", "ShADR"));
        let c = run(&with(base, &[(false, R | A, S0 + 1, C0 + 6, 0, 0)]));
        assert_eq!((c.state(), c.history()), ("RSTR", "ShADr"));
    }

    #[test]
    fn syn_then_client_rst_is_rstos0() {
        let c = run(&[(true, S, C0, 0, 0, 1000), (true, R, C0 + 1, 0, 0, 0)]);
        assert_eq!((c.state(), c.history()), ("RSTOS0", "SR"));
    }

    #[test]
    fn syn_ack_then_rst_from_the_responder_alone_is_rstrh() {
        let c = run(&[
            (false, S | A, S0, C0 + 1, 0, 1000),
            (false, R, S0 + 1, 0, 0, 0),
        ]);
        assert_eq!((c.state(), c.history()), ("RSTRH", "hr"));
    }

    #[test]
    fn syn_then_fin_without_answer_is_sh() {
        let c = run(&[(true, S, C0, 0, 0, 1000), (true, F, C0 + 1, 0, 0, 1000)]);
        assert_eq!((c.state(), c.history()), ("SH", "SF"));
    }

    #[test]
    fn syn_ack_then_fin_from_the_responder_alone_is_shr() {
        let c = run(&[
            (false, S | A, S0, C0 + 1, 0, 1000),
            (false, F | A, S0 + 1, C0 + 1, 0, 1000),
        ]);
        assert_eq!((c.state(), c.history()), ("SHR", "hf"));
    }

    #[test]
    fn half_close_by_either_side_is_s2_or_s3() {
        let client_fin = run(&with(
            handshake(),
            &[(true, F | A, C0 + 1, S0 + 1, 0, 1000)],
        ));
        assert_eq!(client_fin.state(), "S2");
        let server_fin = run(&with(
            handshake(),
            &[(false, F | A, S0 + 1, C0 + 1, 0, 1000)],
        ));
        assert_eq!(server_fin.state(), "S3");
    }

    #[test]
    fn fin_then_rst_from_the_same_side_after_the_peers_fin_stays_sf() {
        let c = run(&with(
            handshake(),
            &[
                (true, F | A, C0 + 1, S0 + 1, 0, 1000),
                (false, F | A, S0 + 1, C0 + 2, 0, 1000),
                (true, R, C0 + 2, 0, 0, 0),
            ],
        ));
        // A side that already closed, facing a closed peer, stays closed on a RST.
        assert_eq!((c.state(), c.history()), ("SF", "ShAFfR"));
    }

    #[test]
    fn midstream_traffic_is_oth() {
        let c = run(&[
            (true, P | A, 7000, 9000, 10, 1000),
            (false, A, 9000, 7010, 0, 1000),
        ]);
        assert_eq!(c.history(), "Da");
        assert_eq!(c.state(), "OTH");
    }

    #[test]
    fn syn_with_fin_is_q_and_fin_with_rst_is_i() {
        let c = run(&[
            (true, S | F, C0, 0, 0, 1000),
            (false, F | R | A, S0, C0 + 2, 0, 0),
        ]);
        assert_eq!(c.history(), "Qi");
    }

    #[test]
    fn data_not_beyond_the_highest_sequence_sent_is_a_retransmission() {
        // Zeek counts any data that does not extend the stream, hole fillers included.
        let c = run(&with(
            handshake(),
            &[
                (true, A, C0 + 1, S0 + 1, 100, 1000),
                (true, A, C0 + 201, S0 + 1, 100, 1000),
                (true, A, C0 + 101, S0 + 1, 100, 1000),
            ],
        ));
        assert_eq!(c.history(), "ShADT");
        // An empty segment (a keep-alive) is no retransmission.
        let c = run(&with(handshake(), &[(true, A, C0, S0 + 1, 0, 1000)]));
        assert_eq!(c.history(), "ShA");
    }

    #[test]
    fn retransmission_letters_repeat_logarithmically() {
        let mut steps = with(handshake(), &[(false, A, S0 + 1, C0 + 1, 100, 1000)]);
        for _ in 0..100 {
            steps.push((false, A, S0 + 1, C0 + 1, 100, 1000));
        }
        assert_eq!(run(&steps).history(), "ShAdttt");
    }

    #[test]
    fn zero_windows_are_w_except_with_a_rst_or_after_the_peers_fin() {
        let mut steps = handshake();
        for _ in 0..10 {
            steps.push((true, A, C0 + 1, S0 + 1, 0, 0));
        }
        assert_eq!(run(&steps).history(), "ShAWW");
        let c = run(&with(handshake(), &[(false, R, S0 + 1, 0, 0, 0)]));
        assert_eq!(c.history(), "ShAr");
        let c = run(&with(
            handshake(),
            &[
                (false, F | A, S0 + 1, C0 + 1, 0, 1000),
                (true, A, C0 + 1, S0 + 2, 0, 0),
            ],
        ));
        assert_eq!(c.history(), "ShAf");
    }

    #[test]
    fn gaps_are_g_only_while_both_sides_are_established_or_closing() {
        let mut c = run(&handshake());
        c.gap(true);
        c.gap(false);
        assert_eq!(c.history(), "ShAGg");
        let mut partial = run(&[(true, P | A, 7000, 9000, 10, 1000)]);
        partial.gap(true);
        assert_eq!(partial.history(), "D");
    }

    #[test]
    fn a_second_rst_at_a_new_sequence_number_repeats_the_letter() {
        let c = run(&with(
            handshake(),
            &[
                (true, R, C0 + 1, 0, 0, 0),
                (true, R, C0 + 1, 0, 0, 0),
                (true, R, C0 + 50, 0, 0, 0),
            ],
        ));
        assert_eq!(c.history(), "ShARR");
    }

    #[test]
    fn a_retransmitted_fin_adds_no_letter() {
        let c = run(&with(
            handshake(),
            &[
                (true, F | A, C0 + 1, S0 + 1, 0, 1000),
                (true, F | A, C0 + 1, S0 + 1, 0, 1000),
            ],
        ));
        assert_eq!(c.history(), "ShAF");
    }

    #[test]
    fn history_stays_bounded_whatever_arrives() {
        let mut steps = handshake();
        for i in 0..10_000u32 {
            steps.push((i % 2 == 0, R, i.wrapping_mul(7919), 0, 0, 0));
        }
        assert!(run(&steps).history().len() <= MAX_HISTORY);
    }
}
