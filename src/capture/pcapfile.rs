//! Replay of classic pcap files read in large blocks: libpcap's reader asks stdio for every
//! record header and every record's bytes and copies each frame twice on the way, which at a
//! million frames a second is most of the capture thread's time. Only the plain case is read
//! here: a little-endian file of format 2.4 and records that libpcap would hand over unchanged
//! (whole, and no longer than the snapshot length or 256 KiB). Anything else — a record that
//! libpcap cuts, rejects or finds truncated, a read error, another format or byte order — is
//! left to libpcap itself from that record on, so errors and edge cases stay libpcap's.
//!
//! Records are not copied out of the block: the reader says where each one lies in it, and
//! the capture thread hands the block itself to the pipeline as a batch's buffer
//! (`take_block`). Bytes read from the file are copied once more only when a batch ends
//! before its block does, and then only those the next batch starts with.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

/// The least read from the file at a time.
const MIN_READ: usize = 4096;
/// libpcap's largest record for all but a few link types (`MAXIMUM_SNAPLEN`): records up to
/// this long are never cut or refused for their length.
const MAX_SNAPLEN: u32 = 262_144;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// What the next record is.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A record as libpcap would return it from a handle of nanosecond precision, and where
    /// its bytes lie in the current block (`bytes`, `take_block`).
    Record(pcap::PacketHeader, Range<usize>),
    /// The file ended cleanly after the last record.
    End,
    /// libpcap must take over from this record.
    Unsure,
}

/// A classic pcap file read a block at a time.
pub struct PcapFile {
    file: File,
    /// The current block: bytes read from the file, the first `pos` of them handed out.
    buf: Vec<u8>,
    pos: usize,
    /// How many bytes a block is filled to before it is read on only for a record that does
    /// not fit: the size of the batches it becomes.
    block: usize,
    eof: bool,
    /// The file's timestamps are microseconds (scaled up, as libpcap does).
    micros: bool,
    /// The header's snapshot length (0: none given).
    snaplen: u32,
}

impl PcapFile {
    /// Opens `path` if it is a file this reader handles; `None` leaves it to libpcap. The
    /// reader fills blocks of `block` bytes and more.
    pub fn open(path: &Path, block: usize) -> Option<PcapFile> {
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
            buf: Vec::new(),
            pos: 0,
            block: block.max(MIN_READ),
            eof: false,
            micros,
            snaplen: le32(&h, 16)?,
        })
    }

    /// The next record, or where this reader stops. `pinned`: records handed out since the
    /// last `take_block` are still wanted where they are, so the block may grow but its bytes
    /// may not move.
    pub fn next(&mut self, pinned: bool) -> Next {
        if self.fill(RECORD_HEADER, pinned).is_err() {
            return Next::Unsure;
        }
        let rest = &self.buf[self.pos..];
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
        if self.fill(total, pinned).is_err() || self.buf.len() - self.pos < total {
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
        Next::Record(header, start + RECORD_HEADER..start + total)
    }

    /// Bytes of the current block handed out: its records since the last `take_block`.
    pub fn handed_out(&self) -> usize {
        self.pos
    }

    /// The bytes of a record `next` handed out since the last `take_block`.
    pub fn bytes(&self, at: Range<usize>) -> &[u8] {
        self.buf.get(at).unwrap_or_default()
    }

    /// Hands the current block over in `into`, cut after the last record handed out, so every
    /// such record lies in it where `next` said; `into`'s buffer, holding the bytes not yet
    /// handed out, becomes the next block.
    pub fn take_block(&mut self, into: &mut Vec<u8>) {
        into.clear();
        into.extend_from_slice(&self.buf[self.pos..]);
        std::mem::swap(into, &mut self.buf);
        into.truncate(self.pos);
        self.pos = 0;
    }

    /// Makes `want` unread bytes available, unless the file ends first. Unless `pinned`, the
    /// bytes handed out are dropped first.
    fn fill(&mut self, want: usize, pinned: bool) -> io::Result<()> {
        if self.buf.len() - self.pos >= want || self.eof {
            return Ok(());
        }
        if !pinned {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        while self.buf.len() - self.pos < want && !self.eof {
            // Up to a block's worth, so that a batch's bytes come in few reads; more when a
            // record needs it.
            let missing = want - (self.buf.len() - self.pos);
            let read = missing
                .max(self.block.saturating_sub(self.buf.len()))
                .max(MIN_READ);
            self.buf.reserve(read);
            match read_into_spare(&self.file, &mut self.buf, read) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// One `read(2)` of up to `max` bytes appended to `buf`, into its spare capacity: the bytes
/// are not zeroed first, as `Read::read` would need, nor read in the small steps that
/// `Read::read_to_end` starts with.
fn read_into_spare(file: &File, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    let max = max.min(spare.len());
    // SAFETY: the kernel writes at most `max` bytes into `spare`, which has room for them.
    let n = unsafe { libc::read(file.as_raw_fd(), spare.as_mut_ptr().cast(), max) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the first `n <= max` bytes of the spare capacity were just written.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
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

    /// What the block reader hands over, and whether it handed over to libpcap, reading blocks
    /// of `block` bytes and taking the block after the records whose index `take_after` holds.
    /// Every record is read back from the block it was taken in, where `next` said it was.
    fn blocks_taken(path: &Path, block: usize, take_after: &[bool]) -> (Vec<Got>, bool) {
        let mut f = PcapFile::open(path, block).expect("a plain pcap file");
        let mut got = Vec::new();
        // Records handed out since the last take: their headers and places.
        let mut pinned: Vec<(pcap::PacketHeader, Range<usize>)> = Vec::new();
        let mut taken = Vec::new();
        let mut take = |f: &mut PcapFile, pinned: &mut Vec<_>, got: &mut Vec<Got>| {
            f.take_block(&mut taken);
            for (h, at) in pinned.drain(..) {
                let h: pcap::PacketHeader = h;
                let data: &[u8] = &taken[at];
                assert_eq!(h.caplen as usize, data.len());
                got.push((h.ts.tv_sec, h.ts.tv_usec, h.len, data.to_vec()));
            }
        };
        loop {
            match f.next(!pinned.is_empty()) {
                Next::Record(h, at) => {
                    assert_eq!(f.bytes(at.clone()).len(), h.caplen as usize);
                    pinned.push((h, at));
                    if take_after.get(got.len() + pinned.len() - 1) == Some(&true) {
                        take(&mut f, &mut pinned, &mut got);
                    }
                }
                end => {
                    take(&mut f, &mut pinned, &mut got);
                    return (got, end == Next::Unsure);
                }
            }
        }
    }

    /// What the block reader hands over, taking every block only at the end of a record.
    fn blocks(path: &Path) -> (Vec<Got>, bool) {
        blocks_taken(path, 1 << 20, &[])
    }

    fn write(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    proptest! {
        /// On any file, cut anywhere, with blocks of any size taken after any records: every
        /// record the block reader hands over is the one libpcap hands over at that place, and
        /// lies in its block where the reader said; it ends cleanly only where libpcap does;
        /// and it hands over to libpcap only where libpcap cuts a record, refuses one, or
        /// fails.
        #[test]
        fn reads_what_libpcap_reads(
            micros in any::<bool>(),
            snaplen in prop_oneof![Just(0u32), Just(65_535), 1u32..3000],
            records in prop::collection::vec(
                (any::<u32>(), any::<u32>(), 0usize..3000, any::<u32>(), any::<u8>()),
                0..30,
            ),
            cut in prop::option::of(any::<prop::sample::Index>()),
            block in prop_oneof![Just(1usize << 20), 1usize..20_000],
            take_after in prop::collection::vec(any::<bool>(), 0..30),
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
            let (got, handed_over) = blocks_taken(&path, block, &take_after);
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
            assert!(PcapFile::open(&path, 1 << 20).is_none());
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
        assert!(PcapFile::open(&path, 1 << 20).is_none());
    }
}
