//! Fuzz target: arbitrary frame sequences through `engine::Engine`, with every event rendered
//! by the JSON and human sinks.
//!
//! Input: a link type selector byte, a settings byte (bit 0: a 4-flow table; bit 1: tiny
//! reassembly budgets; bit 2: events for non-TCP frames; bit 3: short idle and linger
//! times), then records (`capd_fuzz::Records`), one per frame. A record's control byte moves
//! the clock: bits 0-5 are a step (below 48: that many 100 µs; from 48: minutes), bit 6 runs
//! it backwards, bit 7 calls `handle_tick` first. Its flag marks a frame cut by the snapshot
//! length (1000 bytes more on the wire).

#![no_main]

use capd::engine::{Engine, EngineConfig, Frame};
use capd::event::Timestamp;
use capd_fuzz::{Records, pick_linktype, render};
use libfuzzer_sys::fuzz_target;

fn config(bits: u8) -> EngineConfig {
    let mut c = EngineConfig::default();
    if bits & 1 != 0 {
        c.flows.max_flows = 4;
    }
    if bits & 2 != 0 {
        c.max_buffer_per_direction = 64;
        c.max_buffer_total = 256;
    }
    c.emit_other_frames = bits & 4 != 0;
    if bits & 8 != 0 {
        c.flows.idle_timeout_ns = 2_000_000_000;
        c.flows.linger_ns = 1_000_000;
        c.flows.unclean_linger_ns = 10_000_000;
    }
    c
}

fn drain(engine: &mut Engine) {
    while let Some(mut ev) = engine.poll_event() {
        render(&ev);
        // As the pipeline does: later frames fill the lists of events already written.
        engine.recycle(&mut ev);
    }
}

fuzz_target!(|input: &[u8]| {
    let [lt, bits, rest @ ..] = input else {
        return;
    };
    let linktype = pick_linktype(*lt);
    let mut engine = Engine::new(config(*bits));
    let mut ns: i128 = 1_700_000_000 * 1_000_000_000;
    let mut frames = 0u64;
    for (ctl, cut, data) in Records::new(rest) {
        let step = i128::from(ctl & 0x3f);
        let step = if step < 48 {
            step * 100_000
        } else {
            (step - 47) * 60_000_000_000
        };
        ns += if ctl & 0x40 != 0 { -step } else { step };
        let ts = Timestamp::new(
            (ns.div_euclid(1_000_000_000)) as i64,
            ns.rem_euclid(1_000_000_000) as u32,
        );
        if ctl & 0x80 != 0 {
            engine.handle_tick(ts);
            drain(&mut engine);
        }
        frames += 1;
        engine.handle_frame(&Frame {
            number: frames,
            ts,
            linktype,
            orig_len: data.len() as u32 + if cut { 1000 } else { 0 },
            data,
        });
        drain(&mut engine);
    }
    engine.finish();
    drain(&mut engine);
    let stats = engine.stats();
    assert_eq!(stats.packets, frames);
    assert!(stats.tcp_packets <= frames);
    render(&capd::event::Event::Stats(stats));
});
