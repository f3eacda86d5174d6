//! The benchmark's output watcher: reads a capture tool's stdout as fast as it comes and notes
//! when a marker string first appears (used by `scripts/bench.sh`; not part of capd).
//!
//! `tool | bench_watch --marker STRING --ready FILE --seen FILE2` writes FILE as soon as the
//! first byte arrives (the tool is seeing traffic) and FILE2 when the marker appears, keeps
//! reading without holding the tool back, and at end of input prints `lines=N marker_at=<unix seconds or none>` and then `last_line=...`
//! (for capd, its final `stats` event).

use std::io::{ErrorKind, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Read stdin, note when a marker first appears, print counts at the end")]
struct Args {
    /// The string to look for.
    #[arg(long)]
    marker: String,
    /// A file to create when the first byte arrives.
    #[arg(long)]
    ready: Option<PathBuf>,
    /// A file to create when the marker is first seen.
    #[arg(long)]
    seen: Option<PathBuf>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let marker = args.marker.as_bytes();
    if marker.is_empty() {
        eprintln!("bench_watch: --marker must not be empty");
        return ExitCode::from(2);
    }
    let mut stdin = std::io::stdin().lock();
    let mut chunk = vec![0u8; 1 << 18];
    // The end of the previous chunk, so that a marker split across two reads is still found.
    let mut window: Vec<u8> = Vec::with_capacity(chunk.len() + marker.len());
    let mut last_line: Vec<u8> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut lines = 0u64;
    let mut marker_at: Option<f64> = None;
    let mut ready = args.ready;
    loop {
        let n = match stdin.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("bench_watch: reading stdin: {e}");
                return ExitCode::FAILURE;
            }
        };
        let data = &chunk[..n];
        if let Some(path) = ready.take()
            && !note(&path, unix_now())
        {
            return ExitCode::FAILURE;
        }
        if marker_at.is_none() {
            window.extend_from_slice(data);
            if contains(&window, marker) {
                let now = unix_now();
                marker_at = Some(now);
                window = Vec::new();
                if let Some(path) = &args.seen
                    && !note(path, now)
                {
                    return ExitCode::FAILURE;
                }
            } else {
                let keep = window.len().saturating_sub(marker.len() - 1);
                window.drain(..keep);
            }
        }
        lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        // Keep the last complete line and the unfinished one after it.
        match data.iter().rposition(|&b| b == b'\n') {
            Some(end) => {
                match data[..end].iter().rposition(|&b| b == b'\n') {
                    Some(start) => last_line = data[start + 1..end].to_vec(),
                    None => {
                        last_line = std::mem::take(&mut partial);
                        last_line.extend_from_slice(&data[..end]);
                    }
                }
                partial = data[end + 1..].to_vec();
            }
            None if partial.len() < 1 << 20 => partial.extend_from_slice(data),
            None => {}
        }
    }
    if !partial.is_empty() {
        last_line = partial;
    }
    let last = String::from_utf8_lossy(&last_line);
    match marker_at {
        Some(t) => println!("lines={lines} marker_at={t:.6}"),
        None => println!("lines={lines} marker_at=none"),
    }
    println!("last_line={last}");
    ExitCode::SUCCESS
}

/// Writes a time into a file; false (with a message) if it cannot.
fn note(path: &std::path::Path, t: f64) -> bool {
    match std::fs::write(path, format!("{t:.6}\n")) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("bench_watch: cannot write {}: {e}", path.display());
            false
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let first = needle[0];
    haystack
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == first)
        .any(|(i, _)| haystack[i..].starts_with(needle))
}
