//! `--ladder` end to end: for every capture in `captures/`, the diagram at 100 columns without
//! colour equals its reviewed file `captures/golden/NAME.ladder.txt` (rewritten by
//! `captures/bless.sh`); colours, the width and the flag's conflicts as a user meets them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn capd(file: &Path, args: &[&str], columns: &str) -> Output {
    Command::new(capd_bin())
        .arg("-r")
        .arg(file)
        .args(args)
        .env("COLUMNS", columns)
        .env_remove("NO_COLOR")
        .output()
        .expect("capd runs")
}

fn ladder(file: &Path, args: &[&str], columns: &str) -> String {
    let out = capd(file, args, columns);
    assert!(
        out.status.success(),
        "capd failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn lab() -> std::path::PathBuf {
    captures_dir().join("lab-mtls12.pcap")
}

#[test]
fn every_capture_draws_its_golden_ladder() {
    let mut failures = Vec::new();
    for file in sample_captures() {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let path = captures_dir()
            .join("golden")
            .join(format!("{name}.ladder.txt"));
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run captures/bless.sh", path.display()));
        let ours = ladder(&file, &["--ladder", "--color", "never"], "100");
        if ours != golden {
            failures.push(format!(
                "{name}.ladder.txt: {}",
                first_difference(&ours, &golden)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "ladders differ from captures/golden (review, then captures/bless.sh):\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_lab_exchange_reads_as_a_textbook_ladder() {
    let out = ladder(&lab(), &["--ladder", "--color", "never"], "100");
    let arrows: Vec<&str> = out.lines().filter(|l| l.ends_with('|')).collect();
    // Frame 6 wraps onto a second line; every other frame is one arrow.
    assert_eq!(arrows.len(), 16, "{out}");
    assert!(arrows[0].contains(" #0   |--- SYN Seq=0 ---"), "{out}");
    assert!(arrows[1].contains("|<-- SYN, ACK Seq=0 Ack=1 ---"), "{out}");
    assert!(arrows[3].contains("|--- Client Hello ---"), "{out}");
    assert!(
        arrows[5].contains(
            "|<-- Server Hello, Certificate, Server Key Exchange, Certificate Request, -"
        )
    );
    assert!(arrows[6].contains("|    Server Hello Done "), "{out}");
    assert!(
        out.lines()
            .all(|l| !l.contains('|') || l.chars().count() <= 100)
    );
    // The flow's summaries follow its last arrow, then the totals.
    let last_arrow = out
        .lines()
        .rfind(|l| l.starts_with("   14  "))
        .and_then(|l| out.find(l))
        .expect("frame 14's arrow");
    assert!(last_arrow < out.find("flow 0 ").unwrap());
    assert!(out.find("flow 0 ").unwrap() < out.find("TLS session").unwrap());
    assert!(
        out.trim_end()
            .ends_with("dropped: 0 by the kernel, 0 by the interface, 0 by capd")
    );
    assert!(!out.contains('\x1b'));
}

#[test]
fn columns_set_the_width_and_colour_follows_the_flag() {
    let narrow = ladder(&lab(), &["--ladder", "--color", "never"], "60");
    let bars: Vec<&str> = narrow.lines().filter(|l| l.contains('|')).collect();
    assert!(bars.iter().all(|l| l.chars().count() <= 60), "{narrow}");
    assert!(bars.iter().any(|l| l.chars().count() == 60), "{narrow}");

    let coloured = ladder(&lab(), &["--ladder", "--color", "always"], "100");
    assert!(
        coloured.contains("\x1b[32m--- Client Hello"),
        "{coloured:?}"
    );
    // Not a terminal: auto means no colour.
    let auto = ladder(&lab(), &["--ladder"], "100");
    assert!(!auto.contains('\x1b'));
}

#[test]
fn verbose_ladder_keeps_every_packet_line() {
    let out = ladder(&lab(), &["--ladder", "-V", "--color", "never"], "200");
    let line = out
        .lines()
        .find(|l| l.starts_with("                     |  TLSv1.2 ") && l.contains(" Server Hello,"))
        .unwrap_or_else(|| panic!("no packet line for the Server Hello: {out}"));
    assert!(
        line.contains(" Server Hello, Certificate, Server Key Exchange, Certificate Request, Server Hello Done "),
        "{line}"
    );
}

#[test]
fn ladder_with_json_or_quiet_is_a_usage_error() {
    for extra in ["--json", "-q"] {
        let out = capd(&lab(), &["--ladder", extra], "100");
        assert_eq!(out.status.code(), Some(2), "--ladder {extra}");
        assert!(out.stdout.is_empty());
    }
}

/// A flow's id and its client, as text.
type FlowClient = (String, String);

/// `(flow, client)` from each flow header (`flow #N   client IP:PORT`) and from each flow
/// summary (`flow N IP:PORT → ...`).
fn clients(out: &str) -> (Vec<FlowClient>, Vec<FlowClient>) {
    let mut headers = Vec::new();
    let mut summaries = Vec::new();
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["flow", tag, "client", client, ..] if tag.starts_with('#') => {
                headers.push((tag[1..].to_string(), client.to_string()));
            }
            ["flow", id, client, "\u{2192}", ..] => {
                summaries.push((id.to_string(), client.to_string()));
            }
            _ => {}
        }
    }
    (headers, summaries)
}

#[test]
fn the_left_lifeline_is_the_client_the_flow_table_reports() {
    let files: Vec<_> = sample_captures()
        .into_iter()
        .chain(corpus_captures())
        .collect();
    let mut checked = 0;
    for file in files {
        // Some corpus captures are damaged part way; what was drawn must still agree.
        let out =
            String::from_utf8_lossy(&capd(&file, &["--ladder", "--color", "never"], "100").stdout)
                .into_owned();
        let (headers, summaries) = clients(&out);
        for (flow, client) in &headers {
            let summary = summaries.iter().find(|(id, _)| id == flow);
            assert_eq!(
                summary.map(|(_, c)| c),
                Some(client),
                "{}: flow {flow} drawn with client {client}",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} flows checked");
}
