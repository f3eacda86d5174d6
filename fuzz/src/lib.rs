//! What the fuzz targets share: the link types they choose from, a splitter that cuts fuzz
//! input into records, and rendering of events through both sinks with the JSON checked.
//!
//! The input layouts are also written by `fuzz/seed.py`, which turns captures into seed
//! corpora; the two must agree.

use capd::decode::linktype;
use capd::event::Event;
use capd::report::Sink;
use capd::report::human::{Detail, Human, HumanOptions};
use capd::report::json::JsonLines;

/// Link types a selector byte picks from, by index modulo the length (`seed.py` LINKTYPES).
pub const LINKTYPES: [i32; 10] = [
    linktype::ETHERNET,
    linktype::RAW,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::NULL,
    linktype::LOOP,
    linktype::IPV4,
    linktype::IPV6,
    linktype::RAW_12,
    linktype::RAW_14,
];

pub fn pick_linktype(selector: u8) -> i32 {
    LINKTYPES[usize::from(selector) % LINKTYPES.len()]
}

/// Splits input into records of `[control byte][flag bit, 15-bit length BE][bytes]`; the
/// last record takes what is left when its length runs past the end.
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Records<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Records { rest: input }
    }
}

impl<'a> Iterator for Records<'a> {
    /// The control byte, the flag bit, and the bytes.
    type Item = (u8, bool, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let [ctl, hi, lo, rest @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*hi & 0x7f, *lo]));
        let (body, rest) = rest.split_at(len.min(rest.len()));
        self.rest = rest;
        Some((*ctl, *hi & 0x80 != 0, body))
    }
}

/// Renders `ev` as JSON Lines and as verbose coloured text; every JSON line must parse and
/// name its event.
pub fn render(ev: &Event) {
    let mut out = Vec::new();
    let mut json = JsonLines::new(&mut out);
    json.emit(ev).expect("writing to a Vec");
    json.flush().expect("flushing a Vec");
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a JSON line");
        assert!(
            v.get("event").is_some_and(|e| e.is_string()),
            "no event tag"
        );
    }
    let mut human = Human::new(
        std::io::sink(),
        HumanOptions {
            detail: Detail::Verbose,
            color: true,
        },
    );
    human.emit(ev).expect("writing to a sink");
}
