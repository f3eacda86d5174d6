//! Real packet loss, seen live. The live test builds a client and a server in two network
//! namespaces joined through a third that forwards between them and drops a random share of
//! segments (nftables `numgen random`), runs a bounded upload, and watches it with
//! `capd -i ... -w ... --json` inside the server's namespace. capd must have labelled the loss
//! live, and its per-frame reading must be tshark's reading of the file capd itself wrote.
//!
//! A drop in the sender's own output path would be reported back to its TCP, which then just
//! sends again; forwarding through a lossy hop is what makes loss the sender has to discover.
//!
//! The recorded samples (`captures/lossy-*.pcap`, made by `captures/lossy.sh`) are checked
//! here too: they must keep showing the labels captures/README.md promises.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The labels capd gave the packets of `events`, with how many packets carried each.
fn label_counts(events: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for e in events.iter().filter(|e| e["event"] == "packet") {
        for l in e["tcp"]["analysis"].as_array().into_iter().flatten() {
            *counts.entry(plain(l)).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_labels(what: &str, events: &[Value], wanted: &[&str]) {
    let counts = label_counts(events);
    for w in wanted {
        assert!(
            counts.get(*w).is_some_and(|&n| n > 0),
            "{what}: no frame labelled {w}; labels seen: {counts:?}"
        );
    }
}

#[test]
fn lossy_sample_captures_show_the_loss_labels() {
    let tcp = capd_events(&captures_dir().join("lossy-tcp.pcap"), &[]);
    assert_labels(
        "lossy-tcp.pcap",
        &tcp,
        &[
            "lost_segment",
            "duplicate_ack",
            "retransmission",
            "fast_retransmission",
            "out_of_order",
            "spurious_retransmission",
        ],
    );
    let tls = capd_events(&captures_dir().join("lossy-tls.pcap"), &[]);
    assert_labels(
        "lossy-tls.pcap",
        &tls,
        &[
            "duplicate_ack",
            "retransmission",
            "fast_retransmission",
            "window_full",
            "zero_window",
        ],
    );
    // The flow summaries count what the packets carried, and Zeek's history records the
    // retransmissions (`T`/`t`) of the side that sent the bulk data.
    for (events, sender_letter) in [(&tcp, 'T'), (&tls, 't')] {
        let flow = events
            .iter()
            .find(|e| e["event"] == "flow")
            .expect("a flow event");
        for (label, n) in label_counts(events) {
            assert_eq!(
                flow["analysis"][&label].as_u64(),
                Some(n as u64),
                "flow count of {label}"
            );
        }
        let history = flow["history"].as_str().unwrap();
        assert!(history.contains(sender_letter), "history {history}");
        assert!(
            history.starts_with("ShAD") || history.starts_with("ShAd"),
            "{history}"
        );
    }
}

fn is_root() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipping: network namespaces and live capture need root");
    }
    root
}

fn have(cmd: &str, arg: &str) -> bool {
    let ok = Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: {cmd} is not installed");
    }
    ok
}

/// Runs a command to completion, panicking with its stderr when it fails.
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command with stdin; its stderr when it fails.
fn run_with_input(args: &[&str], input: &str) -> Result<(), String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, input.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Three namespaces (client, lossy router, server) and the processes started in them; all are
/// removed when this is dropped, whether the test passed or panicked.
struct Lab {
    client: String,
    router: String,
    server: String,
    children: Vec<Child>,
}

impl Lab {
    /// Builds the namespaces, or says why this machine cannot (and the test skips).
    fn new() -> Option<Lab> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag = format!("capd-loss-{}-{nanos:x}", std::process::id());
        let lab = Lab {
            client: format!("{tag}-a"),
            router: format!("{tag}-r"),
            server: format!("{tag}-b"),
            children: Vec::new(),
        };
        // Root without the right to make namespaces (some containers) cannot run this test.
        let probe = Command::new("ip")
            .args(["netns", "add", &lab.client])
            .output();
        if !probe.as_ref().is_ok_and(|o| o.status.success()) {
            let why = probe.map_or_else(
                |e| e.to_string(),
                |o| String::from_utf8_lossy(&o.stderr).into_owned(),
            );
            eprintln!("skipping: cannot create a network namespace here: {why}");
            return None;
        }
        for ns in [&lab.router, &lab.server] {
            run(&["ip", "netns", "add", ns]);
        }
        for ns in [&lab.client, &lab.router, &lab.server] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // Interface names live inside the namespaces, so fixed short names cannot collide.
        run(&[
            "ip",
            "link",
            "add",
            "cl0",
            "netns",
            &lab.client,
            "type",
            "veth",
            "peer",
            "name",
            "rt0",
            "netns",
            &lab.router,
        ]);
        run(&[
            "ip",
            "link",
            "add",
            "sv0",
            "netns",
            &lab.server,
            "type",
            "veth",
            "peer",
            "name",
            "rt1",
            "netns",
            &lab.router,
        ]);
        run(&[
            "ip",
            "-n",
            &lab.client,
            "addr",
            "add",
            "192.0.2.1/24",
            "dev",
            "cl0",
        ]);
        run(&[
            "ip",
            "-n",
            &lab.router,
            "addr",
            "add",
            "192.0.2.254/24",
            "dev",
            "rt0",
        ]);
        run(&[
            "ip",
            "-n",
            &lab.router,
            "addr",
            "add",
            "198.51.100.254/24",
            "dev",
            "rt1",
        ]);
        run(&[
            "ip",
            "-n",
            &lab.server,
            "addr",
            "add",
            "198.51.100.1/24",
            "dev",
            "sv0",
        ]);
        // MTU 1000 and one segment per packet: each drop removes one ordinary segment.
        for (ns, dev) in [
            (&lab.client, "cl0"),
            (&lab.router, "rt0"),
            (&lab.router, "rt1"),
            (&lab.server, "sv0"),
        ] {
            run(&[
                "ip",
                "-n",
                ns,
                "link",
                "set",
                dev,
                "mtu",
                "1000",
                "gso_max_segs",
                "1",
                "up",
            ]);
        }
        run(&[
            "ip",
            "-n",
            &lab.client,
            "route",
            "add",
            "default",
            "via",
            "192.0.2.254",
        ]);
        run(&[
            "ip",
            "-n",
            &lab.server,
            "route",
            "add",
            "default",
            "via",
            "198.51.100.254",
        ]);
        run(&[
            "ip",
            "netns",
            "exec",
            &lab.router,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        Some(lab)
    }

    /// The router drops `up`% of segments to `port` and `down`% from it (SYNs pass); the
    /// error is nft's when the kernel cannot take the rules.
    fn lossy(&self, port: u16, up: u8, down: u8) -> Result<(), String> {
        let rules = format!(
            "table inet capd_lossy {{\n chain forward {{\n  type filter hook forward priority 0; policy accept;\n  tcp dport {port} tcp flags ! syn numgen random mod 100 < {up} drop\n  tcp sport {port} tcp flags ! syn numgen random mod 100 < {down} drop\n }}\n}}\n"
        );
        run_with_input(
            &["ip", "netns", "exec", &self.router, "nft", "-f", "-"],
            &rules,
        )
    }

    /// Starts `args` inside namespace `ns`; the child is killed when the lab is dropped.
    fn spawn(&mut self, ns: &str, args: &[&str], stdout: Stdio, stderr: Stdio) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {args:?} in {ns}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits for child `i` to exit, at most until `deadline`.
    fn wait(&mut self, i: usize, deadline: Instant) -> Option<i32> {
        let child = &mut self.children[i];
        loop {
            if let Some(status) = child.try_wait().expect("child status") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "a lab process overran its time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Both ends of the upload: the server counts what it receives and answers with the count.
const PEER: &str = r#"
import socket, sys
role, size = sys.argv[1], int(sys.argv[2])
if role == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.51.100.1", 5001)); s.listen(1); s.settimeout(15)
    c, _ = s.accept(); c.settimeout(20); got = 0
    while True:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.sendall(b"%d" % got); c.close()
else:
    c = socket.create_connection(("198.51.100.1", 5001), timeout=20)
    c.sendall(bytes(i % 251 for i in range(size))); c.shutdown(socket.SHUT_WR)
    print(c.recv(100).decode()); c.close()
"#;

#[test]
fn live_capture_of_real_loss_labels_it_and_agrees_with_tshark() {
    if !is_root()
        || !have("ip", "-V")
        || !have("nft", "--version")
        || !have("python3", "--version")
        || !have_tshark()
    {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(50);
    let dir = tempfile::tempdir().expect("temporary directory");
    let pcap = dir.path().join("live.pcap");
    let peer = dir.path().join("peer.py");
    std::fs::write(&peer, PEER).unwrap();
    let peer = peer.to_str().unwrap();
    const SIZE: usize = 200_000;

    let Some(mut lab) = Lab::new() else { return };
    if let Err(why) = lab.lossy(5001, 10, 5) {
        eprintln!("skipping: nftables cannot load the drop rules here: {why}");
        return;
    }
    let server_ns = lab.server.clone();
    let client_ns = lab.client.clone();

    // capd in the server's namespace, on its only interface. In immediate mode libpcap gives
    // each ring slot the snapshot length on an interface with segmentation offloads, so with
    // the default 256 KiB a burst overflows the ring; frames here are at most 1014 bytes.
    let capd = lab.spawn(
        &server_ns,
        &[
            capd_bin(),
            "-i",
            "sv0",
            "-s",
            "2048",
            "-B",
            "32768",
            "--port",
            "5001",
            "-w",
            pcap.to_str().unwrap(),
            "--json",
        ],
        Stdio::piped(),
        Stdio::piped(),
    );
    let stderr = lab.children[capd].stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let said = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("capd announces that it is listening");
    assert!(said.contains("listening on sv0"), "capd said {said:?}");
    let mut stdout = lab.children[capd].stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });

    let server = lab.spawn(
        &server_ns,
        &["timeout", "30", "python3", peer, "server", "0"],
        Stdio::null(),
        Stdio::inherit(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let client = lab.spawn(
        &client_ns,
        &[
            "timeout",
            "30",
            "python3",
            peer,
            "client",
            &SIZE.to_string(),
        ],
        Stdio::piped(),
        Stdio::inherit(),
    );
    assert_eq!(lab.wait(client, deadline), Some(0), "the upload completes");
    assert_eq!(lab.wait(server, deadline), Some(0), "the server finishes");
    let mut answer = String::new();
    lab.children[client]
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut answer)
        .unwrap();
    assert_eq!(answer.trim(), SIZE.to_string(), "every byte arrived");

    // Let the last ACKs through, then stop capd as a user would.
    std::thread::sleep(Duration::from_millis(500));
    let pid = lab.children[capd].id() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(lab.wait(capd, deadline), Some(0), "SIGTERM is a clean stop");
    let out = reader.join().unwrap().expect("capd's stdout");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();

    let stats = events.last().expect("events");
    assert_eq!(stats["event"], "stats");
    // Frames the kernel dropped would look like loss; frames the pipeline could not take would
    // be in the file but not in the events.
    assert_eq!(stats["dropped_kernel"], 0, "the capture kept up: {stats}");
    assert_eq!(stats["dropped_queue"], 0, "the pipeline kept up: {stats}");

    // capd saw the loss as it happened.
    assert_labels(
        "live capture",
        &events,
        &["lost_segment", "duplicate_ack", "retransmission"],
    );
    let flow = events
        .iter()
        .find(|e| e["event"] == "flow")
        .expect("the flow is reported");
    let client = flow["client"].as_str().unwrap_or_default();
    assert!(client.starts_with("192.0.2.1:"), "client {client}");
    assert_eq!(flow["server"], "198.51.100.1:5001");
    assert_eq!(flow["state"], "SF", "history {}", flow["history"]);
    assert!(flow["history"].as_str().unwrap().contains('T'));

    // And what capd said live is what tshark reads in the file capd wrote.
    let packets = events
        .iter()
        .filter(|e| e["event"] == "packet")
        .map(|e| (e["frame"].as_u64().unwrap(), e.clone()))
        .collect();
    let mut report = Report::default();
    compare_tcp(Path::new(&pcap), &packets, &mut report);
    report.print();
    for (what, t) in &report.tallies {
        assert!(
            t.mismatches.is_empty(),
            "{what} disagrees with tshark: {:#?}",
            t.mismatches
        );
    }
    assert!(report.tally("seq").is_some_and(|t| t.compared > 150));
    assert!(Instant::now() < deadline, "the test stayed within its time");
}
