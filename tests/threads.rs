//! `--threads N` gives the output of one thread, byte for byte: on every sample and corpus
//! capture, and on a generated capture long enough for flows to be swept out part way through
//! (so the merge of swept flows across workers, and flow ids assigned across workers, are
//! exercised), in JSON and in text.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Exit status, stdout and stderr (a damaged capture ends in an error after its output).
fn run(file: &Path, args: &[&str]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let out = Command::new(capd_bin())
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("capd runs");
    (out.status.code(), out.stdout, out.stderr)
}

fn same_for_every_thread_count(file: &Path) {
    for args in [
        &["--json"][..],
        &["--color", "never"][..],
        &["-V", "--color", "never"][..],
    ] {
        let one = run(file, args);
        for n in ["2", "3", "4"] {
            let many = run(file, &[args, &["--threads", n]].concat());
            assert!(
                one == many,
                "{} {args:?}: --threads {n} differs from one thread",
                file.display()
            );
        }
    }
}

#[test]
fn sample_and_corpus_captures_read_the_same_with_threads() {
    let mut files = sample_captures();
    files.extend(corpus_captures());
    assert!(!files.is_empty());
    for f in &files {
        same_for_every_thread_count(f);
    }
}

/// A little pcap writer: Ethernet, IPv4, TCP (checksums left zero; capd does not check them).
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Pcap {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond timestamps
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        Pcap(b)
    }

    fn frame(&mut self, ns: u64, data: &[u8]) {
        let b = &mut self.0;
        b.extend_from_slice(&((1_700_000_000 + ns / 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        ns: u64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = (20 + 20 + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags]);
        f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        self.frame(ns, &f);
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const RST: u8 = 0x04;

/// Writes one frame at a time.
type Writer = Box<dyn Fn(&mut Pcap, u64)>;

/// Flows that open, talk and end (FIN, RST, or silence) over 40 s of capture time, many at
/// once, plus a reused 4-tuple, frames that are not TCP and a malformed one.
fn generated_capture() -> Vec<u8> {
    let mut p = Pcap::new();
    let mut frames: Vec<(u64, Writer)> = Vec::new();
    for i in 0..400u32 {
        let start = u64::from(i) * 100_000_000; // one new flow every 100 ms
        let c = [10, 0, (i / 200) as u8, (i % 200) as u8 + 1];
        let s = [10, 1, 0, (i % 7) as u8 + 1];
        let sport = 40000 + (i % 50) as u16;
        let dport = if i % 3 == 0 { 443 } else { 8080 };
        let (cs, ss) = (i.wrapping_mul(7919), i.wrapping_mul(104_729));
        let end = i % 4;
        let step = 3_000_000u64;
        frames.push((
            start,
            Box::new(move |p: &mut Pcap, t| p.tcp(t, c, sport, s, dport, cs, 0, SYN, b"")),
        ));
        frames.push((
            start + step,
            Box::new(move |p: &mut Pcap, t| {
                p.tcp(t, s, dport, c, sport, ss, cs + 1, SYN | ACK, b"")
            }),
        ));
        frames.push((
            start + 2 * step,
            Box::new(move |p: &mut Pcap, t| p.tcp(t, c, sport, s, dport, cs + 1, ss + 1, ACK, b"")),
        ));
        frames.push((
            start + 3 * step,
            Box::new(move |p: &mut Pcap, t| {
                p.tcp(t, c, sport, s, dport, cs + 1, ss + 1, PSH_ACK, b"hello")
            }),
        ));
        frames.push((
            start + 4 * step,
            Box::new(move |p: &mut Pcap, t| {
                p.tcp(t, s, dport, c, sport, ss + 1, cs + 6, PSH_ACK, b"world!")
            }),
        ));
        let late = start + 1_500_000_000 + u64::from(i % 5) * 400_000_000;
        match end {
            0 | 1 => {
                frames.push((
                    late,
                    Box::new(move |p: &mut Pcap, t| {
                        p.tcp(t, c, sport, s, dport, cs + 6, ss + 7, FIN_ACK, b"")
                    }),
                ));
                frames.push((
                    late + step,
                    Box::new(move |p: &mut Pcap, t| {
                        p.tcp(t, s, dport, c, sport, ss + 7, cs + 7, FIN_ACK, b"")
                    }),
                ));
                frames.push((
                    late + 2 * step,
                    Box::new(move |p: &mut Pcap, t| {
                        p.tcp(t, c, sport, s, dport, cs + 7, ss + 8, ACK, b"")
                    }),
                ));
            }
            2 => frames.push((
                late,
                Box::new(move |p: &mut Pcap, t| p.tcp(t, s, dport, c, sport, ss + 7, 0, RST, b"")),
            )),
            _ => {} // silent: ends at the idle timeout or at the end
        }
        if i % 50 == 49 {
            // The same 4-tuple again later with a new ISN: ports reused.
            let again = late + 5_000_000_000;
            frames.push((
                again,
                Box::new(move |p: &mut Pcap, t| {
                    p.tcp(t, c, sport, s, dport, cs ^ 0x5555, 0, SYN, b"")
                }),
            ));
        }
        if i % 37 == 0 {
            // Not TCP (UDP), and a frame too short to be Ethernet.
            frames.push((
                start + 1,
                Box::new(move |p: &mut Pcap, t| {
                    let mut f = vec![0u8; 12];
                    f.extend_from_slice(&0x0800u16.to_be_bytes());
                    f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
                    f.extend_from_slice(&c);
                    f.extend_from_slice(&s);
                    f.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0, 8, 0, 0]);
                    p.frame(t, &f);
                }),
            ));
            frames.push((
                start + 2,
                Box::new(|p: &mut Pcap, t| p.frame(t, &[1, 2, 3])),
            ));
        }
    }
    frames.sort_by_key(|(t, _)| *t);
    for (t, f) in &frames {
        f(&mut p, *t);
    }
    p.0
}

#[test]
fn flows_swept_part_way_merge_in_order_across_workers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many-flows.pcap");
    std::fs::write(&file, generated_capture()).unwrap();
    // The capture must exercise what it is for: flows ended by sweeps before the end, flows
    // ended at the end, and port reuse.
    let (status, json, _) = run(&file, &["--json", "--idle-timeout", "3"]);
    assert_eq!(status, Some(0));
    let json = String::from_utf8(json).unwrap();
    let reasons = |r: &str| json.matches(&format!("\"reason\":\"{r}\"")).count();
    assert!(
        reasons("fin") > 50 && reasons("rst") > 50 && reasons("idle") > 50,
        "{}",
        &json[json.len() - 400..]
    );
    assert!(json.contains("reused_ports"));
    for args in [&["--json"][..], &["--color", "never"][..]] {
        let args = [args, &["--idle-timeout", "3"]].concat();
        let one = run(&file, &args);
        for n in ["2", "3", "5"] {
            let many = run(&file, &[&args[..], &["--threads", n]].concat());
            assert!(
                one == many,
                "{args:?}: --threads {n} differs from one thread"
            );
        }
    }
}

#[test]
fn thousands_of_flows_open_at_the_end_merge_in_order_across_workers() {
    // 6,000 flows still open when the capture ends: each worker hands them to the merger in
    // pieces of about 1 MiB, which must interleave by flow id as one thread writes them.
    let mut p = Pcap::new();
    for i in 0..6000u32 {
        let t = u64::from(i) * 10_000;
        let c = [10, 2, (i >> 8) as u8, i as u8];
        let s = [10, 3, 0, (i % 5) as u8 + 1];
        let sport = 30000 + (i % 3000) as u16;
        p.tcp(t, c, sport, s, 443, i, 0, SYN, b"");
        // The server's ISN, and the client's acknowledgement of it (wrapping for flow 0).
        let (isn, ack) = (!i, (!i).wrapping_add(1));
        p.tcp(t + 1, s, 443, c, sport, isn, i + 1, SYN | ACK, b"");
        p.tcp(t + 2, c, sport, s, 443, i + 1, ack, ACK, b"");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("open-at-the-end.pcap");
    std::fs::write(&file, p.0).unwrap();
    let (status, one, _) = run(&file, &["--json"]);
    assert_eq!(status, Some(0));
    let flows = String::from_utf8_lossy(&one)
        .matches("\"reason\":\"end\"")
        .count();
    assert_eq!(flows, 6000);
    // Several pieces per worker: the flow events come to megabytes.
    let flow_bytes: usize = String::from_utf8_lossy(&one)
        .lines()
        .filter(|l| l.starts_with("{\"event\":\"flow\""))
        .map(str::len)
        .sum();
    assert!(flow_bytes > 3 << 20, "{flow_bytes}");
    for n in ["2", "3"] {
        let (_, many, _) = run(&file, &["--json", "--threads", n]);
        assert!(one == many, "--threads {n} differs from one thread");
    }
}
