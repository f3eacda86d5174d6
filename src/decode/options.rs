//! TCP options: the walk over a header's option bytes that Wireshark's `tcp_dissect_options()`
//! makes, into `TcpOpt`s. Split from `decode.rs`, which reads the headers around them.

use arrayvec::ArrayVec;

use super::{be16, be32};
use crate::event::{MAX_TCP_OPTS, TcpOpt};

/// Parses TCP option bytes in order, as Wireshark's `tcp_dissect_options()` walks them: kind and
/// length (RFC 9293 section 3.2), skipping options whose length is wrong for their kind
/// and stopping at End of Option List or at an option that runs past the captured bytes.
/// (etherparse's option iterator stops at the first kind it does not know, which would
/// lose the options after it.)
pub fn parse_options(b: &[u8]) -> ArrayVec<TcpOpt, MAX_TCP_OPTS> {
    let mut out = ArrayVec::new();
    walk(b, |o| out.try_push(o).is_ok());
    out
}

/// The window scale shift among the options that `parse_options` gives (the last, if there
/// are several): the one option the TCP analysis reads, found without building the list,
/// which is copied out whole (240 bytes) for every segment.
pub fn window_scale(b: &[u8]) -> Option<u8> {
    // Most segments past the handshake carry NOP, NOP, Timestamps and nothing more (12 bytes),
    // which holds no window scale: no walk is needed to tell.
    if b.len() == 12 && b.starts_with(&[1, 1, 8, 10]) {
        return None;
    }
    let mut shift = None;
    for_each_option(b, |o| {
        if let TcpOpt::WindowScale(s) = o {
            shift = Some(s);
        }
    });
    shift
}

/// Gives `f` each option that `parse_options` lists, in order, without building the list.
#[inline]
pub fn for_each_option(b: &[u8], mut f: impl FnMut(TcpOpt)) {
    let mut n = 0;
    walk(b, |o| {
        // `parse_options` keeps the first MAX_TCP_OPTS.
        if n == MAX_TCP_OPTS {
            return false;
        }
        n += 1;
        f(o);
        true
    });
}

/// The walk of `parse_options`: gives each option in order to `each`, until it says `false`.
#[inline]
fn walk(b: &[u8], mut each: impl FnMut(TcpOpt) -> bool) {
    let mut i = 0usize;
    while let Some(&kind) = b.get(i) {
        match kind {
            0 => break,
            1 => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = b.get(i + 1) else { break };
        let len = usize::from(len);
        let Some(body) = b.get(i + 2..i + len.max(2)) else {
            break;
        };
        if len < 2 {
            break;
        }
        let opt = match (kind, len) {
            (2, 4) => be16(body, 0).map(TcpOpt::Mss),
            (3, 3) => body.first().map(|s| TcpOpt::WindowScale(*s)),
            (4, 2) => Some(TcpOpt::SackPermitted),
            (5, l) if l >= 10 && (l - 2) % 8 == 0 => {
                for block in body.chunks_exact(8) {
                    let (Some(l), Some(r)) = (be32(block, 0), be32(block, 4)) else {
                        break;
                    };
                    if !each(TcpOpt::Sack(l, r)) {
                        return;
                    }
                }
                None
            }
            (8, 10) => be32(body, 0)
                .zip(be32(body, 4))
                .map(|(v, e)| TcpOpt::Timestamps(v, e)),
            (2 | 3 | 4 | 5 | 8, _) => None,
            (k, _) => Some(TcpOpt::Other(k)),
        };
        if let Some(o) = opt
            && !each(o)
        {
            break;
        }
        i += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn window_scale_is_the_last_one_parse_options_gives(
            b in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(5), Just(8),
                            Just(10), any::<u8>()],
                0..60,
            )
        ) {
            let listed = parse_options(&b).iter().rev().find_map(|o| match o {
                TcpOpt::WindowScale(s) => Some(*s),
                _ => None,
            });
            prop_assert_eq!(window_scale(&b), listed);
        }
    }

    #[test]
    fn timestamps_alone_hold_no_window_scale() {
        let mut opts = [1u8, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(window_scale(&opts), None);
        // Other bytes in the same places are walked.
        opts[..4].copy_from_slice(&[3, 3, 7, 1]);
        assert_eq!(window_scale(&opts), Some(7));
    }

    #[test]
    fn window_scale_reads_past_other_options() {
        // NOP, MSS 1460, NOP, window scale 7, then window scale 9.
        let opts = [1u8, 2, 4, 5, 180, 1, 3, 3, 7, 3, 3, 9];
        assert_eq!(window_scale(&opts), Some(9));
        assert_eq!(window_scale(&opts[..9]), Some(7));
        assert_eq!(window_scale(&opts[..6]), None);
    }

    #[test]
    fn options_after_an_unknown_kind_are_still_read() {
        let opts = [30u8, 4, 0, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 0];
        assert_eq!(
            parse_options(&opts).as_slice(),
            &[TcpOpt::Other(30), TcpOpt::Timestamps(1, 2)]
        );
    }

    #[test]
    fn an_option_with_a_wrong_length_is_skipped_and_a_short_one_ends_the_walk() {
        // MSS with length 3 (wrong for its kind), then window scale 7, then a SACK that claims
        // 10 bytes with 4 captured.
        let opts = [2u8, 3, 5, 3, 3, 7, 5, 10, 0, 0];
        assert_eq!(parse_options(&opts).as_slice(), &[TcpOpt::WindowScale(7)]);
    }
}
