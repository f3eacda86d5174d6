//! Merged JSON Lines as a list of pieces: stretches of the workers' own buffers, and the
//! run-wide flow ids the merger fills in between them. The sink writes the pieces with one
//! vectored write, so the workers' bytes reach it without being copied on the merging thread
//! (which read them cold from the workers' cores). Split from `shard.rs`, which decides what
//! goes where.

use std::io::IoSlice;
use std::ops::Range;

use crate::report::jsonw;

/// A stretch of merged output.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Bytes of source `source`'s buffer.
    Bytes { source: usize, range: Range<usize> },
    /// Digits in `Spliced::ids`.
    Id(Range<usize>),
}

/// Output put together from other buffers, by reference, with flow ids filled in.
#[derive(Debug, Default)]
pub struct Spliced {
    pieces: Vec<Piece>,
    /// The digits of the flow ids filled in.
    ids: Vec<u8>,
    /// Bytes the pieces add up to.
    len: usize,
}

impl Spliced {
    /// Adds `range` of source `source`'s buffer, with each open flow id of `fixups` (offsets
    /// into that buffer, in order, within `range`) filled in by `map`.
    pub fn splice(
        &mut self,
        source: usize,
        range: Range<usize>,
        fixups: impl IntoIterator<Item = (usize, u32)>,
        mut map: impl FnMut(u32) -> u32,
    ) {
        let mut at = range.start;
        for (off, id) in fixups {
            let off = off.clamp(at, range.end);
            self.bytes(source, at..off);
            let start = self.ids.len();
            jsonw::put_u32(&mut self.ids, map(id));
            self.len += self.ids.len() - start;
            self.pieces.push(Piece::Id(start..self.ids.len()));
            at = off;
        }
        self.bytes(source, at..range.end);
    }

    /// Adds `range` of a source's buffer, as part of the last piece when it continues it.
    fn bytes(&mut self, source: usize, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.len += range.len();
        if let Some(Piece::Bytes {
            source: s,
            range: last,
        }) = self.pieces.last_mut()
            && *s == source
            && last.end == range.start
        {
            last.end = range.end;
            return;
        }
        self.pieces.push(Piece::Bytes { source, range });
    }

    /// Bytes added since the last `clear`.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The pieces as slices, in order: `buffer(i)` is source `i`'s buffer. A range that the
    /// buffer does not hold (it was not the one spliced from) gives no bytes; no slice is
    /// empty.
    pub fn slices<'a>(&'a self, buffer: impl Fn(usize) -> &'a [u8]) -> Vec<IoSlice<'a>> {
        // Sized at once: collected through the filter, the list grew by doubling, a
        // reallocation and copy each time, for every 64 KiB written.
        let mut out = Vec::with_capacity(self.pieces.len());
        out.extend(
            self.pieces
                .iter()
                .map(|p| match p {
                    Piece::Bytes { source, range } => {
                        buffer(*source).get(range.clone()).unwrap_or_default()
                    }
                    Piece::Id(range) => self.ids.get(range.clone()).unwrap_or_default(),
                })
                .filter(|s| !s.is_empty())
                .map(IoSlice::new),
        );
        out
    }

    /// The pieces' bytes, one after the other (`buffer` as for `slices`).
    #[cfg(test)]
    pub fn joined<'a>(&'a self, buffer: impl Fn(usize) -> &'a [u8]) -> Vec<u8> {
        self.slices(buffer)
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    /// Forgets every piece.
    pub fn clear(&mut self) {
        self.pieces.clear();
        self.ids.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(s: &Spliced, sources: &[&[u8]]) -> Vec<u8> {
        s.joined(|i| sources.get(i).copied().unwrap_or_default())
    }

    #[test]
    fn open_flow_ids_are_filled_in_between_the_workers_bytes() {
        let a: &[u8] = b"{\"flow\":,\"other\":}\n{\"flow\":}\n";
        let b: &[u8] = b"{\"flow\":}\n";
        let mut s = Spliced::default();
        // Worker 0's first line, worker 1's line, worker 0's second line.
        s.splice(0, 0..19, [(8, 7), (17, 9)], |id| id * 100);
        s.splice(1, 0..10, [(8, 1)], |id| id + 41);
        s.splice(0, 19..29, [(27, 3)], |id| id);
        let out = joined(&s, &[a, b]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"flow\":700,\"other\":900}\n{\"flow\":42}\n{\"flow\":3}\n"
        );
        assert_eq!(s.len(), 19 + 3 + 3 + 10 + 2 + 10 + 1);
        s.clear();
        assert_eq!(s.len(), 0);
        assert!(s.is_empty() && joined(&s, &[a, b]).is_empty());
    }

    #[test]
    fn stretches_that_continue_each_other_are_one_piece() {
        let a: &[u8] = b"{\"flow\":}\n{\"flow\":}\n";
        let mut s = Spliced::default();
        s.splice(0, 0..10, [(8, 1)], |id| id);
        s.splice(0, 10..20, [(18, 2)], |id| id);
        // `{"flow":`, `1`, `}\n{"flow":`, `2`, `}\n`.
        assert_eq!(s.pieces.len(), 5);
        assert_eq!(joined(&s, &[a]), b"{\"flow\":1}\n{\"flow\":2}\n");
    }

    #[test]
    fn fixups_outside_the_range_are_clamped_into_it() {
        let a: &[u8] = b"0123456789";
        let mut s = Spliced::default();
        s.splice(0, 2..6, [(0, 1), (9, 2)], |id| id);
        assert_eq!(joined(&s, &[a]), b"123452");
    }
}
