//! The lab against other TLS stacks and against misbehaving peers: `capd lab server` serves
//! openssl s_client and Python's ssl module holding the lab's certificate and refuses them
//! without one or with one from another CA; `capd lab client` works against openssl s_server
//! requiring a client certificate and refuses a server whose certificate comes from another CA;
//! the Rust pair works together, and garbage, stalls and half handshakes leave the server up.
//!
//! Every test makes its own certificates in a temporary directory, listens on a port the OS
//! picks, bounds every wait, and kills its children on every path. Tests needing openssl or
//! python3 say so and skip when the tool is missing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
mod common;

use std::time::Duration;

use common::{Guard, run_bounded, text, wait_output};

/// How long any one step may take before the test fails rather than hangs.
const STEP: Duration = Duration::from_secs(20);

fn capd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capd"))
}

/// Whether `tool` runs; tests that need it print why they skip.
fn have(tool: &str, version_flag: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: {tool} is not installed");
    }
    ok
}

/// Runs a command to its end with stdin closed, killing it if it outlives `STEP`.
fn run(cmd: &mut Command) -> Output {
    run_bounded(cmd, STEP)
}

/// The lab's files under one directory, made by `capd lab certs --out`.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn new(parent: &Path, name: &str) -> Self {
        let dir = parent.join(name);
        let out = run(capd().args(["lab", "certs", "--out"]).arg(&dir));
        assert!(
            out.status.success(),
            "capd lab certs: {}",
            text(&out.stderr)
        );
        Lab { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("cert/CA/localhost/localhost.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("cert/CA/localhost/localhost.decrypted.key")
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("cert/ca-bundle.crt")
    }
}

/// `capd lab server` on a free loopback port, with its log lines.
struct Server {
    child: Guard,
    port: u16,
    lines: Receiver<String>,
}

impl Server {
    fn start(lab: &Lab) -> Self {
        let mut child = capd()
            .args(["lab", "server", "--port", "0", "--timeout", "2", "--certs"])
            .arg(&lab.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("capd lab server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let child = Guard(child);
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(STEP)
            .expect("the server says it listens");
        let port = first
            .strip_prefix("Listening on 127.0.0.1:")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Server { child, port, lines }
    }

    /// The server's next line about a client: "Securely sent ..." or "Rejected ...".
    fn outcome(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(STEP)
                .expect("the server logs what it did with the client");
            if line.starts_with("Securely sent") || line.starts_with("Rejected") {
                return line;
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.0.try_wait().expect("status").is_none()
    }

    fn lab_client(&self, lab: &Lab, extra: &[&str]) -> Output {
        run(capd()
            .args([
                "lab",
                "client",
                "--port",
                &self.port.to_string(),
                "--timeout",
                "5",
            ])
            .arg("--certs")
            .arg(&lab.dir)
            .args(extra))
    }
}

/// `openssl s_client` against the server, presenting `identity` (certificate, key) if any.
fn s_client(port: u16, trust: &Lab, identity: Option<&Lab>) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg("-CAfile")
        .arg(trust.bundle())
        .args(["-verify_return_error", "-quiet", "-ign_eof"]);
    if let Some(id) = identity {
        cmd.arg("-cert").arg(id.cert()).arg("-key").arg(id.key());
    }
    run(&mut cmd)
}

/// Python's ssl module as a client: prints what the server sent, or fails with exit 1.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
host, port, bundle = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(bundle)
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            data = b""
            while True:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
    print("received:" + data.decode())
except (ssl.SSLError, OSError) as e:
    print("failed: %s" % e, file=sys.stderr)
    sys.exit(1)
"#;

fn python_client(port: u16, trust: &Lab, identity: Option<&Lab>) -> Output {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PYTHON_CLIENT, "127.0.0.1", &port.to_string()])
        .arg(trust.bundle());
    if let Some(id) = identity {
        cmd.arg(id.cert()).arg(id.key());
    }
    run(&mut cmd)
}

fn sent_line_names_the_time(line: &str, time: &str) {
    assert!(
        line.starts_with(&format!("Securely sent {time} to (127.0.0.1, ")),
        "server logged {line:?}, client got {time:?}"
    );
}

#[test]
fn rust_client_gets_the_time_from_the_rust_server() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let server = Server::start(&lab);
    let out = server.lab_client(&lab, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let time = stdout
        .trim_end()
        .strip_prefix("Secure communication received from server:")
        .unwrap_or_else(|| panic!("unexpected client output {stdout:?}"));
    assert!(time.ends_with(" UTC"), "{time}");
    sent_line_names_the_time(&server.outcome(), time);
}

#[test]
fn rust_client_without_a_certificate_is_refused_in_one_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let server = Server::start(&lab);
    let out = server.lab_client(&lab, &["--no-cert"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "capd: the TLS handshake with 127.0.0.1:{} failed",
            server.port
        )),
        "{err}"
    );
    let log = server.outcome();
    assert!(log.contains("peer sent no certificates"), "{log}");
}

#[test]
fn garbage_stalls_and_half_handshakes_leave_the_server_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let mut server = Server::start(&lab);
    let addr = ("127.0.0.1", server.port);

    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(&[0x5a; 300]).unwrap();
    let log = server.outcome();
    assert!(
        log.starts_with("Rejected") && log.contains("corrupt"),
        "{log}"
    );

    // The first bytes of a TLS 1.2 ClientHello record, then a hang-up.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00])
        .unwrap();
    drop(half);
    let log = server.outcome();
    assert!(log.starts_with("Rejected"), "{log}");

    // A client that says nothing is dropped after the server's timeout (2 s here).
    let stalled = TcpStream::connect(addr).unwrap();
    let log = server.outcome();
    assert!(log.contains("timed out"), "{log}");
    drop(stalled);

    assert!(server.is_running());
    let out = server.lab_client(&lab, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(server.outcome().starts_with("Securely sent"));
}

#[test]
fn openssl_s_client_with_the_lab_certificate_is_served() {
    if !have("openssl", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let server = Server::start(&lab);
    let out = s_client(server.port, &lab, Some(&lab));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let time = text(&out.stdout);
    assert!(time.trim().ends_with(" UTC"), "s_client printed {time:?}");
    sent_line_names_the_time(&server.outcome(), time.trim());
}

#[test]
fn openssl_s_client_without_a_certificate_is_refused() {
    if !have("openssl", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let server = Server::start(&lab);
    let out = s_client(server.port, &lab, None);
    assert!(!out.status.success());
    assert!(!text(&out.stdout).contains("UTC"));
    let log = server.outcome();
    assert!(log.contains("peer sent no certificates"), "{log}");
}

#[test]
fn openssl_s_client_with_a_certificate_from_another_ca_is_refused() {
    if !have("openssl", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let rogue = Lab::new(tmp.path(), "rogue");
    let server = Server::start(&lab);
    let out = s_client(server.port, &lab, Some(&rogue));
    assert!(!out.status.success());
    assert!(!text(&out.stdout).contains("UTC"));
    let log = server.outcome();
    assert!(log.contains("invalid peer certificate"), "{log}");
}

#[test]
fn python_ssl_client_with_the_lab_certificate_is_served() {
    if !have("python3", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let server = Server::start(&lab);
    let out = python_client(server.port, &lab, Some(&lab));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let time = stdout.trim().strip_prefix("received:").unwrap_or("");
    assert!(time.ends_with(" UTC"), "python printed {stdout:?}");
    sent_line_names_the_time(&server.outcome(), time);
}

#[test]
fn python_ssl_client_without_a_certificate_or_with_another_cas_is_refused() {
    if !have("python3", "--version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let rogue = Lab::new(tmp.path(), "rogue");
    let server = Server::start(&lab);

    let out = python_client(server.port, &lab, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(server.outcome().contains("peer sent no certificates"));

    let out = python_client(server.port, &lab, Some(&rogue));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let log = server.outcome();
    assert!(log.contains("invalid peer certificate"), "{log}");
}

/// `openssl s_server` requiring a client certificate from `trust`'s CA, for one client, on a
/// free port it reports.
struct SServer {
    child: Guard,
    port: u16,
    stdin: Option<std::process::ChildStdin>,
    lines: Receiver<String>,
}

impl SServer {
    fn start(identity: &Lab, trust: &Lab) -> Self {
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "0", "-naccept", "1"])
            .arg("-cert")
            .arg(identity.cert())
            .arg("-key")
            .arg(identity.key())
            .arg("-CAfile")
            .arg(trust.bundle())
            .args(["-Verify", "1", "-verify_return_error"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl s_server starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let child = Guard(child);
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = SServer {
            child,
            port: 0,
            stdin,
            lines,
        };
        server.port = server
            .wait_for("ACCEPT")
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("s_server reports its port");
        server
    }

    /// The first line of s_server's stdout that starts with `prefix`.
    fn wait_for(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(STEP)
                .unwrap_or_else(|_| panic!("s_server never printed {prefix:?}"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Once the handshake is done (s_server prints the cipher), sends `message` to the client
    /// and ends the input, which makes s_server close the connection. Sending earlier races
    /// the handshake inside s_server. Returns the cipher suite's OpenSSL name.
    fn send_after_handshake(&mut self, message: &str) -> String {
        let cipher = self.wait_for("CIPHER is ");
        let mut stdin = self.stdin.take().expect("stdin still open");
        writeln!(stdin, "{message}").unwrap();
        cipher["CIPHER is ".len()..].to_string()
    }
}

fn spawn_lab_client(port: u16, lab: &Lab, extra: &[&str]) -> Guard {
    Guard(
        capd()
            .args(["lab", "client", "--timeout", "5", "--port"])
            .arg(port.to_string())
            .arg("--certs")
            .arg(&lab.dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("capd lab client starts"),
    )
}

#[test]
fn lab_client_works_against_openssl_s_server_requiring_a_certificate() {
    if !have("openssl", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    // OpenSSL names TLS 1.3 suites TLS_*, and TLS 1.2 ECDHE suites ECDHE-*.
    for (extra, suite) in [(&[][..], "ECDHE-"), (&["--tls13"][..], "TLS_")] {
        let mut server = SServer::start(&lab, &lab);
        let client = spawn_lab_client(server.port, &lab, extra);
        let cipher = server.send_after_handshake("time from openssl");
        assert!(cipher.starts_with(suite), "{extra:?} negotiated {cipher}");
        let out = wait_output(client, STEP);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "Secure communication received from server:time from openssl\n"
        );
        // s_server verified the client's certificate.
        let server_out = wait_output(server.child, STEP);
        let err = text(&server_out.stderr);
        assert!(
            err.contains("depth=0 CN = localhost") && err.contains("verify return:1"),
            "{err}"
        );
    }
}

#[test]
fn lab_client_refuses_an_openssl_server_whose_certificate_is_from_another_ca() {
    if !have("openssl", "version") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let rogue = Lab::new(tmp.path(), "rogue");
    let server = SServer::start(&rogue, &lab);
    let out = wait_output(spawn_lab_client(server.port, &lab, &[]), STEP);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
}

#[test]
fn lab_certs_refuses_to_overwrite_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let before = std::fs::read(lab.key()).unwrap();
    let out = run(capd().args(["lab", "certs", "--out"]).arg(&lab.dir));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("refusing to overwrite") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(lab.key()).unwrap(), before);
    let out = run(capd()
        .args(["lab", "certs", "--force", "--out"])
        .arg(&lab.dir));
    assert!(out.status.success());
    assert_ne!(std::fs::read(lab.key()).unwrap(), before);
}

#[test]
fn an_expired_certificate_from_the_lab_ca_is_refused_by_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new(tmp.path(), "lab");
    let expired = tmp.path().join("expired");
    let out = run(capd()
        .args([
            "lab",
            "certs",
            "--not-before",
            "2020-01-01",
            "--not-after",
            "2021-01-01",
        ])
        .arg("--ca-from")
        .arg(&lab.dir)
        .arg("--out")
        .arg(&expired));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = Server::start(&lab);
    let out = server.lab_client(&lab, &[]);
    assert!(out.status.success());
    server.outcome();
    let expired = Lab { dir: expired };
    let out = server.lab_client(&expired, &[]);
    assert_eq!(out.status.code(), Some(1));
    let log = server.outcome();
    assert!(log.contains("certificate expired"), "{log}");
}
