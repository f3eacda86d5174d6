//! `capd demo` end to end: it captures its own lab session live on lo and prints the TCP
//! handshakes of every client on its port, the flows' summaries and the clients' results, then
//! exits 0. Capturing needs root or CAP_NET_RAW (tests and CI run as root); without it the
//! test checks the one-sentence refusal instead.
//!
//! The TLS stages of each client are checked too, as the lab's students see them: the two
//! good clients complete mutual TLS, the one without a certificate is refused with an alert.
//! Each session ends with its verdict against the demo's CA.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn demo_shows_each_clients_handshake_and_flow_live() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capd"))
        .args(["demo", "--color", "never"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("capd demo starts");
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().expect("status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("capd demo ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("needs root or CAP_NET_RAW") {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr.contains("capd -r captures/lab-mtls12.pcap"),
            "{stderr}"
        );
        eprintln!("skipping the live part: no permission to capture on lo");
        return;
    }
    assert!(out.status.success(), "stderr: {stderr}\nstdout: {stdout}");

    let port: u16 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("capd demo: lab server on 127.0.0.1:"))
        .and_then(|rest| rest.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port announced in {stdout}"));

    // Packet lines: "No. Time Src → Dst Protocol Len Info"; TCP ones carry the ports.
    let all_packets: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok())
                && l.contains(" → 127.0.0.1 ")
        })
        .collect();
    let packets: Vec<&str> = all_packets
        .iter()
        .copied()
        .filter(|l| l.contains(" TCP "))
        .collect();
    let to_server = format!(" → {port} [");
    let from_server = format!(" {port} → ");
    assert!(
        packets
            .iter()
            .all(|l| l.contains(&to_server) || l.contains(&from_server)),
        "a packet outside the demo's port:\n{stdout}"
    );
    let count = |to: bool, flags: &str| {
        packets
            .iter()
            .filter(|l| l.contains(if to { &to_server } else { &from_server }))
            .filter(|l| l.contains(&format!("[{flags}]")))
            .count()
    };
    assert_eq!(count(true, "SYN"), 4, "{stdout}");
    assert_eq!(count(false, "SYN, ACK"), 4, "{stdout}");
    assert!(count(true, "ACK") >= 4, "{stdout}");
    // Packet numbers count up from 1 without gaps.
    for (i, l) in all_packets.iter().enumerate() {
        let no: usize = l.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(no, i + 1, "{l}");
    }

    let flows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("flow ") && l.contains(&format!("→ 127.0.0.1:{port} ")))
        .collect();
    assert_eq!(flows.len(), 4, "{stdout}");
    assert!(flows.iter().all(|f| f.contains(" SF ")), "{flows:?}");
    // Each flow is summed up once its last packet has been shown (a closed flow ends at the
    // next sweep, while the demo's later clients are still running).
    for f in &flows {
        let client_port = f
            .split_whitespace()
            .nth(2)
            .and_then(|c| c.rsplit(':').next())
            .unwrap_or_else(|| panic!("no client in {f}"));
        let ports = [
            format!(" {client_port} → {port} "),
            format!(" {port} → {client_port} "),
        ];
        let last_packet = all_packets
            .iter()
            .filter(|l| ports.iter().any(|p| l.contains(p.as_str())))
            .filter_map(|l| stdout.find(*l))
            .max()
            .unwrap_or_else(|| panic!("no packets of {f}"));
        assert!(
            stdout.find(*f).unwrap() > last_packet,
            "{f} comes after its packets:\n{stdout}"
        );
    }
    assert!(stdout.contains(" 4 flows, "), "{stdout}");

    let served = stdout
        .lines()
        .filter(|l| l.contains("] Secure communication received from server:"))
        .count();
    let refused = stdout
        .lines()
        .filter(|l| l.contains("refused, as it should be"))
        .count();
    assert_eq!((served, refused), (2, 2), "{stdout}");
    assert!(stdout.contains("[server] Securely sent "), "{stdout}");
    assert!(
        stdout.contains("[client 3, no certificate] refused"),
        "{stdout}"
    );

    // The TLS stages, with Wireshark's Info text.
    let tls = |info: &str| {
        all_packets
            .iter()
            .filter(|l| l.contains(" TLSv") && l.ends_with(info))
            .count()
    };
    assert_eq!(tls(" Client Hello"), 4, "{stdout}");
    assert_eq!(
        tls(
            " Server Hello, Certificate, Server Key Exchange, Certificate Request, Server Hello Done"
        ),
        4,
        "{stdout}"
    );
    assert_eq!(
        tls(
            " Certificate, Client Key Exchange, Certificate Verify, Change Cipher Spec, Encrypted Handshake Message"
        ),
        3,
        "the good clients and the one from another CA sign: {stdout}"
    );
    assert_eq!(
        tls(" Certificate, Client Key Exchange, Change Cipher Spec, Encrypted Handshake Message"),
        1,
        "the client without a certificate sends an empty one: {stdout}"
    );
    assert_eq!(
        tls(" Alert (Level: Fatal, Description: Certificate Required)"),
        1,
        "{stdout}"
    );
    let sessions: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("TLS session "))
        .collect();
    assert_eq!(sessions.len(), 4, "{stdout}");
    assert_eq!(
        sessions
            .iter()
            .filter(|l| l.ends_with(" established, mutual") && !l.contains("not established"))
            .count(),
        2,
        "{sessions:?}"
    );

    // The demo knows its CA: the good clients pass, the others fail for their own reason.
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("verdict "))
        .collect();
    assert_eq!(verdicts.len(), 4, "{stdout}");
    assert_eq!(&verdicts[..2], ["PASS", "PASS"], "{stdout}");
    assert!(
        verdicts[2].starts_with("FAIL: ") && verdicts[2].contains("certificate_required"),
        "{stdout}"
    );
    assert!(
        verdicts[3].starts_with("FAIL: ") && verdicts[3].contains("not signed by the CA"),
        "{stdout}"
    );
}
