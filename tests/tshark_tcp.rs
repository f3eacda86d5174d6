//! capd's per-frame TCP reading against tshark 4.0's on the same captures: which frames are
//! TCP, their addresses, ports, lengths, flags and windows, the Info text of plain TCP frames,
//! relative sequence numbers and the analysis labels.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

const LABELS: [&str; 15] = [
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

fn fields() -> Vec<String> {
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

/// Tallies per field for one capture.
#[derive(Default)]
struct Report {
    tallies: BTreeMap<&'static str, Tally>,
}

impl Report {
    fn check(&mut self, what: &'static str, file: &Path, frame: u64, ours: &str, theirs: &str) {
        self.tallies
            .entry(what)
            .or_default()
            .check(what, file, frame, ours, theirs);
    }

    fn tally(&self, what: &str) -> Option<&Tally> {
        self.tallies.get(what)
    }
}

fn compare(file: &Path, report: &mut Report) {
    let names = fields();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let theirs = tshark_fields(file, &refs);
    let ours = capd_packets(file);
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
            report.check("tcp_info", file, n, &plain(&p["info"]), &t["_ws.col.Info"]);
        }
    }
}

fn print_mismatches(report: &Report) {
    for (what, t) in &report.tallies {
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

/// On capd's own captures every field agrees with tshark, frame by frame.
#[test]
fn sample_captures_agree_with_tshark_on_every_tcp_field() {
    if !have_tshark() {
        return;
    }
    let mut report = Report::default();
    let files = sample_captures();
    assert!(!files.is_empty(), "captures/ holds sample captures");
    for f in &files {
        compare(f, &mut report);
    }
    print_mismatches(&report);
    for (what, t) in &report.tallies {
        assert!(
            t.mismatches.is_empty(),
            "{what} disagrees with tshark: {:#?}",
            t.mismatches
        );
    }
    assert!(
        report.tally("seq").is_some_and(|t| t.compared > 100),
        "enough frames compared"
    );
}

/// On the public corpus (other projects' captures, many of them lossy or malformed), headers
/// agree exactly and sequence numbers and analysis labels on at least 99.5% of TCP frames.
#[test]
fn corpus_captures_agree_with_tshark() {
    if !have_tshark() || corpus_dir().is_none() {
        return;
    }
    let mut report = Report::default();
    for f in corpus_captures() {
        compare(&f, &mut report);
    }
    print_mismatches(&report);
    for exact in [
        "frames",
        "src",
        "dst",
        "sport",
        "dport",
        "len",
        "flags",
        "payload_len",
    ] {
        let t = report.tally(exact).expect("compared");
        assert!(
            t.mismatches.is_empty(),
            "{exact} disagrees with tshark: {:#?}",
            t.mismatches
        );
    }
    for close in ["seq", "ack", "analysis", "win"] {
        let t = report.tally(close).expect("compared");
        assert!(
            t.agreement() >= 0.995,
            "{close}: only {:.3}% of {} frames agree with tshark",
            100.0 * t.agreement(),
            t.compared
        );
    }
}

/// The packet events' JSON shape is the contract's.
#[test]
fn packet_events_carry_the_contract_fields() {
    let file = captures_dir().join("openssl-mtls12.pcap");
    let events = capd_events(&file, &[]);
    let packet: &Value = events
        .iter()
        .find(|e| e["event"] == "packet")
        .expect("a packet event");
    for key in [
        "frame", "ts", "flow", "src", "sport", "dst", "dport", "len", "tcp", "tls", "info",
    ] {
        assert!(!packet[key].is_null(), "packet event lacks {key}: {packet}");
    }
    for key in ["flags", "seq", "ack", "win", "payload_len", "analysis"] {
        assert!(!packet["tcp"][key].is_null(), "tcp lacks {key}: {packet}");
    }
    let last = events.last().expect("events");
    assert_eq!(last["event"], "stats", "stats is the last line");
    assert_eq!(last["packets"].as_u64(), Some(18));
}
