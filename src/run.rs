//! A capture run: the capture thread feeds the engine over a bounded channel, the engine's
//! thread hands its events over another to this one, which writes them to a sink, and
//! signals end it all cleanly.
//!
//! Ctrl-C or SIGTERM sets a flag; the capture thread sees it within its poll interval, stops
//! and hangs up; the pipeline drains what is queued, finishes every flow, prints `stats` and
//! flushes. A second signal exits at once. A closed stdout (`capd ... | head`) ends the run
//! quietly: the pipeline stops reading, which stops the capture thread.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender, bounded};

use crate::capture::{self, Batch, QUEUE_BATCHES};
use crate::cli::{Config, Output};
use crate::dissect::tls::TlsSpares;
use crate::engine::Engine;
use crate::event::Event;
use crate::report::Sink;
use crate::report::human::Human;
use crate::report::json::JsonLines;
use crate::report::ladder::Ladder;
use crate::shard::{HELD_BATCHES, Shards};

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Finished normally: end of file, count reached, or a signal.
    Done,
    /// stdout was closed by its reader.
    OutputClosed,
}

/// Installs the Ctrl-C/SIGTERM handler once per process and returns the shared stop flag.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // A second signal while shutting down exits at once.
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}

fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Runs a capture to its end, writing events to `out`.
pub fn run(config: Config, out: impl Write) -> Result<Outcome> {
    run_with(config, out, |_| {})
}

/// Like `run`, and once the capture is open (every frame from then on will be seen) calls
/// `started` with the stop flag, which ends the run when set. `capd demo` starts its clients
/// there and stops the capture when they are done.
pub fn run_with(
    config: Config,
    out: impl Write,
    started: impl FnOnce(Arc<AtomicBool>),
) -> Result<Outcome> {
    let mut opened = capture::open(&config.capture)?;
    if config.threads > 1 {
        opened.route_ahead(crate::shard::workers(config.threads));
    }
    if let Some(user) = &config.user {
        capture::drop_privileges(user)?;
    }
    if !crate::decode::decodes_linktype(opened.linktype()) {
        eprintln!(
            "capd: warning: {} has link-type {} ({}), which capd does not decode: its frames are \
             counted, not dissected.",
            opened.name(),
            opened.linktype_name(),
            opened.linktype()
        );
    }
    let live = opened.is_live();
    if live {
        // As tcpdump does: tells the user (and scripts waiting on it) that frames now flow.
        let filter = config.capture.filter.as_deref().unwrap_or("none");
        eprintln!(
            "capd: listening on {}, link-type {}, filter: {filter}",
            opened.name(),
            opened.linktype_name()
        );
    }
    let out = BufWriter::with_capacity(1 << 16, out);
    let mut sink: Box<dyn Sink> = match config.output {
        Output::Json => Box::new(JsonLines::new(out)),
        Output::Human(opts) => Box::new(Human::new(out, opts)),
        Output::Ladder(opts) => Box::new(Ladder::new(out, opts)),
    };
    let stop = stop_flag();
    stop.store(false, Ordering::SeqCst);
    let (tx, rx) = bounded::<Batch>(QUEUE_BATCHES);
    // Every batch in use fits (queued, filled, dissected, and with `--threads` those the
    // workers hold), so none is freed only for a fresh one to be allocated.
    let (recycle_tx, recycle_rx) = bounded::<Batch>(QUEUE_BATCHES + 2 + HELD_BATCHES);
    let handle = capture::spawn(opened, tx, recycle_rx, stop.clone())
        .context("starting the capture thread")?;
    started(stop.clone());
    let mut engine = Engine::new(config.engine.clone());

    let (closed, engine_stats) = if config.threads > 1 {
        let shards = Shards::start(
            config.threads,
            &config.engine,
            sink.is_json_lines(),
            rx,
            recycle_tx,
        )?;
        let ended = shards.merge(sink.as_mut(), live, &stop)?;
        (ended.closed, Some(ended.stats))
    } else {
        let closed = pipeline(
            &mut engine,
            sink.as_mut(),
            rx,
            recycle_tx,
            live,
            config.exit_after,
            &stop,
        )?;
        (closed, None)
    };
    if closed {
        stop.store(true, Ordering::SeqCst);
    }
    let report = handle
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread stopped unexpectedly"))?;
    if closed {
        return Ok(Outcome::OutputClosed);
    }

    let mut stats = match engine_stats {
        Some(s) => s,
        // The engine thread has ended the flows still open (`dissect`).
        None => engine.stats(),
    };
    stats.dropped_queue = report.dropped_queue;
    stats.received = report.records;
    if let Some((received, dropped, if_dropped)) = report.pcap_stats {
        stats.received = received;
        stats.dropped_kernel = dropped;
        stats.dropped_interface = if_dropped;
    }
    let finish = drain(&mut engine, sink.as_mut())
        .and_then(|_| sink.emit(&Event::Stats(stats)))
        .and_then(|_| sink.flush());
    match finish {
        Err(e) if is_broken_pipe(&e) => return Ok(Outcome::OutputClosed),
        Err(e) => return Err(e).context("writing output"),
        Ok(()) => {}
    }
    if let Some(err) = report.error {
        anyhow::bail!(err);
    }
    if config.exit_after {
        // The output is flushed: the exit frees the rest (`Config::exit_after`).
        std::mem::forget(engine);
        std::mem::forget(sink);
    }
    Ok(Outcome::Done)
}

/// Events handed from the engine thread to the output at a time: few enough that what they
/// hold is freed while still in cache.
const HANDOVER_EVENTS: usize = 128;
/// A handover may take this many more, so that a frame's few events past a full handover's
/// worth do not stop the queue changing hands whole (`pass_on`).
const HANDOVER_SLACK: usize = 8;
/// Handovers in flight between the engine thread and the output: room for the events of a
/// sweep (every 100 ms of capture time) on a host closing ten thousand connections a second,
/// about 2,000, so that the engine goes on dissecting while the output writes them.
const EVENT_DEPTH: usize = 32;

/// A handover of events (at most `HANDOVER_EVENTS + HANDOVER_SLACK`), and whether they are
/// to be shown at once (live, or a tick of the capture clock). Written, it goes back to the
/// engine thread with those of its events that hold memory, to be dropped there, and with the
/// lists the output took out of them as it wrote them (while they were in its cache) for the
/// engine to fill again.
#[derive(Default)]
struct Handover {
    events: Vec<Event>,
    flush: bool,
    spares: TlsSpares,
}

/// The engine thread's handovers to fill: written ones come back over `spent`.
struct Supply {
    spent: Receiver<Handover>,
    /// Written handovers, the most recently written last: that one is reused first, as the
    /// likeliest to still be in cache.
    stack: Vec<Handover>,
}

impl Supply {
    /// An empty handover, the engine's spares topped up from its lists.
    fn next(&mut self, engine: &mut Engine) -> Handover {
        self.stack.extend(self.spent.try_iter());
        match self.stack.pop() {
            Some(mut h) => {
                // The output sent back the written events that hold memory (sessions, flow
                // summaries). They are dropped here, on the thread that allocated what they
                // hold, so that the allocator takes the memory back into this thread's cache
                // instead of passing it between threads.
                h.events.clear();
                engine.absorb_spares(&mut h.spares);
                // A queue that grew (a sweep that ended many flows) may have become a
                // handover.
                h.events.shrink_to(HANDOVER_EVENTS + HANDOVER_SLACK);
                h.flush = false;
                h
            }
            None => Handover {
                events: Vec::with_capacity(HANDOVER_EVENTS + HANDOVER_SLACK),
                ..Handover::default()
            },
        }
    }
}

/// The pipeline of one engine: the engine runs on its own thread and this thread writes its
/// events, a handover at a time, so dissecting and formatting overlap. Written handovers go
/// back to the engine thread, which drops their events and fills again the lists taken out
/// of them (`Engine::absorb_spares`). `Ok(true)` when the reader closed stdout;
/// then, or on a write error, `stop` is set so that the capture thread ends and the engine
/// thread with it. With `exit_after` (`Config::exit_after`) the engine thread leaves the
/// written events it holds at the end for the exit to free.
fn pipeline(
    engine: &mut Engine,
    sink: &mut dyn Sink,
    rx: Receiver<Batch>,
    recycle_tx: Sender<Batch>,
    live: bool,
    exit_after: bool,
    stop: &AtomicBool,
) -> Result<bool> {
    let (events_tx, events_rx) = bounded::<Handover>(EVENT_DEPTH);
    // Handovers in use number at most EVENT_DEPTH + 2 (queued, written, filled): all fit.
    let (spent_tx, spent_rx) = bounded::<Handover>(EVENT_DEPTH + 2);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("capd-engine".into())
            .spawn_scoped(s, move || {
                dissect(
                    engine, rx, recycle_tx, events_tx, spent_rx, live, exit_after,
                )
            })
            .context("starting the engine thread")?;
        let written = write_all(sink, events_rx, spent_tx);
        if !matches!(written, Ok(false)) {
            stop.store(true, Ordering::SeqCst);
        }
        written
    })
}

/// The engine thread: every batch of frames through the engine, its events handed over.
fn dissect(
    engine: &mut Engine,
    rx: Receiver<Batch>,
    recycle_tx: Sender<Batch>,
    events_tx: Sender<Handover>,
    spent_rx: Receiver<Handover>,
    live: bool,
    exit_after: bool,
) {
    let mut supply = Supply {
        spent: spent_rx,
        stack: Vec::new(),
    };
    let mut filling = supply.next(engine);
    // Hands `filling` over and starts a new handover; `false` once the output has stopped.
    let mut hand_over = |engine: &mut Engine, filling: &mut Handover, flush: bool| {
        let mut full = std::mem::replace(filling, supply.next(engine));
        full.flush = flush;
        events_tx.send(full).is_ok()
    };
    for mut batch in rx.iter() {
        if let Some(now) = batch.tick {
            engine.handle_tick(now);
        }
        for f in batch.frames() {
            engine.handle_frame(&f);
            // Events wait in the engine's queue until they fill a handover, which then
            // usually takes the queue's buffer whole (`take_events`) instead of moving them.
            if engine.queued() >= HANDOVER_EVENTS
                && !pass_on(engine, &mut filling, &mut hand_over, false)
            {
                return;
            }
        }
        let flush = live || batch.tick.is_some();
        batch.clear();
        let _ = recycle_tx.try_send(batch);
        // A flush is handed over even when empty: it tells the output to show what it has.
        if flush
            && !(pass_on(engine, &mut filling, &mut hand_over, true)
                && hand_over(engine, &mut filling, true))
        {
            return;
        }
    }
    // The capture is over: the flows still open end here, and their events go out through the
    // handovers like any others, written while the rest are still being ended rather than
    // after the last of them (`run_with` then finds nothing left to end or drain).
    let mut open = true;
    engine.finish_with(HANDOVER_EVENTS / 2, |engine| {
        open = pass_on(engine, &mut filling, &mut hand_over, false);
        open
    });
    if open && pass_on(engine, &mut filling, &mut hand_over, true) && !filling.events.is_empty() {
        hand_over(engine, &mut filling, false);
    }
    if exit_after {
        // The written events waiting to be dropped, and those still to come back, are left
        // for the exit to free: the output waits for this thread before it ends.
        std::mem::forget(supply);
    }
}

/// Moves the engine's queued events into `filling`, handing over each handover that fills:
/// while a handover's worth is queued, or with `all` until nothing is. `false` once the
/// output has stopped.
fn pass_on(
    engine: &mut Engine,
    filling: &mut Handover,
    hand_over: &mut impl FnMut(&mut Engine, &mut Handover, bool) -> bool,
    all: bool,
) -> bool {
    let least = if all { 1 } else { HANDOVER_EVENTS };
    while engine.queued() >= least {
        engine.take_events(&mut filling.events, HANDOVER_EVENTS + HANDOVER_SLACK);
        if filling.events.len() >= HANDOVER_EVENTS && !hand_over(engine, filling, false) {
            return false;
        }
    }
    true
}

/// The output side of `pipeline`: `Ok(true)` when the reader closed stdout.
fn write_all(
    sink: &mut dyn Sink,
    events_rx: Receiver<Handover>,
    spent_tx: Sender<Handover>,
) -> Result<bool> {
    for mut h in events_rx {
        let spares = &mut h.spares;
        let written = h
            .events
            .iter_mut()
            .try_for_each(|ev| {
                sink.emit(ev)?;
                spares.reclaim(ev);
                Ok(())
            })
            .and_then(|_| if h.flush { sink.flush() } else { Ok(()) });
        match written {
            Ok(()) => {}
            Err(e) if is_broken_pipe(&e) => return Ok(true),
            Err(e) => return Err(e).context("writing output"),
        }
        // Events written and emptied of their lists hold no memory: they are dropped here,
        // while still in this thread's cache, rather than read again cold by the engine
        // thread. The others go back with the handover, to be dropped on the engine thread
        // (see `Supply::next`).
        h.events.retain(|ev| !ev.holds_no_memory());
        let _ = spent_tx.try_send(h);
    }
    Ok(false)
}

fn drain(engine: &mut Engine, sink: &mut dyn Sink) -> io::Result<()> {
    while let Some(mut ev) = engine.poll_event() {
        sink.emit(&ev)?;
        engine.recycle(&mut ev);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;

    #[test]
    fn supply_reuses_the_most_recently_written_handover_first() {
        let (tx, rx) = bounded::<Handover>(4);
        let mut supply = Supply {
            spent: rx,
            stack: Vec::new(),
        };
        let mut engine = Engine::new(EngineConfig::default());
        // Nothing written yet: a new handover with room for a whole one.
        let first = supply.next(&mut engine);
        assert!(first.events.capacity() >= HANDOVER_EVENTS + HANDOVER_SLACK);
        let written = |cap: usize| Handover {
            events: Vec::with_capacity(cap),
            flush: true,
            spares: TlsSpares::default(),
        };
        tx.send(written(130)).unwrap();
        tx.send(written(131)).unwrap();
        let h = supply.next(&mut engine);
        assert_eq!(h.events.capacity(), 131);
        assert!(!h.flush);
        assert_eq!(supply.next(&mut engine).events.capacity(), 130);
        // A queue that grew is cut back to a handover's size.
        tx.send(written(100_000)).unwrap();
        assert!(supply.next(&mut engine).events.capacity() < 100_000);
    }
}
