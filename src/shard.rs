//! `--threads N`: flows sharded across worker threads, events merged back in frame order.
//!
//! Each frame has its worker: the symmetric hash of its flow key (`FlowKey::hash64`), so both
//! directions of a flow meet in one worker's engine; frames that are not TCP go to worker 0.
//! The capture thread works it out as it batches the frame, while the frame's bytes are in its
//! cache (`Opened::route_ahead`); a dispatcher thread passes each batch, with its frames'
//! workers, to every worker, and works them out itself for a batch that came without. Every
//! worker sees every batch: it clocks its engine with every frame (so all engines sweep
//! expired flows at the frames one engine would) and processes its own. It formats its events
//! itself (JSON Lines) or hands them over (other outputs), in runs: the events of one frame,
//! or of one flow that a sweep ended. The merging thread (the caller's) walks each batch's
//! frames in order, takes each frame's run from its worker, and orders the flows a sweep ended
//! across workers by flow id, exactly as one engine emits them.
//!
//! Flow ids are the one thing a worker cannot know: they count flows in order of first sight
//! across all workers. A worker numbers its own flows and tells the merger in which frame it
//! created each; the merger assigns run-wide ids in frame order and writes them between the
//! pieces of the worker's output (`Spliced`) or into its events. Output is therefore byte for
//! byte that of one thread, with one exception: the engine's caps (flows, retired
//! conversations, reassembly memory) are divided between the workers, so a capture that
//! reaches a cap may see different flows evicted or abandoned.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender, bounded};
use rustc_hash::FxBuildHasher;

use crate::capture::Batch;
use crate::engine::{Engine, EngineConfig};
use crate::event::{Event, StatsEvent};
use crate::report::Sink;
use crate::report::json::{self, write_event};
use crate::report::jsonw::JsonBuf;

mod route;
mod splice;
pub use route::worker_of;
pub use splice::Spliced;

/// The workers a run of `--threads requested` has: 1 to 255.
pub fn workers(requested: usize) -> usize {
    requested.clamp(1, usize::from(u8::MAX))
}

/// Batches in flight between the dispatcher, each worker and the merger.
const DEPTH: usize = 4;
/// Batches the sharded pipeline can hold besides the capture queue's: the dispatcher's, a
/// worker's queue and the one it is dissecting (the slowest worker frees a batch last).
pub const HELD_BATCHES: usize = DEPTH + 2;
/// Outputs of one worker in use at once: queued for the merger, being merged, being filled.
/// Its spent queue holds them all, so none is dropped only for a fresh one to be grown again
/// through reallocations and page faults a few batches later.
const OUTPUTS: usize = DEPTH + 2;
/// Merged output is handed to the sink in pieces of about this size.
const CHUNK: usize = 64 * 1024;

/// A batch with each frame's worker.
struct Dispatched {
    batch: Batch,
    workers: Arc<[u8]>,
}

enum ToWorker {
    Batch(Arc<Dispatched>),
    Finish,
}

/// Where a run of output goes in the merged stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The events of frame `idx` of the batch; `created` is the worker's number for the flow
    /// this frame created, if it did.
    Frame { idx: usize, created: Option<u32> },
    /// A flow (the worker's number) that a sweep before frame `pos` ended.
    Swept { pos: usize, flow: u32 },
    /// A flow ended at the end of the capture.
    Final { flow: u32 },
}

/// A run of a worker's output: bytes (and open flow ids) or events, and the flows it ended.
#[derive(Debug, Clone, Copy)]
struct Run {
    place: Place,
    items: (usize, usize),
    fixups: (usize, usize),
    ends: (usize, usize),
}

/// What a worker made of one batch (or of the end of the capture).
struct Output {
    json: JsonBuf,
    events: Vec<Event>,
    runs: Vec<Run>,
    /// Worker flow numbers of the flows that ended, referenced by runs.
    ends: Vec<u32>,
    /// Each frame's worker, for a batch's output (`None` at the end of the capture). The
    /// frames themselves went back to the capture thread as soon as every worker was done.
    batch: Option<Arc<[u8]>>,
    /// At the end: the worker's counters.
    stats: Option<StatsEvent>,
}

/// Bytes of buffers an output keeps for its next batch: several times a batch of packet
/// events. A sweep that ends thousands of flows at once makes megabytes of events; that
/// memory goes back once they are written, or each spare output would hold as much.
const KEEP_BYTES: usize = 1 << 20;

/// Output a worker formats of the flows still open at the end of a capture before it hands
/// it over: they are thousands, and formatting all of them first would hold tens of MiB.
const PIECE_BYTES: usize = 1 << 20;

impl Output {
    /// Bytes the output holds, about.
    fn size(&self) -> usize {
        self.json.bytes.len() + self.events.len() * size_of::<Event>()
    }

    /// Empties the output for reuse, keeping its buffers up to `KEEP_BYTES` each.
    fn clear(&mut self) {
        self.json.clear();
        self.json.bytes.shrink_to(KEEP_BYTES);
        if let Some(f) = self.json.fixups.as_mut() {
            f.shrink_to(KEEP_BYTES / size_of::<(usize, u32)>());
        }
        self.events.clear();
        self.events.shrink_to(KEEP_BYTES / size_of::<Event>());
        self.runs.clear();
        self.runs.shrink_to(KEEP_BYTES / size_of::<Run>());
        self.ends.clear();
        self.ends.shrink_to(KEEP_BYTES / size_of::<u32>());
        self.batch = None;
        self.stats = None;
    }

    fn new(json: bool) -> Output {
        Output {
            json: if json {
                JsonBuf::with_fixups()
            } else {
                JsonBuf::new()
            },
            events: Vec::new(),
            runs: Vec::new(),
            ends: Vec::new(),
            batch: None,
            stats: None,
        }
    }
}

/// One worker: its engine and how it formats.
struct Worker {
    me: u8,
    engine: Engine,
    json: bool,
    scratch: json::Scratch,
    /// A frame's events, taken from the engine's queue whole and written where they lie:
    /// taking them one by one moved each (288 bytes) out of the queue first.
    taken: Vec<Event>,
}

impl Worker {
    /// Takes the engine's queued events as one run (or, for a sweep, one run per ended flow).
    /// At the end of the capture it stops after a flow once `out` holds `PIECE_BYTES`:
    /// `Ok(false)` says events remain.
    fn take(&mut self, out: &mut Output, place: Place) -> io::Result<bool> {
        let sweep = !matches!(place, Place::Frame { .. });
        let mut start = self.mark(out);
        if !sweep && self.json {
            self.engine.take_events(&mut self.taken, usize::MAX);
            let written = self.taken.iter_mut().try_for_each(|ev| {
                if let Event::Flow(f) = ev {
                    out.ends.push(f.flow);
                }
                write_event(&mut out.json, &mut self.scratch, ev)?;
                self.engine.recycle(ev);
                Ok::<_, io::Error>(())
            });
            self.taken.clear();
            // A frame that queued many events leaves a large buffer; keep what an output keeps.
            self.taken.shrink_to(KEEP_BYTES / size_of::<Event>());
            written?;
            self.close(out, place, start);
            return Ok(true);
        }
        while let Some(mut ev) = self.engine.poll_event() {
            let ended = match &ev {
                Event::Flow(f) => Some(f.flow),
                _ => None,
            };
            if let Some(id) = ended {
                out.ends.push(id);
            }
            if self.json {
                write_event(&mut out.json, &mut self.scratch, &ev)?;
                self.engine.recycle(&mut ev);
            } else {
                out.events.push(ev);
            }
            // In a sweep, a flow's run ends with its flow event.
            if let (true, Some(id)) = (sweep, ended) {
                let place = match place {
                    Place::Swept { pos, .. } => Place::Swept { pos, flow: id },
                    _ => Place::Final { flow: id },
                };
                self.close(out, place, start);
                start = self.mark(out);
                if matches!(place, Place::Final { .. }) && out.size() >= PIECE_BYTES {
                    return Ok(false);
                }
            }
        }
        if !sweep {
            self.close(out, place, start);
        }
        Ok(true)
    }

    fn mark(&self, out: &Output) -> (usize, usize, usize) {
        let items = if self.json {
            out.json.bytes.len()
        } else {
            out.events.len()
        };
        let fixups = out.json.fixups.as_ref().map_or(0, Vec::len);
        (items, fixups, out.ends.len())
    }

    fn close(&self, out: &mut Output, place: Place, start: (usize, usize, usize)) {
        let end = self.mark(out);
        out.runs.push(Run {
            place,
            items: (start.0, end.0),
            fixups: (start.1, end.1),
            ends: (start.2, end.2),
        });
    }

    fn batch(&mut self, d: &Dispatched, out: &mut Output) -> io::Result<()> {
        let b = &d.batch;
        if let Some(now) = b.tick {
            self.engine.handle_tick(now);
            self.take(out, Place::Swept { pos: 0, flow: 0 })?;
        }
        for i in 0..b.len() {
            let f = b.frame(i);
            let rel_ns = self.engine.clock(&f);
            // Most frames sweep nothing.
            if self.engine.queued() > 0 {
                self.take(out, Place::Swept { pos: i, flow: 0 })?;
            }
            if d.workers.get(i).copied() == Some(self.me) {
                let before = self.engine.flows_created();
                self.engine.process(&f, rel_ns);
                let created = (self.engine.flows_created() > before).then_some(before as u32);
                self.take(out, Place::Frame { idx: i, created })?;
            }
        }
        Ok(())
    }
}

fn work(
    mut w: Worker,
    rx: Receiver<ToWorker>,
    tx: Sender<io::Result<Output>>,
    spent: Receiver<Output>,
    recycle: Sender<Batch>,
) {
    // Buffers come back from the merger: fresh ones would cost page faults every batch.
    let fresh = |json: bool| match spent.try_recv() {
        Ok(mut o) => {
            o.clear();
            o
        }
        Err(_) => Output::new(json),
    };
    for msg in rx {
        let mut out = fresh(w.json);
        let result = match msg {
            ToWorker::Batch(d) => {
                let r = w.batch(&d, &mut out);
                out.batch = Some(d.workers.clone());
                // The last worker done with the frames hands the buffer back.
                if let Ok(d) = Arc::try_unwrap(d) {
                    let mut b = d.batch;
                    b.clear();
                    let _ = recycle.try_send(b);
                }
                r
            }
            ToWorker::Finish => {
                w.engine.finish();
                // The flows still open go over in pieces, the last one with the counters.
                let r = loop {
                    match w.take(&mut out, Place::Final { flow: 0 }) {
                        Ok(false) => {
                            let piece = std::mem::replace(&mut out, fresh(w.json));
                            if tx.send(Ok(piece)).is_err() {
                                return;
                            }
                        }
                        Ok(true) => break Ok(()),
                        Err(e) => break Err(e),
                    }
                };
                out.stats = Some(w.engine.stats());
                r
            }
        };
        let last = out.stats.is_some();
        if tx.send(result.map(|()| out)).is_err() || last {
            return;
        }
    }
}

/// The sharded pipeline's threads.
pub struct Shards {
    dispatcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    outputs: Vec<Receiver<io::Result<Output>>>,
    /// Where each worker's spent outputs go back to it.
    spent: Vec<Sender<Output>>,
    /// Run-wide flow id of each worker's live flows.
    ids: Vec<HashMap<u32, u32, FxBuildHasher>>,
    next_id: u32,
    /// Merged JSON waiting for the sink: it refers to the workers' outputs of the batch being
    /// merged, so it is written before they go back.
    pending: Spliced,
}

/// How a sharded run ended.
pub struct Ended {
    /// The sink refused output (closed stdout) before the end.
    pub closed: bool,
    /// The workers' counters, summed (capture counters not included).
    pub stats: StatsEvent,
}

impl Shards {
    /// Starts `n` workers and the dispatcher on the capture thread's `batches`.
    pub fn start(
        n: usize,
        config: &EngineConfig,
        json: bool,
        batches: Receiver<Batch>,
        recycle: Sender<Batch>,
    ) -> Result<Shards> {
        let n = workers(n);
        let mut config = config.clone();
        // The caps are shared out: together the workers hold what one engine would.
        config.flows.max_flows = config.flows.max_flows.div_ceil(n).max(1);
        config.flows.max_retired = config.flows.max_retired.div_ceil(n);
        config.max_buffer_total = config.max_buffer_total.div_ceil(n);
        let mut to_workers = Vec::new();
        let mut workers = Vec::new();
        let mut outputs = Vec::new();
        let mut spent = Vec::new();
        for me in 0..n {
            let (tx, rx) = bounded::<ToWorker>(DEPTH);
            let (otx, orx) = bounded::<io::Result<Output>>(DEPTH);
            let (stx, srx) = bounded::<Output>(OUTPUTS);
            let recycle = recycle.clone();
            let w = Worker {
                me: me as u8,
                engine: Engine::new(config.clone()),
                json,
                scratch: json::Scratch::default(),
                taken: Vec::new(),
            };
            let h = std::thread::Builder::new()
                .name(format!("capd-worker-{me}"))
                .spawn(move || work(w, rx, otx, srx, recycle))
                .context("starting a worker thread")?;
            to_workers.push(tx);
            workers.push(h);
            outputs.push(orx);
            spent.push(stx);
        }
        let dispatcher = std::thread::Builder::new()
            .name("capd-dispatch".into())
            .spawn(move || {
                for batch in batches {
                    // Routed by the capture thread, as a rule (`Opened::route_ahead`).
                    let workers = match batch.workers(n) {
                        Some(w) => Arc::from(w),
                        None => batch.frames().map(|f| worker_of(&f, n) as u8).collect(),
                    };
                    let d = Arc::new(Dispatched { batch, workers });
                    for tx in &to_workers {
                        if tx.send(ToWorker::Batch(d.clone())).is_err() {
                            return;
                        }
                    }
                }
                for tx in &to_workers {
                    let _ = tx.send(ToWorker::Finish);
                }
            })
            .context("starting the dispatcher thread")?;
        Ok(Shards {
            dispatcher,
            workers,
            outputs,
            spent,
            ids: (0..n).map(|_| HashMap::default()).collect(),
            next_id: 0,
            pending: Spliced::default(),
        })
    }

    /// Merges the workers' output into `sink` until the capture ends, flushing after every
    /// batch when `live`. When the sink is closed (stdout's reader went away) it sets `stop`,
    /// which ends the capture thread and so every thread here, and says so in `Ended`.
    pub fn merge(
        mut self,
        sink: &mut dyn Sink,
        live: bool,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Ended> {
        let mut stats = StatsEvent::default();
        let mut closed = false;
        loop {
            let mut outs = Vec::with_capacity(self.outputs.len());
            for rx in &self.outputs {
                match rx.recv() {
                    Ok(o) => outs.push(o.context("formatting output")?),
                    Err(_) => anyhow::bail!("a worker thread stopped unexpectedly"),
                }
            }
            // Outputs without a batch are the end of the capture.
            let last = outs.iter().all(|o| o.batch.is_none());
            let result = if last {
                self.write_final(&mut outs, sink)
            } else {
                self.write(&mut outs, sink, live)
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    closed = true;
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    break;
                }
                Err(e) => return Err(e).context("writing output"),
            }
            if last {
                for o in &outs {
                    add_stats(&mut stats, o.stats.as_ref());
                }
                break;
            }
            for (o, tx) in outs.into_iter().zip(&self.spent) {
                let _ = tx.try_send(o);
            }
        }
        // Hanging up stops the dispatcher and workers if the sink was closed early.
        let Shards {
            dispatcher,
            workers,
            outputs,
            spent,
            ..
        } = self;
        drop(outputs);
        drop(spent);
        let _ = dispatcher.join();
        for w in workers {
            let _ = w.join();
        }
        stats.flows = u64::from(self.next_id);
        Ok(Ended { closed, stats })
    }

    /// Writes one batch's output from every worker in frame order.
    fn write(&mut self, outs: &mut [Output], sink: &mut dyn Sink, live: bool) -> io::Result<()> {
        let frames = outs
            .iter()
            .find_map(|o| o.batch.clone())
            .map(|workers| (workers.len(), workers));
        let mut cursor = vec![0usize; outs.len()];
        if let Some((n, d)) = frames {
            for pos in 0..=n {
                self.write_swept(outs, &mut cursor, pos, sink)?;
                if pos == n {
                    break;
                }
                let w = usize::from(d.get(pos).copied().unwrap_or(0));
                let Some(o) = outs.get(w) else { continue };
                if let Some(run) = o.runs.get(cursor[w]).copied()
                    && matches!(run.place, Place::Frame { idx, .. } if idx == pos)
                {
                    if let Place::Frame {
                        created: Some(local),
                        ..
                    } = run.place
                    {
                        self.ids[w].insert(local, self.next_id);
                        self.next_id = self.next_id.wrapping_add(1);
                    }
                    cursor[w] += 1;
                    self.write_run(outs, w, run, sink)?;
                }
            }
        }
        // The pieces refer to `outs`, which go back to the workers next; a live capture shows
        // each batch at once.
        self.flush_pending(outs, sink)?;
        if live {
            sink.flush()?;
        }
        Ok(())
    }

    /// Writes the flows that were open at the end of the capture, from all workers, ordered by
    /// run-wide flow id as one engine orders them. Each worker ends its flows in its own id
    /// order and sends them in pieces (`PIECE_BYTES`), the last with its counters; merging as
    /// they come holds one piece per worker.
    fn write_final(&mut self, outs: &mut [Output], sink: &mut dyn Sink) -> io::Result<()> {
        let mut cursor = vec![0usize; outs.len()];
        loop {
            for w in 0..outs.len() {
                while cursor[w] >= outs[w].runs.len() && outs[w].stats.is_none() {
                    let next = self.outputs[w]
                        .recv()
                        .map_err(|_| io::Error::other("a worker thread stopped unexpectedly"))??;
                    // What is merged so far may refer to the output being replaced.
                    self.flush_pending(outs, sink)?;
                    let spent = std::mem::replace(&mut outs[w], next);
                    let _ = self.spent[w].try_send(spent);
                    cursor[w] = 0;
                }
            }
            let next = outs
                .iter()
                .enumerate()
                .filter_map(|(w, o)| {
                    let run = o.runs.get(cursor[w])?;
                    let Place::Final { flow } = run.place else {
                        return None;
                    };
                    Some((run_wide(&self.ids[w], flow), w, *run))
                })
                .min_by_key(|&(id, w, _)| (id, w));
            let Some((_, w, run)) = next else { break };
            cursor[w] += 1;
            self.write_run(outs, w, run, sink)?;
        }
        self.flush_pending(outs, sink)
    }

    /// Writes the runs of flows ended by the sweep before frame `pos`, from all workers, ordered
    /// by run-wide flow id as one engine orders them.
    fn write_swept(
        &mut self,
        outs: &mut [Output],
        cursor: &mut [usize],
        pos: usize,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        // Worker `w`'s next run, if a sweep before frame `pos` made it.
        let swept_at = |w: usize, at: usize| {
            outs[w].runs.get(at).and_then(|run| match run.place {
                Place::Swept { pos: p, flow } if p == pos => Some((flow, *run)),
                _ => None,
            })
        };
        // Most frames follow no sweep: nothing to gather.
        if !(0..outs.len()).any(|w| swept_at(w, cursor[w]).is_some()) {
            return Ok(());
        }
        let mut swept: Vec<(u32, usize, Run)> = Vec::new();
        for (w, at) in cursor.iter_mut().enumerate() {
            while let Some((flow, run)) = swept_at(w, *at) {
                swept.push((run_wide(&self.ids[w], flow), w, run));
                *at += 1;
            }
        }
        swept.sort_by_key(|(id, w, _)| (*id, *w));
        for (_, w, run) in swept {
            self.write_run(outs, w, run, sink)?;
        }
        Ok(())
    }

    /// Writes one run of worker `w` with run-wide flow ids, then forgets the flows it ended.
    fn write_run(
        &mut self,
        outs: &mut [Output],
        w: usize,
        run: Run,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        if outs[w].json.fixups.is_none() {
            // Events go to the sink one by one: merged bytes first.
            self.flush_pending(outs, sink)?;
        }
        let o = &mut outs[w];
        let ids = &self.ids[w];
        let map = |local: u32| run_wide(ids, local);
        if let Some(fixups) = &o.json.fixups {
            let fix = fixups
                .get(run.fixups.0..run.fixups.1)
                .unwrap_or_default()
                .iter()
                .copied();
            self.pending.splice(w, run.items.0..run.items.1, fix, map);
            if self.pending.len() >= CHUNK {
                self.flush_pending(outs, sink)?;
            }
        } else {
            for ev in o
                .events
                .get_mut(run.items.0..run.items.1)
                .unwrap_or_default()
            {
                renumber(ev, map);
                sink.emit(ev)?;
            }
        }
        let o = &outs[w];
        for local in o.ends.get(run.ends.0..run.ends.1).unwrap_or_default() {
            self.ids[w].remove(local);
        }
        Ok(())
    }

    /// Writes the merged JSON, whose pieces are stretches of `outs`' buffers and flow ids.
    fn flush_pending(&mut self, outs: &[Output], sink: &mut dyn Sink) -> io::Result<()> {
        if !self.pending.is_empty() {
            let mut slices = self
                .pending
                .slices(|w| outs.get(w).map_or(&[][..], |o| &o.json.bytes[..]));
            sink.write_lines_vectored(&mut slices)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// The run-wide id of a worker's flow `local`, from the worker's map `ids`.
fn run_wide(ids: &HashMap<u32, u32, FxBuildHasher>, local: u32) -> u32 {
    ids.get(&local).copied().unwrap_or(local)
}

/// Gives an event its run-wide flow id.
fn renumber(ev: &mut Event, map: impl Fn(u32) -> u32) {
    match ev {
        Event::Packet(p) => p.flow = map(p.flow),
        Event::Flow(f) => f.flow = map(f.flow),
        Event::TlsHandshake(t) => t.flow = map(t.flow),
        Event::Other(_) | Event::Malformed(_) | Event::Stats(_) => {}
    }
}

/// Adds a worker's counters to the run's.
fn add_stats(total: &mut StatsEvent, s: Option<&StatsEvent>) {
    let Some(s) = s else { return };
    // Every field named, so that a new counter cannot be forgotten here.
    let StatsEvent {
        packets,
        bytes,
        // Counted by the merger (flow ids) and the capture thread (drops, records).
        flows: _,
        dropped_kernel: _,
        dropped_interface: _,
        dropped_queue: _,
        received: _,
        tls_handshakes,
        malformed,
        tcp_packets,
        flows_evicted,
        reassembly_abandoned,
        tls_unsynced,
        tls_oversized,
    } = s;
    total.packets += packets;
    total.bytes += bytes;
    total.tls_handshakes += tls_handshakes;
    total.malformed += malformed;
    total.tcp_packets += tcp_packets;
    total.flows_evicted += flows_evicted;
    total.reassembly_abandoned += reassembly_abandoned;
    total.tls_unsynced += tls_unsynced;
    total.tls_oversized += tls_oversized;
}
