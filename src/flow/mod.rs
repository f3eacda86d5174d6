//! TCP flows: the flow key and table, Wireshark's sequence analysis, Zeek-style connection
//! summaries, and stream reassembly for the dissectors.
//!
//! A flow is keyed by its canonical 5-tuple (endpoints ordered, so both directions hash alike)
//! and knows which side is the client. This module never looks at payload contents; it hands
//! in-order stream bytes to `dissect/` through the engine.

pub mod analysis;
pub mod conn;
pub mod pdu;
pub mod reassembly;
pub mod seq;
pub mod table;
pub mod tcp;

use serde::Serialize;

pub use analysis::{Analysis, Label, LabelCounts};
pub use table::{FlowTable, FlowTableConfig};

use crate::event::{Endpoint, FlowId, Timestamp};

/// Canonical flow key: the two endpoints in sorted order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
}

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
    /// FIN in both directions, after the linger time.
    Fin,
    /// A RST, after the linger time.
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
    }
}
