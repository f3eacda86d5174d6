//! One flow of the flow table: its key and client/server roles, per-direction counts, the
//! handshake's frames and round-trip time, and the FIN and RST bookkeeping by which the table
//! knows when the flow may end.
//!
//! The table (`table.rs`) creates, finds and ends flows; this file only updates one flow from
//! the segments handed to it. `server_port_score` is the rule the table picks roles by when no
//! SYN says who the client is (the ladder borrows it for the same purpose).

use super::conn::ConnState;
use super::seq::SeqNumber;
use super::tcp::{Connection, Segment};
use super::{DirCounts, EndReason, FlowKey, FlowSummary, Handshake, LabelCounts};
use crate::event::{Endpoint, FlowId, Timestamp};

/// One TCP flow.
#[derive(Debug)]
pub struct Flow<A> {
    pub id: FlowId,
    pub key: FlowKey,
    /// Direction index (see `FlowKey::new`) of client-to-server segments.
    pub client_dir: usize,
    pub tcp: Connection,
    pub conn: ConnState,
    pub counts: [DirCounts; 2],
    pub labels: LabelCounts,
    pub handshake: Handshake,
    pub syn_time: Option<Timestamp>,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    fin: [bool; 2],
    /// Sequence number just past each side's FIN.
    fin_end: [SeqNumber; 2],
    /// Highest acknowledgement number each side sent.
    max_ack: [Option<SeqNumber>; 2],
    pub(super) rst: bool,
    /// Listed in the table's `closing` since the last sweep.
    pub(super) closing: bool,
    /// Stream bytes never captured, per direction index.
    pub gap_bytes: [u64; 2],
    pub app: A,
}

/// How likely a port is to be the server's: well-known, then the lab's and other common
/// service ports, then registered ports, then ephemeral ones.
pub fn server_port_score(port: u16) -> u8 {
    match port {
        0..=1023 => 3,
        1433 | 1521 | 3306 | 5432 | 6379 | 8080 | 8443 | 9443 | 15001 | 27017 => 2,
        1024..=32767 => 1,
        _ => 0,
    }
}

impl<A> Flow<A> {
    /// A flow whose first segment, seen at `ts`, is yet to be accounted; `client_dir`, `tcp`
    /// and `conn` are what the table chose or kept for it.
    pub(super) fn new(
        id: FlowId,
        key: FlowKey,
        client_dir: usize,
        tcp: Connection,
        conn: ConnState,
        ts: Timestamp,
        app: A,
    ) -> Self {
        Flow {
            id,
            key,
            client_dir,
            tcp,
            conn,
            counts: Default::default(),
            labels: LabelCounts::default(),
            handshake: Handshake::default(),
            syn_time: None,
            first_ts: ts,
            last_ts: ts,
            fin: [false; 2],
            fin_end: [SeqNumber::default(); 2],
            max_ack: [None; 2],
            rst: false,
            closing: false,
            gap_bytes: [0; 2],
            app,
        }
    }

    /// True when the segment travels from client to server.
    pub fn from_client(&self, dir: usize) -> bool {
        dir == self.client_dir
    }

    pub fn client(&self) -> Endpoint {
        if self.client_dir == 0 {
            self.key.lo
        } else {
            self.key.hi
        }
    }

    pub fn server(&self) -> Endpoint {
        if self.client_dir == 0 {
            self.key.hi
        } else {
            self.key.lo
        }
    }

    /// Records the segment's contribution to counts, history, handshake frames and closing.
    pub fn account(&mut self, dir: usize, seg: &Segment, wire_len: u32) {
        let from_client = self.from_client(dir);
        let (frame, ts, flags) = (seg.frame, seg.ts, seg.flags);
        let c = &mut self.counts[dir];
        c.packets += 1;
        c.bytes += u64::from(wire_len);
        c.payload_bytes += u64::from(seg.len);
        self.last_ts = ts;
        self.conn.segment(from_client, seg);
        if flags.syn() {
            // The connection (re)opens: an earlier RST or FIN no longer closes it.
            self.fin = [false; 2];
            self.rst = false;
        }
        if flags.fin() {
            self.fin[dir] = true;
            self.fin_end[dir] = SeqNumber(seg.seq) + seg.len + 1;
        }
        if flags.ack() {
            let a = SeqNumber(seg.ack);
            self.max_ack[dir] = Some(self.max_ack[dir].map_or(a, |m| m.max(a)));
        }
        if flags.rst() {
            self.rst = true;
        }
        let hs = &mut self.handshake;
        if flags.syn() && !flags.ack() && from_client {
            // The first SYN's frame; the RTT runs from the latest one, as Wireshark's does.
            hs.syn.get_or_insert(frame);
            self.syn_time = Some(ts);
        } else if flags.syn() && flags.ack() && !from_client {
            hs.syn_ack.get_or_insert(frame);
        } else if flags.ack()
            && !flags.syn()
            && from_client
            && hs.syn_ack.is_some()
            && hs.ack.is_none()
        {
            hs.ack = Some(frame);
            if let Some(t) = self.syn_time {
                hs.rtt_ms = Some(ts.millis_since(t));
            }
        }
    }

    /// FIN seen both ways, or a RST.
    pub fn is_closed(&self) -> bool {
        self.rst || (self.fin[0] && self.fin[1])
    }

    /// FIN seen both ways and each acknowledged by the other side, without RST.
    pub(super) fn is_closed_cleanly(&self) -> bool {
        !self.rst
            && (0..2)
                .all(|d| self.fin[d] && self.max_ack[d ^ 1].is_some_and(|a| a >= self.fin_end[d]))
    }

    /// The flow event for this flow.
    pub fn summary(&self, reason: EndReason) -> FlowSummary {
        let (c, s) = (self.client_dir, self.client_dir ^ 1);
        FlowSummary {
            flow: self.id,
            client: self.client(),
            server: self.server(),
            state: self.conn.state(),
            history: self.conn.history().to_string(),
            handshake: self.handshake.clone(),
            start: self.first_ts,
            end: self.last_ts,
            duration: self.last_ts.nanos_since_f64(self.first_ts) / 1e9,
            client_packets: self.counts[c].packets,
            client_bytes: self.counts[c].bytes,
            client_payload_bytes: self.counts[c].payload_bytes,
            server_packets: self.counts[s].packets,
            server_bytes: self.counts[s].bytes,
            server_payload_bytes: self.counts[s].payload_bytes,
            analysis: self.labels.clone(),
            reason,
            gap_bytes: [self.gap_bytes[c], self.gap_bytes[s]],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::TcpFlags;

    fn flow() -> Flow<()> {
        let ep = |ip: &str, port| Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        let (key, dir) = FlowKey::new(ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let (tcp, conn) = (Connection::default(), ConnState::default());
        Flow::new(0, key, dir, tcp, conn, Timestamp::default(), ())
    }

    fn seg(flags: u16, seq: u32, ack: u32) -> Segment {
        Segment {
            frame: 1,
            ts: Timestamp::new(1, 0),
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 1000,
            len: 0,
            window_scale: None,
        }
    }

    #[test]
    fn fins_both_ways_close_the_flow_cleanly_once_both_are_acknowledged() {
        let mut f = flow();
        let (c, s) = (f.client_dir, f.client_dir ^ 1);
        let fin = TcpFlags::FIN | TcpFlags::ACK;
        f.account(c, &seg(fin, 100, 500), 60);
        assert!(!f.is_closed(), "one FIN half-closes");
        f.account(s, &seg(fin, 500, 101), 60);
        assert!(f.is_closed());
        assert!(!f.is_closed_cleanly(), "the server's FIN is unacknowledged");
        f.account(c, &seg(TcpFlags::ACK, 101, 501), 60);
        assert!(f.is_closed_cleanly());
    }

    #[test]
    fn a_syn_reopens_a_reset_flow() {
        let mut f = flow();
        f.account(f.client_dir, &seg(TcpFlags::RST, 100, 0), 60);
        assert!(f.is_closed() && !f.is_closed_cleanly());
        f.account(f.client_dir, &seg(TcpFlags::SYN, 100, 0), 60);
        assert!(!f.is_closed());
    }
}
