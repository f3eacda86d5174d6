//! Flow scenarios through the whole sans-IO engine: synthetic IPv4/TCP frames in, `packet` and
//! `flow` events out. Each test names one situation of issue 3 (handshake stages, refused and
//! reset connections, half close, simultaneous open, reused ports, mid-stream starts) and the
//! memory bounds (flow-table cap, reassembly caps).

mod common;

use capd::engine::{Engine, EngineConfig, Frame};
use capd::event::{Event, Timestamp};
use capd::flow::{FlowSummary, FlowTableConfig};

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// LINKTYPE_RAW: frames start with the IP header.
const RAW: i32 = 101;

/// A client at 10.0.0.1:`cport` and a server at 10.0.0.2:`sport`.
struct Net {
    engine: Engine,
    frame: u64,
    /// Milliseconds since the start of the capture.
    ms: u64,
    cport: u16,
    sport: u16,
    events: Vec<Event>,
    /// Take events in handfuls of this many (`take_events`) instead of one by one.
    handful: Option<usize>,
    /// Take events only at the end, not after every frame, so that they queue up in the
    /// engine across sweeps.
    lazy: bool,
}

impl Net {
    fn new(config: EngineConfig) -> Net {
        Net {
            engine: Engine::new(config),
            frame: 0,
            ms: 0,
            cport: 40000,
            sport: 443,
            events: Vec::new(),
            handful: None,
            lazy: false,
        }
    }

    fn default() -> Net {
        Net::new(EngineConfig::default())
    }

    /// Sends one segment `dt` ms after the previous one; `from_client` picks the direction.
    fn seg(&mut self, dt: u64, from_client: bool, flags: u8, seq: u32, ack: u32, data: &[u8]) {
        self.ms += dt;
        self.frame += 1;
        let (src, dst, sp, dp) = if from_client {
            ([10, 0, 0, 1], [10, 0, 0, 2], self.cport, self.sport)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], self.sport, self.cport)
        };
        let bytes = ipv4_tcp(src, dst, sp, dp, seq, ack, flags, 64240, data);
        let ts = Timestamp::new(
            1_700_000_000 + (self.ms / 1000) as i64,
            ((self.ms % 1000) * 1_000_000) as u32,
        );
        self.engine.handle_frame(&Frame {
            number: self.frame,
            ts,
            linktype: RAW,
            orig_len: bytes.len() as u32,
            data: &bytes,
        });
        if !self.lazy {
            self.collect();
        }
    }

    /// Moves the engine's queued events into `events`.
    fn collect(&mut self) {
        match self.handful {
            None => self
                .events
                .extend(std::iter::from_fn(|| self.engine.poll_event())),
            Some(n) => loop {
                let mut handful = Vec::new();
                self.engine.take_events(&mut handful, n);
                assert!(handful.len() <= n);
                let last = handful.len() < n;
                self.events.append(&mut handful);
                if last {
                    break;
                }
            },
        }
    }

    fn c(&mut self, dt: u64, flags: u8, seq: u32, ack: u32, data: &[u8]) {
        self.seg(dt, true, flags, seq, ack, data);
    }

    fn s(&mut self, dt: u64, flags: u8, seq: u32, ack: u32, data: &[u8]) {
        self.seg(dt, false, flags, seq, ack, data);
    }

    /// Ends the capture and returns every flow summary.
    fn finish(&mut self) -> Vec<FlowSummary> {
        self.engine.finish();
        self.collect();
        self.flows()
    }

    fn flows(&self) -> Vec<FlowSummary> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Flow(f) => Some((**f).clone()),
                _ => None,
            })
            .collect()
    }

    /// The analysis labels of packet `frame`.
    fn labels(&self, frame: u64) -> Vec<&'static str> {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Packet(p) if p.frame == frame => {
                    Some(p.tcp.analysis.iter().map(|l| l.name()).collect())
                }
                _ => None,
            })
            .expect("packet event")
    }

    /// Relative (seq, ack) of packet `frame`.
    fn rel(&self, frame: u64) -> (u32, u32) {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Packet(p) if p.frame == frame => Some((p.tcp.seq, p.tcp.ack)),
                _ => None,
            })
            .expect("packet event")
    }

    /// The flow id of packet `frame`.
    fn flow_of(&self, frame: u64) -> u32 {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Packet(p) if p.frame == frame => Some(p.flow),
                _ => None,
            })
            .expect("packet event")
    }
}

/// An IPv4 packet carrying one TCP segment (checksums left zero: capd does not verify them).
#[allow(clippy::too_many_arguments)]
fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    data: &[u8],
) -> Vec<u8> {
    let total = 20 + 20 + data.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[5 << 4, flags]);
    p.extend_from_slice(&win.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(data);
    p
}

/// Client ISN and server ISN used throughout.
const C: u32 = 1000;
const S: u32 = 5000;

fn handshake(n: &mut Net) {
    n.c(0, SYN, C, 0, b"");
    n.s(10, SYN | ACK, S, C + 1, b"");
    n.c(10, ACK, C + 1, S + 1, b"");
}

#[test]
fn three_way_handshake_records_its_frames_and_rtt_then_fin_both_ways_is_sf() {
    let mut n = Net::default();
    handshake(&mut n);
    n.c(1, PSH | ACK, C + 1, S + 1, b"hello");
    n.s(1, PSH | ACK, S + 1, C + 6, b"world!");
    n.c(1, FIN | ACK, C + 6, S + 7, b"");
    n.s(1, FIN | ACK, S + 7, C + 7, b"");
    n.c(1, ACK, C + 7, S + 8, b"");
    let flows = n.finish();
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(f.client.to_string(), "10.0.0.1:40000");
    assert_eq!(f.server.to_string(), "10.0.0.2:443");
    assert_eq!(
        (f.handshake.syn, f.handshake.syn_ack, f.handshake.ack),
        (Some(1), Some(2), Some(3))
    );
    assert_eq!(f.handshake.rtt_ms, Some(20.0));
    assert_eq!((f.state, f.history.as_str()), ("SF", "ShADdFf"));
    assert_eq!(n.rel(4), (1, 1));
    assert_eq!(n.rel(5), (1, 6));
}

#[test]
fn retransmitted_syn_is_labelled_and_restarts_the_handshake_rtt() {
    let mut n = Net::default();
    n.c(0, SYN, C, 0, b"");
    n.c(1000, SYN, C, 0, b"");
    n.s(10, SYN | ACK, S, C + 1, b"");
    n.c(10, ACK, C + 1, S + 1, b"");
    assert_eq!(n.labels(2), ["retransmission"]);
    let f = &n.finish()[0];
    assert_eq!(f.handshake.syn, Some(1), "the first SYN's frame");
    assert_eq!(f.handshake.rtt_ms, Some(20.0), "Wireshark's initial RTT");
    assert_eq!((f.state, f.history.as_str()), ("S1", "ShA"));
}

#[test]
fn syn_answered_by_rst_is_a_refused_connection() {
    let mut n = Net::default();
    n.c(0, SYN, C, 0, b"");
    n.s(1, RST | ACK, 0, C + 1, b"");
    let f = &n.finish()[0];
    assert_eq!((f.state, f.history.as_str()), ("REJ", "Sr"));
    assert_eq!(f.handshake.syn_ack, None);
}

#[test]
fn unanswered_syns_are_s0() {
    let mut n = Net::default();
    n.c(0, SYN, C, 0, b"");
    n.c(1000, SYN, C, 0, b"");
    n.c(2000, SYN, C, 0, b"");
    let f = &n.finish()[0];
    assert_eq!((f.state, f.history.as_str()), ("S0", "S"));
    assert_eq!(f.analysis.get(capd::flow::Label::Retransmission), 2);
}

#[test]
fn rst_mid_stream_from_either_side() {
    for (from_client, state, history) in [(true, "RSTO", "ShADR"), (false, "RSTR", "ShADr")] {
        let mut n = Net::default();
        handshake(&mut n);
        n.c(1, PSH | ACK, C + 1, S + 1, b"data");
        if from_client {
            n.c(1, RST | ACK, C + 5, S + 1, b"");
        } else {
            n.s(1, RST | ACK, S + 1, C + 5, b"");
        }
        let f = &n.finish()[0];
        assert_eq!((f.state, f.history.as_str()), (state, history));
    }
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    let mut n = Net::default();
    handshake(&mut n);
    n.c(1, FIN | ACK, C + 1, S + 1, b"");
    n.s(1, ACK, S + 1, C + 2, b"");
    // The server still sends after the client closed its side.
    n.s(1, PSH | ACK, S + 1, C + 2, b"late reply");
    n.c(1, ACK, C + 2, S + 11, b"");
    assert!(n.labels(6).is_empty(), "{:?}", n.labels(6));
    let f = &n.finish()[0];
    assert_eq!((f.state, f.history.as_str()), ("S2", "ShAFad"));
    assert_eq!(f.server_payload_bytes, 10);
}

#[test]
fn simultaneous_open_is_one_flow_with_the_first_syns_sender_as_client() {
    let mut n = Net::default();
    n.c(0, SYN, C, 0, b"");
    n.s(1, SYN, S, 0, b"");
    n.c(1, SYN | ACK, C, S + 1, b"");
    n.s(1, SYN | ACK, S, C + 1, b"");
    n.c(1, ACK, C + 1, S + 1, b"");
    assert_eq!(n.rel(5), (1, 1));
    let flows = n.finish();
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(f.client.to_string(), "10.0.0.1:40000");
    assert_eq!((f.state, f.history.as_str()), ("S1", "SsA"));
}

#[test]
fn a_new_syn_on_a_closed_four_tuple_starts_a_new_flow_with_reused_ports() {
    let mut n = Net::default();
    handshake(&mut n);
    n.c(1, FIN | ACK, C + 1, S + 1, b"");
    n.s(1, FIN | ACK, S + 1, C + 2, b"");
    n.c(1, ACK, C + 2, S + 2, b"");
    // Before the next sweep (every 100 ms of capture time) the old flow is still open.
    n.c(50, SYN, 77_000, 0, b"");
    n.s(1, SYN | ACK, 99_000, 77_001, b"");
    assert_eq!(n.labels(7), ["reused_ports"]);
    assert_eq!(n.rel(7), (0, 0));
    assert_eq!(n.rel(8), (0, 1));
    assert_ne!(n.flow_of(7), n.flow_of(1));
    let flows = n.finish();
    assert_eq!(flows.len(), 2);
    assert_eq!(
        flows[0].reason,
        capd::flow::EndReason::Reused,
        "the old flow ends when its ports are reused"
    );
    assert_eq!(flows[0].state, "SF");
    assert_eq!(flows[1].analysis.get(capd::flow::Label::ReusedPorts), 1);
    assert_eq!(flows[1].history, "Sh");
}

#[test]
fn a_flow_seen_mid_stream_takes_roles_from_the_ports_and_numbers_from_one() {
    let mut n = Net::default();
    // The server (port 443) speaks first in the capture.
    n.s(0, PSH | ACK, 900_000, 700_000, b"response");
    n.c(1, ACK, 700_000, 900_008, b"");
    n.c(1, PSH | ACK, 700_000, 900_008, b"next");
    assert_eq!(n.rel(1), (1, 1));
    assert_eq!(n.rel(2), (1, 9));
    assert_eq!(n.rel(3), (1, 9));
    let f = &n.finish()[0];
    assert_eq!(f.server.to_string(), "10.0.0.2:443");
    assert_eq!((f.state, f.history.as_str()), ("OTH", "^dAD"));
}

#[test]
fn the_flow_cap_evicts_the_least_recently_active_flows_and_counts_them() {
    let mut n = Net::new(EngineConfig {
        flows: FlowTableConfig {
            max_flows: 4,
            ..FlowTableConfig::default()
        },
        ..EngineConfig::default()
    });
    for i in 0..20u16 {
        n.cport = 40000 + i;
        n.c(1, SYN, C, 0, b"");
    }
    let live = n.flows();
    assert!(live.len() >= 16, "evicted flows are reported as they go");
    assert!(
        live.iter()
            .all(|f| f.reason == capd::flow::EndReason::Evicted)
    );
    let stats = n.engine.stats();
    assert_eq!(stats.flows, 20);
    assert_eq!(stats.flows_evicted, live.len() as u64);
    assert!(n.finish().len() == 20, "every flow is reported once");
}

/// The output thread takes events in handfuls (`take_events`): they come in the order
/// `poll_event` gives them, flows ended by a sweep (a queue of their own) included, and in
/// the order they were made even when they queue up across sweeps.
#[test]
fn events_taken_in_handfuls_come_in_the_order_of_polling() {
    let run = |handful: Option<usize>, lazy: bool| {
        let mut n = Net::default();
        n.handful = handful;
        n.lazy = lazy;
        for round in 0..3u16 {
            for i in 0..12u16 {
                n.cport = 40000 + round * 100 + i;
                handshake(&mut n);
                n.c(1, PSH | ACK, C + 1, S + 1, b"hello");
            }
            // Ten minutes later every flow has idled out: one sweep ends them all, while
            // (lazily taken) the round's packets and the last round's flows are queued.
            n.cport = 50000 + round;
            n.c(600_000, SYN, C, 0, b"");
        }
        n.finish();
        n.events
            .iter()
            .map(|e| match e {
                Event::Packet(p) => format!("packet {} flow {}", p.frame, p.flow),
                Event::Flow(f) => format!("flow {} {:?}", f.flow, f.reason),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let polled = run(None, false);
    assert!(polled.iter().filter(|e| e.contains("Idle")).count() >= 36);
    for n in [1, 3, 5, 128] {
        assert_eq!(run(Some(n), false), polled, "handfuls of {n}");
        assert_eq!(
            run(Some(n), true),
            polled,
            "handfuls of {n}, taken at the end"
        );
    }
    assert_eq!(run(None, true), polled, "polled at the end");
}

#[test]
fn reassembly_caps_abandon_a_direction_and_count_it_without_stopping_analysis() {
    let mut n = Net::new(EngineConfig {
        max_buffer_per_direction: 1000,
        ..EngineConfig::default()
    });
    handshake(&mut n);
    // The first 100 bytes never arrive; what follows must be buffered, and overflows the cap.
    let chunk = [b'x'; 400];
    for i in 0..4u32 {
        n.c(1, ACK, C + 101 + i * 400, S + 1, &chunk);
    }
    assert_eq!(n.engine.stats().reassembly_abandoned, 1);
    // The TCP analysis goes on.
    assert_eq!(n.labels(4), ["lost_segment"]);
    n.c(1, ACK, C + 1, S + 1, &[b'y'; 100]);
    assert_eq!(n.labels(8), ["out_of_order"]);

    // The global budget: once spent, any flow that needs to buffer is abandoned at once.
    let mut n = Net::new(EngineConfig {
        max_buffer_total: 500,
        ..EngineConfig::default()
    });
    handshake(&mut n);
    n.c(1, ACK, C + 101, S + 1, &[b'x'; 600]);
    n.cport = 40001;
    handshake(&mut n);
    n.c(1, ACK, C + 101, S + 1, &[b'x'; 10]);
    assert_eq!(n.engine.stats().reassembly_abandoned, 1, "the second flow");
}

/// Wireshark never forgets a conversation; capd's flows end (idle timeout, linger after
/// close), but the analysis goes on where Wireshark's does. Each case was checked against
/// tshark on an equivalent capture.
#[test]
fn a_keep_alive_after_the_idle_timeout_is_still_a_keep_alive() {
    let mut n = Net::default();
    handshake(&mut n);
    n.c(1, PSH | ACK, C + 1, S + 1, &[b'a'; 100]);
    n.s(1, ACK, S + 1, C + 101, b"");
    n.c(400_000, ACK, C + 100, S + 1, b"");
    n.s(1, ACK, S + 1, C + 101, b"");
    n.c(1, PSH | ACK, C + 101, S + 1, &[b'b'; 50]);
    assert_eq!(n.labels(6), ["keep_alive"]);
    assert_eq!(n.rel(6), (100, 1));
    assert_eq!(n.labels(7), ["keep_alive_ack"]);
    assert!(n.labels(8).is_empty());
    assert_eq!(n.rel(8), (101, 1));
    let flows = n.finish();
    assert_eq!(flows.len(), 2, "the idle flow ended; a new one carries on");
    assert_eq!(flows[0].reason, capd::flow::EndReason::Idle);
    assert_eq!(flows[1].client.to_string(), "10.0.0.1:40000");
}

#[test]
fn a_fin_retransmitted_after_the_linger_is_still_a_retransmission() {
    let mut n = Net::default();
    handshake(&mut n);
    n.c(1, FIN | ACK, C + 1, S + 1, b"");
    n.s(1, FIN | ACK, S + 1, C + 2, b"");
    n.c(1, ACK, C + 2, S + 2, b"");
    n.s(3200, FIN | ACK, S + 1, C + 2, b"");
    n.c(1, ACK, C + 2, S + 2, b"");
    assert_eq!(n.labels(7), ["retransmission"]);
    assert_eq!(n.rel(7), (1, 2));
    assert_eq!(n.labels(8), ["duplicate_ack"]);
    assert_eq!(n.rel(8), (2, 2));
}

#[test]
fn a_new_syn_long_after_the_close_still_reuses_the_ports() {
    let mut n = Net::default();
    handshake(&mut n);
    n.c(1, FIN | ACK, C + 1, S + 1, b"");
    n.s(1, FIN | ACK, S + 1, C + 2, b"");
    n.c(1, ACK, C + 2, S + 2, b"");
    n.c(10_000, SYN, 77_000, 0, b"");
    n.s(1, SYN | ACK, 99_000, 77_001, b"");
    assert_eq!(n.labels(7), ["reused_ports"]);
    assert_eq!(n.rel(8), (0, 1));
    let flows = n.finish();
    assert_eq!(flows[0].reason, capd::flow::EndReason::Fin);
    assert_eq!(flows[1].history, "Sh");
}

proptest::proptest! {
    /// Any sequence of segments on a few 4-tuples, with any flags, numbers and sizes: the
    /// engine never panics and reports every flow it created exactly once.
    #[test]
    fn arbitrary_segments_never_panic_and_every_flow_is_reported_once(
        segs in proptest::collection::vec(
            (0u16..3, proptest::prelude::any::<bool>(), proptest::prelude::any::<u8>(),
             proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>(), 0usize..300,
             0u64..400_000),
            1..120,
        ),
    ) {
        let mut n = Net::new(EngineConfig {
            flows: FlowTableConfig { max_flows: 2, ..FlowTableConfig::default() },
            max_buffer_per_direction: 2000,
            max_buffer_total: 3000,
            ..EngineConfig::default()
        });
        let payload = [b'z'; 300];
        for (port, from_client, flags, seq, ack, len, dt) in segs {
            n.cport = 40000 + port;
            n.seg(dt, from_client, flags & 0x3f, seq, ack, &payload[..len]);
        }
        let flows = n.finish();
        let created = n.engine.stats().flows;
        proptest::prop_assert_eq!(flows.len() as u64, created);
        let mut ids: Vec<u32> = flows.iter().map(|f| f.flow).collect();
        ids.sort_unstable();
        ids.dedup();
        proptest::prop_assert_eq!(ids.len(), flows.len());
    }
}

/// The reassembly budget's count rises while a handshake message split across segments is
/// put back together, and is back at zero once the flow has ended halfway through it: what
/// each flow adds is taken back when it ends.
#[test]
fn buffered_bytes_return_to_zero_when_a_flow_ends_mid_message() {
    let path = common::captures_dir().join("openssl-mtls12-frag512.pcap");
    let mut cap = pcap::Capture::from_file(&path).expect("readable capture");
    let linktype = cap.get_datalink().0;
    let mut engine = Engine::new(EngineConfig::default());
    let mut number = 0;
    while engine.buffered_bytes() == 0 {
        let p = cap.next_packet().expect("a message split across segments");
        number += 1;
        engine.handle_frame(&Frame {
            number,
            ts: Timestamp::new(p.header.ts.tv_sec, p.header.ts.tv_usec as u32 * 1000),
            linktype,
            orig_len: p.header.len,
            data: p.data,
        });
        while engine.poll_event().is_some() {}
    }
    // The capture ends here, with part of a message held.
    engine.finish();
    assert_eq!(engine.buffered_bytes(), 0);
}
