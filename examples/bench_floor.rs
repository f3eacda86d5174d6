//! The benchmark's decode-only floor: read a capture with libpcap (the pcap crate, as capd
//! does) and decode each frame's link, IP and TCP/UDP headers with etherparse, nothing more.
//!
//! No flow table, no TLS, no output per packet: what any capture tool pays before it does its
//! real work. `scripts/bench.sh` divides capd's time by this one. It prints one line of totals,
//! which the benchmark also uses as the packet count of the file.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap::{Capture, Linktype};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next().map(PathBuf::from), args.next()) else {
        eprintln!("usage: bench_floor FILE.pcap");
        return ExitCode::from(2);
    };
    let mut cap = match Capture::from_file(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench_floor: cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let linktype = cap.get_datalink();
    let (mut packets, mut bytes, mut tcp, mut udp, mut undecoded) = (0u64, 0u64, 0u64, 0u64, 0u64);
    // A sum of header fields, so that the decoding cannot be optimised away.
    let mut check = 0u64;
    loop {
        let p = match cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                eprintln!(
                    "bench_floor: {} is damaged after frame {packets}: {e}",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        };
        packets += 1;
        bytes += u64::from(p.header.len);
        let sliced = match linktype {
            Linktype::ETHERNET => SlicedPacket::from_ethernet(p.data),
            Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => SlicedPacket::from_ip(p.data),
            Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(p.data),
            _ => {
                undecoded += 1;
                continue;
            }
        };
        let Ok(sliced) = sliced else {
            undecoded += 1;
            continue;
        };
        match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => check += u64::from(ip.header().total_len()),
            Some(NetSlice::Ipv6(ip)) => check += u64::from(ip.header().payload_length()),
            _ => {}
        }
        match &sliced.transport {
            Some(TransportSlice::Tcp(t)) => {
                tcp += 1;
                check += u64::from(t.sequence_number()) + u64::from(t.source_port());
                check += t.payload().len() as u64;
            }
            Some(TransportSlice::Udp(u)) => {
                udp += 1;
                check += u64::from(u.source_port());
            }
            _ => {}
        }
    }
    black_box(check);
    println!("packets={packets} bytes={bytes} tcp={tcp} udp={udp} undecoded={undecoded}");
    ExitCode::SUCCESS
}
