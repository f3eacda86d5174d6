//! libpcap sources (live interfaces and pcap/pcapng files), the capture thread, and the pcap
//! writer behind `-w`.
//!
//! The capture thread owns the libpcap handle. It copies each frame into its batch's one
//! contiguous buffer (so the pipeline reads frames in address order, and a batch's memory is
//! what its frames hold), numbers it as tshark would (every record of a file counts, filtered or
//! not), writes it to the `-w` file, and sends batches over a bounded crossbeam channel to the
//! pipeline. Consumed batches come back over a second channel, so after warm-up no frame costs
//! an allocation. A live capture
//! that finds the channel full drops the batch and counts it (`dropped_queue`): the kernel buffer
//! must keep draining. A replay waits instead, since a file cannot overrun.
//!
//! Live captures read libpcap's TPACKET_V3 ring: packets packed into blocks the kernel hands
//! over when full or after `BLOCK_TIMEOUT`, so a ring of a few MiB holds tens of thousands of
//! small packets. In immediate mode (`--immediate-mode`, TPACKET_V2) every packet takes a slot
//! of the full snapshot length (256 KiB by default on interfaces with segmentation offload,
//! such as lo and veth), so a 2 MiB ring holds eight packets and a burst overruns it at once.
//! Frames arriving together go in one batch; a batch is sent as soon as the ring is empty.
//!
//! Decoding and everything after it happen elsewhere; this file only moves bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use pcap::{Active, Capture, Offline, Precision, Savefile};

mod pcapfile;

use crate::engine::Frame;
use crate::event::Timestamp;

/// Frames per batch sent to the pipeline.
pub const BATCH_FRAMES: usize = 1024;
/// A batch is also sent once it holds this many bytes, bounding the queue's memory.
pub const BATCH_BYTES: usize = 256 * 1024;
/// Batches the channel holds before a live capture starts dropping: with the kernel's
/// buffer behind it, enough for the pipeline's longest pauses (a flow sweep, a burst of
/// handshakes), and at most a few MiB.
pub const QUEUE_BATCHES: usize = 8;
/// A batch buffer that grew past this (frames of up to 256 KiB) is released, not recycled.
const MAX_RECYCLED_BYTES: usize = 2 * BATCH_BYTES;
/// How long a quiet live capture waits before checking whether it should stop.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long the kernel holds a ring block that has packets before handing it over: the
/// longest delay a packet sees on its way to the pipeline (outside immediate mode).
const BLOCK_TIMEOUT: Duration = Duration::from_millis(5);
/// The kernel ring's size when not given (`-B`): libpcap's 2 MiB overruns in bursts of a few
/// hundred thousand packets a second; this holds about half a second of them.
pub const DEFAULT_BUFFER_BYTES: i32 = 16 << 20;
/// How often a quiet live capture tells the pipeline the time: as often as the engine sweeps
/// flows, so a flow that closed is reported as soon in a quiet capture as in a busy one.
const TICK_INTERVAL: Duration = crate::engine::SWEEP_INTERVAL;

/// Where frames come from.
#[derive(Debug, Clone)]
pub enum Source {
    Live(LiveOptions),
    File(PathBuf),
}

/// Settings for a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    pub snaplen: i32,
    /// Kernel buffer size in bytes; `DEFAULT_BUFFER_BYTES` when `None`.
    pub buffer_size: Option<i32>,
    pub promiscuous: bool,
    /// Deliver each packet at once (TPACKET_V2 slots of the snapshot length) rather than in
    /// blocks handed over within `BLOCK_TIMEOUT`.
    pub immediate: bool,
}

/// Everything the capture side needs.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    pub source: Source,
    /// A BPF expression applied to both live and replayed captures.
    pub filter: Option<String>,
    /// Stop after this many frames have passed the filter.
    pub count: Option<u64>,
    /// Write every frame that passed the filter here.
    pub write: Option<PathBuf>,
}

/// Why a capture could not start or continue. Each message is one sentence naming the culprit.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file to replay does not exist.
    #[error("cannot read {path}: no such file")]
    FileNotFound { path: PathBuf },
    /// The file exists but could not be opened.
    #[error("cannot read {path}: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },
    /// libpcap did not recognise the file's format.
    #[error("{path} is not a pcap or pcapng capture file ({reason})")]
    NotACapture { path: PathBuf, reason: String },
    /// The file broke off or is corrupt part way through.
    #[error("{path} is damaged after frame {frame}: {reason}")]
    Damaged {
        path: PathBuf,
        frame: u64,
        reason: String,
    },
    /// No interface has this name.
    #[error("there is no capture interface named {name} (available: {available})")]
    NoSuchInterface { name: String, available: String },
    /// Capturing needs privileges this process lacks.
    #[error(
        "no permission to capture on {name}: run as root or grant CAP_NET_RAW (sudo setcap cap_net_raw,cap_net_admin=eip $(which capd)), or replay a saved capture with capd -r FILE"
    )]
    PermissionDenied { name: String },
    /// The interface exists but could not be opened.
    #[error("cannot capture on {name}: {reason}")]
    Interface { name: String, reason: String },
    /// The BPF expression does not compile.
    #[error("the capture filter \"{filter}\" is invalid: {reason}")]
    BadFilter { filter: String, reason: String },
    /// The `-w` file could not be created.
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    /// Reading a live interface failed.
    #[error("reading from {name} failed: {reason}")]
    Read { name: String, reason: String },
    /// `-Z USER` could not be honoured.
    #[error("cannot drop privileges to user {user}: {reason}")]
    Privileges { user: String, reason: String },
}

/// Switches to `user`'s uid, gid and groups, once the capture handle is open, so the rest of
/// the run (dissection of untrusted bytes) holds no privileges (`-Z`, as tcpdump's).
pub fn drop_privileges(user: &str) -> Result<(), CaptureError> {
    let fail = |reason: String| CaptureError::Privileges {
        user: user.to_string(),
        reason,
    };
    let name =
        std::ffi::CString::new(user).map_err(|_| fail("the name contains a NUL byte".into()))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage for the call.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(fail("no such user".into()));
    }
    let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
    // SAFETY: plain system calls on integer arguments; `name` outlives initgroups.
    unsafe {
        if libc::initgroups(name.as_ptr(), gid) != 0 {
            return Err(fail(
                std::io::Error::last_os_error().to_string().to_lowercase(),
            ));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail(
                std::io::Error::last_os_error().to_string().to_lowercase(),
            ));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail(
                std::io::Error::last_os_error().to_string().to_lowercase(),
            ));
        }
    }
    Ok(())
}

/// Where a frame of a batch lies in its buffer, and what libpcap said of it.
#[derive(Debug, Clone, Copy)]
struct FrameSlot {
    number: u64,
    ts: Timestamp,
    linktype: i32,
    orig_len: u32,
    start: usize,
    end: usize,
}

impl FrameSlot {
    /// The frame this slot describes, its bytes `data`.
    fn frame(self, data: &[u8]) -> Frame<'_> {
        Frame {
            number: self.number,
            ts: self.ts,
            linktype: self.linktype,
            orig_len: self.orig_len,
            data,
        }
    }
}

/// A batch of frames, their bytes in one buffer reused from batch to batch: back to back, or,
/// replaying a plain pcap file, where the file's block put them (`Sending::hand_block`).
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    slots: Vec<FrameSlot>,
    /// Each frame's worker of `routed_for`, when the capture thread routes frames for
    /// `--threads` (`Opened::route_ahead`); otherwise empty.
    workers: Vec<u8>,
    routed_for: usize,
    /// For a live capture with nothing to send: the current time, so that flows can expire
    /// while the interface is quiet.
    pub tick: Option<Timestamp>,
}

impl Batch {
    fn push(&mut self, number: u64, ts: Timestamp, linktype: i32, orig_len: u32, data: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.push_in_place(number, ts, linktype, orig_len, start..self.data.len());
    }

    /// Takes a frame that lies at `at` in the batch's buffer, or in the block the batch will
    /// hold as its buffer (`Sending::adopt`).
    fn push_in_place(
        &mut self,
        number: u64,
        ts: Timestamp,
        linktype: i32,
        orig_len: u32,
        at: std::ops::Range<usize>,
    ) {
        self.slots.push(FrameSlot {
            number,
            ts,
            linktype,
            orig_len,
            start: at.start,
            end: at.end,
        });
    }

    /// Routes the frame pushed last, whose bytes are `data`, to its worker of `n`
    /// (`Batch::workers`).
    fn route_last(&mut self, data: &[u8], n: usize) {
        let Some(&s) = self.slots.last() else {
            return;
        };
        if self.routed_for != n || self.workers.len() + 1 != self.slots.len() {
            // The batch's frames so far were not routed for `n`: they are, all, or none is.
            self.workers.clear();
            self.routed_for = 0;
            if self.slots.len() != 1 {
                return;
            }
            self.routed_for = n;
        }
        self.workers
            .push(crate::shard::worker_of(&s.frame(data), n) as u8);
    }

    /// Each frame's worker of `n` (`shard::worker_of`), if the capture thread routed every
    /// frame of the batch for `n` workers.
    pub fn workers(&self, n: usize) -> Option<&[u8]> {
        (self.routed_for == n && self.workers.len() == self.slots.len())
            .then_some(&self.workers[..])
    }

    fn is_full(&self) -> bool {
        // The last frame ends furthest into the buffer, copied or in place.
        self.slots.len() >= BATCH_FRAMES || self.slots.last().is_some_and(|s| s.end >= BATCH_BYTES)
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The `i`th frame (`i < len()`).
    pub fn frame(&self, i: usize) -> Frame<'_> {
        let s = self.slots[i];
        s.frame(self.data.get(s.start..s.end).unwrap_or_default())
    }

    /// The frames, in capture order.
    pub fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        (0..self.slots.len()).map(|i| self.frame(i))
    }

    /// Empties the batch for reuse, releasing an unusually large buffer.
    pub fn clear(&mut self) {
        if self.data.capacity() > MAX_RECYCLED_BYTES {
            self.data = Vec::new();
        }
        self.data.clear();
        self.slots.clear();
        self.workers.clear();
        self.routed_for = 0;
        self.tick = None;
    }
}

/// What the capture thread reports when it ends.
#[derive(Debug, Default, Clone)]
pub struct CaptureReport {
    /// Records read, including those the filter rejected (files) or frames received (live).
    pub records: u64,
    /// Frames that passed the filter.
    pub passed: u64,
    /// Frames the pipeline could not take in time.
    pub dropped_queue: u64,
    /// libpcap's counters for live captures: received, dropped, dropped by the interface.
    pub pcap_stats: Option<(u64, u64, u64)>,
    /// A read error that ended the capture early.
    pub error: Option<String>,
}

enum Handle {
    Live(Capture<Active>),
    File(Capture<Offline>),
}

/// An opened capture, ready to run on its own thread. Opening is separate from running so
/// that every start-up error is reported before any thread starts.
pub struct Opened {
    handle: Handle,
    name: String,
    path: Option<PathBuf>,
    linktype: i32,
    /// A userspace filter for replays, so that rejected records still count in frame numbers.
    offline_filter: Option<pcap::BpfProgram>,
    savefile: Option<Savefile>,
    count: Option<u64>,
    /// The block reader, for a regular file in classic pcap format.
    fast: Option<pcapfile::PcapFile>,
    /// Workers the capture thread routes frames to (`Batch::workers`); 0 or 1: none.
    route_ahead: usize,
}

impl Opened {
    /// Has the capture thread give each frame it batches its worker of `workers`
    /// (`Batch::workers`), which the dispatcher of `--threads` would otherwise work out: the
    /// capture thread has the frame's bytes in its cache, the dispatcher's would be reading
    /// them for the first time.
    pub fn route_ahead(&mut self, workers: usize) {
        self.route_ahead = workers;
    }

    /// The link type of the capture (LINKTYPE_* value).
    pub fn linktype(&self) -> i32 {
        self.linktype
    }

    /// Whether frames come from a live interface.
    pub fn is_live(&self) -> bool {
        matches!(self.handle, Handle::Live(_))
    }

    /// The interface name or file path being read.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// libpcap's name for the link type (`EN10MB`, `LINUX_SLL2`, ...).
    pub fn linktype_name(&self) -> String {
        pcap::Linktype(self.linktype)
            .get_name()
            .unwrap_or_else(|_| format!("DLT {}", self.linktype))
    }
}

/// Opens the source, compiles the filter and creates the `-w` file.
pub fn open(config: &CaptureConfig) -> Result<Opened, CaptureError> {
    let (handle, name, path) = match &config.source {
        Source::File(path) => (
            Handle::File(open_file(path)?),
            path.display().to_string(),
            Some(path.clone()),
        ),
        Source::Live(opts) => (Handle::Live(open_live(opts)?), opts.interface.clone(), None),
    };
    let mut opened = Opened {
        linktype: match &handle {
            Handle::Live(c) => c.get_datalink().0,
            Handle::File(c) => c.get_datalink().0,
        },
        handle,
        name,
        path,
        offline_filter: None,
        savefile: None,
        count: config.count,
        route_ahead: 0,
        fast: match &config.source {
            // A batch is full once its frames reach BATCH_BYTES into its block: blocks reach a
            // little further, so that the frame across that mark is nearly always whole in one.
            Source::File(path) => pcapfile::PcapFile::open(path, BATCH_BYTES + 4096),
            Source::Live(_) => None,
        },
    };
    if let Some(expr) = config.filter.as_deref() {
        let bad = |e: pcap::Error| CaptureError::BadFilter {
            filter: expr.to_string(),
            reason: pcap_message(&e),
        };
        match &mut opened.handle {
            Handle::Live(c) => c.filter(expr, true).map_err(bad)?,
            Handle::File(c) => opened.offline_filter = Some(c.compile(expr, true).map_err(bad)?),
        }
    }
    if let Some(out) = &config.write {
        let write_err = |e: pcap::Error| CaptureError::Write {
            path: out.clone(),
            reason: pcap_message(&e),
        };
        opened.savefile = Some(match &opened.handle {
            Handle::Live(c) => c.savefile(out).map_err(write_err)?,
            Handle::File(c) => c.savefile(out).map_err(write_err)?,
        });
    }
    Ok(opened)
}

fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.trim().trim_end_matches('.').to_string(),
        other => other.to_string(),
    }
}

fn open_file(path: &Path) -> Result<Capture<Offline>, CaptureError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CaptureError::FileNotFound { path: path.into() });
        }
        Err(e) => {
            return Err(CaptureError::FileUnreadable {
                path: path.into(),
                reason: e.to_string().to_lowercase(),
            });
        }
        Ok(m) if m.is_dir() => {
            return Err(CaptureError::FileUnreadable {
                path: path.into(),
                reason: "it is a directory".into(),
            });
        }
        Ok(_) => {}
    }
    Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
        let reason = pcap_message(&e);
        let lower = reason.to_lowercase();
        if lower.contains("permission denied") {
            CaptureError::FileUnreadable {
                path: path.into(),
                reason: "permission denied".into(),
            }
        } else {
            CaptureError::NotACapture {
                path: path.into(),
                reason,
            }
        }
    })
}

fn interface_names() -> Vec<String> {
    pcap::Device::list()
        .map(|l| l.into_iter().map(|d| d.name).collect())
        .unwrap_or_default()
}

fn open_live(opts: &LiveOptions) -> Result<Capture<Active>, CaptureError> {
    let names = interface_names();
    if !names.is_empty() && !names.iter().any(|n| n == &opts.interface) {
        return Err(CaptureError::NoSuchInterface {
            name: opts.interface.clone(),
            available: names.join(", "),
        });
    }
    let inactive = Capture::from_device(opts.interface.as_str())
        .map_err(|e| classify_live_error(&opts.interface, &names, e))?
        .snaplen(opts.snaplen)
        .promisc(opts.promiscuous)
        .immediate_mode(opts.immediate)
        .timeout(if opts.immediate {
            POLL_INTERVAL.as_millis() as i32
        } else {
            BLOCK_TIMEOUT.as_millis() as i32
        })
        .precision(Precision::Nano)
        .buffer_size(opts.buffer_size.unwrap_or(DEFAULT_BUFFER_BYTES));
    let cap = inactive
        .open()
        .map_err(|e| classify_live_error(&opts.interface, &names, e))?;
    cap.setnonblock()
        .map_err(|e| classify_live_error(&opts.interface, &names, e))
}

fn classify_live_error(name: &str, names: &[String], e: pcap::Error) -> CaptureError {
    let reason = pcap_message(&e);
    let lower = reason.to_lowercase();
    if lower.contains("permission") || lower.contains("operation not permitted") {
        CaptureError::PermissionDenied { name: name.into() }
    } else if lower.contains("no such device") {
        CaptureError::NoSuchInterface {
            name: name.into(),
            available: names.join(", "),
        }
    } else {
        CaptureError::Interface {
            name: name.into(),
            reason,
        }
    }
}

/// Starts the capture thread. It ends at the end of the file, after `count` frames, when
/// `stop` is set, or when the pipeline hangs up; dropping `tx` tells the pipeline it is done.
pub fn spawn(
    opened: Opened,
    tx: Sender<Batch>,
    recycle: Receiver<Batch>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<CaptureReport>> {
    std::thread::Builder::new()
        .name("capd-capture".into())
        .spawn(move || run(opened, tx, recycle, stop))
}

struct Sending {
    tx: Sender<Batch>,
    recycle: Receiver<Batch>,
    live: bool,
    batch: Batch,
    dropped: u64,
    hung_up: bool,
    /// The capture's link type, and the workers frames are routed to (`Opened::route_ahead`).
    linktype: i32,
    route: usize,
}

impl Sending {
    /// Batches a frame whose bytes are `data`: a copy of them, or with `at` their place in the
    /// block reader's block; routed to its worker when the capture routes frames
    /// (`Opened::route_ahead`).
    fn add_frame(
        &mut self,
        number: u64,
        ts: Timestamp,
        orig_len: u32,
        data: &[u8],
        at: Option<std::ops::Range<usize>>,
    ) {
        let (batch, linktype) = (&mut self.batch, self.linktype);
        match at {
            Some(at) => batch.push_in_place(number, ts, linktype, orig_len, at),
            None => batch.push(number, ts, linktype, orig_len, data),
        }
        if self.route > 1 {
            batch.route_last(data, self.route);
        }
    }

    /// Tells the pipeline what time it is while the interface is quiet.
    fn tick(&mut self, now: Timestamp) {
        if !self.batch.is_empty() || self.hung_up {
            return;
        }
        let mut b = self.recycle.try_recv().unwrap_or_default();
        b.tick = Some(now);
        match self.tx.try_send(b) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => self.hung_up = true,
        }
    }

    /// The batch takes the reader's block, in which its frames lie (`Batch::push_in_place`);
    /// the batch's buffer becomes the reader's next block.
    fn adopt(&mut self, fast: &mut pcapfile::PcapFile) {
        fast.take_block(&mut self.batch.data);
    }

    /// Hands the current batch, its frames in the reader's block, to the pipeline. A batch
    /// with no frames (the filter kept none) is not sent: it keeps the block as its buffer,
    /// which the next `adopt` hands back to the reader.
    fn hand_block(&mut self, fast: &mut pcapfile::PcapFile) {
        self.adopt(fast);
        self.flush();
    }

    /// Hands the current batch to the pipeline and takes a recycled one.
    fn flush(&mut self) {
        if self.batch.is_empty() || self.hung_up {
            return;
        }
        let fresh = self.recycle.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, fresh);
        if self.live {
            match self.tx.try_send(full) {
                Ok(()) => {}
                Err(TrySendError::Full(mut b)) => {
                    self.dropped += b.len() as u64;
                    b.clear();
                    self.batch = b;
                }
                Err(TrySendError::Disconnected(_)) => self.hung_up = true,
            }
        } else if self.tx.send(full).is_err() {
            self.hung_up = true;
        }
    }
}

fn timestamp(h: &pcap::PacketHeader) -> Timestamp {
    // The handle was opened with nanosecond precision, so tv_usec holds nanoseconds.
    Timestamp::new(h.ts.tv_sec, h.ts.tv_usec.clamp(0, 999_999_999) as u32)
}

/// Counts a record of a replayed file (from libpcap or the block reader), and unless the
/// filter rejects it writes it to the `-w` file and batches it for the pipeline
/// (`Sending::add_frame`). The caller sends a full batch.
fn deliver(
    packet: &pcap::Packet<'_>,
    report: &mut CaptureReport,
    savefile: &mut Option<Savefile>,
    filter: &Option<pcap::BpfProgram>,
    out: &mut Sending,
    at: Option<std::ops::Range<usize>>,
) {
    report.records += 1;
    if let Some(f) = filter
        && !f.filter(packet.data)
    {
        return;
    }
    report.passed += 1;
    if let Some(w) = savefile {
        w.write(packet);
    }
    out.add_frame(
        report.records,
        timestamp(packet.header),
        packet.header.len,
        packet.data,
        at,
    );
}

fn run(
    mut o: Opened,
    tx: Sender<Batch>,
    recycle: Receiver<Batch>,
    stop: Arc<AtomicBool>,
) -> CaptureReport {
    let mut report = CaptureReport::default();
    let mut out = Sending {
        tx,
        recycle,
        live: o.is_live(),
        batch: Batch::default(),
        dropped: 0,
        hung_up: false,
        linktype: o.linktype,
        route: o.route_ahead,
    };
    let limit = o.count.unwrap_or(u64::MAX);
    // Frames are wanted until the count is reached, the pipeline hangs up or a stop is asked.
    let more = |report: &CaptureReport, out: &Sending| {
        report.passed < limit && !out.hung_up && !stop.load(Ordering::Relaxed)
    };
    match &mut o.handle {
        Handle::File(cap) => {
            // Plain pcap files are read in blocks; libpcap reads the rest (other formats, or
            // from the first record it must judge itself).
            let mut handover = true;
            if let Some(fast) = &mut o.fast {
                handover = false;
                while more(&report, &out) {
                    // The batch holds only frames in the reader's current block.
                    let (header, at) = match fast.next(!out.batch.is_empty()) {
                        pcapfile::Next::Record(header, at) => (header, at),
                        pcapfile::Next::End => break,
                        pcapfile::Next::Unsure => {
                            for _ in 0..report.records {
                                if cap.next_packet().is_err() {
                                    break;
                                }
                            }
                            handover = true;
                            break;
                        }
                    };
                    let packet = pcap::Packet::new(&header, fast.bytes(at.clone()));
                    deliver(
                        &packet,
                        &mut report,
                        &mut o.savefile,
                        &o.offline_filter,
                        &mut out,
                        Some(at),
                    );
                    // A block is handed on once a batch's worth of it is read, whatever the
                    // filter kept of it: a block that a filtered batch pinned would grow with
                    // every record the filter rejected.
                    if out.batch.is_full() || fast.handed_out() >= BATCH_BYTES {
                        out.hand_block(fast);
                    }
                }
                // Frames still in the block go with the batch, which libpcap's copies (after a
                // hand-over) follow in its buffer.
                out.adopt(fast);
            }
            while handover && more(&report, &out) {
                let packet = match cap.next_packet() {
                    Ok(p) => p,
                    Err(pcap::Error::NoMorePackets) => break,
                    Err(e) => {
                        report.error = Some(
                            CaptureError::Damaged {
                                path: o.path.clone().unwrap_or_default(),
                                frame: report.records,
                                reason: pcap_message(&e),
                            }
                            .to_string(),
                        );
                        break;
                    }
                };
                deliver(
                    &packet,
                    &mut report,
                    &mut o.savefile,
                    &o.offline_filter,
                    &mut out,
                    None,
                );
                if out.batch.is_full() {
                    out.flush();
                }
            }
        }
        Handle::Live(cap) => {
            let fd = {
                use std::os::fd::AsRawFd;
                let fd = cap.as_raw_fd();
                (fd >= 0).then_some(fd)
            };
            let mut last_tick = std::time::Instant::now();
            while more(&report, &out) {
                let remaining = limit - report.passed;
                let want =
                    usize::try_from(remaining.min(BATCH_FRAMES as u64)).unwrap_or(BATCH_FRAMES);
                let mut got = 0u64;
                let result = cap.dispatch(Some(want), |packet| {
                    got += 1;
                    let number = report.records + got;
                    if let Some(w) = &mut o.savefile {
                        w.write(&packet);
                    }
                    out.add_frame(
                        number,
                        timestamp(packet.header),
                        packet.header.len,
                        packet.data,
                        None,
                    );
                });
                report.records += got;
                report.passed += got;
                match result {
                    Ok(_) if got > 0 => {
                        // More may be waiting in the ring: read on, and send once the batch
                        // is full or the ring empty.
                        if out.batch.is_full() {
                            out.flush();
                        }
                    }
                    Ok(_) => {
                        // The ring is empty: send what arrived now rather than wait for a
                        // full batch, since events must appear as packets arrive.
                        out.flush();
                        if let Some(w) = &mut o.savefile {
                            let _ = w.flush();
                        }
                        if last_tick.elapsed() >= TICK_INTERVAL {
                            last_tick = std::time::Instant::now();
                            out.tick(wall_clock());
                        }
                        wait_readable(fd, POLL_INTERVAL);
                    }
                    Err(e) => {
                        report.error = Some(
                            CaptureError::Read {
                                name: o.name.clone(),
                                reason: pcap_message(&e),
                            }
                            .to_string(),
                        );
                        break;
                    }
                }
            }
            if let Ok(s) = cap.stats() {
                report.pcap_stats = Some((
                    u64::from(s.received),
                    u64::from(s.dropped),
                    u64::from(s.if_dropped),
                ));
            }
        }
    }
    out.flush();
    report.dropped_queue = out.dropped;
    if let Some(mut w) = o.savefile.take() {
        let _ = w.flush();
    }
    report
}

/// The current time, on the clock libpcap stamps live packets with.
fn wall_clock() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos(),
    )
}

/// Blocks until the capture descriptor is readable or `timeout` passes.
fn wait_readable(fd: Option<i32>, timeout: Duration) {
    let Some(fd) = fd else {
        std::thread::sleep(timeout);
        return;
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and nfds is 1.
    unsafe {
        libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_named_in_one_sentence() {
        let err = open_file(Path::new("/nonexistent/x.pcap")).err().unwrap();
        assert_eq!(
            err.to_string(),
            "cannot read /nonexistent/x.pcap: no such file"
        );
    }

    #[test]
    fn a_text_file_is_not_a_capture() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.txt");
        std::fs::write(&p, "hello, this is not a pcap file at all\n").unwrap();
        let err = open_file(&p).err().unwrap();
        assert!(matches!(err, CaptureError::NotACapture { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("is not a pcap or pcapng capture file")
        );
    }

    #[test]
    fn batches_reuse_their_buffers() {
        let mut b = Batch::default();
        b.push(1, Timestamp::default(), 1, 3, b"abc");
        b.push(2, Timestamp::default(), 1, 2, b"de");
        let ptr = b.frame(0).data.as_ptr();
        assert_eq!(b.frame(1).data, b"de");
        b.clear();
        b.push(3, Timestamp::default(), 1, 3, b"xyz");
        assert_eq!(b.frame(0).data.as_ptr(), ptr);
        assert_eq!(b.frame(0).number, 3);
        assert_eq!(b.frame(0).data, b"xyz");
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn a_batch_is_full_by_frames_or_by_bytes() {
        let mut b = Batch::default();
        for i in 0..BATCH_FRAMES as u64 - 1 {
            b.push(i, Timestamp::default(), 1, 1, b"x");
        }
        assert!(!b.is_full());
        b.push(0, Timestamp::default(), 1, 1, b"x");
        assert!(b.is_full());
        let mut b = Batch::default();
        b.push(1, Timestamp::default(), 1, 0, &vec![0; BATCH_BYTES]);
        assert!(b.is_full());
        b.push(2, Timestamp::default(), 1, 0, &vec![0; 3 * BATCH_BYTES]);
        b.clear();
        assert_eq!(b.data.capacity(), 0, "an oversized buffer is released");
    }

    #[test]
    fn a_replay_whose_filter_keeps_one_frame_still_reads_in_bounded_blocks() {
        use etherparse::PacketBuilder;
        // One TCP frame, then 3 MiB of UDP frames that the filter rejects.
        let mut file = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        for i in 0..3000u32 {
            let mut frame = Vec::new();
            let b =
                PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64);
            if i == 0 {
                b.tcp(40000, 443, 1, 1024)
                    .write(&mut frame, &[0; 1000])
                    .unwrap();
            } else {
                b.udp(5353, 5353).write(&mut frame, &[0; 1000]).unwrap();
            }
            for v in [i, 0, frame.len() as u32, frame.len() as u32] {
                file.extend_from_slice(&v.to_le_bytes());
            }
            file.extend_from_slice(&frame);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one-tcp.pcap");
        std::fs::write(&path, &file).unwrap();
        let opened = open(&CaptureConfig {
            source: Source::File(path),
            filter: Some("tcp".into()),
            count: None,
            write: None,
        })
        .unwrap();
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_BATCHES);
        let (_recycle_tx, recycle_rx) = crossbeam_channel::bounded(QUEUE_BATCHES);
        let stop = Arc::new(AtomicBool::new(false));
        let capture = spawn(opened, tx, recycle_rx, stop).unwrap();
        let batches: Vec<Batch> = rx.iter().collect();
        let report = capture.join().unwrap();
        assert_eq!((report.records, report.passed), (3000, 1));
        assert_eq!(batches.iter().map(Batch::len).sum::<usize>(), 1);
        let frame = batches[0].frame(0);
        assert_eq!(frame.number, 1);
        assert_eq!(frame.data.len(), 1054);
        // The batch holding the one frame was handed on with a batch's worth of the file, not
        // with the whole of it.
        for b in &batches {
            assert!(b.data.len() < BATCH_BYTES + 8192, "{} bytes", b.data.len());
        }
    }

    #[test]
    fn frames_routed_by_the_capture_thread_go_where_the_dispatcher_sends_them() {
        use etherparse::PacketBuilder;
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for i in 0..64u8 {
            let mut out = Vec::new();
            let b = PacketBuilder::ethernet2([1; 6], [2; 6]);
            let b = if i % 3 == 0 {
                b.ipv6([0x20; 16], [0x30 + i; 16], 64)
            } else {
                b.ipv4([192, 0, 2, i], [198, 51, 100, 7], 64)
            };
            if i % 5 == 0 {
                b.udp(5353, u16::from(i)).write(&mut out, b"x").unwrap();
            } else {
                b.tcp(40000 + u16::from(i), 443, 1, 1024)
                    .write(&mut out, b"x")
                    .unwrap();
            }
            frames.push(out);
        }
        frames.push(b"not a frame".to_vec());
        for n in [2, 3, 7] {
            let mut b = Batch::default();
            for (i, f) in frames.iter().enumerate() {
                b.push(i as u64 + 1, Timestamp::default(), 1, f.len() as u32, f);
                b.route_last(f, n);
            }
            let want: Vec<u8> = b
                .frames()
                .map(|f| crate::shard::worker_of(&f, n) as u8)
                .collect();
            assert!(
                want.iter().any(|&w| w > 0),
                "the frames are spread over workers"
            );
            assert_eq!(b.workers(n), Some(&want[..]), "{n} workers");
            // Routed for another number of workers, or not every frame: left to the dispatcher.
            assert_eq!(b.workers(n + 1), None);
            b.push(99, Timestamp::default(), 1, 1, b"x");
            assert_eq!(b.workers(n), None);
            b.clear();
            assert_eq!(b.workers(n), None);
        }
    }
}
