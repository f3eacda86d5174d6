//! Properties that hold on any input: decode, the engine (with both sinks) and the TLS
//! dissector never panic; the dissector never asks for more than one record; and the
//! engine's memory stays within its configured caps under floods of flows and of
//! out-of-order segments. Fuzzing (`make fuzz`) explores further; these run with `make test`.
//!
//! Heap use is measured by a counting allocator, per thread, so tests running in parallel do
//! not disturb each other's figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use capd::decode::{self, linktype};
use capd::dissect::session::SessionBuilder;
use capd::dissect::tls::{Ctx, FrameTls, TlsConversation};
use capd::engine::{Engine, EngineConfig, Frame};
use capd::event::{Endpoint, Event, Timestamp};
use capd::flow::pdu::{Need, Outcome};
use capd::report::Sink;
use capd::report::human::{Detail, Human, HumanOptions};
use capd::report::json::JsonLines;
use proptest::prelude::*;

thread_local! {
    /// Heap bytes this thread holds, and the most it held since `reset_peak`.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

/// The system allocator, counting what each thread holds.
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; only a thread-local counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts measuring: returns the bytes held now.
fn reset_peak() -> isize {
    let now = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(now));
    now
}

fn peak() -> isize {
    PEAK.with(Cell::get)
}

/// A raw IPv4 (LINKTYPE_RAW) TCP segment; checksums are not checked by capd.
fn segment(host: u8, sport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let total = (40 + payload.len()) as u16;
    let mut f = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
    f[2..4].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[10, 0, 0, host, 10, 0, 1, 1]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn frame(number: u64, ns: i64, data: &[u8]) -> Frame<'_> {
    Frame {
        number,
        ts: Timestamp::new(
            1_700_000_000 + ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000) as u32,
        ),
        linktype: linktype::RAW,
        orig_len: data.len() as u32,
        data,
    }
}

/// Renders events through both sinks; every JSON line must parse.
fn drain(engine: &mut Engine) -> usize {
    let mut n = 0;
    while let Some(ev) = engine.poll_event() {
        let mut json = Vec::new();
        JsonLines::new(&mut json).emit(&ev).unwrap();
        for line in json.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).expect("valid JSON line");
        }
        let opts = HumanOptions {
            detail: Detail::Verbose,
            color: true,
        };
        Human::new(std::io::sink(), opts).emit(&ev).unwrap();
        n += 1;
    }
    n
}

/// A frame for the engine: arbitrary bytes, or a TCP segment on one of a few flows with
/// arbitrary flags, nearby sequence numbers and a payload that may look like TLS.
fn arb_frame() -> impl Strategy<Value = (i64, Vec<u8>)> {
    let tcp = (
        0u8..3,
        prop::sample::select(vec![40000u16, 40001]),
        0u32..3000,
        0u32..3000,
        any::<u8>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            prop::collection::vec(any::<u8>(), 0..80).prop_map(|mut b| {
                b.splice(0..0, [22, 3, 3, 0, b.len() as u8, 1, 0, 0, 40]);
                b
            }),
        ],
    )
        .prop_map(|(h, p, s, a, fl, pl)| segment(h, p, 1000 + s, 5000 + a, fl, &pl));
    let bytes = prop::collection::vec(any::<u8>(), 0..120);
    (
        -2_000_000_000i64..400_000_000_000,
        prop_oneof![3 => tcp, 1 => bytes],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decode_never_panics_on_any_link_type(
        lt in prop::sample::select(vec![0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]),
        data in prop::collection::vec(any::<u8>(), 0..160),
        orig in any::<u16>(),
    ) {
        if let decode::Decoded::Tcp(t) = decode::decode(lt, &data, u32::from(orig)) {
            prop_assert!(t.options.len() <= 40);
            let _ = t.parsed_options();
        }
    }

    #[test]
    fn the_engine_never_panics_and_counts_every_frame(
        frames in prop::collection::vec(arb_frame(), 1..40),
        small in any::<bool>(),
    ) {
        let mut config = EngineConfig { emit_other_frames: true, ..EngineConfig::default() };
        if small {
            config.flows.max_flows = 2;
            config.max_buffer_per_direction = 100;
            config.max_buffer_total = 150;
        }
        let mut engine = Engine::new(config);
        let mut ns = 0i64;
        for (i, (step, data)) in frames.iter().enumerate() {
            ns += step;
            engine.handle_frame(&frame(i as u64 + 1, ns, data));
            drain(&mut engine);
            if i % 7 == 6 {
                engine.handle_tick(Timestamp::new(1_700_000_000 + ns / 1_000_000_000, 0));
                drain(&mut engine);
            }
        }
        engine.finish();
        drain(&mut engine);
        prop_assert_eq!(engine.stats().packets, frames.len() as u64);
    }

    #[test]
    fn the_tls_dissector_never_panics_nor_asks_for_more_than_a_record(
        segments in prop::collection::vec((any::<bool>(), any::<bool>(), prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            (prop::sample::select(vec![20u8, 21, 22, 23, 24, 25, 0x80, 0x16]),
             prop::sample::select(vec![0x0002u16, 0x0300, 0x0301, 0x0303, 0x0304, 0x7f1c, 0xfefd]),
             any::<u16>(),
             prop::collection::vec(any::<u8>(), 0..200))
                .prop_map(|(ct, v, len, body)| {
                    let mut r = vec![ct];
                    r.extend_from_slice(&v.to_be_bytes());
                    r.extend_from_slice(&len.to_be_bytes());
                    r.extend_from_slice(&body);
                    r
                }),
        ]), 1..24),
    ) {
        let session = SessionBuilder::new(
            0,
            "192.0.2.1:40000".parse().unwrap(),
            "192.0.2.2:443".parse().unwrap(),
            None,
        );
        let client = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 50000 };
        let server = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 443 };
        let mut conv = TlsConversation::new(session);
        let mut pending: [Vec<u8>; 2] = Default::default();
        for (i, (from_server, cut, bytes)) in segments.iter().enumerate() {
            let (src, dst) = if *from_server { (server, client) } else { (client, server) };
            let ctx = Ctx {
                frame: i as u64 + 1,
                ts: Timestamp::default(),
                src,
                dst,
                from_client: !from_server,
                can_desegment: !cut,
                may_buffer: true,
            };
            let side = usize::from(*from_server);
            let mut data = std::mem::take(&mut pending[side]);
            data.extend_from_slice(bytes);
            let mut out = FrameTls::default();
            if let Outcome::Desegment { offset, need } = conv.dissect(&data, &ctx, &mut out) {
                prop_assert!(offset <= data.len());
                if let Need::Bytes(n) = need {
                    prop_assert!(n as usize <= 65536 + 5, "asked for {} bytes", n);
                }
                pending[side] = data.split_off(offset);
                prop_assert!(pending[side].len() <= 65536 + 5);
            }
        }
        if let Some(s) = conv.session.as_mut().and_then(|b| b.take_final()) {
            let mut json = Vec::new();
            JsonLines::new(&mut json).emit(&Event::TlsHandshake(s)).unwrap();
        }
    }
}

/// Thousands of flows through a table capped at 64: the oldest are evicted and reported,
/// and the engine's heap stays near what 64 flows need.
#[test]
fn a_flood_of_flows_is_evicted_and_memory_stays_bounded() {
    const FLOWS: u32 = 20_000;
    let mut config = EngineConfig::default();
    config.flows.max_flows = 64;
    // Ended conversations are remembered within their own cap, too.
    config.flows.max_retired = 64;
    let mut engine = Engine::new(config);
    let mut buf = Vec::with_capacity(128);
    let base = reset_peak();
    for i in 0..FLOWS {
        buf.clear();
        buf.extend_from_slice(&segment((i >> 16) as u8, i as u16, i, 0, 0x02, b""));
        engine.handle_frame(&frame(u64::from(i) + 1, i64::from(i) * 1000, &buf));
        drain(&mut engine);
    }
    let grown = peak() - base;
    let stats = engine.stats();
    assert_eq!(stats.flows, u64::from(FLOWS));
    assert!(stats.flows_evicted >= u64::from(FLOWS - 64), "{stats:?}");
    // 64 flows of a few hundred bytes each, the table's slots and one frame's events.
    assert!(grown < 512 * 1024, "the engine grew by {grown} bytes");
}

/// Out-of-order segments on many flows, from one byte to a full segment long: what the
/// engine holds is bounded by its reassembly budget, with per-segment bookkeeping included,
/// and the directions that hit the cap are counted.
#[test]
fn out_of_order_floods_stay_within_the_reassembly_budget() {
    const TOTAL: usize = 256 * 1024;
    let mut config = EngineConfig {
        max_buffer_per_direction: 64 * 1024,
        max_buffer_total: TOTAL,
        ..EngineConfig::default()
    };
    // The 64 flows of the flood: the table's own slots stay small, so what grows is what
    // the reassembly budget governs.
    config.flows.max_flows = 64;
    let mut engine = Engine::new(config);
    let payload = vec![0x17u8; 1400];
    let mut buf = Vec::with_capacity(1500);
    let base = reset_peak();
    let mut n = 0u64;
    for flow in 0..32u16 {
        for size in [1usize, 1400] {
            for k in 0..2000u32 {
                n += 1;
                buf.clear();
                // Every segment starts beyond a one-byte hole after the ISN, never filled.
                let seq = 1000 + 2 + k * (size as u32 + 1);
                let sport = 30000 + flow * 2 + u16::from(size > 1);
                buf.extend_from_slice(&segment(0, sport, seq, 0, 0x18, &payload[..size]));
                engine.handle_frame(&frame(n, n as i64 * 1000, &buf));
                drain(&mut engine);
            }
        }
    }
    let grown = peak() - base;
    let stats = engine.stats();
    assert!(stats.reassembly_abandoned > 0, "{stats:?}");
    assert!(
        grown < (2 * TOTAL + 512 * 1024) as isize,
        "the engine grew by {grown} bytes for a {TOTAL}-byte budget"
    );
}
