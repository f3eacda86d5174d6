//! TCP flows: the flow key and table, Wireshark's sequence analysis, Zeek-style connection
//! summaries, and stream reassembly for the dissectors.
//!
//! A flow is keyed by its canonical 5-tuple (endpoints ordered, so both directions hash alike)
//! and knows which side is the client. This module never looks at payload contents; it hands
//! in-order stream bytes to `dissect/` through the engine.

pub mod analysis;
pub mod conn;
pub mod entry;
pub mod pdu;
pub mod reassembly;
pub mod retired;
pub mod seq;
pub mod table;
pub mod tcp;

use serde::Serialize;

pub use analysis::{Analysis, Label, LabelCounts};
pub use table::{FlowTable, FlowTableConfig};

use crate::event::{Endpoint, FlowId, Timestamp};

/// Canonical flow key: the two endpoints in sorted order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

/// `folded_multiply` of foldhash and wyhash: the full 128-bit product, halves xored, so
/// every input bit reaches every output bit.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// An endpoint as two words: the address (IPv6 folded) and the port with the family.
#[inline]
fn endpoint_words(e: &Endpoint) -> (u64, u64) {
    match e.ip {
        std::net::IpAddr::V4(a) => (u64::from(u32::from(a)), u64::from(e.port) | 4 << 16),
        std::net::IpAddr::V6(a) => {
            let x = u128::from(a);
            (
                fold_mul(
                    x as u64 ^ 0x243f_6a88_85a3_08d3,
                    (x >> 64) as u64 ^ 0x1319_8a2e_0370_7344,
                ),
                u64::from(e.port) | 6 << 16,
            )
        }
    }
}

impl FlowKey {
    /// A well-mixed 64-bit hash of the key. The key is canonical, so both directions of a
    /// flow hash alike; `--threads` picks a flow's worker from it. Keys that differ only in
    /// one address byte differ in about half the bits.
    #[inline]
    pub fn hash64(&self) -> u64 {
        const K: [u64; 4] = [
            0xa076_1d64_78bd_642f,
            0xe703_7ed1_a0b4_28db,
            0x8ebc_6af0_9c88_c6e3,
            0x5899_65cc_7537_4cc3,
        ];
        let (a, b) = endpoint_words(&self.lo);
        let (c, d) = endpoint_words(&self.hi);
        let x = fold_mul(a ^ K[0], c ^ K[1]);
        let y = fold_mul(b ^ K[2], d ^ K[3]);
        fold_mul(x ^ K[3], y ^ K[0])
    }
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

/// A hasher for keys that already hash themselves well (`FlowKey::hash64`): it passes the
/// value through.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys that do not use write_u64; mix them anyway.
        for b in bytes {
            self.0 = fold_mul(self.0 ^ u64::from(*b), 0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Builds `PassThrough` hashers.
pub type KeyHash = std::hash::BuildHasherDefault<PassThrough>;

impl FlowKey {
    /// The key for a segment from `src` to `dst`, and the direction index of the segment:
    /// 0 when it travels from `lo` to `hi`, 1 otherwise.
    pub fn new(src: Endpoint, dst: Endpoint) -> (FlowKey, usize) {
        if src <= dst {
            (FlowKey { lo: src, hi: dst }, 0)
        } else {
            (FlowKey { lo: dst, hi: src }, 1)
        }
    }
}

/// Why a flow's summary was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// FIN in both directions: at the next sweep once both are acknowledged, else after the
    /// unclean linger time.
    Fin,
    /// A RST, after the unclean linger time.
    Rst,
    /// No packet for the idle timeout.
    Idle,
    /// Removed to keep the flow table within its cap.
    Evicted,
    /// A new SYN reused the addresses and ports.
    Reused,
    /// The capture ended with the flow still open.
    End,
}

impl EndReason {
    /// The reason's name in events (as its `Serialize` writes it).
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Idle => "idle",
            EndReason::Evicted => "evicted",
            EndReason::Reused => "reused",
            EndReason::End => "end",
        }
    }
}

/// The frames of the three-way handshake and its round-trip time.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Handshake {
    pub syn: Option<u64>,
    pub syn_ack: Option<u64>,
    pub ack: Option<u64>,
    /// From the most recent SYN (a retransmitted SYN restarts it) to the handshake's final
    /// ACK, in milliseconds: Wireshark's `tcp.analysis.initial_rtt`.
    pub rtt_ms: Option<f64>,
}

/// Packet and byte counts of one direction.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct DirCounts {
    pub packets: u64,
    /// Bytes on the wire, link headers included.
    pub bytes: u64,
    /// TCP payload bytes seen, retransmissions included (Zeek's `orig_bytes`/`resp_bytes`
    /// count by sequence numbers instead).
    pub payload_bytes: u64,
}

/// The `flow` event of CONTRACT.md.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSummary {
    pub flow: FlowId,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Zeek's conn_state.
    pub state: &'static str,
    /// Zeek's conn history letters.
    pub history: String,
    pub handshake: Handshake,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Seconds from the first to the last packet.
    pub duration: f64,
    pub client_packets: u64,
    pub client_bytes: u64,
    pub client_payload_bytes: u64,
    pub server_packets: u64,
    pub server_bytes: u64,
    pub server_payload_bytes: u64,
    /// How many frames carried each analysis label.
    pub analysis: LabelCounts,
    pub reason: EndReason,
    /// Stream bytes never captured (holes the reassembly reported), client then server.
    pub gap_bytes: [u64; 2],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differing_in_one_bit_hash_far_apart() {
        let ep = |ip: &str, port| Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        let base = FlowKey::new(ep("10.0.0.1", 40000), ep("10.0.0.2", 443)).0;
        let mut worst = 64;
        for (a, p) in [
            ("10.0.0.3", 40000),
            ("10.0.1.1", 40000),
            ("11.0.0.1", 40000),
            ("10.0.0.1", 40001),
        ] {
            let k = FlowKey::new(ep(a, p), ep("10.0.0.2", 443)).0;
            worst = worst.min((k.hash64() ^ base.hash64()).count_ones());
        }
        assert!(worst >= 16, "only {worst} bits differ");
        let v6 = FlowKey::new(ep("::1", 1), ep("::2", 2)).0;
        let v6b = FlowKey::new(ep("::1", 1), ep("::3", 2)).0;
        assert!((v6.hash64() ^ v6b.hash64()).count_ones() >= 16);
    }

    #[test]
    fn both_directions_share_a_key() {
        let a = Endpoint {
            ip: "10.0.0.2".parse().unwrap(),
            port: 40000,
        };
        let b = Endpoint {
            ip: "10.0.0.1".parse().unwrap(),
            port: 443,
        };
        let (k1, d1) = FlowKey::new(a, b);
        let (k2, d2) = FlowKey::new(b, a);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        assert_eq!(k1.hash64(), k2.hash64());
    }
}
