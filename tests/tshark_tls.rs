//! capd's TLS reading against tshark 4.0's on the same captures, frame by frame: the Protocol
//! and Info columns of every frame of a TLS flow, the records each frame completes (content
//! types, lengths, handshake message types), and per session the JA3/JA3S fingerprints, the
//! SNI and the certificate serial numbers tshark finds in the same frames.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use serde_json::Value;

const FIELDS: [&str; 13] = [
    "tcp.stream",
    "_ws.col.Protocol",
    "_ws.col.Info",
    "tls.record.content_type",
    "tls.record.length",
    "tls.handshake.type",
    "tls.handshake.ja3",
    "tls.handshake.ja3s",
    "tls.handshake.extensions_server_name",
    "x509af.serialNumber",
    "tls.record.version",
    "tls.record.opaque_type",
    "tls.handshake.certificate_length",
];

fn is_tls_protocol(p: &str) -> bool {
    let inner = p
        .strip_prefix("GTP <")
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(p);
    inner.starts_with("TLS") || inner.starts_with("SSL")
}

fn handshake_number(name: &str) -> Option<&'static str> {
    Some(match name {
        "hello_request" => "0",
        "client_hello" => "1",
        "server_hello" | "hello_retry_request" => "2",
        "new_session_ticket" => "4",
        "end_of_early_data" => "5",
        "encrypted_extensions" => "8",
        "certificate" => "11",
        "server_key_exchange" => "12",
        "certificate_request" => "13",
        "server_hello_done" => "14",
        "certificate_verify" => "15",
        "client_key_exchange" => "16",
        "finished" => "20",
        "certificate_url" => "21",
        "certificate_status" => "22",
        "supplemental_data" => "23",
        "key_update" => "24",
        "compressed_certificate" => "25",
        _ => return None,
    })
}

fn content_type_number(name: &str) -> &'static str {
    match name {
        "change_cipher_spec" => "20",
        "alert" => "21",
        "handshake" => "22",
        "application_data" => "23",
        "heartbeat" => "24",
        _ => "?",
    }
}

/// capd's records of a packet event as tshark would list content types, lengths and
/// handshake types (SSL 2.0 records have no such fields in tshark).
fn our_records(p: &Value) -> (String, String, String) {
    let recs: Vec<&Value> = p["tls"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["version"] != "SSL 2.0").collect())
        .unwrap_or_default();
    let types: Vec<&str> = recs
        .iter()
        .map(|r| content_type_number(r["type"].as_str().unwrap_or("")))
        .collect();
    let lens: Vec<String> = recs.iter().map(|r| r["length"].to_string()).collect();
    let hs: Vec<&str> = recs
        .iter()
        .filter_map(|r| r["messages"].as_array())
        .flatten()
        .filter_map(|m| m.as_str().and_then(handshake_number))
        .collect();
    (types.join("|"), lens.join("|"), hs.join("|"))
}

fn compare(file: &Path, report: &mut Report) {
    let theirs = tshark_fields_with(file, &FIELDS, "a");
    let events = capd_events(file, &[]);
    let ours: BTreeMap<u64, &Value> = events
        .iter()
        .filter(|e| e["event"] == "packet")
        .map(|e| (e["frame"].as_u64().unwrap(), e))
        .collect();
    let sessions: BTreeMap<u64, &Value> = events
        .iter()
        .filter(|e| e["event"] == "tls_handshake")
        .map(|e| (e["flow"].as_u64().unwrap(), e))
        .collect();
    // The streams tshark saw TLS in.
    let tls_streams: BTreeSet<&str> = theirs
        .values()
        .filter(|t| is_tls_protocol(&t["_ws.col.Protocol"]))
        .map(|t| t["tcp.stream"].as_str())
        .collect();
    let mut ja3_seen = BTreeSet::new();
    let mut ja3s_seen: BTreeMap<u64, (u64, String)> = BTreeMap::new();
    for (&n, t) in &theirs {
        if !tls_streams.contains(t["tcp.stream"].as_str()) {
            continue;
        }
        let Some(p) = ours.get(&n) else { continue };
        let proto = &t["_ws.col.Protocol"];
        // Frames another application dissector of tshark's claimed (HTTP inside a
        // STARTTLS stream, say) are not TLS's to match.
        if proto.ends_with("TCP") || proto.ends_with("TCP>") || is_tls_protocol(proto) {
            report.check("protocol", file, n, &plain(&p["proto"]), proto);
            report.check("info", file, n, &plain(&p["info"]), &t["_ws.col.Info"]);
        }
        if !is_tls_protocol(proto) || proto.contains("SSLv2") {
            continue;
        }
        let (types, lens, hs) = our_records(p);
        // TLS 1.3's encrypted records carry their type as `opaque_type`; they come last.
        let their_types = [&t["tls.record.content_type"], &t["tls.record.opaque_type"]]
            .into_iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("|");
        report.check("record_types", file, n, &types, &their_types);
        report.check("record_lengths", file, n, &lens, &t["tls.record.length"]);
        report.check("handshake_types", file, n, &hs, &t["tls.handshake.type"]);

        // Session facts, from the session of this frame's flow.
        let flow = p["flow"].as_u64().unwrap();
        let s = sessions.get(&flow).copied().unwrap_or(&Value::Null);
        if !t["tls.handshake.ja3"].is_empty() && ja3_seen.insert(flow) {
            report.check("ja3", file, n, &plain(&s["ja3"]), &t["tls.handshake.ja3"]);
            report.check(
                "sni",
                file,
                n,
                &plain(&s["sni"]),
                &t["tls.handshake.extensions_server_name"],
            );
        }
        if !t["tls.handshake.ja3s"].is_empty() {
            // A HelloRetryRequest has a JA3S too; the session's is the final ServerHello's.
            ja3s_seen.insert(flow, (n, t["tls.handshake.ja3s"].clone()));
        }
        if !t["tls.handshake.certificate_length"].is_empty() {
            let src = plain(&p["src"]);
            let endpoint = if src.contains(':') {
                format!("[{src}]:{}", p["sport"])
            } else {
                format!("{src}:{}", p["sport"])
            };
            let from_client = s["client"] == endpoint.as_str();
            let certs = if from_client {
                &s["client_certs"]
            } else {
                &s["server_certs"]
            };
            let serials: Vec<String> = certs
                .as_array()
                .map(|a| a.iter().map(|c| plain(&c["serial"])).collect())
                .unwrap_or_default();
            // Serial numbers inside a Certificate Status (OCSP) answer follow the chain's.
            let lengths = &t["tls.handshake.certificate_length"];
            let chain_len = if lengths.is_empty() {
                0
            } else {
                lengths.split('|').count()
            };
            let theirs: Vec<&str> = t["x509af.serialNumber"]
                .split('|')
                .take(chain_len)
                .collect();
            report.check("serials", file, n, &serials.join("|"), &theirs.join("|"));
        }
    }
    for (flow, (n, ja3s)) in ja3s_seen {
        let s = sessions.get(&flow).copied().unwrap_or(&Value::Null);
        report.check("ja3s", file, n, &plain(&s["ja3s"]), &ja3s);
    }
}

/// On capd's own captures, every TLS frame reads exactly as in tshark.
#[test]
fn sample_captures_agree_with_tshark_on_every_tls_frame() {
    if !have_tshark() {
        return;
    }
    let mut report = Report::default();
    for f in sample_captures() {
        compare(&f, &mut report);
    }
    report.print();
    for what in [
        "protocol",
        "info",
        "record_types",
        "record_lengths",
        "handshake_types",
        "ja3",
        "ja3s",
        "sni",
        "serials",
    ] {
        let t = report
            .tally(what)
            .unwrap_or_else(|| panic!("{what} was compared"));
        assert!(t.compared > 0, "{what} was compared");
        assert!(
            t.mismatches.is_empty(),
            "{what} disagrees with tshark: {:#?}",
            t.mismatches
        );
    }
}

/// On the public corpus (other projects' captures: SSLv2 to TLS 1.3, fragmented, lossy,
/// malformed), the columns and records agree on at least 99.5% of TLS-flow frames and the
/// fingerprints on every session.
#[test]
fn corpus_captures_agree_with_tshark_on_tls() {
    if !have_tshark() || corpus_dir().is_none() {
        return;
    }
    let mut report = Report::default();
    for f in corpus_captures() {
        compare(&f, &mut report);
    }
    report.print();
    for what in [
        "protocol",
        "info",
        "record_types",
        "record_lengths",
        "handshake_types",
    ] {
        let t = report.tally(what).expect("compared");
        assert!(
            t.agreement() >= 0.995,
            "{what}: only {:.3}% of {} frames agree with tshark",
            100.0 * t.agreement(),
            t.compared
        );
    }
    for exact in ["ja3", "ja3s", "sni", "serials"] {
        let t = report.tally(exact).expect("compared");
        assert!(
            t.mismatches.is_empty(),
            "{exact} disagrees with tshark: {:#?}",
            t.mismatches
        );
    }
}
