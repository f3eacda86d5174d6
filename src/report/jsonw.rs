//! A byte buffer that JSON is written into by hand, byte for byte as serde_json writes it.
//!
//! The JSON Lines sink formats a million events a second, so it skips serde's machinery where
//! the shape is fixed: literals go in as they are, integers through `itoa`, floats through the
//! same `zmij` formatter serde_json uses (non-finite floats become `null`, as there), and strings
//! through serde_json's escaping rules (`"`, `\`, and control characters; `\u00XX` in lowercase
//! hex; everything else, non-ASCII included, as it is). The unit tests hold each primitive to
//! serde_json's own output on random inputs.
//!
//! Flow ids can be left open: a worker thread of `--threads` does not know the run-wide id of
//! a flow when it formats an event, so it records where the id goes (`fixups`) and the merging
//! thread fills it in (`shard::splice`).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::event::{Endpoint, Timestamp};

/// serde_json's escape classes for bytes below 0x80: 0 = as it is, otherwise the escape
/// letter (`u` for `\u00XX`).
static ESCAPE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Each byte value's decimal digits (left-aligned) and their count, for dotted quads.
static OCTETS: [([u8; 3], u8); 256] = {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let v = i as u8;
        t[i] = if v >= 100 {
            ([b'0' + v / 100, b'0' + v / 10 % 10, b'0' + v % 10], 3)
        } else if v >= 10 {
            ([b'0' + v / 10, b'0' + v % 10, 0], 2)
        } else {
            ([b'0' + v, 0, 0], 1)
        };
        i += 1;
    }
    t
};

/// Output being formatted: JSON bytes, and where open flow ids go.
#[derive(Debug, Default)]
pub struct JsonBuf {
    pub bytes: Vec<u8>,
    /// `None`: flow ids are final and written at once. `Some`: each flow id is left out and
    /// recorded here as (byte offset, flow id as the formatting thread knows it).
    pub fixups: Option<Vec<(usize, u32)>>,
    /// The seconds of the last timestamp written, and their digits (`timestamp`).
    last_secs: Option<(u32, Digits)>,
}

impl JsonBuf {
    /// A buffer whose flow ids are written as given.
    pub fn new() -> Self {
        JsonBuf::default()
    }

    /// A buffer whose flow ids are left open for `splice`.
    pub fn with_fixups() -> Self {
        JsonBuf {
            fixups: Some(Vec::new()),
            ..JsonBuf::default()
        }
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
        if let Some(f) = &mut self.fixups {
            f.clear();
        }
    }

    /// Bytes that need no escaping (the caller vouches for it).
    #[inline]
    pub fn raw(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    /// A `u64`; those that fit a `u32`, nearly all, take `u32`'s path in line (`put_u64`).
    #[inline]
    pub fn u64(&mut self, v: u64) {
        put_u64(&mut self.bytes, v);
    }

    /// A `u32` (its digits take 32-bit arithmetic, shorter than 64-bit).
    #[inline]
    pub fn u32(&mut self, v: u32) {
        put_u32(&mut self.bytes, v);
    }

    /// A number whose digits were made already.
    #[inline]
    pub fn digits(&mut self, d: &Digits) {
        put_prefix(&mut self.bytes, &d.window, d.len);
    }

    #[inline]
    pub fn i64(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.bytes.extend_from_slice(b.format(v).as_bytes());
    }

    /// A float as serde_json writes it: shortest round-trip form, `null` if not finite.
    #[inline]
    pub fn f64(&mut self, v: f64) {
        if v.is_finite() {
            let mut b = zmij::Buffer::new();
            self.bytes.extend_from_slice(b.format_finite(v).as_bytes());
        } else {
            self.bytes.extend_from_slice(b"null");
        }
    }

    /// A capture timestamp as serde_json writes `ts.as_f64()`. Whole microseconds from 1970-01-13
    /// to 2106, nearly every timestamp there is, take a short path (`micros_fraction`); the
    /// digits of the seconds are kept, since one second covers many packets.
    #[inline]
    pub fn timestamp(&mut self, ts: Timestamp) {
        let Some((secs, fraction, len)) = micros_fraction(ts) else {
            return self.f64(ts.as_f64());
        };
        let whole = match self.last_secs {
            Some((last, digits)) if last == secs => digits,
            _ => {
                let digits = Digits::new(secs);
                self.last_secs = Some((secs, digits));
                digits
            }
        };
        self.digits(&whole);
        self.prefix(&fraction, len);
    }

    /// The first `len` bytes of `text` (see `put_prefix`).
    #[inline]
    pub fn prefix<const N: usize>(&mut self, text: &[u8; N], len: usize) {
        put_prefix(&mut self.bytes, text, len);
    }

    /// A quoted, escaped string.
    #[inline]
    pub fn str(&mut self, s: &str) {
        self.bytes.push(b'"');
        self.escaped(s);
        self.bytes.push(b'"');
    }

    /// Bytes as a quoted string of lowercase hex digit pairs, as `cert::hex` makes them.
    pub fn hex(&mut self, bytes: &[u8]) {
        self.bytes.push(b'"');
        let start = self.bytes.len();
        self.bytes.resize(start + bytes.len() * 2, 0);
        // The room is exactly twice the input's length, so the encoding cannot fail.
        let _ = hex::encode_to_slice(bytes, &mut self.bytes[start..]);
        self.bytes.push(b'"');
    }

    /// `true` or `false`.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.raw(if v { "true" } else { "false" });
    }

    /// A quoted, escaped string, or `null`.
    #[inline]
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    /// A number, or `null`.
    #[inline]
    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.raw("null"),
        }
    }

    /// A number (`null` when not finite, as `f64`), or `null`.
    #[inline]
    pub fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.f64(v),
            None => self.raw("null"),
        }
    }

    /// A quoted name from capd's own tables (version, message, alert and protocol names):
    /// `'static` text is never data from a capture, and none of it needs escaping (the test
    /// `table_names_need_no_escaping` holds the tables to that), so it is copied as it is.
    #[inline]
    pub fn name(&mut self, s: &'static str) {
        self.bytes.push(b'"');
        self.raw(s);
        self.bytes.push(b'"');
    }

    /// A name that a table gave (borrowed: see `name`) or formatted (owned: escaped).
    #[inline]
    // Whether the name is borrowed or owned is the point: not a `&str`.
    #[allow(clippy::ptr_arg)]
    pub fn cow_name(&mut self, s: &Cow<'static, str>) {
        self.bytes.push(b'"');
        self.cow_text(s);
        self.bytes.push(b'"');
    }

    /// A name (see `cow_name`), or `null`.
    #[inline]
    pub fn opt_cow_name(&mut self, s: Option<&Cow<'static, str>>) {
        match s {
            Some(s) => self.cow_name(s),
            None => self.raw("null"),
        }
    }

    /// A name's contents, unquoted: borrowed (table text, see `name`) as it is, formatted
    /// escaped.
    #[inline]
    // Whether the name is borrowed or owned is the point: not a `&str`.
    #[allow(clippy::ptr_arg)]
    pub fn cow_text(&mut self, s: &Cow<'static, str>) {
        match s {
            Cow::Borrowed(s) => self.raw(s),
            Cow::Owned(s) => self.escaped(s),
        }
    }

    /// An array of names (see `name`).
    pub fn name_list(&mut self, items: &[&'static str]) {
        self.list(items, |b, s| b.name(s));
    }

    /// An array of names, borrowed or formatted (see `cow_name`).
    pub fn cow_name_list(&mut self, items: &[Cow<'static, str>]) {
        self.list(items, Self::cow_name);
    }

    /// An array of quoted, escaped strings.
    pub fn str_list<S: AsRef<str>>(&mut self, items: &[S]) {
        self.list(items, |b, s| b.str(s.as_ref()));
    }

    /// An array, each item written by `item`.
    #[inline]
    fn list<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Self, &T)) {
        self.byte(b'[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.byte(b',');
            }
            item(self, s);
        }
        self.byte(b']');
    }

    /// String contents, escaped, without quotes.
    #[inline]
    pub fn escaped(&mut self, s: &str) {
        let b = s.as_bytes();
        match first_to_escape(b) {
            None => self.bytes.extend_from_slice(b),
            Some(at) => self.escaped_from(b, at),
        }
    }

    /// The slow path of `escaped`: `b[at]` is the first byte that needs an escape.
    fn escaped_from(&mut self, b: &[u8], at: usize) {
        self.bytes.extend_from_slice(&b[..at]);
        let mut start = at;
        for (i, &c) in b.iter().enumerate().skip(at) {
            let e = if c < 0x80 { ESCAPE[c as usize] } else { 0 };
            if e == 0 {
                continue;
            }
            self.bytes.extend_from_slice(&b[start..i]);
            if e == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.bytes.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 0xf)],
                ]);
            } else {
                self.bytes.extend_from_slice(&[b'\\', e]);
            }
            start = i + 1;
        }
        self.bytes.extend_from_slice(&b[start..]);
    }

    /// An IP address as a quoted string, in its standard text form (serde's `IpAddr`).
    pub fn ip(&mut self, ip: &IpAddr) {
        self.bytes.push(b'"');
        self.ip_text(ip);
        self.bytes.push(b'"');
    }

    /// An IP address's text form (dotted quad, or RFC 5952 for IPv6), unquoted.
    pub fn ip_text(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                let mut text = [0u8; 15];
                let mut n = 0;
                for (i, octet) in [a, b, c, d].into_iter().enumerate() {
                    if i > 0 {
                        text[n] = b'.';
                        n += 1;
                    }
                    let (digits, len) = OCTETS[usize::from(octet)];
                    text[n..n + 3].copy_from_slice(&digits);
                    n += usize::from(len);
                }
                put_prefix(&mut self.bytes, &text, n);
            }
            IpAddr::V6(v6) => self.ipv6_text(v6),
        }
    }

    /// An endpoint as its quoted text (`ip:port`, `[ip]:port` for IPv6).
    pub fn endpoint(&mut self, e: &Endpoint) {
        self.byte(b'"');
        self.endpoint_text(e);
        self.byte(b'"');
    }

    /// An endpoint's text as `SocketAddr`'s `Display` writes it (`ip:port`, `[ip]:port` for
    /// IPv6), unquoted.
    pub fn endpoint_text(&mut self, e: &Endpoint) {
        if e.ip.is_ipv6() {
            self.byte(b'[');
            self.ip_text(&e.ip);
            self.byte(b']');
        } else {
            self.ip_text(&e.ip);
        }
        self.byte(b':');
        self.u32(u32::from(e.port));
    }

    /// RFC 5952 text, as `Ipv6Addr`'s `Display` writes it: `::ffff:a.b.c.d` for IPv4-mapped
    /// addresses, otherwise lowercase groups without leading zeros and the first longest run
    /// of two or more zero groups as `::`.
    fn ipv6_text(&mut self, v6: &std::net::Ipv6Addr) {
        if let Some(v4) = v6.to_ipv4_mapped() {
            self.bytes.extend_from_slice(b"::ffff:");
            self.ip_text(&IpAddr::V4(v4));
            return;
        }
        let g = v6.segments();
        let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
        for (i, &x) in g.iter().enumerate() {
            if x == 0 {
                if run_len == 0 {
                    run = i;
                }
                run_len += 1;
                if run_len > best_len {
                    best = run;
                    best_len = run_len;
                }
            } else {
                run_len = 0;
            }
        }
        let mut t = V6Text {
            text: [0; 48],
            len: 0,
        };
        if best_len > 1 {
            t.groups(&g[..best]);
            t.colons(2);
            t.groups(&g[best + best_len..]);
        } else {
            t.groups(&g);
        }
        put_prefix(&mut self.bytes, &t.text, t.len);
    }

    /// A flow id: written now, or left open for `splice` when formatting for a worker.
    #[inline]
    pub fn flow_id(&mut self, id: u32) {
        match &mut self.fixups {
            None => self.u32(id),
            Some(f) => f.push((self.bytes.len(), id)),
        }
    }
}

/// IPv6 text being built: at most eight groups of four hex digits and seven colons, and room
/// for a group's fixed four-byte store past the last.
struct V6Text {
    text: [u8; 48],
    len: usize,
}

impl V6Text {
    /// One colon (between groups) or two (the `::`): two are stored either way, and a single
    /// one's second is overwritten by what comes next.
    fn colons(&mut self, n: usize) {
        let at = self.len.min(40);
        self.text[at..at + 2].copy_from_slice(b"::");
        self.len = at + n.min(2);
    }

    /// Groups joined by colons, each in lowercase hex without leading zeros.
    fn groups(&mut self, groups: &[u16]) {
        for (i, &x) in groups.iter().enumerate() {
            if i > 0 {
                self.colons(1);
            }
            let digits = (4 - x.leading_zeros() / 4).max(1);
            // The digits, most significant first, in the low bytes: stored as four bytes,
            // the rest overwritten by what comes next.
            let word = u32::from_le_bytes(hex4(x)) >> (8 * (4 - digits));
            let at = self.len.min(44);
            self.text[at..at + 4].copy_from_slice(&word.to_le_bytes());
            self.len = at + digits as usize;
        }
    }
}

/// The four lowercase hex digits of `x`, most significant first.
#[inline]
fn hex4(x: u16) -> [u8; 4] {
    let x = u32::from(x);
    // One nibble per byte, the most significant in the lowest byte.
    let n = (x >> 12) | ((x >> 8) & 0xf) << 8 | ((x >> 4) & 0xf) << 16 | (x & 0xf) << 24;
    // 1 in each byte whose nibble is 10 or more (adding 6 carries it into bit 4).
    let letters = ((n + 0x0606_0606) >> 4) & 0x0101_0101;
    (n + 0x3030_3030 + letters * u32::from(b'a' - b'0' - 10)).to_le_bytes()
}

/// Two decimal digits for each value below 100.
static DEC2: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// The shortest round-trip text of `ts.as_f64()` (what `JsonBuf::f64` writes), when it is the
/// timestamp's own digits: its seconds, then the returned fraction (`.` and up to six digits,
/// the first `len` bytes). `None` where that takes the float formatter.
///
/// This holds for whole microseconds and 2^20 <= secs < 2^32, as the test
/// `every_microsecond_of_a_second_formats_as_the_float_does` checks. Let D be the decimal
/// `secs.micros`, and 2^k <= secs < 2^(k+1), so that doubles near D are 2^(k-52) apart.
/// - `as_f64` gives the double nearest D. It computes secs + f, where f is the double nearest
///   micros/10^6, within 2^-53 of it. That changes the double the sum rounds to only if D is
///   within 2^-53 of a midpoint between doubles, (2j+1)*2^(k-53) past secs: then
///   |micros*2^(53-k) - (2j+1)*10^6| < 10^6 * 2^-k, which is below 1 for k >= 20. The left side
///   is a whole number, so it would be 0, but micros*2^(47-k) is even and (2j+1)*15625 odd.
/// - No decimal with fewer digits rounds to that double, and no other with as many: such a
///   decimal is another point of the microsecond grid, at least 10^-6 from D, while D is within
///   half a step of the double and a step is at most 2^-20 < 10^-6 (k <= 31).
///
/// So the shortest text is D itself, with the trailing zeros of the fraction cut, and `.0`
/// for a whole second, as the float formatter writes numbers of this size.
#[inline]
fn micros_fraction(ts: Timestamp) -> Option<(u32, [u8; 8], usize)> {
    let secs = u32::try_from(ts.secs).ok().filter(|&s| s >= 1 << 20)?;
    if !ts.nanos.is_multiple_of(1000) || ts.nanos >= 1_000_000_000 {
        return None;
    }
    let micros = ts.nanos / 1000;
    let mut text = *b".0000000";
    if micros == 0 {
        return Some((secs, text, 2));
    }
    text[1..7].copy_from_slice(&padded::<6>(micros));
    let mut len = 7;
    while text[len - 1] == b'0' {
        len -= 1;
    }
    Some((secs, text, len))
}

/// Appends the first `len` bytes of `text`. The whole array is copied and the rest cut off
/// again: a copy of fixed size is a few moves, where one of `len` bytes is a `memcpy` call.
#[inline]
fn put_prefix<const N: usize>(out: &mut Vec<u8>, text: &[u8; N], len: usize) {
    let start = out.len();
    out.extend_from_slice(text);
    out.truncate(start + len.min(N));
}

/// Appends `v` in decimal, as `itoa` writes it: digits from the last, four at a time, into a
/// window that ends at a fixed place, so that no digit count is needed and the copy out is of
/// fixed size (see `put_prefix`).
#[inline(always)]
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    let d = Digits::new(v);
    put_prefix(out, &d.window, d.len);
}

/// A `u32`'s decimal digits (`put_u32`'s), made once for a number written more than once
/// (`JsonBuf::digits`).
#[derive(Debug, Clone, Copy)]
pub struct Digits {
    /// The digits, then bytes that do not count.
    window: [u8; 16],
    len: usize,
}

impl Digits {
    #[inline(always)]
    pub fn new(v: u32) -> Digits {
        const END: usize = 16;
        // The digits end at `END`; the 16-byte window from the first of them stays in bounds.
        let mut text = [0u8; 2 * END];
        let mut at = END;
        let mut rest = v;
        while rest >= 10_000 {
            let four = rest % 10_000;
            rest /= 10_000;
            text[at - 4..at - 2].copy_from_slice(&DEC2[(four / 100) as usize]);
            text[at - 2..at].copy_from_slice(&DEC2[(four % 100) as usize]);
            at -= 4;
        }
        if rest >= 100 {
            text[at - 2..at].copy_from_slice(&DEC2[(rest % 100) as usize]);
            rest /= 100;
            at -= 2;
        }
        if rest >= 10 {
            text[at - 2..at].copy_from_slice(&DEC2[rest as usize]);
            at -= 2;
        } else {
            text[at - 1] = b'0' + rest as u8;
            at -= 1;
        }
        let window = text[at..at + END].try_into().unwrap_or([0; END]);
        Digits {
            window,
            len: END - at,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.window.get(..self.len).unwrap_or_default()
    }
}

/// `put_u32` for any `u64`.
#[inline]
fn put_u64(out: &mut Vec<u8>, v: u64) {
    match u32::try_from(v) {
        Ok(v) => put_u32(out, v),
        Err(_) => put_wide_u64(out, v),
    }
}

/// `put_u64` for a `v` past `u32::MAX`: the last eight digits in 32-bit arithmetic, zeros
/// included, and the rest before them. Out of line: such numbers are rare.
#[inline(never)]
fn put_wide_u64(out: &mut Vec<u8>, v: u64) {
    put_u64(out, v / 100_000_000);
    out.extend_from_slice(&padded::<8>((v % 100_000_000) as u32));
}

/// The last `N` decimal digits of `v` (`N` even), leading zeros included.
#[inline(always)]
fn padded<const N: usize>(mut v: u32) -> [u8; N] {
    let mut text = [0u8; N];
    for pair in text.rchunks_exact_mut(2) {
        pair.copy_from_slice(&DEC2[(v % 100) as usize]);
        v /= 100;
    }
    text
}

/// Where the first byte of `b` that JSON must escape is, if any; eight bytes at a time.
#[inline]
fn first_to_escape(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // The classic zero-byte tests: a high bit survives where a byte is below 0x20, or
        // equal to a quote or a backslash (possibly also next to one: the exact scan below
        // decides).
        let y = x ^ (LO * u64::from(b'"'));
        let z = x ^ (LO * u64::from(b'\\'));
        let hits = (x.wrapping_sub(LO * 0x20) & !x)
            | (y.wrapping_sub(LO) & !y)
            | (z.wrapping_sub(LO) & !z);
        if hits & HI != 0 {
            break;
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c < 0x80 && ESCAPE[c as usize] != 0)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `name` and `cow_name` copy borrowed names as they are: every name the tables can
    /// give must be plain JSON string content.
    #[test]
    fn table_names_need_no_escaping() {
        use crate::dissect::{Version, names};
        let mut checked = 0;
        let mut check = |s: &str| {
            assert_eq!(first_to_escape(s.as_bytes()), None, "{s:?}");
            checked += 1;
        };
        for v in 0..=u16::MAX {
            for name in [
                Version(v).name(),
                names::version_name(v),
                names::group_name(v),
                names::signature_scheme_name(v),
                names::cipher_suite_name(v),
                names::extension_name(v),
            ] {
                if let Cow::Borrowed(s) = name {
                    check(s);
                }
            }
            check(names::version_short_name(v));
        }
        for t in 0..=u8::MAX {
            if let Some((snake, shown)) = names::handshake_type(t) {
                check(snake);
                check(shown);
            }
            for (a, b) in [names::alert_level(t), names::alert_description(t)] {
                for name in [a, b] {
                    if let Cow::Borrowed(s) = name {
                        check(s);
                    }
                }
            }
        }
        // Every short name, and the hundreds of names the other tables hold.
        assert!(checked > 65536 + 500, "{checked}");
    }

    fn serde(v: impl serde::Serialize) -> String {
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn escapes_every_control_character_as_serde_json_does() {
        for c in 0u8..0x80 {
            let s = (c as char).to_string();
            let mut b = JsonBuf::new();
            b.str(&s);
            assert_eq!(
                String::from_utf8(b.bytes).unwrap(),
                serde(&s),
                "byte {c:#x}"
            );
        }
    }

    #[test]
    fn floats_and_edge_numbers_match_serde_json() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e21,
            1e-7,
            1764082800.001328,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut b = JsonBuf::new();
            b.f64(v);
            assert_eq!(String::from_utf8(b.bytes).unwrap(), serde(v), "{v:?}");
        }
        let mut b = JsonBuf::new();
        b.u64(u64::MAX);
        b.byte(b' ');
        b.i64(i64::MIN);
        assert_eq!(
            String::from_utf8(b.bytes).unwrap(),
            format!("{} {}", u64::MAX, i64::MIN)
        );
    }

    #[test]
    fn digits_are_the_decimal_text() {
        let check = |v: u32| assert_eq!(Digits::new(v).as_bytes(), v.to_string().as_bytes());
        (0..2_000_000).for_each(check);
        (0..=u32::MAX).step_by(9973).for_each(check);
        for p in (0..10).map(|e| 10u32.pow(e)) {
            [p - 1, p, p + 1, p * 4 + 2].into_iter().for_each(check);
        }
        [u32::MAX, u32::MAX - 1, 99_999_999, 100_000_000, 999_999_999]
            .into_iter()
            .for_each(check);
    }

    /// `timestamp` writes what the float formatter writes for `as_f64()`.
    fn timestamp_text(ts: Timestamp) -> (String, String) {
        let mut fast = JsonBuf::new();
        fast.timestamp(ts);
        let mut slow = JsonBuf::new();
        slow.f64(ts.as_f64());
        (
            String::from_utf8(fast.bytes).unwrap(),
            String::from_utf8(slow.bytes).unwrap(),
        )
    }

    #[test]
    fn every_microsecond_of_a_second_formats_as_the_float_does() {
        // Every microsecond of a few seconds: today, the edges of the short path's range, and
        // seconds of each binade's edge, where the steps between doubles change.
        for secs in [
            1_795_678_229,
            1,
            3,
            (1 << 20) - 1,
            1 << 20,
            (1 << 31) - 1,
            1 << 31,
            u32::MAX as i64,
        ] {
            let mut short = 0;
            for micros in 0..1_000_000u32 {
                let ts = Timestamp::new(secs, micros * 1000);
                let (fast, slow) = timestamp_text(ts);
                assert_eq!(fast, slow, "{ts:?}");
                short += usize::from(micros_fraction(ts).is_some());
            }
            // The short path takes every microsecond of its range, so this compared it.
            let expected = if secs >= 1 << 20 { 1_000_000 } else { 0 };
            assert_eq!(short, expected, "{secs}");
        }
    }

    #[test]
    fn timestamps_outside_the_short_path_format_as_the_float_does() {
        for (secs, nanos) in [
            (0, 0),
            (0, 1000),
            (0, 999_999_000),
            (-1, 500_000_000),
            (1 << 32, 1000),
            (1 << 40, 0),
            (1_795_678_229, 123_456_789),
            (1_795_678_229, 999_999_999),
            (i64::MAX, 999_999_999),
            (i64::MIN, 0),
        ] {
            let (fast, slow) = timestamp_text(Timestamp::new(secs, nanos));
            assert_eq!(fast, slow, "{secs} {nanos}");
        }
    }

    proptest! {
        #[test]
        fn timestamps_format_as_the_float_does(secs in -10i64..(1 << 34), micros in 0u32..1_000_000, nanos in 0u32..1000) {
            let stamps = [
                Timestamp::new(secs, micros * 1000),
                Timestamp::new(secs, micros * 1000 + nanos),
                Timestamp::new(secs + 1, nanos * 1000),
                Timestamp::new(secs, 0),
            ];
            // One buffer for all, as it keeps the last seconds' digits from one to the next.
            let mut fast = JsonBuf::new();
            let mut slow = JsonBuf::new();
            for ts in stamps {
                fast.timestamp(ts);
                fast.byte(b',');
                slow.f64(ts.as_f64());
                slow.byte(b',');
            }
            prop_assert_eq!(String::from_utf8(fast.bytes).unwrap(), String::from_utf8(slow.bytes).unwrap());
        }

        #[test]
        fn strings_escape_as_serde_json(s in any::<String>()) {
            let mut b = JsonBuf::new();
            b.str(&s);
            prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), serde(&s));
        }

        #[test]
        fn strings_full_of_escapes_escape_as_serde_json(s in "[\"\\\\\\x00-\\x1fa-z\\x7f\u{e9}\u{20ac}]{0,40}") {
            let mut b = JsonBuf::new();
            b.str(&s);
            prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), serde(&s));
        }

        #[test]
        fn optional_values_and_lists_format_as_serde_json(
            flag in any::<bool>(),
            s in proptest::option::of(any::<String>()),
            n in proptest::option::of(any::<u64>()),
            f in proptest::option::of(any::<u64>().prop_map(f64::from_bits)),
            list in prop::collection::vec(any::<String>(), 0..4),
        ) {
            let mut b = JsonBuf::new();
            b.bool(flag);
            b.byte(b',');
            b.opt_str(s.as_deref());
            b.byte(b',');
            b.opt_u64(n);
            b.byte(b',');
            b.opt_f64(f);
            b.byte(b',');
            b.str_list(&list);
            let reference = [serde(flag), serde(&s), serde(n), serde(f), serde(&list)].join(",");
            prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), reference);
        }

        #[test]
        fn floats_format_as_serde_json(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let mut b = JsonBuf::new();
            b.f64(v);
            prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), serde(v));
        }

        #[test]
        fn integers_format_as_serde_json_does(v in any::<u64>(), digits in 0u32..20) {
            // Every length of number, and each power of ten and its neighbours.
            let p = 10u64.pow(digits);
            for v in [v, v >> (digits * 3), p - 1, p, p + 1] {
                let mut b = JsonBuf::new();
                b.u64(v);
                b.byte(b' ');
                b.u32(v as u32);
                prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), format!("{} {}", serde(v), serde(v as u32)));
            }
        }

        #[test]
        fn addresses_format_as_serde_does(v4 in any::<[u8; 4]>(), v6 in any::<[u16; 8]>(), zeros in 0usize..8) {
            let mut seg = v6;
            for s in seg.iter_mut().take(zeros) {
                *s = 0;
            }
            let mapped = std::net::Ipv4Addr::from(v4).to_ipv6_mapped();
            let ends = [0, 0, 0, 0, 0, 0, seg[6], seg[7]];
            for ip in [IpAddr::from(v4), IpAddr::from(seg), IpAddr::from(v6), IpAddr::from(mapped), IpAddr::from(ends)] {
                let mut b = JsonBuf::new();
                b.ip(&ip);
                prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), serde(ip));
                let e = Endpoint { ip, port: v6[0] };
                let mut b = JsonBuf::new();
                b.endpoint(&e);
                prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), serde(e));
            }
        }
    }
}
