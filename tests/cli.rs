//! The command line end to end: errors as one sentence with the right exit status, `-c`, `-w`,
//! a closed stdout pipe, signals, and live capture of loopback traffic the test makes itself.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn capd(args: &[&str]) -> Output {
    Command::new(capd_bin())
        .args(args)
        .output()
        .expect("capd runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A runtime error is exactly one line on stderr, a sentence naming the culprit, status 1.
fn assert_one_sentence(o: &Output, status: i32, names: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(status), "status for: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("capd: "), "{err}");
    assert!(err.trim_end().ends_with('.'), "a sentence: {err}");
    assert!(err.contains(names), "{err:?} should name {names}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"));
    assert!(o.stdout.is_empty(), "nothing on stdout");
}

fn is_root() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipping: live capture needs root");
    }
    root
}

#[test]
fn missing_file_is_one_sentence_and_status_1() {
    let o = capd(&["-r", "/nonexistent/lab.pcap"]);
    assert_one_sentence(&o, 1, "/nonexistent/lab.pcap");
    assert!(stderr(&o).contains("no such file"));
}

#[test]
fn a_file_that_is_not_a_capture_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.pcap");
    std::fs::write(&f, b"this is not a capture, just words\n").unwrap();
    let o = capd(&["-r", f.to_str().unwrap()]);
    assert_one_sentence(&o, 1, "notes.pcap");
    assert!(stderr(&o).contains("not a pcap or pcapng"));
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    assert_one_sentence(&capd(&["-r", empty.to_str().unwrap()]), 1, "empty.pcap");
}

#[test]
fn a_directory_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_sentence(&capd(&["-r", dir.path().to_str().unwrap()]), 1, "directory");
}

#[test]
fn missing_interface_lists_the_real_ones() {
    let o = capd(&["-i", "nosuchif0"]);
    assert_one_sentence(&o, 1, "nosuchif0");
    assert!(stderr(&o).contains("lo"), "lists available interfaces");
}

#[test]
fn bad_bpf_filter_is_named() {
    let file = captures_dir().join("openssl-mtls12.pcap");
    let o = capd(&["-r", file.to_str().unwrap(), "-f", "tcp portt 3"]);
    assert_one_sentence(&o, 1, "tcp portt 3");
}

#[test]
fn unwritable_output_file_is_named() {
    let file = captures_dir().join("openssl-mtls12.pcap");
    let o = capd(&[
        "-r",
        file.to_str().unwrap(),
        "-w",
        "/nonexistent/dir/out.pcap",
    ]);
    assert_one_sentence(&o, 1, "/nonexistent/dir/out.pcap");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["-i", "lo", "-r", "x.pcap"][..],
        &["-r", "x.pcap", "--port", "0"][..],
        &["-r", "x.pcap", "-c", "0"][..],
        &["--no-such-flag"][..],
        &["-r", "x.pcap", "--port", "70000"][..],
    ] {
        let o = capd(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn no_capture_permission_says_what_is_needed_and_offers_replay() {
    if !is_root() {
        return;
    }
    // Run as nobody: the open fails for lack of CAP_NET_RAW.
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(capd_bin())
        .args(["-i", "lo"])
        .output()
        .expect("setpriv runs");
    assert_one_sentence(&o, 1, "lo");
    let err = stderr(&o);
    assert!(err.contains("root") && err.contains("CAP_NET_RAW"), "{err}");
    assert!(err.contains("capd -r"), "offers replay: {err}");
}

#[test]
fn count_stops_after_n_frames() {
    let file = captures_dir().join("openssl-mtls12.pcap");
    let events = capd_events(&file, &["-c", "4"]);
    let frames: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "packet")
        .map(|e| e["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, [1, 2, 3, 4]);
    assert_eq!(events.last().unwrap()["packets"], 4);
}

#[test]
fn a_link_type_capd_does_not_decode_is_said_once_and_its_frames_counted() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token-ring.pcap");
    // LINKTYPE_IEEE802_5 (6), then two 20-byte frames.
    let mut pcap = Vec::new();
    write_pcap_header(&mut pcap, 6);
    for i in 0..2 {
        write_pcap_record(&mut pcap, 1_700_000_000, i, &[0x10; 20]);
    }
    std::fs::write(&f, pcap).unwrap();
    let o = capd(&["-r", f.to_str().unwrap(), "--json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.lines().count(), 1, "one warning: {err:?}");
    assert!(err.starts_with("capd: warning: "), "{err}");
    assert!(
        err.contains("token-ring.pcap") && err.contains("(6)"),
        "{err}"
    );
    assert!(err.contains("does not decode"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    let stats: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(stats["packets"], 2);
    assert_eq!(stats["tcp_packets"], 0);

    // A capture capd reads says nothing on stderr.
    let lab = captures_dir().join("openssl-mtls12.pcap");
    let o = capd(&["-r", lab.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

/// Every record of a pcap file: (timestamp µs, original length, bytes).
fn records(path: &Path) -> Vec<(i64, i64, u32, Vec<u8>)> {
    let mut cap = pcap::Capture::from_file(path).expect("readable capture");
    let mut v = Vec::new();
    while let Ok(p) = cap.next_packet() {
        v.push((
            p.header.ts.tv_sec,
            p.header.ts.tv_usec,
            p.header.len,
            p.data.to_vec(),
        ));
    }
    v
}

#[test]
fn write_keeps_every_filtered_frame_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let input = captures_dir().join("openssl-mtls12.pcap");
    let out = dir.path().join("out.pcap");
    let o = capd(&[
        "-r",
        input.to_str().unwrap(),
        "-w",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(records(&out), records(&input));

    // With a filter only the matching frames are written: here the server's.
    let out2 = dir.path().join("server.pcap");
    let o = capd(&[
        "-r",
        input.to_str().unwrap(),
        "-f",
        "src port 15001",
        "-w",
        out2.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = records(&input);
    let kept = records(&out2);
    assert_eq!(kept.len(), 8, "the server sent 8 of the 18 frames");
    assert!(kept.iter().all(|r| all.contains(r)));
    if have_tshark() {
        let t = Command::new("tshark")
            .arg("-r")
            .arg(&out2)
            .output()
            .unwrap();
        assert!(t.status.success());
        assert_eq!(String::from_utf8_lossy(&t.stdout).lines().count(), 8);
    }
}

/// A classic pcap file header: version 2.4, microsecond timestamps, snapshot length 65535.
fn write_pcap_header(out: &mut impl Write, linktype: u32) {
    out.write_all(&0xa1b2c3d4u32.to_le_bytes()).unwrap();
    out.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    out.write_all(&65535u32.to_le_bytes()).unwrap();
    out.write_all(&linktype.to_le_bytes()).unwrap();
}

/// A pcap record of `data`, captured whole, at `secs` seconds and `usecs` microseconds.
fn write_pcap_record(out: &mut impl Write, secs: u32, usecs: u32, data: &[u8]) {
    out.write_all(&secs.to_le_bytes()).unwrap();
    out.write_all(&usecs.to_le_bytes()).unwrap();
    out.write_all(&(data.len() as u32).to_le_bytes()).unwrap();
    out.write_all(&(data.len() as u32).to_le_bytes()).unwrap();
    out.write_all(data).unwrap();
}

/// Writes a pcap of `n` copies of a TCP segment, big enough to outlast a pipe's buffer.
fn big_capture(path: &Path, n: u32) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    // LINKTYPE_RAW (101).
    write_pcap_header(&mut f, 101);
    let mut pkt = vec![
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2,
    ];
    pkt.extend_from_slice(&[
        0x3a, 0x98, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 1, 0,
    ]);
    pkt.extend_from_slice(&[0, 0, 0, 0]);
    for i in 0..n {
        write_pcap_record(&mut f, 1_700_000_000 + i / 1000, (i % 1000) * 1000, &pkt);
    }
}

#[test]
fn a_closed_stdout_pipe_ends_quietly_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.pcap");
    big_capture(&file, 200_000);
    for json in [false, true] {
        let mut cmd = Command::new(capd_bin());
        cmd.arg("-r").arg(&file);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The reader goes away, as `| head -1` does.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "json={json}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A live capd child whose stdout is collected, killed on drop if still running.
struct Live {
    child: Child,
}

impl Live {
    /// Starts `capd -i lo ARGS --json` and waits until it says it is listening.
    fn start(args: &[&str]) -> Live {
        let mut child = Command::new(capd_bin())
            .args(["-i", "lo", "--json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("capd starts");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.contains("listening on lo"), "capd said {line:?}");
        Live { child }
    }

    /// Sends SIGTERM and returns the events and the exit status.
    fn stop(mut self) -> (Vec<Value>, Option<i32>) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "capd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let events = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        (events, self.child.wait().unwrap().code())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn live_capture_on_lo_sees_the_traffic_this_test_makes() {
    if !is_root() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let live = Live::start(&["--port", &port.to_string()]);

    // A small exchange: connect, request, reply, close both ways.
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"2026-11-26 12:00:00\n").unwrap();
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"time?").unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    drop(c);
    server.join().unwrap();
    assert_eq!(reply, b"2026-11-26 12:00:00\n");
    std::thread::sleep(Duration::from_millis(300));

    let (events, status) = live.stop();
    assert_eq!(status, Some(0), "SIGTERM is a clean stop");
    let packets: Vec<&Value> = events.iter().filter(|e| e["event"] == "packet").collect();
    let flags = |p: &Value| -> Vec<String> {
        p["tcp"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    assert!(packets.len() >= 8, "saw the exchange: {packets:#?}");
    assert_eq!(flags(packets[0]), ["SYN"]);
    assert_eq!(packets[0]["dport"], port);
    assert_eq!(flags(packets[1]), ["SYN", "ACK"]);
    assert_eq!(flags(packets[2]), ["ACK"]);
    assert_eq!(packets[2]["tcp"]["seq"], 1);
    assert_eq!(packets[2]["tcp"]["ack"], 1);
    let lens: Vec<u64> = packets
        .iter()
        .map(|p| p["tcp"]["payload_len"].as_u64().unwrap())
        .filter(|&l| l > 0)
        .collect();
    assert_eq!(lens, [5, 20]);
    let flow = events
        .iter()
        .find(|e| e["event"] == "flow")
        .expect("the flow is reported");
    assert_eq!(flow["state"], "SF");
    assert_eq!(flow["server"], format!("127.0.0.1:{port}"));
    let stats = events.last().unwrap();
    assert_eq!(stats["event"], "stats");
    assert_eq!(stats["packets"].as_u64(), Some(packets.len() as u64));
    assert_eq!(stats["dropped_kernel"], 0);
    assert_eq!(stats["dropped_queue"], 0);
}

#[test]
fn sigterm_on_a_quiet_capture_still_prints_stats() {
    if !is_root() {
        return;
    }
    // A port nobody uses: nothing arrives, yet the run ends cleanly with its stats line.
    let live = Live::start(&["--port", "9", "-f", "host 192.0.2.1"]);
    std::thread::sleep(Duration::from_millis(200));
    let (events, status) = live.stop();
    assert_eq!(status, Some(0));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "stats");
    assert_eq!(events[0]["packets"], 0);
}
