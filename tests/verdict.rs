//! `--ca` verdicts end to end on captures recorded here: the lab server on a free loopback port,
//! lab clients (a good one, one without a certificate, one with a certificate from another CA,
//! one whose certificate had expired), captured live with `capd -i lo --port P -w FILE`, then
//! replayed with `capd -r FILE --json --ca CA.pem --expect-cn localhost`.
//!
//! The sample captures in captures/ cannot serve: their certificates were made per recording
//! and not kept. The handshake signatures are shown to be really checked by flipping one byte
//! of a signature in the recorded file and seeing the check fail. Capturing needs root (tests
//! and CI run as root); without it each test says so and skips.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::{Guard, run_bounded, text};
use serde_json::Value;

/// How long any one step may take before the test fails rather than hangs.
const STEP: Duration = Duration::from_secs(20);

fn capd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capd"))
}

fn is_root() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipping: recording a capture on lo needs root");
    }
    root
}

fn run(cmd: &mut Command) -> Output {
    run_bounded(cmd, STEP)
}

/// `capd lab certs --out DIR [extra]`.
fn lab_certs(dir: &Path, extra: &[&str]) {
    let out = run(capd().args(["lab", "certs", "--out"]).arg(dir).args(extra));
    assert!(
        out.status.success(),
        "capd lab certs: {}",
        text(&out.stderr)
    );
}

fn ca(dir: &Path) -> PathBuf {
    dir.join("cert/CA/CA.pem")
}

fn cert(dir: &Path) -> PathBuf {
    dir.join("cert/CA/localhost/localhost.crt")
}

fn key(dir: &Path) -> PathBuf {
    dir.join("cert/CA/localhost/localhost.decrypted.key")
}

/// Waits for a line of `child`'s `stream` satisfying `want`, returning it.
fn wait_line(stream: impl std::io::Read + Send + 'static, want: fn(&str) -> bool) -> String {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if want(&line) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    rx.recv_timeout(STEP).expect("the awaited line came")
}

/// Captures lo on `port` into a file while `traffic` runs, and returns the file.
fn capture(tmp: &Path, port: u16, traffic: impl FnOnce()) -> PathBuf {
    let pcap = tmp.join(format!("verdict-{port}.pcap"));
    let mut capture = capd()
        .args(["-i", "lo", "--port", &port.to_string(), "-q", "-w"])
        .arg(&pcap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("capd -i lo starts");
    let stderr = capture.stderr.take().expect("piped");
    let mut capture = Guard(capture);
    wait_line(stderr, |l| l.contains("listening on lo"));
    traffic();
    // Time for the last FIN and ACK to be captured.
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(capture.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + STEP;
    while capture.0.try_wait().expect("status").is_none() {
        assert!(
            Instant::now() < deadline,
            "the capture did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pcap
}

/// Records `clients` (each the extra arguments of one `capd lab client`) against a lab server
/// using `lab`'s certificates, and returns the capture file.
fn record(tmp: &Path, lab: &Path, clients: &[Vec<String>]) -> PathBuf {
    let mut server = capd()
        .args(["lab", "server", "--port", "0", "--timeout", "3", "--certs"])
        .arg(lab)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("capd lab server starts");
    let stdout = server.stdout.take().expect("piped");
    let _server = Guard(server);
    let first = wait_line(stdout, |l| l.starts_with("Listening on"));
    let port: u16 = first
        .strip_prefix("Listening on 127.0.0.1:")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    capture(tmp, port, || {
        for extra in clients {
            // Each client's outcome is the verdict's business; only hanging would be wrong.
            run(capd()
                .args([
                    "lab",
                    "client",
                    "--timeout",
                    "5",
                    "--port",
                    &port.to_string(),
                ])
                .arg("--certs")
                .arg(lab)
                .args(extra));
        }
    })
}

/// The `tls_handshake` events of `capd -r pcap --json --ca CA --expect-cn localhost`.
fn verdicts(pcap: &Path, ca: &Path) -> Vec<Value> {
    let out = run(capd()
        .arg("-r")
        .arg(pcap)
        .args(["--json", "--expect-cn", "localhost", "--ca"])
        .arg(ca));
    assert!(out.status.success(), "capd -r: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|e| e["event"] == "tls_handshake")
        .collect()
}

fn check<'a>(session: &'a Value, name: &str) -> &'a Value {
    session["verdict"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {session:#}"))
}

fn failed(session: &Value) -> Vec<String> {
    session["verdict"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["pass"] == false)
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn args(a: &[&Path]) -> Vec<String> {
    a.iter().map(|p| p.display().to_string()).collect()
}

#[test]
fn lab_sessions_get_the_verdict_the_server_gave() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let (lab, rogue, expired) = (
        tmp.path().join("lab"),
        tmp.path().join("rogue"),
        tmp.path().join("expired"),
    );
    lab_certs(&lab, &[]);
    lab_certs(&rogue, &[]);
    let lab_arg = lab.display().to_string();
    lab_certs(
        &expired,
        &[
            "--ca-from",
            &lab_arg,
            "--not-before",
            "2020-01-01",
            "--not-after",
            "2021-01-01",
        ],
    );
    let with = |dir: &Path| {
        let mut v = vec!["--cert".to_string()];
        v.extend(args(&[&cert(dir)]));
        v.push("--key".into());
        v.extend(args(&[&key(dir)]));
        v
    };
    let pcap = record(
        tmp.path(),
        &lab,
        &[
            vec![],
            vec!["--no-cert".into()],
            with(&rogue),
            with(&expired),
        ],
    );
    let sessions = verdicts(&pcap, &ca(&lab));
    assert_eq!(sessions.len(), 4, "{sessions:#?}");

    // The good client: every check passes, the signatures included.
    let good = &sessions[0];
    assert_eq!(good["verdict"]["pass"], true, "{good:#}");
    assert_eq!(good["verdict"]["cause"], Value::Null);
    assert_eq!(good["verdict"]["checks"].as_array().unwrap().len(), 7);
    for name in ["server_signature", "client_signature"] {
        let detail = check(good, name)["detail"].as_str().unwrap();
        assert!(detail.contains("verifies with"), "{detail}");
    }

    // No certificate: rustls refuses with certificate_required, which the cause names.
    let none = &sessions[1];
    assert_eq!(none["verdict"]["pass"], false);
    assert_eq!(
        failed(none),
        [
            "client_chain",
            "client_name",
            "client_signature",
            "handshake"
        ]
    );
    let cause = none["verdict"]["cause"].as_str().unwrap();
    assert!(
        cause.contains("the server") && cause.contains("fatal certificate_required alert"),
        "{cause}"
    );

    // Another CA: the client chain check fails; the server chain still passes.
    let foreign = &sessions[2];
    assert_eq!(foreign["verdict"]["pass"], false);
    assert!(
        failed(foreign).contains(&"client_chain".to_string()),
        "{foreign:#}"
    );
    assert_eq!(check(foreign, "server_chain")["pass"], true);
    let detail = check(foreign, "client_chain")["detail"].as_str().unwrap();
    assert!(detail.contains("not signed by the CA"), "{detail}");
    // rustls answers a certificate whose signature fails with decrypt_error.
    let cause = foreign["verdict"]["cause"].as_str().unwrap();
    assert!(
        cause.starts_with("the server ") && cause.contains("fatal decrypt_error alert"),
        "{cause}"
    );

    // Expired at the time of the capture.
    let old = &sessions[3];
    let detail = check(old, "client_chain")["detail"].as_str().unwrap();
    assert!(detail.contains("had expired"), "{detail}");
    assert!(
        old["verdict"]["cause"]
            .as_str()
            .unwrap()
            .contains("certificate_expired"),
        "{old:#}"
    );

    // Judged against the other CA, the good session fails both chains, and nothing else.
    let wrong_ca = verdicts(&pcap, &ca(&rogue));
    assert_eq!(failed(&wrong_ca[0]), ["server_chain", "client_chain"]);
}

/// The offset in `bytes` of the one place where `find` matches, asserting it is unique.
fn only(bytes: &[u8], find: impl Fn(&[u8]) -> bool, what: &str) -> usize {
    let hits: Vec<usize> = (0..bytes.len()).filter(|&i| find(&bytes[i..])).collect();
    assert_eq!(hits.len(), 1, "{what} found at {hits:?}");
    hits[0]
}

#[test]
fn a_flipped_signature_byte_in_the_capture_fails_its_check() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let lab = tmp.path().join("lab");
    lab_certs(&lab, &[]);
    let pcap = record(tmp.path(), &lab, &[vec![]]);
    let original = std::fs::read(&pcap).expect("the capture");
    let before = verdicts(&pcap, &ca(&lab));
    assert_eq!(before[0]["verdict"]["pass"], true, "{:#}", before[0]);

    // The lab's ServerKeyExchange: x25519 (03 00 1d 20 + 32-byte point), then
    // ecdsa_secp256r1_sha256 (04 03), a length and the DER signature (30 ..).
    let ske = only(
        &original,
        |b| {
            b.len() > 48
                && b[0] == 0x0c
                && b[4..8] == [0x03, 0x00, 0x1d, 0x20]
                && b[40..42] == [0x04, 0x03]
                && b[44] == 0x30
                && usize::from(b[3]) == 4 + 32 + 4 + usize::from(b[43])
        },
        "the ServerKeyExchange",
    );
    // The client's CertificateVerify: 0f 00 00 len, 04 03, length, DER signature.
    let cv = only(
        &original,
        |b| {
            b.len() > 9
                && b[0..3] == [0x0f, 0x00, 0x00]
                && b[4..7] == [0x04, 0x03, 0x00]
                && b[8] == 0x30
                && usize::from(b[3]) == 4 + usize::from(b[7])
        },
        "the CertificateVerify",
    );

    // A byte inside the server's signature's r: only the signature is wrong, yet the
    // client's CertificateVerify covers the ServerKeyExchange too, so it fails as well.
    let mut bytes = original.clone();
    bytes[ske + 44 + 10] ^= 0x01;
    let flipped = tmp.path().join("ske.pcap");
    std::fs::write(&flipped, &bytes).expect("write");
    let after = verdicts(&flipped, &ca(&lab));
    assert_eq!(
        failed(&after[0]),
        ["server_signature", "client_signature"],
        "{:#}",
        after[0]
    );
    let detail = check(&after[0], "server_signature")["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("does not verify"), "{detail}");

    // A byte inside the client's signature: only its check fails.
    let mut bytes = original.clone();
    bytes[cv + 8 + 10] ^= 0x01;
    let flipped = tmp.path().join("cv.pcap");
    std::fs::write(&flipped, &bytes).expect("write");
    let after = verdicts(&flipped, &ca(&lab));
    assert_eq!(failed(&after[0]), ["client_signature"], "{:#}", after[0]);
    assert_eq!(after[0]["verdict"]["pass"], false);
}

#[test]
fn a_bad_ca_file_is_a_usage_error_in_one_sentence() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/lab-mtls12.pcap");
    let missing = tmp.path().join("missing.pem");
    let out = run(capd().arg("-r").arg(&sample).arg("--ca").arg(&missing));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("missing.pem") && err.lines().count() == 1,
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let junk = tmp.path().join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let out = run(capd().arg("-r").arg(&sample).arg("--ca").arg(&junk));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("junk.pem"));
}

/// Whether openssl runs; the interop tests say so and skip when it does not.
fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: openssl is not installed");
    }
    ok
}

/// Runs openssl with `args` in `dir`, asserting it succeeds.
fn openssl(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// An RSA-2048 CA and a localhost certificate it signed (serverAuth and clientAuth), made by
/// openssl as a site without the lab would make them: `ca.pem`, `leaf.pem`, `leaf.key`.
fn rsa_pki(dir: &Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "[leaf]\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth, clientAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .expect("write");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=capd test RSA CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
        ],
    );
}

/// One mutual-TLS session between openssl s_server (requiring a client certificate) and
/// s_client, both holding `pki` (certificate, key, CA), with `proto` (`-tls1_2`, `-tls1`...)
/// and `cipher`, captured in `dir`; returns its `tls_handshake` event.
fn openssl_session(dir: &Path, pki: [&Path; 3], proto: &str, cipher: &str) -> Value {
    let [cert, key, ca] = pki;
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", "0", "-naccept", "1", "-Verify", "1"])
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .arg("-CAfile")
        .arg(ca)
        .args(["-verify_return_error", proto, "-cipher", cipher])
        // s_server ends at the end of its input: keep it open.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let stdout = server.stdout.take().expect("piped");
    let _server = Guard(server);
    let accept = wait_line(stdout, |l| l.starts_with("ACCEPT"));
    let port: u16 = accept
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {accept:?}"));
    let pcap = capture(dir, port, || {
        let out = run(Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .arg("-CAfile")
            .arg(ca)
            .args(["-verify_return_error", proto, "-cipher", cipher]));
        assert!(out.status.success(), "s_client: {}", text(&out.stderr));
    });
    let sessions = verdicts(&pcap, ca);
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    sessions.into_iter().next().unwrap()
}

#[test]
fn openssl_rsa_sessions_verify_rsa_pss_in_tls_1_2_and_md5_sha1_in_tls_1_0() {
    if !is_root() || !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    rsa_pki(tmp.path());
    let (cert, key, ca) = (
        tmp.path().join("leaf.pem"),
        tmp.path().join("leaf.key"),
        tmp.path().join("ca.pem"),
    );
    let rsa = [cert.as_path(), key.as_path(), ca.as_path()];

    // TLS 1.2 with RSA keys: openssl signs with RSA-PSS by default.
    let s = openssl_session(tmp.path(), rsa, "-tls1_2", "ECDHE-RSA-AES128-GCM-SHA256");
    assert_eq!(s["verdict"]["pass"], true, "{s:#}");
    for name in ["server_signature", "client_signature"] {
        let detail = check(&s, name)["detail"].as_str().unwrap();
        assert!(
            detail.contains("rsa_pss_rsae_sha256") && detail.contains("verifies"),
            "{detail}"
        );
    }

    // TLS 1.0: RSA over MD5 and SHA-1 without a DigestInfo, for both signatures.
    let s = openssl_session(tmp.path(), rsa, "-tls1", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0");
    assert_eq!(s["version"], "TLS 1.0", "{s:#}");
    assert_eq!(s["verdict"]["pass"], true, "{s:#}");
    for name in ["server_signature", "client_signature"] {
        let detail = check(&s, name)["detail"].as_str().unwrap();
        assert!(
            detail.contains("MD5+SHA-1") && detail.contains("verifies"),
            "{detail}"
        );
    }
}

#[test]
fn openssl_tls_1_0_with_the_labs_ecdsa_certificates_verifies_ecdsa_over_sha1() {
    if !is_root() || !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let lab = tmp.path().join("lab");
    lab_certs(&lab, &[]);
    let (cert, key, ca) = (cert(&lab), key(&lab), ca(&lab));
    let s = openssl_session(
        tmp.path(),
        [&cert, &key, &ca],
        "-tls1",
        "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0",
    );
    assert_eq!(s["version"], "TLS 1.0", "{s:#}");
    assert_eq!(s["verdict"]["pass"], true, "{s:#}");
    for name in ["server_signature", "client_signature"] {
        let detail = check(&s, name)["detail"].as_str().unwrap();
        assert!(
            detail.contains("ECDSA SHA-1") && detail.contains("verifies"),
            "{detail}"
        );
    }
}
