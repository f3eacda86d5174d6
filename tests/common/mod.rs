//! Shared helpers for the integration tests: running capd and tshark on the same capture and
//! lining their per-frame readings up.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args([
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=l",
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
