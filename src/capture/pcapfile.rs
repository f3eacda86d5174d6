//! Replay of classic pcap files read in large blocks: libpcap's reader asks stdio for every
//! record header and every record's bytes and copies each frame twice on the way, which at a
//! million frames a second is most of the capture thread's time. Only the plain case is read
//! here: a little-endian file of format 2.4 and records that libpcap would hand over unchanged
//! (whole, and no longer than the snapshot length or 256 KiB). Anything else — a record that
//! libpcap cuts, rejects or finds truncated, a read error, another format or byte order — is
//! left to libpcap itself from that record on, so errors and edge cases stay libpcap's.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Bytes read from the file at a time.
const BLOCK: usize = 1 << 20;
/// libpcap's largest record for all but a few link types (`MAXIMUM_SNAPLEN`): records up to
/// this long are never cut or refused for their length.
const MAX_SNAPLEN: u32 = 262_144;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// What the next record is.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// A record as libpcap would return it from a handle of nanosecond precision.
    Record(pcap::PacketHeader, &'a [u8]),
    /// The file ended cleanly after the last record.
    End,
    /// libpcap must take over from this record.
    Unsure,
}

/// A classic pcap file read a block at a time.
pub struct PcapFile {
    file: File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    eof: bool,
    /// The file's timestamps are microseconds (scaled up, as libpcap does).
    micros: bool,
    /// The header's snapshot length (0: none given).
    snaplen: u32,
}

impl PcapFile {
    /// Opens `path` if it is a file this reader handles; `None` leaves it to libpcap.
    pub fn open(path: &Path) -> Option<PcapFile> {
        // Not a pipe or device: libpcap has read its header already, and opening a pipe again
        // would wait for a writer.
        if !std::fs::metadata(path).ok()?.is_file() {
            return None;
        }
        let mut file = File::open(path).ok()?;
        let mut h = [0u8; FILE_HEADER];
        file.read_exact(&mut h).ok()?;
        let micros = match le32(&h, 0)? {
            0xa1b2_c3d4 => true,
            0xa1b2_3c4d => false,
            _ => return None,
        };
        if (le16(&h, 4)?, le16(&h, 6)?) != (2, 4) {
            return None;
        }
        Some(PcapFile {
            file,
            buf: vec![0; BLOCK],
            pos: 0,
            end: 0,
            eof: false,
            micros,
            snaplen: le32(&h, 16)?,
        })
    }

    /// The next record, or where this reader stops.
    pub fn next(&mut self) -> Next<'_> {
        if self.fill(RECORD_HEADER).is_err() {
            return Next::Unsure;
        }
        let rest = &self.buf[self.pos..self.end];
        if rest.is_empty() {
            return Next::End;
        }
        let (Some(sec), Some(frac), Some(caplen), Some(orig_len)) =
            (le32(rest, 0), le32(rest, 4), le32(rest, 8), le32(rest, 12))
        else {
            // A header cut short: libpcap's error.
            return Next::Unsure;
        };
        if caplen > MAX_SNAPLEN || (self.snaplen != 0 && caplen > self.snaplen) {
            return Next::Unsure;
        }
        let total = RECORD_HEADER + caplen as usize;
        if self.fill(total).is_err() || self.end - self.pos < total {
            return Next::Unsure;
        }
        // pcap's record header holds signed 32-bit fields, widened as libpcap widens them.
        let tv_sec = i64::from(sec as i32);
        let mut tv_nsec = i64::from(frac as i32);
        if self.micros {
            tv_nsec *= 1000;
        }
        let start = self.pos;
        self.pos += total;
        let header = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec,
                tv_usec: tv_nsec,
            },
            caplen,
            len: orig_len,
        };
        Next::Record(header, &self.buf[start + RECORD_HEADER..start + total])
    }

    /// Makes `want` unread bytes available, unless the file ends first.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        if self.end - self.pos >= want || self.eof {
            return Ok(());
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < want && !self.eof {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (seconds, fraction, captured bytes, length on the wire)
    type Rec = (u32, u32, Vec<u8>, u32);

    fn pcap_bytes(micros: bool, snaplen: u32, records: &[Rec]) -> Vec<u8> {
        let mut b = Vec::new();
        let magic: u32 = if micros { 0xa1b2_c3d4 } else { 0xa1b2_3c4d };
        b.extend_from_slice(&magic.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&snaplen.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for (sec, frac, data, len) in records {
            b.extend_from_slice(&sec.to_le_bytes());
            b.extend_from_slice(&frac.to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(data);
        }
        b
    }

    /// (tv_sec, tv_usec as libpcap fills it at nanosecond precision, len, data)
    type Got = (i64, i64, u32, Vec<u8>);

    /// What libpcap hands over, and whether it ended in an error.
    fn libpcap(path: &Path) -> (Vec<Got>, bool) {
        let mut cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .expect("libpcap opens the file");
        let mut got = Vec::new();
        loop {
            match cap.next_packet() {
                Ok(p) => got.push((
                    p.header.ts.tv_sec,
                    p.header.ts.tv_usec,
                    p.header.len,
                    p.data.to_vec(),
                )),
                Err(pcap::Error::NoMorePackets) => return (got, false),
                Err(_) => return (got, true),
            }
        }
    }

    /// What the block reader hands over, and whether it handed over to libpcap.
    fn blocks(path: &Path) -> (Vec<Got>, bool) {
        let mut f = PcapFile::open(path).expect("a plain pcap file");
        let mut got = Vec::new();
        loop {
            match f.next() {
                Next::Record(h, data) => {
                    assert_eq!(h.caplen as usize, data.len());
                    got.push((h.ts.tv_sec, h.ts.tv_usec, h.len, data.to_vec()));
                }
                Next::End => return (got, false),
                Next::Unsure => return (got, true),
            }
        }
    }

    fn write(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    proptest! {
        /// On any file, cut anywhere: every record the block reader hands over is the one
        /// libpcap hands over at that place; it ends cleanly only where libpcap does; and it
        /// hands over to libpcap only where libpcap cuts a record, refuses one, or fails.
        #[test]
        fn reads_what_libpcap_reads(
            micros in any::<bool>(),
            snaplen in prop_oneof![Just(0u32), Just(65_535), 1u32..3000],
            records in prop::collection::vec(
                (any::<u32>(), any::<u32>(), 0usize..3000, any::<u32>(), any::<u8>()),
                0..30,
            ),
            cut in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let recs: Vec<Rec> = records
                .iter()
                .map(|&(s, f, n, len, fill)| (s, f, vec![fill; n], len))
                .collect();
            let mut bytes = pcap_bytes(micros, snaplen, &recs);
            if let Some(at) = cut {
                bytes.truncate(FILE_HEADER + at.index(bytes.len() - FILE_HEADER + 1));
            }
            let (_dir, path) = write(&bytes);
            let (want, failed) = libpcap(&path);
            let (got, handed_over) = blocks(&path);
            prop_assert!(got.len() <= want.len());
            prop_assert_eq!(&got[..], &want[..got.len()]);
            if handed_over {
                // libpcap's next record is cut to the snapshot length, or it errs.
                let next = want.get(got.len());
                let cut_short = next.is_some_and(|n| {
                    recs.get(got.len()).is_some_and(|r| r.2.len() != n.3.len())
                });
                prop_assert!(failed && next.is_none() || cut_short);
            } else {
                prop_assert!(!failed);
                prop_assert_eq!(got.len(), want.len());
            }
        }
    }

    #[test]
    fn records_across_block_boundaries_come_whole() {
        let recs: Vec<Rec> = (0..2000u32)
            .map(|i| (i, i * 7, vec![i as u8; 1500 + (i as usize % 97)], 1600))
            .collect();
        let (_dir, path) = write(&pcap_bytes(false, 0, &recs));
        let (want, failed) = libpcap(&path);
        let (got, handed_over) = blocks(&path);
        assert!(!failed && !handed_over);
        assert_eq!(got.len(), 2000);
        assert!(got == want);
    }

    #[test]
    fn other_formats_and_byte_orders_are_left_to_libpcap() {
        let mut swapped = pcap_bytes(true, 0, &[]);
        swapped[..4].copy_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
        let mut old = pcap_bytes(true, 0, &[]);
        old[6] = 3;
        let pcapng = [0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0].repeat(4);
        for bytes in [swapped, old, pcapng.clone(), pcapng[..10].to_vec()] {
            let (_dir, path) = write(&bytes);
            assert!(PcapFile::open(&path).is_none());
        }
    }

    #[test]
    fn a_pipe_is_left_to_libpcap() {
        // libpcap has read a pipe's header before this reader is asked; a plain pcap header
        // waits in this one, so only the check for a regular file keeps it out.
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe.pcap");
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A reader and a writer held open, so that opening the pipe again never waits.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(&pcap_bytes(true, 0, &[])).unwrap();
        assert!(PcapFile::open(&path).is_none());
    }
}
