//! The benchmark's live load: a paced, bounded stream of UDP datagrams and small TCP segments
//! on the loopback interface, then a marker that capture tools can be watched for
//! (used by `scripts/bench.sh` inside a network namespace of its own; not part of capd).
//!
//! `bench_load --udp-pps U --tcp-pps T --seconds S --marker-port M` sends, for S seconds, U
//! datagrams per second of 64 bytes to a socket that never reads them, and T writes per second
//! of 64 bytes on one TCP connection with Nagle off (a segment each, plus the receiver's ACKs),
//! each kind from its own thread. Rates are targets: a busy machine sends fewer, and the
//! printed counts say how many went.
//! Then it notes the wall-clock time (the end of the load) and opens a TCP connection to the
//! closed port M three times, a millisecond apart: SYN and RST segments to look for in a
//! capture tool's output. It prints `load_end=<unix seconds> udp_sent=N tcp_writes=N ...`.
//!
//! `bench_load --probe PORT` only opens one connection to the closed port PORT, so a script
//! can tell when a capture tool has started seeing traffic.
//!
//! Every run is bounded: at most 30 s and 2,000,000 packets per second of each kind.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;

const MAX_SECONDS: f64 = 30.0;
const MAX_PPS: u64 = 2_000_000;
const PAYLOAD: [u8; 64] = [0x5a; 64];

#[derive(Debug, Parser)]
#[command(about = "Paced, bounded UDP and TCP load on loopback, then a marker connection")]
struct Args {
    /// UDP datagrams per second.
    #[arg(long, default_value_t = 200_000)]
    udp_pps: u64,
    /// TCP writes (segments) per second.
    #[arg(long, default_value_t = 100_000)]
    tcp_pps: u64,
    /// Length of the load in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Closed port to connect to once the load is over.
    #[arg(long, default_value_t = 65_009)]
    marker_port: u16,
    /// Only connect once to this closed port, and send no load.
    #[arg(long)]
    probe: Option<u16>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.probe {
        Some(port) => {
            knock(port);
            Ok(())
        }
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A connection attempt to a closed port: one SYN, answered by RST.
fn knock(port: u16) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Calls `send` `rate` times a second from `start` until `duration` has passed, in small
/// bursts, sleeping briefly whenever it is ahead.
fn paced(
    start: Instant,
    duration: Duration,
    rate: u64,
    mut send: impl FnMut() -> Result<()>,
) -> Result<()> {
    let mut done = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration || rate == 0 {
            return Ok(());
        }
        let due = (rate as f64 * elapsed.as_secs_f64()) as u64;
        if done >= due {
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        for _ in 0..(due - done).min(64) {
            send()?;
            done += 1;
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if !(args.seconds > 0.0 && args.seconds <= MAX_SECONDS) {
        bail!("--seconds must be more than 0 and at most {MAX_SECONDS}");
    }
    if args.udp_pps > MAX_PPS || args.tcp_pps > MAX_PPS {
        bail!("rates are limited to {MAX_PPS} per second");
    }
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the UDP sink")?;
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the UDP sender")?;
    udp.connect(sink.local_addr()?)
        .context("connecting the UDP sender")?;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the TCP sink")?;
    let mut tcp = TcpStream::connect(listener.local_addr()?).context("connecting over TCP")?;
    tcp.set_nodelay(true)?;
    let (mut peer, _) = listener.accept().context("accepting the TCP connection")?;
    peer.set_read_timeout(Some(Duration::from_secs(5)))?;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while let Ok(n) = peer.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });

    let duration = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let udp_rate = args.udp_pps;
    let udp_thread = std::thread::spawn(move || {
        let (mut sent, mut errors) = (0u64, 0u64);
        paced(start, duration, udp_rate, || {
            if udp.send(&PAYLOAD).is_err() {
                errors += 1;
            }
            sent += 1;
            Ok(())
        })
        .map(|()| (sent, errors))
    });
    let mut tcp_writes = 0u64;
    paced(start, duration, args.tcp_pps, || {
        tcp.write_all(&PAYLOAD)
            .context("writing to the TCP connection")?;
        tcp_writes += 1;
        Ok(())
    })?;
    let (udp_sent, udp_errors) = udp_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the UDP sender stopped unexpectedly"))??;
    let load_end = unix_now();
    let took = start.elapsed().as_secs_f64();
    for _ in 0..3 {
        knock(args.marker_port);
        std::thread::sleep(Duration::from_millis(1));
    }
    tcp.shutdown(std::net::Shutdown::Write)?;
    let received = reader.join().unwrap_or(0);
    println!(
        "load_end={load_end:.6} seconds={took:.3} udp_sent={udp_sent} udp_errors={udp_errors} \
         tcp_writes={tcp_writes} tcp_bytes_received={received}"
    );
    Ok(())
}
