//! Which worker a frame goes to: the symmetric hash of its flow key, read straight from the
//! headers of plain Ethernet/IPv4/IPv6 TCP frames and through `decode` for any other. Split
//! from `shard.rs`, which runs the workers and merges their output.

use std::net::IpAddr;

use etherparse::IpNumber;

use crate::decode::{self, Decoded};
use crate::engine::Frame;
use crate::event::Endpoint;
use crate::flow::FlowKey;

/// The worker (of `n`) that handles a frame: its flow key's hash, or 0 when it is not TCP.
pub fn worker_of(f: &Frame<'_>, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    match plain_tcp_endpoints(f).or_else(|| decoded_endpoints(f)) {
        Some((src, dst)) => {
            let h = FlowKey::new(src, dst).0.hash64();
            // The high half, scaled: uniform for any n.
            (((h >> 32) * n as u64) >> 32) as usize
        }
        None => 0,
    }
}

/// The endpoints of the TCP segment `decode` finds in a frame, if it finds one.
fn decoded_endpoints(f: &Frame<'_>) -> Option<(Endpoint, Endpoint)> {
    match decode::decode(f.linktype, f.data, f.orig_len) {
        Decoded::Tcp(p) => Some(p.endpoints()),
        _ => None,
    }
}

/// The addresses and ports of the most common frame, read straight from their places:
/// Ethernet, then IPv4 (not a fragment) or IPv6 (no extension header), then TCP. Whenever
/// `decode` finds a TCP segment in such a frame, these are its endpoints, so the frame goes
/// where its flow's other frames go; `None` leaves any other frame to `decode`. The dispatcher
/// reads every frame: this way its thread does half the work it did decoding them all.
fn plain_tcp_endpoints(f: &Frame<'_>) -> Option<(Endpoint, Endpoint)> {
    if f.linktype != decode::linktype::ETHERNET {
        return None;
    }
    let ethertype = decode::be16(f.data, 12)?;
    if ethertype != decode::ETHERTYPE_IPV4 && ethertype != decode::ETHERTYPE_IPV6 {
        return None;
    }
    // `decode` goes by the version field, whichever of the two EtherTypes says IP.
    let ip = f.data.get(14..)?;
    let (src, dst, tcp) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let fragment = decode::be16(ip, 6)? & 0x3fff != 0;
            if ihl < 20 || *ip.get(9)? != IpNumber::TCP.0 || fragment {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(ihl..)?)
        }
        6 => {
            if *ip.get(6)? != IpNumber::TCP.0 {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(40..)?)
        }
        _ => return None,
    };
    Some(Endpoint::pair(
        src,
        decode::be16(tcp, 0)?,
        dst,
        decode::be16(tcp, 2)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timestamp;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    fn frame(data: &[u8], linktype: i32) -> Frame<'_> {
        Frame {
            number: 1,
            ts: Timestamp::default(),
            linktype,
            orig_len: data.len() as u32,
            data,
        }
    }

    fn v4_frame() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .tcp(40000, 15001, 1000, 65535)
            .write(&mut out, b"hello")
            .unwrap();
        out
    }

    fn v6_frame() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6([0x20; 16], [0x30; 16], 64)
            .tcp(443, 51000, 7, 1024)
            .write(&mut out, b"hello")
            .unwrap();
        out
    }

    /// `v4_frame` with `words` 4-byte words of IP options (no-ops), or `v6_frame` with a
    /// hop-by-hop header of that many 8-byte units, lengths kept right.
    fn frame_with_options(v6: bool, words: usize) -> Vec<u8> {
        let mut data = if v6 { v6_frame() } else { v4_frame() };
        if words == 0 {
            return data;
        }
        if v6 {
            // Hop-by-hop: next header (TCP), length in 8-byte units beyond the first, padding.
            let mut ext = vec![6u8, (words - 1) as u8];
            ext.resize(words * 8, 0);
            data[14 + 6] = 0;
            data.splice(54..54, ext);
            let len = u16::from_be_bytes([data[18], data[19]]) + (words * 8) as u16;
            data[18..20].copy_from_slice(&len.to_be_bytes());
        } else {
            data.splice(34..34, std::iter::repeat_n(1u8, words * 4));
            data[14] = 0x45 + words as u8;
            let len = u16::from_be_bytes([data[16], data[17]]) + (words * 4) as u16;
            data[16..18].copy_from_slice(&len.to_be_bytes());
        }
        data
    }

    /// `data` (an IPv4 frame) inside another IPv4 header (IP in IP): `decode` follows it.
    fn tunnelled(data: &[u8]) -> Vec<u8> {
        let inner = &data[14..];
        let mut out = data[..14].to_vec();
        let mut outer = etherparse::Ipv4Header::new(
            inner.len() as u16,
            64,
            etherparse::IpNumber::IPV4,
            [198, 51, 100, 1],
            [198, 51, 100, 2],
        )
        .unwrap();
        outer.header_checksum = outer.calc_header_checksum();
        outer.write(&mut out).unwrap();
        out.extend_from_slice(inner);
        out
    }

    #[test]
    fn plain_frames_take_the_short_way_and_agree_with_decode() {
        for data in [v4_frame(), v6_frame(), frame_with_options(false, 3)] {
            let f = frame(&data, decode::linktype::ETHERNET);
            let fast = plain_tcp_endpoints(&f);
            assert!(fast.is_some());
            assert_eq!(fast, decoded_endpoints(&f));
        }
        // An IPv6 extension header: decode finds the TCP behind it, the short way declines.
        let data = frame_with_options(true, 1);
        let f = frame(&data, decode::linktype::ETHERNET);
        assert!(decoded_endpoints(&f).is_some());
        assert_eq!(plain_tcp_endpoints(&f), None);
    }

    #[test]
    fn other_frames_are_left_to_decode() {
        let mut vlan = v4_frame();
        vlan.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
        let mut fragment = v4_frame();
        fragment[14 + 6] = 0x20; // more fragments
        let mut udp = v4_frame();
        udp[14 + 9] = 17;
        for data in [vlan, fragment, udp] {
            let f = frame(&data, decode::linktype::ETHERNET);
            assert_eq!(plain_tcp_endpoints(&f), None);
        }
        // Either way both directions of a flow meet in one worker.
        let v4 = v4_frame();
        let raw = frame(&v4[14..], decode::linktype::RAW);
        assert_eq!(
            worker_of(&raw, 7),
            worker_of(&frame(&v4, decode::linktype::ETHERNET), 7)
        );
    }

    proptest! {
        /// Whatever the bytes, a frame the short way reads is one whose TCP endpoints `decode`
        /// reads the same, so no flow is split between workers.
        #[test]
        fn the_short_way_never_disagrees_with_decode(
            v6 in any::<bool>(),
            tunnel in any::<bool>(),
            words in 0usize..4,
            // Mostly frames that decode to TCP, so that the comparison has something to compare.
            next in prop_oneof![3 => Just(6u8), 1 => prop::sample::select(vec![17u8, 4, 0, 43, 44, 41])],
            fragment in prop_oneof![3 => Just(0u16), 1 => prop::sample::select(vec![0x4000u16, 0x2000, 0x0001, 0x1fff])],
            ethertype in prop_oneof![3 => Just(0x0800u16), 3 => Just(0x86dd), 1 => Just(0x8100)],
            flips in prop_oneof![Just(Vec::new()), prop::collection::vec((12usize..90, any::<u8>()), 1..3)],
            cut in prop_oneof![Just(0usize), 0usize..90],
            missing in prop_oneof![Just(0u32), 0u32..40],
        ) {
            let mut data = frame_with_options(v6, words);
            if tunnel && !v6 {
                data = tunnelled(&data);
            }
            data[12..14].copy_from_slice(&ethertype.to_be_bytes());
            if next != 6 {
                // The protocol after IP (after the hop-by-hop header, when there is one).
                let at = match (v6, words) {
                    (true, 0) => 14 + 6,
                    (true, _) => 54,
                    (false, _) => 14 + 9,
                };
                data[at] = next;
            }
            if !v6 {
                data[14 + 6..14 + 8].copy_from_slice(&fragment.to_be_bytes());
            }
            for (at, v) in flips {
                if let Some(b) = data.get_mut(at) {
                    *b = v;
                }
            }
            data.truncate(data.len().saturating_sub(cut));
            let mut f = frame(&data, decode::linktype::ETHERNET);
            f.orig_len += missing;
            if let (Some(fast), Some(full)) = (plain_tcp_endpoints(&f), decoded_endpoints(&f)) {
                prop_assert_eq!(fast, full);
            }
        }
    }
}
