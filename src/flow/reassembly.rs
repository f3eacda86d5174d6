//! Receiver-style stream reassembly for one direction of a TCP flow.
//!
//! Bytes are delivered once, in order, whatever order segments arrive in. Segments beyond a hole
//! wait until the hole fills. Overlapping data is resolved as most receivers and Zeek do: the
//! first copy of a delivered byte wins. A hole is given up on, and reported as
//! a gap of so many bytes, when the peer acknowledges past it (the data existed but was never
//! captured), when the snapshot length cut the segment, or when the stream ends. Like Linux's
//! receive path, a segment arriving in order is taken whole and supersedes buffered bytes it
//! overlaps, while between two out-of-order copies the first one buffered wins. Memory is
//! bounded: buffered segments are charged their bytes plus a fixed overhead each, a direction
//! that would pass its cap is abandoned, and the caller counts it; the process never grows
//! without bound. Buffered segments sit in an ordered map by stream offset, so a burst of many
//! small out-of-order segments costs O(log n) each, not a scan of the buffer.

use std::collections::BTreeMap;

use super::seq::SeqNumber;

/// What one buffered segment costs beyond its bytes (map node and allocation), counted
/// against the caps so that a flood of tiny out-of-order segments is bounded too.
pub const SEGMENT_OVERHEAD: usize = 64;

/// What reassembly hands to the consumer.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Contiguous stream bytes, next in order.
    Data(&'a [u8]),
    /// This many stream bytes were never captured.
    Gap(u32),
}

/// Why a direction stopped reassembling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Out-of-order data exceeded the per-direction cap.
    DirectionCap,
    /// The engine's global reassembly budget ran out.
    GlobalCap,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of the next byte to deliver; unknown until the first SYN or data.
    next: Option<SeqNumber>,
    /// Stream offset of `next`: bytes delivered plus bytes skipped as gaps. Buffered segments
    /// are keyed by stream offset, which, unlike sequence numbers, never wraps.
    next_off: u64,
    /// Segments waiting beyond a hole, by stream offset; they never overlap each other.
    pending: BTreeMap<u64, Vec<u8>>,
    /// Memory the pending segments hold: their bytes plus `SEGMENT_OVERHEAD` each.
    buffered: usize,
    pub delivered: u64,
    pub gap_bytes: u64,
    pub abandoned: Option<Abandoned>,
}

impl Stream {
    /// Memory held by segments buffered out of order, overhead included.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Segments buffered out of order.
    pub fn pending_segments(&self) -> usize {
        self.pending.len()
    }

    /// A SYN fixes the stream's start: data begins one past the ISN.
    pub fn syn(&mut self, isn: u32) {
        if self.next.is_none() {
            self.next = Some(SeqNumber(isn) + 1);
        }
    }

    /// Stops reassembly of this direction, releasing its buffers.
    pub fn abandon(&mut self, why: Abandoned) {
        self.abandoned.get_or_insert(why);
        self.pending = BTreeMap::new();
        self.buffered = 0;
    }

    /// Takes a segment: `payload` holds the captured bytes, `len` the segment's length on the
    /// wire (larger when the snapshot length cut it). Returns the change in buffered memory.
    /// `max_buffer` caps this direction's out-of-order buffer.
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        len: u32,
        max_buffer: usize,
        out: &mut impl FnMut(Chunk<'_>),
    ) -> isize {
        if self.abandoned.is_some() || len == 0 {
            return 0;
        }
        let before = self.buffered as isize;
        let seq = SeqNumber(seq);
        let next = *self.next.get_or_insert(seq);
        let captured = payload.len().min(len as usize);
        let end = seq + len;
        if end <= next {
            return 0; // entirely old: a retransmission of delivered bytes
        }
        // Trim what was already delivered.
        let skip = next.bytes_since(seq) as usize;
        let (seq, payload) = if skip > 0 {
            (
                next,
                payload
                    .get(skip.min(captured)..captured)
                    .unwrap_or_default(),
            )
        } else {
            (seq, payload.get(..captured).unwrap_or_default())
        };
        let uncaptured = end.bytes_since(seq + payload.len() as u32);

        if seq == next {
            out(Chunk::Data(payload));
            self.delivered += payload.len() as u64;
            let mut at = seq + payload.len() as u32;
            if uncaptured > 0 {
                out(Chunk::Gap(uncaptured));
                self.gap_bytes += u64::from(uncaptured);
                at = end;
            }
            self.advance(at);
            self.drain(out);
        } else {
            // Beyond a hole: keep the captured part, first copy winning. A cut tail stays a
            // hole, reported once an ACK passes it or the stream ends.
            let off = self.next_off + u64::from(seq.bytes_since(next));
            if !self.insert(off, payload, max_buffer) {
                self.abandon(Abandoned::DirectionCap);
                return -before;
            }
        }
        self.buffered as isize - before
    }

    /// Moves `next` forward to `to`, keeping the stream offset in step.
    fn advance(&mut self, to: SeqNumber) {
        if let Some(next) = self.next {
            self.next_off += u64::from(to.bytes_since(next));
            self.next = Some(to);
        }
    }

    /// The sequence number of stream offset `off` (at or after `next_off`).
    fn seq_at(&self, off: u64) -> Option<SeqNumber> {
        let next = self.next?;
        Some(next + off.saturating_sub(self.next_off) as u32)
    }

    /// Buffers `data` at stream offset `off`, keeping bytes already buffered (first copy
    /// wins). Returns false, buffering nothing, when that would pass `max_buffer`.
    fn insert(&mut self, off: u64, data: &[u8], max_buffer: usize) -> bool {
        let end = off + data.len() as u64;
        // The parts of [off, end) no buffered segment covers. Only the segment starting
        // before `off` and those starting inside the range can overlap it.
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut at = off;
        if let Some((&k, v)) = self.pending.range(..off).next_back() {
            at = at.max(k + v.len() as u64);
        }
        for (&k, v) in self.pending.range(off..end) {
            if k > at {
                pieces.push((at, k));
            }
            at = at.max(k + v.len() as u64);
        }
        if at < end {
            pieces.push((at, end));
        }
        let cost: usize = pieces
            .iter()
            .map(|(a, b)| (b - a) as usize + SEGMENT_OVERHEAD)
            .sum();
        if self.buffered + cost > max_buffer {
            return false;
        }
        for (a, b) in pieces {
            let slice = &data[(a - off) as usize..(b - off) as usize];
            self.pending.insert(a, slice.to_vec());
        }
        self.buffered += cost;
        true
    }

    /// Delivers buffered segments that are now contiguous.
    fn drain(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.next_off {
                break;
            }
            let (off, data) = entry.remove_entry();
            self.buffered -= data.len() + SEGMENT_OVERHEAD;
            let skip = (self.next_off - off) as usize;
            if let Some(fresh) = data.get(skip..).filter(|f| !f.is_empty()) {
                out(Chunk::Data(fresh));
                self.delivered += fresh.len() as u64;
                if let Some(next) = self.next {
                    self.advance(next + fresh.len() as u32);
                }
            }
        }
    }

    /// The peer acknowledged up to `ack`: bytes before it that never arrived are a gap.
    pub fn acked(&mut self, ack: u32, out: &mut impl FnMut(Chunk<'_>)) -> isize {
        let Some(next) = self.next else { return 0 };
        let ack = SeqNumber(ack);
        if self.abandoned.is_some() || ack <= next || self.pending.is_empty() {
            // Without buffered data beyond, an ACK past `next` may just be data we will
            // still see (captures can order an ACK before the data it covers).
            return 0;
        }
        let before = self.buffered as isize;
        let first = self.pending.keys().next().and_then(|&off| self.seq_at(off));
        let upto = first.filter(|s| *s < ack).unwrap_or(ack);
        self.skip_to(upto, out);
        self.buffered as isize - before
    }

    /// The stream ended: everything buffered is delivered, holes reported as gaps.
    pub fn finish(&mut self, out: &mut impl FnMut(Chunk<'_>)) -> isize {
        let before = self.buffered as isize;
        while let Some(&off) = self.pending.keys().next() {
            match self.seq_at(off) {
                Some(seq) => self.skip_to(seq, out),
                None => break,
            }
        }
        self.buffered as isize - before
    }

    fn skip_to(&mut self, to: SeqNumber, out: &mut impl FnMut(Chunk<'_>)) {
        let Some(next) = self.next else { return };
        let gap = to.bytes_since(next);
        if gap > 0 {
            out(Chunk::Gap(gap));
            self.gap_bytes += u64::from(gap);
            self.advance(to);
        }
        self.drain(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(s: &mut Stream, segs: &[(u32, &[u8])]) -> (Vec<u8>, u32) {
        let mut data = Vec::new();
        let mut gaps = 0;
        for (seq, d) in segs {
            s.segment(*seq, d, d.len() as u32, 1 << 20, &mut |c| match c {
                Chunk::Data(b) => data.extend_from_slice(b),
                Chunk::Gap(n) => gaps += n,
            });
        }
        (data, gaps)
    }

    #[test]
    fn in_order_segments_pass_straight_through() {
        let mut s = Stream::default();
        s.syn(99);
        let (d, g) = collect(&mut s, &[(100, b"hello "), (106, b"world")]);
        assert_eq!(d, b"hello world");
        assert_eq!(g, 0);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn a_hole_holds_later_data_until_filled() {
        let mut s = Stream::default();
        s.syn(99);
        let (d, _) = collect(&mut s, &[(100, b"ab"), (104, b"ef")]);
        assert_eq!(d, b"ab");
        assert_eq!(s.buffered(), 2 + SEGMENT_OVERHEAD);
        let (d, _) = collect(&mut s, &[(102, b"cd")]);
        assert_eq!(d, b"cdef");
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn first_copy_of_overlapping_bytes_wins() {
        let mut s = Stream::default();
        s.syn(99);
        // Delivered bytes are never replaced: only the new tail of a retransmission counts.
        let (d, _) = collect(&mut s, &[(100, b"abc"), (101, b"XYZW")]);
        assert_eq!(d, b"abcZW");
        // Between two out-of-order copies, the one buffered first wins.
        let mut s = Stream::default();
        s.syn(99);
        let (d, _) = collect(
            &mut s,
            &[(100, b"ab"), (104, b"ef"), (103, b"XYZ"), (102, b"c")],
        );
        assert_eq!(d, b"abcXef".as_slice());
        // An in-order segment is taken whole, as Linux takes it, over buffered data.
        let mut s = Stream::default();
        s.syn(99);
        let (d, _) = collect(&mut s, &[(100, b"ab"), (104, b"ef"), (102, b"cdXYg")]);
        assert_eq!(d, b"abcdXYg");
    }

    #[test]
    fn an_ack_past_a_hole_reports_the_gap_and_moves_on() {
        let mut s = Stream::default();
        s.syn(99);
        collect(&mut s, &[(100, b"ab"), (110, b"kl")]);
        let mut seen = Vec::new();
        s.acked(112, &mut |c| seen.push(format!("{c:?}")));
        assert_eq!(seen, ["Gap(8)", "Data([107, 108])"]);
        assert_eq!(s.gap_bytes, 8);
    }

    #[test]
    fn snaplen_cut_segments_report_their_missing_tail() {
        let mut s = Stream::default();
        s.syn(0);
        let mut seen = Vec::new();
        s.segment(1, b"abc", 10, 1 << 20, &mut |c| seen.push(format!("{c:?}")));
        assert_eq!(seen, ["Data([97, 98, 99])", "Gap(7)"]);
        s.segment(11, b"z", 1, 1 << 20, &mut |c| seen.push(format!("{c:?}")));
        assert_eq!(seen.last().unwrap(), "Data([122])");
    }

    #[test]
    fn exceeding_the_cap_abandons_the_direction() {
        let mut s = Stream::default();
        s.syn(0);
        let big = vec![0u8; 100];
        s.segment(1000, &big, 100, 200, &mut |_| {});
        assert_eq!(s.abandoned, None, "one segment fits");
        s.segment(2000, &big, 100, 200, &mut |_| {});
        assert_eq!(s.abandoned, Some(Abandoned::DirectionCap));
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn delivery_works_across_the_sequence_wrap() {
        let mut s = Stream::default();
        s.syn(u32::MAX - 2);
        let (d, _) = collect(
            &mut s,
            &[(2, b"cd"), (u32::MAX - 1, b"ab"), (u32::MAX, b"")],
        );
        assert_eq!(d, b"ab");
        let (d, _) = collect(&mut s, &[(0, b"xy")]);
        assert_eq!(d, b"xycd");
    }

    proptest! {
        /// Any order and duplication of segments reassembles the original stream.
        #[test]
        fn any_permutation_or_duplication_reassembles_the_stream(
            data in prop::collection::vec(any::<u8>(), 1..400),
            cuts in prop::collection::vec(1usize..60, 1..20),
            order in prop::collection::vec(any::<u16>(), 0..40),
            isn in any::<u32>(),
        ) {
            let mut segs: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut at = 0usize;
            for c in cuts.iter().cycle() {
                if at >= data.len() { break; }
                let end = (at + c).min(data.len());
                segs.push((isn.wrapping_add(1).wrapping_add(at as u32), data[at..end].to_vec()));
                at = end;
            }
            let mut sent: Vec<(u32, Vec<u8>)> = segs.clone();
            for (i, o) in order.iter().enumerate() {
                let a = *o as usize % sent.len();
                if i % 3 == 0 { let dup = sent[a].clone(); sent.push(dup); }
                let b = (i * 7 + 3) % sent.len();
                sent.swap(a, b);
            }
            let mut s = Stream::default();
            s.syn(isn);
            let mut out = Vec::new();
            let mut gaps = 0;
            for (seq, d) in &sent {
                s.segment(*seq, d, d.len() as u32, 1 << 20, &mut |c| match c {
                    Chunk::Data(b) => out.extend_from_slice(b),
                    Chunk::Gap(n) => gaps += n,
                });
            }
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(out, data);
            prop_assert_eq!(s.buffered(), 0);
        }

        /// Overlapping retransmissions of any extent, in any order, still give the stream.
        #[test]
        fn overlapping_segments_in_any_order_reassemble_the_stream(
            data in prop::collection::vec(any::<u8>(), 1..300),
            extra in prop::collection::vec((0usize..300, 1usize..80), 0..30),
            cut in 1usize..50,
            keys in prop::collection::vec(any::<u32>(), 0..60),
            isn in any::<u32>(),
        ) {
            let n = data.len();
            // Segments that cover the stream, plus overlapping copies of arbitrary extent.
            let mut segs: Vec<(usize, usize)> =
                (0..n).step_by(cut).map(|a| (a, (a + cut).min(n))).collect();
            segs.extend(extra.iter().map(|&(a, l)| (a % n, (a % n + l).min(n))));
            // A random order: sort by keys drawn for each segment.
            let mut order: Vec<(u32, (usize, usize))> = segs
                .iter()
                .enumerate()
                .map(|(i, s)| (keys.get(i).copied().unwrap_or(i as u32), *s))
                .collect();
            order.sort_by_key(|(k, _)| *k);
            let mut s = Stream::default();
            s.syn(isn);
            let mut out = Vec::new();
            let mut gaps = 0u32;
            for (_, (a, b)) in order {
                let seq = isn.wrapping_add(1).wrapping_add(a as u32);
                s.segment(seq, &data[a..b], (b - a) as u32, 1 << 20, &mut |c| match c {
                    Chunk::Data(d) => out.extend_from_slice(d),
                    Chunk::Gap(g) => gaps += g,
                });
            }
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(out, data);
            prop_assert_eq!(s.buffered(), 0);
            prop_assert_eq!(s.pending_segments(), 0);
        }

        /// Whatever arrives, buffered memory (bytes and per-segment overhead) stays under
        /// the cap, and the stream either keeps within it or is abandoned.
        #[test]
        fn buffered_memory_never_exceeds_the_cap(
            segs in prop::collection::vec((any::<u16>(), 0usize..40), 1..200),
            cap in 0usize..4000,
        ) {
            let mut s = Stream::default();
            s.syn(0);
            let payload = [7u8; 40];
            for (at, len) in segs {
                // Offsets from 2 upwards: the first byte never arrives, so all is buffered.
                let seq = 2 + u32::from(at);
                s.segment(seq, &payload[..len], len as u32, cap, &mut |_| {});
                prop_assert!(s.buffered() <= cap);
                // Each buffered segment costs the cap at least what its bookkeeping takes in
                // memory (a map node and an allocation are well over 32 bytes).
                prop_assert!(s.pending_segments() * 32 <= cap);
            }
        }
    }
}
