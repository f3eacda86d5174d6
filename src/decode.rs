//! Bytes + link type → a checked view of the frame's IP and TCP headers. Stateless.
//!
//! Link layers: Ethernet II (with 802.1Q/802.1ad/QinQ VLAN tags, MPLS, PPPoE sessions), Linux
//! cooked captures SLL and SLL2, raw IPv4/IPv6 and BSD loopback (NULL and LOOP). Tunnels that
//! Wireshark follows by default are followed too (IP-in-IP, GRE, GTP-U, VXLAN), so the TCP
//! segment reported is the innermost one, as in Wireshark's columns.
//!
//! Lengths follow Wireshark's rules (packet-ip.c, packet-tcp.c): the TCP segment length (`Len=`)
//! comes from the IP header's length field, capped at what the frame carried on the wire, not
//! from the bytes the snapshot length kept. A frame cut by the snapshot length is not malformed;
//! a header that lies about its own size is. Nothing here panics on any input: every read goes
//! through `get`, and etherparse's checked slices do the header parsing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    Ethernet2HeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice,
    SingleVlanHeaderSlice,
};

use crate::event::{Endpoint, TcpFlags, TcpOpt};

mod options;
pub use options::{for_each_option, parse_options, window_scale};

/// libpcap link-layer header types (LINKTYPE_* values) capd decodes.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    /// DLT_RAW as OpenBSD and others number it.
    pub const RAW_12: i32 = 12;
    pub const RAW_14: i32 = 14;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
}

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
const ETHERTYPE_TRANS_ETHER: u16 = 0x6558;

const UDP_PORT_GTPU: u16 = 2152;
const UDP_PORT_VXLAN: u16 = 4789;

/// Tunnels nest at most this deep; deeper frames are reported as they are, not followed.
const MAX_DEPTH: usize = 6;

/// A decoded TCP segment: addresses of the innermost IP header and a view of the TCP header.
#[derive(Debug, Clone)]
pub struct TcpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// Header length in bytes from the data offset field (at least 20).
    pub header_len: u8,
    pub window: u16,
    pub checksum: u16,
    pub urgent: u16,
    /// The option bytes that were captured (may be fewer than `header_len - 20`).
    pub options: &'a [u8],
    /// Captured payload bytes (may be fewer than `payload_len`).
    pub payload: &'a [u8],
    /// Segment data length from the IP header (Wireshark's `tcp.len`).
    pub payload_len: u32,
    /// The snapshot length cut the TCP header or its options.
    pub header_truncated: bool,
    /// The header lies about its own length; the frame counts as malformed.
    pub problem: Option<HeaderProblem>,
    /// Outermost tunnel the segment was found in, for the Protocol column (`GTP <TCP>`).
    pub tunnel: Option<&'static str>,
}

impl TcpPacket<'_> {
    /// Source and destination, address and port.
    pub fn endpoints(&self) -> (Endpoint, Endpoint) {
        Endpoint::pair(self.src, self.sport, self.dst, self.dport)
    }

    /// The options, parsed (`parse_options`).
    pub fn parsed_options(&self) -> arrayvec::ArrayVec<TcpOpt, { crate::event::MAX_TCP_OPTS }> {
        parse_options(self.options)
    }
}

/// How a TCP header's data offset field is wrong (Wireshark's two cases in `dissect_tcp()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The data offset says fewer than 20 bytes.
    BogusLength,
    /// The data offset says more bytes than the IP datagram holds.
    ShortSegment,
}

/// A frame that is not TCP over IP, summarised for the human packet list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherPacket {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// Protocol column text.
    pub protocol: &'static str,
    pub ports: Option<(u16, u16)>,
    pub payload_len: Option<u32>,
}

/// What a frame turned out to be.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    Tcp(TcpPacket<'a>),
    Other(OtherPacket),
    /// The frame was cut by the snapshot length before anything useful could be read.
    Truncated(OtherPacket),
    /// A header lied about its length or content.
    Malformed(&'static str),
}

/// Decodes one frame. `orig_len` is its length on the wire; `data` the captured bytes.
pub fn decode(linktype: i32, data: &[u8], orig_len: u32) -> Decoded<'_> {
    // Bytes the frame had on the wire beyond what was captured.
    let cut = (orig_len as usize).saturating_sub(data.len());
    let mut d = Decoder {
        cut,
        depth: 0,
        tunnel: None,
    };
    d.link(linktype, data)
}

/// Whether `decode` reads frames of this link type; any other gives only `Other` frames.
pub fn decodes_linktype(linktype: i32) -> bool {
    matches!(
        linktype,
        linktype::ETHERNET
            | linktype::RAW
            | linktype::RAW_12
            | linktype::RAW_14
            | linktype::IPV4
            | linktype::IPV6
            | linktype::NULL
            | linktype::LOOP
            | linktype::LINUX_SLL
            | linktype::LINUX_SLL2
    )
}

/// Where a layer's bytes stand in the frame: `cut` bytes of the frame were not captured, so a
/// header running off the end of `data` is truncation when `cut > 0` and a lie when `cut == 0`.
struct Decoder {
    cut: usize,
    depth: usize,
    tunnel: Option<&'static str>,
}

fn other(protocol: &'static str) -> OtherPacket {
    OtherPacket {
        src: None,
        dst: None,
        protocol,
        ports: None,
        payload_len: None,
    }
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

impl Decoder {
    /// A header needed more bytes than the frame has.
    fn short(&self, what: &'static str, malformed: &'static str) -> Decoded<'static> {
        if self.cut > 0 {
            Decoded::Truncated(other(what))
        } else {
            Decoded::Malformed(malformed)
        }
    }

    fn link<'a>(&mut self, linktype: i32, data: &'a [u8]) -> Decoded<'a> {
        match linktype {
            linktype::ETHERNET => self.ethernet(data),
            linktype::RAW | linktype::RAW_12 | linktype::RAW_14 => self.ip_guess(data),
            linktype::IPV4 | linktype::IPV6 => self.ip_guess(data),
            linktype::NULL | linktype::LOOP => self.bsd_loopback(linktype, data),
            // SLL: packet type (2), ARPHRD type (2), address length (2), address (8),
            // protocol (2): 16 bytes. The protocol is an EtherType for every hardware type
            // that carries IP (etherparse rejects hardware types it does not list, such as
            // the tunnels and PPP links phones capture on, so this is read directly).
            linktype::LINUX_SLL => match be16(data, 14) {
                Some(proto) if proto >= 0x0600 => {
                    self.ethertype(proto, data.get(16..).unwrap_or_default())
                }
                Some(_) => Decoded::Other(other("SLL")),
                None => self.short("SLL", "linux cooked header shorter than 16 bytes"),
            },
            linktype::LINUX_SLL2 => match be16(data, 0) {
                // SLL2: protocol type (2), reserved (2), ifindex (4), ARPHRD (2), packet type
                // (1), address length (1), address (8): 20 bytes.
                Some(proto) if data.len() >= 20 => {
                    self.ethertype(proto, data.get(20..).unwrap_or_default())
                }
                _ => self.short("SLL2", "linux cooked v2 header shorter than 20 bytes"),
            },
            _ => Decoded::Other(other("unknown link type")),
        }
    }

    fn ethernet<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        match Ethernet2HeaderSlice::from_slice(data) {
            Ok(h) => {
                let et = h.ether_type().0;
                let rest = data.get(14..).unwrap_or_default();
                if et < 0x0600 {
                    // An IEEE 802.3 length field: LLC follows, not an EtherType.
                    Decoded::Other(other("LLC"))
                } else {
                    self.ethertype(et, rest)
                }
            }
            Err(_) => self.short("ETH", "ethernet header shorter than 14 bytes"),
        }
    }

    fn ethertype<'a>(&mut self, et: u16, data: &'a [u8]) -> Decoded<'a> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Decoded::Other(other("encapsulation too deep"));
        }
        match et {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => self.ip_guess(data),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                match SingleVlanHeaderSlice::from_slice(data) {
                    Ok(v) => self.ethertype(v.ether_type().0, data.get(4..).unwrap_or_default()),
                    Err(_) => self.short("VLAN", "vlan tag shorter than 4 bytes"),
                }
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => self.mpls(data),
            ETHERTYPE_PPPOE_SESSION => self.pppoe(data),
            ETHERTYPE_PPPOE_DISCOVERY => Decoded::Other(other("PPPoED")),
            ETHERTYPE_TRANS_ETHER => self.ethernet(data),
            ETHERTYPE_ARP => Decoded::Other(other("ARP")),
            0x88cc => Decoded::Other(other("LLDP")),
            _ => Decoded::Other(other("ETH")),
        }
    }

    /// MPLS label stack: 4-byte entries until the bottom-of-stack bit; IP follows (RFC 3032).
    fn mpls<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        let mut at = 0;
        loop {
            let Some(entry) = be32(data, at) else {
                return self.short("MPLS", "mpls label stack runs past the frame");
            };
            at += 4;
            if entry & 0x100 != 0 {
                break;
            }
            if at >= 4 * 16 {
                return Decoded::Malformed("mpls label stack deeper than 16 labels");
            }
        }
        self.ip_guess(data.get(at..).unwrap_or_default())
    }

    /// PPPoE session header (RFC 2516, 6 bytes) and the PPP protocol field (RFC 1661). The
    /// header's length field bounds the PPP frame, so Ethernet padding after it is not taken
    /// for IP payload (Wireshark bounds the IP datagram the same way).
    fn pppoe<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        let (Some(len), Some(proto)) = (be16(data, 4), be16(data, 6)) else {
            return self.short("PPPoES", "pppoe header shorter than 8 bytes");
        };
        let end = 6 + usize::from(len);
        let payload = if end <= data.len() {
            self.cut = 0;
            data.get(8..end).unwrap_or_default()
        } else {
            data.get(8..).unwrap_or_default()
        };
        match proto {
            0x0021 | 0x0057 => self.ip_guess(payload),
            _ => Decoded::Other(other("PPP")),
        }
    }

    /// BSD loopback: a 4-byte address family, host byte order for NULL and network byte
    /// order for LOOP; like Wireshark, accept either order since the writer's host is unknown.
    fn bsd_loopback<'a>(&mut self, linktype: i32, data: &'a [u8]) -> Decoded<'a> {
        let Some(raw) = data.get(..4) else {
            return self.short("NULL", "loopback header shorter than 4 bytes");
        };
        let fam_be = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let fam_le = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let family = if linktype == linktype::LOOP || fam_be < 256 {
            fam_be
        } else {
            fam_le
        };
        let rest = data.get(4..).unwrap_or_default();
        match family {
            // AF_INET everywhere; AF_INET6 on BSD (24), FreeBSD (28), Darwin (30), Linux (10).
            2 | 24 | 28 | 30 | 10 => self.ip_guess(rest),
            _ => Decoded::Other(other("NULL")),
        }
    }

    /// IPv4 or IPv6 by the version nibble.
    fn ip_guess<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        match data.first().map(|b| b >> 4) {
            Some(4) => self.ipv4(data),
            Some(6) => self.ipv6(data),
            Some(_) => Decoded::Malformed("ip version is neither 4 nor 6"),
            None => self.short("IP", "frame ends before the ip header"),
        }
    }

    /// The IP datagram's length on the wire: the header's claim, or what the frame carried
    /// when the header says 0 (TCP segmentation offload) or more than the frame had
    /// (Wireshark's `ip_tso_supported` and "total length exceeds packet length" rules).
    fn reported(&self, claimed: usize, captured: usize) -> usize {
        let on_wire = captured + self.cut;
        if claimed == 0 || claimed > on_wire {
            on_wire
        } else {
            claimed
        }
    }

    fn ipv4<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        let h = match Ipv4HeaderSlice::from_slice(data) {
            Ok(h) => h,
            Err(etherparse::err::ipv4::HeaderSliceError::Len(_)) => {
                return self.short("IPv4", "ipv4 header runs past the frame");
            }
            Err(etherparse::err::ipv4::HeaderSliceError::Content(_)) => {
                return Decoded::Malformed("ipv4 header length below 20 bytes");
            }
        };
        let hlen = h.slice().len();
        let total = usize::from(h.total_len());
        if total != 0 && total < hlen {
            return Decoded::Malformed("ipv4 total length below its header length");
        }
        let datagram = self.reported(total, data.len());
        let src = IpAddr::V4(Ipv4Addr::from(h.source()));
        let dst = IpAddr::V4(Ipv4Addr::from(h.destination()));
        let fragment = h.more_fragments() || h.fragments_offset().value() != 0;
        let captured_end = datagram.min(data.len());
        let payload = data.get(hlen..captured_end).unwrap_or_default();
        let payload_len = datagram.saturating_sub(hlen);
        // Bytes of this datagram not captured stay "cut" for the layers inside it.
        self.cut = datagram.saturating_sub(captured_end);
        if fragment {
            return Decoded::Other(OtherPacket {
                src: Some(src),
                dst: Some(dst),
                protocol: "IPv4",
                ports: None,
                payload_len: Some(payload_len as u32),
            });
        }
        self.transport(h.protocol(), src, dst, payload, payload_len)
    }

    fn ipv6<'a>(&mut self, data: &'a [u8]) -> Decoded<'a> {
        let h = match Ipv6HeaderSlice::from_slice(data) {
            Ok(h) => h,
            Err(etherparse::err::ipv6::HeaderSliceError::Len(_)) => {
                return self.short("IPv6", "ipv6 header runs past the frame");
            }
            Err(etherparse::err::ipv6::HeaderSliceError::Content(_)) => {
                return Decoded::Malformed("ipv6 header with a bad version");
            }
        };
        let src = IpAddr::V6(Ipv6Addr::from(h.source()));
        let dst = IpAddr::V6(Ipv6Addr::from(h.destination()));
        let claimed = usize::from(h.payload_length());
        let after_header = data.get(40..).unwrap_or_default();
        let datagram = self.reported(claimed, after_header.len());
        let captured_end = datagram.min(after_header.len());
        let body = after_header.get(..captured_end).unwrap_or_default();
        self.cut = datagram.saturating_sub(captured_end);
        match Ipv6ExtensionsSlice::from_slice(h.next_header(), body) {
            Ok((exts, next, rest)) => {
                let ext_len = body.len() - rest.len();
                let payload_len = datagram.saturating_sub(ext_len);
                if exts.is_fragmenting_payload() {
                    return Decoded::Other(OtherPacket {
                        src: Some(src),
                        dst: Some(dst),
                        protocol: "IPv6",
                        ports: None,
                        payload_len: Some(payload_len as u32),
                    });
                }
                self.transport(next, src, dst, rest, payload_len)
            }
            Err(etherparse::err::ipv6_exts::HeaderSliceError::Len(_)) => {
                self.short("IPv6", "ipv6 extension header runs past the frame")
            }
            Err(etherparse::err::ipv6_exts::HeaderSliceError::Content(_)) => {
                Decoded::Malformed("ipv6 extension header is invalid")
            }
        }
    }

    fn transport<'a>(
        &mut self,
        proto: IpNumber,
        src: IpAddr,
        dst: IpAddr,
        payload: &'a [u8],
        payload_len: usize,
    ) -> Decoded<'a> {
        let summary = |protocol, ports, len| OtherPacket {
            src: Some(src),
            dst: Some(dst),
            protocol,
            ports,
            payload_len: len,
        };
        match proto {
            IpNumber::TCP => self.tcp(src, dst, payload, payload_len),
            IpNumber::UDP => {
                let (Some(sport), Some(dport)) = (be16(payload, 0), be16(payload, 2)) else {
                    return match self.short("UDP", "udp header runs past the frame") {
                        Decoded::Truncated(_) => Decoded::Truncated(summary("UDP", None, None)),
                        m => m,
                    };
                };
                let body = payload.get(8..).unwrap_or_default();
                let udp_len = payload_len.saturating_sub(8) as u32;
                if self.depth < MAX_DEPTH {
                    if (dport == UDP_PORT_GTPU || sport == UDP_PORT_GTPU)
                        && let Some(inner) = gtpu_payload(body)
                    {
                        return self
                            .tunnel_into("GTP", inner, |d, b| d.ip_guess(b))
                            .unwrap_or_else(|| {
                                Decoded::Other(summary("GTP", Some((sport, dport)), Some(udp_len)))
                            });
                    }
                    if dport == UDP_PORT_VXLAN && body.len() >= 8 {
                        let inner = body.get(8..).unwrap_or_default();
                        return self
                            .tunnel_into("VXLAN", inner, |d, b| d.ethernet(b))
                            .unwrap_or_else(|| {
                                Decoded::Other(summary(
                                    "VXLAN",
                                    Some((sport, dport)),
                                    Some(udp_len),
                                ))
                            });
                    }
                }
                Decoded::Other(summary("UDP", Some((sport, dport)), Some(udp_len)))
            }
            IpNumber::IPV4 | IpNumber::IPV6 => self
                .tunnel_into("IP", payload, |d, b| d.ip_guess(b))
                .unwrap_or_else(|| Decoded::Other(summary("IP", None, None))),
            IpNumber::GRE => match gre_payload(payload) {
                Some((et, inner)) => self
                    .tunnel_into("GRE", inner, |d, b| d.ethertype(et, b))
                    .unwrap_or_else(|| Decoded::Other(summary("GRE", None, None))),
                None => Decoded::Other(summary("GRE", None, None)),
            },
            IpNumber::ICMP => Decoded::Other(summary("ICMP", None, Some(payload_len as u32))),
            IpNumber::IPV6_ICMP => {
                Decoded::Other(summary("ICMPv6", None, Some(payload_len as u32)))
            }
            IpNumber::IGMP => Decoded::Other(summary("IGMP", None, None)),
            IpNumber::SCTP => Decoded::Other(summary("SCTP", None, None)),
            _ => Decoded::Other(summary("IP", None, Some(payload_len as u32))),
        }
    }

    /// Follows a tunnel; returns `None` (report the outer frame) when nothing inside decodes.
    fn tunnel_into<'a>(
        &mut self,
        name: &'static str,
        inner: &'a [u8],
        f: impl FnOnce(&mut Self, &'a [u8]) -> Decoded<'a>,
    ) -> Option<Decoded<'a>> {
        let outer = self.tunnel;
        self.tunnel.get_or_insert(name);
        self.depth += 1;
        match f(self, inner) {
            Decoded::Malformed(_) | Decoded::Truncated(_) => {
                self.tunnel = outer;
                None
            }
            d => Some(d),
        }
    }

    fn tcp<'a>(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: &'a [u8],
        reported_len: usize,
    ) -> Decoded<'a> {
        if seg.len() < 20 {
            return match self.short("TCP", "tcp header runs past the ip datagram") {
                Decoded::Truncated(mut o) => {
                    o.src = Some(src);
                    o.dst = Some(dst);
                    o.ports = be16(seg, 0).zip(be16(seg, 2));
                    Decoded::Truncated(o)
                }
                m => m,
            };
        }
        // Fixed header fields (RFC 9293 section 3.1); `seg` holds at least 20 bytes.
        let field16 = |at| be16(seg, at).unwrap_or_default();
        let field32 = |at| be32(seg, at).unwrap_or_default();
        let offset_flags = field16(12);
        let header_len = ((offset_flags >> 12) as u8) * 4;
        // Wireshark still shows such segments as TCP, flagged as malformed: a header length
        // below 20 ends dissection after the fixed fields; a header longer than the datagram
        // ("short segment") leaves the segment without a length or sequence analysis.
        let problem = if header_len < 20 {
            Some(HeaderProblem::BogusLength)
        } else if reported_len < usize::from(header_len) {
            Some(HeaderProblem::ShortSegment)
        } else {
            None
        };
        let options_end = if problem.is_some() {
            20
        } else {
            usize::from(header_len)
        };
        let captured_header = seg.len().min(options_end);
        let header_truncated = captured_header < options_end;
        Decoded::Tcp(TcpPacket {
            src,
            dst,
            sport: field16(0),
            dport: field16(2),
            seq: field32(4),
            ack: field32(8),
            flags: TcpFlags(offset_flags & 0x0fff),
            header_len,
            window: field16(14),
            checksum: field16(16),
            urgent: field16(18),
            options: seg.get(20..captured_header).unwrap_or_default(),
            payload: seg.get(usize::from(header_len)..).unwrap_or_default(),
            payload_len: reported_len.saturating_sub(usize::from(header_len)) as u32,
            header_truncated,
            problem,
            tunnel: self.tunnel,
        })
    }
}

/// The inner packet of a GTP-U G-PDU (3GPP TS 29.281 section 5): version 1, message type 255,
/// an 8-byte header, 4 more when any of E/S/PN is set, then extension headers.
fn gtpu_payload(b: &[u8]) -> Option<&[u8]> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || *b.get(1)? != 0xff {
        return None;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        let mut next = *b.get(11)?;
        at = 12;
        while next != 0 {
            let len = usize::from(*b.get(at)?) * 4;
            if len == 0 {
                return None;
            }
            next = *b.get(at + len - 1)?;
            at += len;
        }
    }
    b.get(at..)
}

/// The EtherType and payload of a GRE packet (RFC 2784/2890): checksum, key and sequence
/// fields are present when their flag bits say so.
fn gre_payload(b: &[u8]) -> Option<(u16, &[u8])> {
    let flags = be16(b, 0)?;
    if flags & 0x0007 != 0 {
        // Only GRE version 0 carries an EtherType payload.
        return None;
    }
    let proto = be16(b, 2)?;
    let mut at = 4;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        if flags & bit != 0 {
            at += 4;
        }
    }
    Some((proto, b.get(at..)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, TcpOptionElement};
    use proptest::prelude::*;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .tcp(40000, 15001, 1000, 65535)
            .syn()
            .options(&[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
            ])
            .unwrap();
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn decodes_linktype_names_exactly_the_link_types_decode_reads() {
        let f = tcp_frame(b"");
        for lt in (-1..=300).chain([i32::MIN, i32::MAX]) {
            let unknown = matches!(
                decode(lt, &f, f.len() as u32),
                Decoded::Other(o) if o.protocol == "unknown link type"
            );
            assert_eq!(decodes_linktype(lt), !unknown, "link type {lt}");
        }
    }

    #[test]
    fn ethernet_ipv4_tcp_yields_ports_flags_and_options() {
        let f = tcp_frame(b"hello");
        let Decoded::Tcp(t) = decode(linktype::ETHERNET, &f, f.len() as u32) else {
            panic!("not tcp");
        };
        assert_eq!((t.sport, t.dport, t.seq), (40000, 15001, 1000));
        assert!(t.flags.syn());
        assert_eq!(t.payload_len, 5);
        assert_eq!(t.payload, b"hello");
        assert_eq!(
            t.parsed_options().as_slice(),
            &[TcpOpt::Mss(1460), TcpOpt::WindowScale(7)]
        );
    }

    #[test]
    fn snaplen_cut_keeps_the_reported_segment_length() {
        let f = tcp_frame(&[0u8; 100]);
        let cut = &f[..60];
        let Decoded::Tcp(t) = decode(linktype::ETHERNET, cut, f.len() as u32) else {
            panic!("not tcp");
        };
        assert_eq!(t.payload_len, 100);
        assert!(t.payload.len() < 100);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut f = tcp_frame(b"");
        f.resize(60.max(f.len()), 0);
        f.extend_from_slice(&[0; 6]);
        let Decoded::Tcp(t) = decode(linktype::ETHERNET, &f, f.len() as u32) else {
            panic!("not tcp");
        };
        assert_eq!(t.payload_len, 0);
        assert!(t.payload.is_empty());
    }

    #[test]
    fn a_header_that_lies_about_its_length_is_flagged() {
        let mut f = tcp_frame(b"");
        // Data offset 4 words: below the 20-byte minimum.
        f[14 + 20 + 12] = 0x40;
        let Decoded::Tcp(t) = decode(linktype::ETHERNET, &f, f.len() as u32) else {
            panic!("still tcp");
        };
        assert_eq!(t.problem, Some(HeaderProblem::BogusLength));
        // Data offset 15 words: longer than the datagram.
        f[14 + 20 + 12] = 0xf0;
        let Decoded::Tcp(t) = decode(linktype::ETHERNET, &f, f.len() as u32) else {
            panic!("still tcp");
        };
        assert_eq!(t.problem, Some(HeaderProblem::ShortSegment));
        assert_eq!(t.payload_len, 0);
    }

    #[test]
    fn vlan_and_qinq_tags_are_skipped() {
        let f = tcp_frame(b"x");
        let mut q = f[..12].to_vec();
        q.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14]);
        q.extend_from_slice(&f[12..]);
        let Decoded::Tcp(t) = decode(linktype::ETHERNET, &q, q.len() as u32) else {
            panic!("not tcp");
        };
        assert_eq!(t.payload, b"x");
    }

    #[test]
    fn sll2_and_null_link_types_reach_tcp() {
        let f = tcp_frame(b"y");
        let ip = &f[14..];
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(ip);
        assert!(matches!(
            decode(linktype::LINUX_SLL2, &sll2, sll2.len() as u32),
            Decoded::Tcp(_)
        ));
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(ip);
        assert!(matches!(
            decode(linktype::NULL, &null, null.len() as u32),
            Decoded::Tcp(_)
        ));
        assert!(matches!(
            decode(linktype::RAW, ip, ip.len() as u32),
            Decoded::Tcp(_)
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(lt in prop::sample::select(vec![0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999]),
                               data in prop::collection::vec(any::<u8>(), 0..200),
                               extra in 0u32..100) {
            let _ = decode(lt, &data, data.len() as u32 + extra);
        }

        #[test]
        fn decode_never_panics_on_mutated_tcp_frames(flips in prop::collection::vec((0usize..80, any::<u8>()), 1..6),
                                                    cut in 0usize..80) {
            let mut f = tcp_frame(b"payload bytes");
            for (at, v) in flips { if at < f.len() { f[at] = v; } }
            let orig = f.len() as u32;
            let end = f.len().saturating_sub(cut);
            if let Decoded::Tcp(t) = decode(linktype::ETHERNET, &f[..end], orig) {
                let _ = t.parsed_options();
            }
        }
    }
}
