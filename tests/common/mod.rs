//! Shared helpers for the integration tests: running capd and tshark on the same capture and
//! lining their per-frame readings up, field by field.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The project's own sample captures.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// Sample captures in `captures/`, sorted.
pub fn sample_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("captures/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

/// The shared corpus of public captures, or `None` (with a message) when it is absent.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: the shared corpus ({}) is not present",
            dir.display()
        );
        None
    }
}

/// Corpus captures, sorted.
pub fn corpus_captures() -> Vec<PathBuf> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

pub fn capd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_capd")
}

/// Whether tshark is installed; tests that compare with it say so and skip when it is not.
pub fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: tshark is not installed");
    }
    ok
}

/// Runs `capd -r FILE --json EXTRA...` and returns its events.
pub fn capd_events(file: &Path, extra: &[&str]) -> Vec<Value> {
    let out = Command::new(capd_bin())
        .arg("-r")
        .arg(file)
        .arg("--json")
        .args(extra)
        .output()
        .expect("capd runs");
    let stdout = String::from_utf8(out.stdout).expect("capd prints UTF-8");
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("capd printed a non-JSON line {l:?}: {e}"))
        })
        .collect()
}

/// capd's packet events by frame number.
pub fn capd_packets(file: &Path) -> BTreeMap<u64, Value> {
    capd_events(file, &[])
        .into_iter()
        .filter(|e| e["event"] == "packet")
        .map(|e| (e["frame"].as_u64().expect("frame number"), e))
        .collect()
}

/// One frame as tshark reads it: field name to value (empty when absent).
pub type TsharkFrame = BTreeMap<String, String>;

/// Runs tshark with `-T fields` for `fields`, taking the last occurrence of each (the
/// innermost header in tunnels), and returns frames by number.
pub fn tshark_fields(file: &Path, fields: &[&str]) -> BTreeMap<u64, TsharkFrame> {
    tshark_fields_with(file, fields, "l")
}

/// Runs tshark with `-T fields` for `fields` and the given `occurrence` (`l` for the last,
/// `a` for all of them joined by `|`), and returns frames by number.
pub fn tshark_fields_with(
    file: &Path,
    fields: &[&str],
    occurrence: &str,
) -> BTreeMap<u64, TsharkFrame> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args([
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        &format!("occurrence={occurrence}"),
        "-E",
        "aggregator=|",
        "-e",
        "frame.number",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut frames = BTreeMap::new();
    for line in text.lines() {
        let mut cols = line.split('\t');
        let Some(Ok(num)) = cols.next().map(str::parse::<u64>) else {
            continue;
        };
        let row: TsharkFrame = fields
            .iter()
            .map(|f| (f.to_string(), cols.next().unwrap_or("").to_string()))
            .collect();
        frames.insert(num, row);
    }
    frames
}

/// Disagreements found while comparing one field over many frames.
#[derive(Debug, Default)]
pub struct Tally {
    pub compared: usize,
    pub mismatches: Vec<String>,
}

impl Tally {
    pub fn check(&mut self, what: &str, file: &Path, frame: u64, ours: &str, theirs: &str) {
        self.compared += 1;
        if ours != theirs {
            self.mismatches.push(format!(
                "{} frame {frame} {what}: capd {ours:?} tshark {theirs:?}",
                file.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }

    pub fn agreement(&self) -> f64 {
        if self.compared == 0 {
            1.0
        } else {
            1.0 - self.mismatches.len() as f64 / self.compared as f64
        }
    }
}

/// tshark's TCP flags field (`0x0018`) as capd's flag names.
pub fn flag_names(hex: &str) -> Vec<String> {
    let v = u16::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0);
    let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"];
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| v & (1 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// A JSON value as tshark would print it in a field.
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Wireshark's analysis labels in CONTRACT.md's order (`tcp.analysis.<label>`).
pub const LABELS: [&str; 15] = [
    "retransmission",
    "fast_retransmission",
    "spurious_retransmission",
    "out_of_order",
    "duplicate_ack",
    "lost_segment",
    "ack_lost_segment",
    "zero_window",
    "zero_window_probe",
    "zero_window_probe_ack",
    "keep_alive",
    "keep_alive_ack",
    "window_update",
    "window_full",
    "reused_ports",
];

/// The tshark fields the per-frame TCP comparison reads.
pub fn tcp_fields() -> Vec<String> {
    let mut f: Vec<String> = [
        "frame.len",
        "ip.src",
        "ip.dst",
        "ipv6.src",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.flags",
        "tcp.len",
        "tcp.window_size",
        "tcp.seq",
        "tcp.ack",
        "icmp.type",
        "icmpv6.type",
        "_ws.col.Protocol",
        "_ws.col.Info",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    f.extend(LABELS.iter().map(|l| format!("tcp.analysis.{l}")));
    f
}

/// Tallies per field over one or more captures.
#[derive(Default)]
pub struct Report {
    pub tallies: BTreeMap<&'static str, Tally>,
}

impl Report {
    pub fn check(&mut self, what: &'static str, file: &Path, frame: u64, ours: &str, theirs: &str) {
        self.tallies
            .entry(what)
            .or_default()
            .check(what, file, frame, ours, theirs);
    }

    pub fn tally(&self, what: &str) -> Option<&Tally> {
        self.tallies.get(what)
    }

    /// Adds another report's tallies to this one.
    pub fn merge(&mut self, other: Report) {
        for (what, t) in other.tallies {
            let mine = self.tallies.entry(what).or_default();
            mine.compared += t.compared;
            mine.mismatches.extend(t.mismatches);
        }
    }

    /// One line: frames compared and disagreements per field that matters most.
    pub fn summary(&self) -> String {
        let n = self.tally("seq").map_or(0, |t| t.compared);
        let fields: Vec<String> = ["seq", "ack", "win", "analysis", "tcp_info"]
            .iter()
            .map(|f| {
                let bad = self.tally(f).map_or(0, |t| t.mismatches.len());
                format!("{f} {bad}")
            })
            .collect();
        format!("{n} TCP frames; mismatches: {}", fields.join(", "))
    }

    /// Prints each field's agreement and its first disagreements.
    pub fn print(&self) {
        for (what, t) in &self.tallies {
            eprintln!(
                "{what}: {} compared, {} disagree ({:.3}% agreement)",
                t.compared,
                t.mismatches.len(),
                100.0 * t.agreement()
            );
            for m in t.mismatches.iter().take(15) {
                eprintln!("    {m}");
            }
        }
    }
}

/// Splits tshark's Info into the TCP summary and what TLS's reassembly appended to it: the
/// note of a frame that carries only part of a TLS record (`[TCP segment of a reassembled
/// PDU]`), or whose bytes reassembly rejected (`[Reassembly error, ...]`). These notes come
/// from a TLS dissector, so a capd build without one is held to the TCP part only.
pub fn split_reassembly_note(info: &str) -> (&str, &str) {
    let cut = ["[TCP segment of a reassembled PDU]", "[Reassembly error"]
        .iter()
        .filter_map(|m| info.find(m))
        .min();
    match cut {
        Some(i) => (info[..i].trim_end(), &info[i..]),
        None => (info, ""),
    }
}

/// Compares capd's packet events (`ours`, by frame) with tshark's reading of `file`, frame by
/// frame: which frames are TCP, addresses, ports, lengths, flags, window, relative seq/ack,
/// analysis labels and the Info text of plain TCP frames.
pub fn compare_tcp(file: &Path, ours: &BTreeMap<u64, Value>, report: &mut Report) {
    let names = tcp_fields();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let theirs = tshark_fields(file, &refs);
    // Frames tshark reads as TCP, leaving out TCP headers quoted inside ICMP errors and
    // frames too short to hold a sequence number (capd counts those as malformed).
    let tcp_frames: Vec<u64> = theirs
        .iter()
        .filter(|(_, r)| {
            !r["tcp.srcport"].is_empty()
                && !r["tcp.seq"].is_empty()
                && r["icmp.type"].is_empty()
                && r["icmpv6.type"].is_empty()
        })
        .map(|(n, _)| *n)
        .collect();
    let our_frames: Vec<u64> = ours.keys().copied().collect();
    report.check(
        "frames",
        file,
        0,
        &format!("{our_frames:?}"),
        &format!("{tcp_frames:?}"),
    );
    // Whether capd dissected TLS in this capture at all; once it does, tshark's whole Info
    // must match, TLS reassembly notes included.
    let capd_dissects_tls = ours
        .values()
        .any(|p| p["tls"].as_array().is_some_and(|a| !a.is_empty()) || p["proto"] != "TCP");

    for n in tcp_frames {
        let Some(p) = ours.get(&n) else { continue };
        let t = &theirs[&n];
        let v6 = p["src"].as_str().is_some_and(|s| s.contains(':'));
        let (tsrc, tdst) = if v6 {
            (&t["ipv6.src"], &t["ipv6.dst"])
        } else {
            (&t["ip.src"], &t["ip.dst"])
        };
        report.check("src", file, n, &plain(&p["src"]), tsrc);
        report.check("dst", file, n, &plain(&p["dst"]), tdst);
        report.check("sport", file, n, &plain(&p["sport"]), &t["tcp.srcport"]);
        report.check("dport", file, n, &plain(&p["dport"]), &t["tcp.dstport"]);
        report.check("len", file, n, &plain(&p["len"]), &t["frame.len"]);
        let flags: Vec<String> = p["tcp"]["flags"]
            .as_array()
            .map(|a| a.iter().map(plain).collect())
            .unwrap_or_default();
        report.check(
            "flags",
            file,
            n,
            &flags.join(","),
            &flag_names(&t["tcp.flags"]).join(","),
        );
        // tshark has no length for a header longer than its datagram.
        if !t["tcp.len"].is_empty() {
            report.check(
                "payload_len",
                file,
                n,
                &plain(&p["tcp"]["payload_len"]),
                &t["tcp.len"],
            );
        }
        report.check(
            "win",
            file,
            n,
            &plain(&p["tcp"]["win"]),
            &t["tcp.window_size"],
        );
        report.check("seq", file, n, &plain(&p["tcp"]["seq"]), &t["tcp.seq"]);
        let ack = if t["tcp.ack"].is_empty() {
            String::new()
        } else {
            plain(&p["tcp"]["ack"])
        };
        report.check("ack", file, n, &ack, &t["tcp.ack"]);
        let our_labels: Vec<String> = p["tcp"]["analysis"]
            .as_array()
            .map(|a| a.iter().map(plain).collect())
            .unwrap_or_default();
        let their_labels: Vec<String> = LABELS
            .iter()
            .filter(|l| !t[&format!("tcp.analysis.{l}")].is_empty())
            .map(|l| l.to_string())
            .collect();
        report.check(
            "analysis",
            file,
            n,
            &our_labels.join(","),
            &their_labels.join(","),
        );
        if t["_ws.col.Protocol"] == "TCP" && p["proto"] == "TCP" {
            let info = plain(&p["info"]);
            if capd_dissects_tls {
                report.check("tcp_info", file, n, &info, &t["_ws.col.Info"]);
            } else {
                // Without a TLS dissector, only the TCP part of tshark's Info is capd's to
                // match (none at all where TLS's note replaced it).
                let (their_tcp, _) = split_reassembly_note(&t["_ws.col.Info"]);
                if !their_tcp.is_empty() {
                    report.check("tcp_info", file, n, &info, their_tcp);
                }
            }
        }
    }
}

/// A child process that is killed and reaped whenever the guard goes, pass or fail.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command to its end with stdin closed, killing it if it outlives `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    wait_output(Guard(child), limit)
}

/// Collects a guarded child's output, failing the test if it outlives `limit`.
pub fn wait_output(mut guard: Guard, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        match guard.0.try_wait().expect("the child can be waited for") {
            Some(_) => break,
            None if Instant::now() > deadline => panic!("a child ran longer than {limit:?}"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut out = Output {
        status: guard.0.wait().expect("exit status"),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    if let Some(mut s) = guard.0.stdout.take() {
        let _ = std::io::Read::read_to_end(&mut s, &mut out.stdout);
    }
    if let Some(mut s) = guard.0.stderr.take() {
        let _ = std::io::Read::read_to_end(&mut s, &mut out.stderr);
    }
    out
}

/// Bytes as text, for messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The first line where two outputs differ, for a readable failure.
pub fn first_difference(ours: &str, golden: &str) -> String {
    for (i, (a, b)) in ours.lines().zip(golden.lines()).enumerate() {
        if a != b {
            return format!("line {}:\n  now:    {a}\n  golden: {b}", i + 1);
        }
    }
    format!(
        "lengths differ: {} lines now, {} in the golden file",
        ours.lines().count(),
        golden.lines().count()
    )
}
