//! capd's per-frame TCP reading against tshark 4.0's on the same captures: which frames are
//! TCP, their addresses, ports, lengths, flags and windows, the Info text of plain TCP frames,
//! relative sequence numbers and the analysis labels.

mod common;

use common::*;
use serde_json::Value;

fn compare(file: &std::path::Path, report: &mut Report) {
    compare_tcp(file, &capd_packets(file), report);
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
        let mut one = Report::default();
        compare(f, &mut one);
        eprintln!("{}: {}", f.display(), one.summary());
        report.merge(one);
    }
    report.print();
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
        let mut one = Report::default();
        compare(&f, &mut one);
        eprintln!("{}: {}", f.display(), one.summary());
        report.merge(one);
    }
    report.print();
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

/// A capture that starts mid-stream: roles come from the ports (the lab's port 15001 is the
/// server's, flagged `^` as Zeek does), and numbering starts at 1 in both directions as
/// tshark's does (checked frame by frame above).
#[test]
fn midstream_capture_takes_roles_from_the_ports() {
    let events = capd_events(&captures_dir().join("midstream.pcap"), &[]);
    let first = events
        .iter()
        .find(|e| e["event"] == "packet")
        .expect("a packet");
    assert_eq!(first["tcp"]["seq"], 1);
    assert_eq!(first["tcp"]["ack"], 1);
    let flow = events
        .iter()
        .find(|e| e["event"] == "flow")
        .expect("the flow");
    assert!(
        flow["server"].as_str().unwrap().ends_with(":15001"),
        "{flow}"
    );
    assert!(flow["history"].as_str().unwrap().starts_with('^'), "{flow}");
    assert_eq!(flow["handshake"]["syn"], Value::Null);
}
