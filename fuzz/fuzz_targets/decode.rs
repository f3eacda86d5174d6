//! Fuzz target: `decode::decode` on arbitrary frames under every link type capd reads, and
//! the TCP option walk of whatever decodes as TCP.
//!
//! Input: a link type selector byte, a byte saying how the wire length relates to the
//! captured bytes (0: equal; 255: shorter, a lying record header; else that many bytes were
//! cut by the snapshot length), then the frame.

#![no_main]

use capd::decode::{self, Decoded};
use capd_fuzz::pick_linktype;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let [lt, cut, data @ ..] = input else {
        return;
    };
    let orig_len = match *cut {
        255 => data.len() as u32 / 2,
        n => data.len() as u32 + u32::from(n),
    };
    if let Decoded::Tcp(t) = decode::decode(pick_linktype(*lt), data, orig_len) {
        assert!(t.options.len() <= 40, "options beyond the 40-byte maximum");
        assert!(t.payload.len() <= data.len());
        if t.problem.is_none() {
            assert!(t.header_len >= 20);
            assert!(
                t.payload.len() <= t.payload_len as usize,
                "more payload captured than the segment holds"
            );
        }
        let _ = t.parsed_options();
    }
});
