//! Wireshark 4.0's TCP desegmentation for one direction of a flow: `desegment_tcp()` in
//! epan/dissectors/packet-tcp.c, first pass, with its default preferences (desegmentation on,
//! out-of-order reassembly off, no subdissector for retransmitted or out-of-order segments).
//!
//! An application dissector (TLS) is handed each segment's payload. When it stops part way and
//! asks for more (`Need`), a multi-segment PDU ("msp") is opened from that point; later segments
//! inside the msp are collected, and the one that completes it hands the whole PDU back to the
//! dissector. This decides in which frame each record is reported and what the Info column of
//! the other frames says (`[TCP segment of a reassembled PDU]`, with or without the TCP line),
//! so capd's frames read as Wireshark's do. It is deliberately not a receiver's reassembly:
//! retransmissions are never re-dissected, and a segment after a hole is dissected where it
//! is, as Wireshark does; `reassembly.rs` is the receiver's view.
//!
//! Memory: an msp holds one PDU (Wireshark refuses PDUs over 1 MiB; capd also caps growth),
//! and only the most recent msps are remembered, enough to recognise retransmissions of them.

use std::collections::VecDeque;

/// What a dissector asks of TCP when its PDU is cut at the end of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `DESEGMENT_ONE_MORE_SEGMENT`: reassemble with the whole next segment.
    OneMoreSegment,
    /// This many more bytes complete the PDU.
    Bytes(u32),
}

/// How a dissector call ended (`dissect_ssl`'s return and `desegment_offset`/`len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The data is not the dissector's (it returned 0 and touched no column).
    NotOurs,
    /// Everything was consumed.
    Done,
    /// PDUs up to `offset` were dissected; the rest needs more data.
    Desegment { offset: usize, need: Need },
}

/// The application dissector TCP hands data to.
pub trait Dissector {
    /// Dissects `data`, which starts at a PDU boundary. `can_desegment` is false when the
    /// frame was not captured whole: the dissector then takes what it can and stops.
    fn dissect(&mut self, data: &[u8], can_desegment: bool) -> Outcome;
}

/// One segment, as desegmentation sees it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub frame: u64,
    /// Relative sequence number of the first payload byte.
    pub seq: u32,
    /// Payload bytes captured (all of them when `whole`).
    pub payload: &'a [u8],
    /// Payload length on the wire.
    pub len: u32,
    /// The frame was captured whole (Wireshark's `can_desegment`).
    pub whole: bool,
    /// TCP analysis flags of this segment, as Wireshark keeps them: `retransmission` is the
    /// plain flag, not set for fast or spurious retransmissions (TCP_A_RETRANSMISSION).
    pub retransmission: bool,
    pub spurious: bool,
    pub out_of_order: bool,
    pub keep_alive: bool,
}

/// What desegmentation did to a frame's columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// The dissector ran and cleared the Info column after the TCP fence.
    pub cleared_info: bool,
    /// `[TCP segment of a reassembled PDU]` was appended.
    pub segment_of_pdu: bool,
    /// The Protocol column was set back to `TCP`.
    pub protocol_tcp: bool,
    /// Reassembly failed on this frame (`[Reassembly error, protocol TCP: ...]`).
    pub reassembly_error: Option<&'static str>,
    /// A PDU completed here from conflicting segments: Info becomes `[Illegal Segments]`.
    pub illegal_segments: bool,
}

/// Wireshark refuses to reassemble PDUs longer than this (`(nxtseq - deseg_seq) <= 1024*1024`).
const MAX_MSP_START: u32 = 1024 * 1024;
/// A PDU whose buffer would grow past this is given up (no TLS record is this large).
const MAX_MSP_BYTES: usize = 256 * 1024;
/// Multi-segment PDUs remembered per direction.
const MAX_MSPS: usize = 16;

fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

/// Why a fragment could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddError {
    /// Wireshark's reassembly refused it (the message it shows).
    Reassembly(&'static str),
    /// capd's bound on a PDU's size.
    TooBig,
}

/// `struct tcp_multisegment_pdu` with its reassembly (`fragment_head`).
#[derive(Debug)]
struct Msp {
    seq: u32,
    nxtpdu: u32,
    first_frame: u64,
    last_frame: u64,
    /// `MSP_FLAGS_REASSEMBLE_ENTIRE_SEGMENT`.
    entire_segment: bool,
    /// PDU bytes from `seq`.
    buf: Vec<u8>,
    /// Covered byte ranges of `buf`, sorted and merged.
    have: Vec<(u32, u32)>,
    /// Total length, once a last fragment said where the PDU ends.
    datalen: Option<u32>,
    /// Frame the reassembly completed in.
    reassembled_in: Option<u64>,
    /// `FD_PARTIAL_REASSEMBLY`: completed, but the dissector wants more.
    partial: bool,
    /// Overlapping copies disagreed, or two tails gave different lengths: Wireshark shows
    /// the reassembled PDU as `[Illegal Segments]`.
    conflict: bool,
}

impl Msp {
    fn new(seq: u32, nxtpdu: u32, frame: u64) -> Msp {
        Msp {
            seq,
            nxtpdu,
            first_frame: frame,
            last_frame: frame,
            entire_segment: false,
            buf: Vec::new(),
            have: Vec::new(),
            datalen: None,
            reassembled_in: None,
            partial: false,
            conflict: false,
        }
    }

    /// `fragment_add`: returns whether this fragment completed the PDU in this frame.
    fn add(&mut self, offset: u32, data: &[u8], more: bool, frame: u64) -> Result<bool, AddError> {
        if self.reassembled_in.is_some() {
            // fragment_add_work on a finished reassembly: only one the dissector asked to
            // continue (partial) takes data reaching its end; anything else is an error
            // that ends the frame's TCP dissection.
            let datalen = self.datalen.unwrap_or(0);
            let end = offset as usize + data.len();
            if self.partial && end >= datalen as usize {
                self.reassembled_in = None;
                self.partial = false;
                self.datalen = None;
            } else if !self.partial && offset >= datalen {
                return Err(AddError::Reassembly("New fragment past old data limits"));
            } else {
                return Err(AddError::Reassembly(
                    "New fragment overlaps old data (retransmission?)",
                ));
            }
        }
        let end = offset as usize + data.len();
        if end > MAX_MSP_BYTES {
            return Err(AddError::TooBig);
        }
        let at_end = self
            .have
            .last()
            .is_none_or(|&(_, e)| e as usize <= offset as usize)
            && self.buf.len() == offset as usize;
        if at_end {
            // The common case, data in order: append it; nothing held to compare with.
            if self.buf.capacity() < end {
                // The PDU's length is known (`nxtpdu`): room for all of it at once, unless the
                // claim is out of proportion to the data come so far. A PDU rarely starts with
                // a whole segment (a TLS record begins where the last one ended), so a first
                // small piece allows little, and the next one, most often, all of it: two
                // allocations, not one per doubling, each copying what came before.
                let expected = self.nxtpdu.wrapping_sub(self.seq) as usize;
                let plausible = end.saturating_mul(12).min(MAX_MSP_BYTES);
                let want = expected.min(plausible).max(end);
                self.buf.reserve(want - self.buf.len());
            }
            self.buf.extend_from_slice(data);
            self.cover(offset, end as u32);
        } else {
            if self.buf.len() < end {
                self.buf.resize(end, 0);
            }
            // Bytes already held keep their first copy (Wireshark's defragmentation only adds
            // new bytes); a copy that differs marks the reassembly as conflicting.
            let mut at = offset as usize;
            for i in 0..self.have.len() {
                let (s, e) = (self.have[i].0 as usize, self.have[i].1 as usize);
                if e <= at || s >= end {
                    continue;
                }
                if s > at {
                    self.buf[at..s]
                        .copy_from_slice(&data[at - offset as usize..s - offset as usize]);
                }
                let (os, oe) = (s.max(at), e.min(end));
                if self.buf[os..oe] != data[os - offset as usize..oe - offset as usize] {
                    self.conflict = true;
                }
                at = oe;
            }
            if at < end {
                self.buf[at..end].copy_from_slice(&data[at - offset as usize..]);
            }
            self.cover(offset, end as u32);
        }
        if !more {
            match self.datalen {
                // A second tail giving another length: FD_MULTIPLETAILS.
                Some(d) if d != end as u32 => self.conflict = true,
                Some(_) => {}
                None => self.datalen = Some(end as u32),
            }
        }
        let Some(total) = self.datalen else {
            return Ok(false);
        };
        let complete = self
            .have
            .first()
            .is_some_and(|&(s, e)| s == 0 && e >= total);
        if complete {
            if self.buf.len() > total as usize {
                // Data past the end the last fragment gave: FD_TOOLONGFRAGMENT.
                self.conflict = true;
                self.buf.truncate(total as usize);
            }
            self.reassembled_in = Some(frame);
            self.partial = false;
        }
        Ok(complete)
    }

    fn cover(&mut self, s: u32, e: u32) {
        if s >= e {
            return;
        }
        // In order: the new range starts where the last one ends (or after it).
        if let Some(last) = self.have.last_mut()
            && s >= last.0
        {
            if s <= last.1 {
                last.1 = last.1.max(e);
            } else {
                self.have.push((s, e));
            }
            return;
        }
        self.have.push((s, e));
        self.have.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.have.len());
        for &(a, b) in &self.have {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.have = merged;
    }
}

/// Desegmentation state for one direction.
#[derive(Debug, Default)]
pub struct Desegmenter {
    /// Recent multi-segment PDUs, oldest first.
    msps: VecDeque<Msp>,
    /// PDUs given up for exceeding the size bound.
    pub abandoned: u64,
}

impl Desegmenter {
    /// Bytes held in PDU buffers.
    pub fn buffered(&self) -> usize {
        self.msps.iter().map(|m| m.buf.capacity()).sum()
    }

    /// `wmem_tree_lookup32`: the msp stored under exactly `seq`.
    fn find_exact(&self, seq: u32) -> Option<usize> {
        self.msps.iter().rposition(|m| m.seq == seq)
    }

    /// `wmem_tree_lookup32_le`: the msp with the largest key not above `key` (raw order).
    fn find_le(&self, key: u32) -> Option<usize> {
        self.msps
            .iter()
            .enumerate()
            .filter(|(_, m)| m.seq <= key)
            .max_by_key(|(_, m)| m.seq)
            .map(|(i, _)| i)
    }

    /// `pdu_store_sequencenumber_of_next_pdu`: a later msp at the same key replaces it.
    fn store(&mut self, msp: Msp) -> usize {
        if let Some(i) = self.find_exact(msp.seq) {
            self.msps.remove(i);
        }
        if self.msps.len() == MAX_MSPS {
            self.msps.pop_front();
        }
        self.msps.push_back(msp);
        self.msps.len() - 1
    }

    /// Runs one segment through desegmentation and the dissector.
    pub fn segment(&mut self, seg: &Segment<'_>, d: &mut impl Dissector) -> Report {
        let mut report = Report::default();
        if seg.len == 0 || seg.payload.is_empty() {
            return report;
        }
        // decode_tcp_ports(): keep-alive data goes to the data dissector, and with
        // "no subdissector on error" retransmitted and out-of-order data to none at all.
        let skip_payload = seg.keep_alive || seg.retransmission || seg.out_of_order;
        if !seg.whole {
            // dissect_tcp_payload() without can_desegment: the dissector gets the segment.
            if !skip_payload && d.dissect(seg.payload, false) != Outcome::NotOurs {
                report.cleared_info = true;
            }
            return report;
        }
        let payload = seg.payload;
        let nxtseq = seg.seq.wrapping_add(seg.len);
        let mut offset = 0usize;
        let mut seq = seg.seq;
        let mut first_pdu = true;
        let mut protocol_writable = true;
        loop {
            let mut called = false;
            let mut must_desegment: Option<(usize, Need)> = None;
            let mut desegment: Option<(usize, Need)> = None;
            let mut another = 0u32;

            // A known msp starting exactly here: a retransmission of its first segment.
            let exact = self.find_exact(seq);
            if let Some(i) = exact {
                let m = &self.msps[i];
                if le(nxtseq, m.nxtpdu) && m.last_frame != seg.frame {
                    if m.first_frame == seg.frame && first_pdu {
                        report.segment_of_pdu = true;
                    }
                    return report;
                }
            }
            if seg.spurious || seg.retransmission {
                return report;
            }
            // The msp found by the exact lookup stays the candidate even when the segment
            // runs past it; only without one is the nearest earlier msp looked up.
            let found = exact
                .or_else(|| self.find_le(seq.wrapping_sub(1)))
                .filter(|&i| le(self.msps[i].seq, seq) && lt(seq, self.msps[i].nxtpdu));
            if let Some(i) = found {
                let m = &mut self.msps[i];
                m.last_frame = seg.frame;
                let remaining = (payload.len() - offset) as u32;
                let len = if m.entire_segment {
                    remaining
                } else {
                    nxtseq
                        .wrapping_sub(seq)
                        .min(m.nxtpdu.wrapping_sub(seq))
                        .min(remaining)
                };
                let more = lt(nxtseq, m.nxtpdu);
                let frag = &payload[offset..offset + len as usize];
                let completed = match m.add(seq.wrapping_sub(m.seq), frag, more, seg.frame) {
                    Ok(c) => c,
                    Err(AddError::Reassembly(msg)) => {
                        report.reassembly_error = Some(msg);
                        return report;
                    }
                    Err(AddError::TooBig) => {
                        self.msps.remove(i);
                        self.abandoned += 1;
                        return report;
                    }
                };
                if m.entire_segment {
                    m.entire_segment = false;
                    if lt(m.nxtpdu, nxtseq) {
                        m.nxtpdu = nxtseq;
                    }
                }
                if m.nxtpdu < nxtseq && m.nxtpdu >= seq && len > 0 {
                    another = m.nxtpdu.wrapping_sub(seq);
                }
                if completed {
                    let out = if skip_payload {
                        Outcome::Done
                    } else {
                        d.dissect(&m.buf, true)
                    };
                    called = true;
                    if out != Outcome::NotOurs && !skip_payload {
                        report.cleared_info = true;
                    }
                    // print_tcp_fragment_tree runs unless the dissector used none of the
                    // PDU, and shows a conflicting reassembly as `[Illegal Segments]`.
                    let shown = !matches!(out, Outcome::Desegment { offset: 0, .. });
                    if shown && m.conflict {
                        report.illegal_segments = true;
                    }
                    if let Outcome::Desegment { offset: doff, need } = out {
                        desegment = Some((doff, need));
                        let i = if doff == 0 || le(m.seq.wrapping_add(doff as u32), seq) {
                            m.partial = true;
                            i
                        } else {
                            self.split(i, doff, seg.frame)
                        };
                        let m = &mut self.msps[i];
                        match need {
                            Need::OneMoreSegment => {
                                let end = seq.wrapping_add(remaining);
                                m.nxtpdu = (if lt(m.nxtpdu, end) { end } else { m.nxtpdu })
                                    .wrapping_add(1);
                                m.entire_segment = true;
                            }
                            Need::Bytes(n) => {
                                let end = seq.wrapping_add(len);
                                if le(m.nxtpdu, end) {
                                    m.nxtpdu = end.wrapping_add(n);
                                } else {
                                    m.nxtpdu = m.nxtpdu.wrapping_add(n);
                                }
                            }
                        }
                        offset += len as usize;
                        seq = seq.wrapping_add(len);
                        if offset < payload.len() {
                            continue;
                        }
                        another = 0;
                    }
                }
            } else {
                let out = if skip_payload {
                    Outcome::Done
                } else {
                    d.dissect(&payload[offset..], true)
                };
                called = true;
                if out != Outcome::NotOurs && !skip_payload {
                    report.cleared_info = true;
                }
                if let Outcome::Desegment { offset: doff, need } = out {
                    desegment = Some((doff, need));
                    must_desegment = Some((offset + doff, need));
                }
            }

            if let Some((deseg_offset, need)) = must_desegment {
                let deseg_seq = seq.wrapping_add((deseg_offset - offset) as u32);
                if nxtseq.wrapping_sub(deseg_seq) <= MAX_MSP_START {
                    let mut m = match need {
                        Need::OneMoreSegment => {
                            let mut m = Msp::new(deseg_seq, nxtseq.wrapping_add(1), seg.frame);
                            m.entire_segment = true;
                            m
                        }
                        Need::Bytes(n) => Msp::new(deseg_seq, nxtseq.wrapping_add(n), seg.frame),
                    };
                    let more = lt(nxtseq, m.nxtpdu);
                    if m.add(0, &payload[deseg_offset..], more, seg.frame).is_ok() {
                        self.store(m);
                    } else {
                        self.abandoned += 1;
                    }
                }
            }

            if !called || desegment.is_some() {
                let nothing_dissected = desegment.is_none_or(|(doff, _)| doff == 0);
                if nothing_dissected {
                    if protocol_writable {
                        report.protocol_tcp = true;
                    }
                    if first_pdu {
                        report.segment_of_pdu = true;
                    }
                }
            }

            if another > 0 {
                first_pdu = false;
                protocol_writable = false;
                offset += another as usize;
                seq = seq.wrapping_add(another);
                if offset < payload.len() {
                    continue;
                }
            }
            return report;
        }
    }

    /// `split_msp`: the part of msp `i` before `at` was dissected; the rest becomes a new msp
    /// that waits for more data. Returns the new msp's index.
    fn split(&mut self, i: usize, at: usize, frame: u64) -> usize {
        let old = &mut self.msps[i];
        let tail = old.buf.split_off(at.min(old.buf.len()));
        let seq = old.seq.wrapping_add(at as u32);
        let nxtpdu = old.nxtpdu;
        old.nxtpdu = seq;
        old.partial = false;
        let mut m = Msp::new(seq, nxtpdu, frame);
        m.cover(0, tail.len() as u32);
        m.buf = tail;
        m.partial = true;
        self.store(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dissector of length-prefixed PDUs: 2-byte big-endian length, then the body.
    #[derive(Default)]
    struct Lp {
        pdus: Vec<Vec<u8>>,
        calls: usize,
    }

    impl Dissector for Lp {
        fn dissect(&mut self, data: &[u8], can_desegment: bool) -> Outcome {
            self.calls += 1;
            let mut off = 0;
            while off < data.len() {
                if data.len() - off < 2 {
                    return if can_desegment {
                        Outcome::Desegment {
                            offset: off,
                            need: Need::OneMoreSegment,
                        }
                    } else {
                        Outcome::Done
                    };
                }
                let len = u16::from_be_bytes([data[off], data[off + 1]]) as usize;
                if data.len() - off < 2 + len {
                    if !can_desegment {
                        return Outcome::Done;
                    }
                    return Outcome::Desegment {
                        offset: off,
                        need: Need::Bytes((2 + len - (data.len() - off)) as u32),
                    };
                }
                self.pdus.push(data[off + 2..off + 2 + len].to_vec());
                off += 2 + len;
            }
            Outcome::Done
        }
    }

    fn seg(frame: u64, seq: u32, payload: &[u8]) -> Segment<'_> {
        Segment {
            frame,
            seq,
            payload,
            len: payload.len() as u32,
            whole: true,
            retransmission: false,
            spurious: false,
            out_of_order: false,
            keep_alive: false,
        }
    }

    fn pdu(len: usize, fill: u8) -> Vec<u8> {
        let mut v = (len as u16).to_be_bytes().to_vec();
        v.extend(std::iter::repeat_n(fill, len));
        v
    }

    #[test]
    fn pdu_across_three_segments_completes_in_the_last() {
        let data = pdu(10, 7);
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        let r1 = d.segment(&seg(1, 1, &data[..4]), &mut lp);
        // The dissector ran, consumed nothing: the segment is only "[TCP segment ...]".
        assert_eq!(
            r1,
            Report {
                cleared_info: true,
                segment_of_pdu: true,
                protocol_tcp: true,
                reassembly_error: None,
                illegal_segments: false,
            }
        );
        let r2 = d.segment(&seg(2, 5, &data[4..8]), &mut lp);
        // Inside the PDU, the dissector is not called: the TCP line stays.
        assert_eq!(
            r2,
            Report {
                cleared_info: false,
                segment_of_pdu: true,
                protocol_tcp: true,
                reassembly_error: None,
                illegal_segments: false,
            }
        );
        let r3 = d.segment(&seg(3, 9, &data[8..]), &mut lp);
        assert!(!r3.segment_of_pdu);
        assert!(r3.cleared_info);
        assert_eq!(lp.pdus, [vec![7; 10]]);
    }

    #[test]
    fn a_segment_ending_one_pdu_and_starting_the_next() {
        let mut data = pdu(3, 1);
        data.extend(pdu(6, 2));
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        let r1 = d.segment(&seg(1, 1, &data[..7]), &mut lp);
        assert_eq!(lp.pdus.len(), 1);
        assert!(!r1.segment_of_pdu, "a PDU was dissected here");
        d.segment(&seg(2, 8, &data[7..]), &mut lp);
        assert_eq!(lp.pdus, [vec![1; 3], vec![2; 6]]);
    }

    #[test]
    fn header_split_asks_for_one_more_segment() {
        let mut data = pdu(4, 9);
        data.extend(pdu(2, 8));
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        d.segment(&seg(1, 1, &data[..1]), &mut lp);
        let r = d.segment(&seg(2, 2, &data[1..]), &mut lp);
        assert_eq!(lp.pdus, [vec![9; 4], vec![8; 2]]);
        assert!(!r.segment_of_pdu);
    }

    #[test]
    fn retransmitted_segments_are_not_dissected_again() {
        let data = pdu(10, 7);
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        d.segment(&seg(1, 1, &data[..6]), &mut lp);
        let mut re = seg(2, 1, &data[..6]);
        re.retransmission = true;
        let r = d.segment(&re, &mut lp);
        assert_eq!(r, Report::default(), "plain TCP line");
        d.segment(&seg(3, 7, &data[6..]), &mut lp);
        assert_eq!(lp.pdus.len(), 1);
        assert_eq!(lp.calls, 2);
    }

    #[test]
    fn out_of_order_data_outside_a_pdu_is_left_alone() {
        let data = pdu(4, 3);
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        let mut s = seg(5, 100, &data);
        s.out_of_order = true;
        assert_eq!(d.segment(&s, &mut lp), Report::default());
        assert_eq!(lp.calls, 0);
    }

    #[test]
    fn a_frame_cut_by_the_snapshot_length_is_dissected_without_reassembly() {
        let data = pdu(10, 7);
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        let mut s = seg(1, 1, &data[..6]);
        s.len = 12;
        s.whole = false;
        let r = d.segment(&s, &mut lp);
        assert!(r.cleared_info && !r.segment_of_pdu);
        assert!(d.msps.is_empty());
    }

    #[test]
    fn a_pdu_that_starts_small_gets_room_for_all_of_it_with_its_next_piece() {
        // A 16413-byte TLS record whose first 100 bytes end a segment, then whole segments.
        let mut m = Msp::new(0, 16_413, 1);
        assert_eq!(m.add(0, &[1; 100], true, 1), Ok(false));
        // 100 bytes make a claim of 16413 out of proportion: room for a few times as much.
        let first = m.buf.capacity();
        assert!((100..16_413).contains(&first), "{first}");
        assert_eq!(m.add(100, &[2; 1448], true, 2), Ok(false));
        let room = m.buf.capacity();
        assert!((16_413..2 * 16_413).contains(&room), "{room}");
        let mut at = 1548;
        while at + 1448 < 16_413 {
            m.add(at, &[3; 1448], true, 3).unwrap();
            at += 1448;
        }
        assert_eq!(m.buf.capacity(), room, "no second allocation");
    }

    #[test]
    fn memory_stays_bounded_with_endless_pdus() {
        let mut d = Desegmenter::default();
        let mut lp = Lp::default();
        // Each segment opens a PDU that never completes, far apart in sequence space.
        for i in 0..1000u32 {
            let data = [0xff, 0xff, 1, 2, 3];
            d.segment(&seg(u64::from(i), i * 100_000, &data), &mut lp);
        }
        assert!(d.msps.len() <= MAX_MSPS);
        assert!(d.buffered() <= MAX_MSPS * 64);
    }
}
