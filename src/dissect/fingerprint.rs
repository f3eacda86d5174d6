//! Client and server fingerprints: JA3 and JA3S (Salesforce's reference implementation, as
//! Wireshark computes them) and JA4 (FoxIO's specification).
//!
//! JA3 is the MD5 of `version,ciphers,extensions,groups,point_formats` in decimal, values joined
//! by `-`, GREASE values (RFC 8701) removed; JA3S the MD5 of `version,cipher,extensions`.
//! JA4 is `a_b_c`: `a` = protocol, version, SNI presence, cipher and extension counts and the
//! first ALPN's first and last characters; `b` = first 12 hex digits of the SHA-256 of the
//! sorted cipher list; `c` = the same of the sorted extension list (SNI and ALPN left out),
//! followed by `_` and the signature algorithms in wire order.

//!
//! Clients send the same hello lists again and again, so each thread remembers the last
//! fingerprints it computed, keyed by exactly the fields each one reads.

use std::cell::RefCell;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::cert::hex;
use super::hello::{
    ClientHello, EXT_ALPN, EXT_SERVER_NAME, ExtensionsBlock, ServerHello, not_grease,
};
use super::memo::{Memo, key_u16s};

fn join_dec<T: itoa::Integer>(values: impl Iterator<Item = T>) -> String {
    let mut s = String::new();
    let mut b = itoa::Buffer::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push_str(b.format(v));
    }
    s
}

/// JA3's full string, before hashing. Like Wireshark, a ClientHello whose extensions block
/// is cut short yields only `version,ciphers,`.
pub fn ja3_string(ch: &ClientHello) -> String {
    let head = format!(
        "{},{},",
        ch.version,
        join_dec(ch.ciphers.iter().copied().filter(not_grease))
    );
    if ch.extensions_block == ExtensionsBlock::Truncated {
        return head;
    }
    format!(
        "{head}{},{},{}",
        join_dec(ch.extensions.iter().copied().filter(not_grease)),
        join_dec(ch.groups.iter().copied().filter(not_grease)),
        join_dec(ch.point_formats.iter().copied()),
    )
}

/// Fingerprints a thread remembers, and the longest key kept.
const CACHE_ENTRIES: usize = 256;
const CACHE_MAX_KEY: usize = 4096;

/// Recent fingerprints by the bytes of the fields they were computed from, and the key
/// being built.
struct Cache {
    memo: Memo<String>,
    key: Vec<u8>,
}

thread_local! {
    static JA3_CACHE: RefCell<Cache> = RefCell::new(Cache { memo: Memo::new(CACHE_ENTRIES, CACHE_MAX_KEY), key: Vec::new() });
    static JA3S_CACHE: RefCell<Cache> = RefCell::new(Cache { memo: Memo::new(CACHE_ENTRIES, CACHE_MAX_KEY), key: Vec::new() });
    static JA4_CACHE: RefCell<Cache> = RefCell::new(Cache { memo: Memo::new(CACHE_ENTRIES, CACHE_MAX_KEY), key: Vec::new() });
}

/// `compute`'s answer for the fields `fill` writes into the key, from the thread's memo when
/// the same fields were seen lately.
fn cached(
    cache: &'static std::thread::LocalKey<RefCell<Cache>>,
    fill: impl FnOnce(&mut Vec<u8>),
    compute: impl FnOnce() -> String,
) -> String {
    cache.with(|c| {
        let c = &mut *c.borrow_mut();
        c.key.clear();
        fill(&mut c.key);
        c.memo.get_or_make(&c.key, compute)
    })
}

/// JA3: the MD5 of `ja3_string`, lowercase hex.
pub fn ja3(ch: &ClientHello) -> String {
    cached(
        &JA3_CACHE,
        |k| {
            k.extend_from_slice(&ch.version.to_le_bytes());
            k.push(u8::from(ch.extensions_block == ExtensionsBlock::Truncated));
            key_u16s(k, ch.ciphers.iter().copied());
            key_u16s(k, ch.extensions.iter().copied());
            key_u16s(k, ch.groups.iter().copied());
            key_u16s(k, ch.point_formats.iter().map(|&p| u16::from(p)));
        },
        || hex(&Md5::digest(ja3_string(ch).as_bytes())),
    )
}

/// JA3S's full string, before hashing.
pub fn ja3s_string(sh: &ServerHello) -> String {
    format!(
        "{},{},{}",
        sh.version,
        sh.cipher,
        join_dec(sh.extensions.iter().copied().filter(not_grease)),
    )
}

/// JA3S: the MD5 of `ja3s_string`, lowercase hex.
pub fn ja3s(sh: &ServerHello) -> String {
    cached(
        &JA3S_CACHE,
        |k| {
            k.extend_from_slice(&sh.version.to_le_bytes());
            k.extend_from_slice(&sh.cipher.to_le_bytes());
            key_u16s(k, sh.extensions.iter().copied());
        },
        || hex(&Md5::digest(ja3s_string(sh).as_bytes())),
    )
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// The first 12 hex digits of the SHA-256 of `s`, or twelve zeros for an empty list.
fn ja4_hash(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_string();
    }
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn hex4_list(values: impl Iterator<Item = u16>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            s.push(',');
        }
        for shift in [12, 8, 4, 0] {
            s.push(char::from(HEX[usize::from((v >> shift) & 0xf)]));
        }
    }
    s
}

/// The two ALPN characters: first and last of the first protocol, or their hex digits when
/// either is not ASCII alphanumeric; `00` without ALPN.
fn ja4_alpn(alpn: &[Vec<u8>]) -> String {
    match alpn.first().map(Vec::as_slice) {
        Some([first, .., last]) | Some([first @ last]) => {
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
                format!("{}{}", *first as char, *last as char)
            } else {
                let f = format!("{first:02x}");
                let l = format!("{last:02x}");
                format!("{}{}", &f[..1], &l[1..])
            }
        }
        _ => "00".to_string(),
    }
}

/// JA4 of a ClientHello sent over TCP.
pub fn ja4(ch: &ClientHello) -> String {
    cached(
        &JA4_CACHE,
        |k| {
            k.extend_from_slice(&ch.version.to_le_bytes());
            key_u16s(k, ch.supported_versions.iter().copied());
            key_u16s(k, ch.ciphers.iter().copied());
            key_u16s(k, ch.extensions.iter().copied());
            key_u16s(k, ch.signature_algorithms.iter().copied());
            let alpn = ch.alpn.first().map_or(&[][..], Vec::as_slice);
            k.extend_from_slice(&(alpn.len() as u32).to_le_bytes());
            k.extend_from_slice(alpn);
        },
        || ja4_uncached(ch),
    )
}

fn ja4_uncached(ch: &ClientHello) -> String {
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(not_grease)
        .max()
        .unwrap_or(ch.version);
    let ciphers: Vec<u16> = ch.ciphers.iter().copied().filter(not_grease).collect();
    let exts: Vec<u16> = ch.extensions.iter().copied().filter(not_grease).collect();
    let sni = if ch.extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let a = format!(
        "t{}{sni}{:02}{:02}{}",
        ja4_version(version),
        ciphers.len().min(99),
        exts.len().min(99),
        ja4_alpn(&ch.alpn)
    );
    let mut sorted_ciphers = ciphers;
    sorted_ciphers.sort_unstable();
    let b = ja4_hash(&hex4_list(sorted_ciphers.into_iter()));
    let mut sorted_exts: Vec<u16> = exts
        .into_iter()
        .filter(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN)
        .collect();
    sorted_exts.sort_unstable();
    let mut c_input = hex4_list(sorted_exts.into_iter());
    let sigs: Vec<u16> = ch
        .signature_algorithms
        .iter()
        .copied()
        .filter(not_grease)
        .collect();
    if !sigs.is_empty() {
        c_input.push('_');
        c_input.push_str(&hex4_list(sigs.into_iter()));
    }
    let c = ja4_hash(&c_input);
    format!("{a}_{b}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Chrome 143 ClientHello as a public fingerprinting service reported it, with its
    /// JA4 `t13d1516h2_8daaf6152771_d8a2da3f94cd` (the `ja4_ro` form gives the wire order).
    fn chrome_143() -> ClientHello {
        ClientHello {
            version: 0x0303,
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b,
                0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b,
            ],
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_versions: vec![0x0304, 0x0303],
            ..ClientHello::default()
        }
    }

    proptest::proptest! {
        #[test]
        fn remembered_fingerprints_are_the_fingerprints(
            hellos in proptest::collection::vec(
                (
                    proptest::collection::vec(0u16..4, 0..4),
                    proptest::collection::vec(0u16..4, 0..4),
                    proptest::collection::vec(0u16..3, 0..3),
                    proptest::collection::vec(0u8..3, 0..3),
                    proptest::collection::vec(0x0303u16..0x0305, 0..2),
                    proptest::collection::vec(proptest::collection::vec(97u8..99, 1..3), 0..2),
                    0usize..3,
                ),
                1..24,
            )
        ) {
            for (ciphers, extensions, groups, point_formats, supported_versions, alpn, block) in hellos {
                let ch = ClientHello {
                    version: 0x0303,
                    signature_algorithms: groups.clone(),
                    ciphers,
                    extensions,
                    groups,
                    point_formats,
                    supported_versions,
                    alpn,
                    extensions_block: [ExtensionsBlock::Absent, ExtensionsBlock::Truncated, ExtensionsBlock::Present][block],
                    ..ClientHello::default()
                };
                proptest::prop_assert_eq!(ja3(&ch), hex(&Md5::digest(ja3_string(&ch).as_bytes())));
                proptest::prop_assert_eq!(ja4(&ch), ja4_uncached(&ch));
            }
        }
    }

    #[test]
    fn ja4_matches_a_published_fingerprint() {
        assert_eq!(ja4(&chrome_143()), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn ja4_without_alpn_sni_or_ciphers() {
        let ch = ClientHello {
            version: 0x0301,
            ..ClientHello::default()
        };
        assert_eq!(ja4(&ch), "t10i000000_000000000000_000000000000");
    }

    #[test]
    fn ja4_alpn_uses_hex_for_non_alphanumeric_edges() {
        assert_eq!(ja4_alpn(&[b"h2".to_vec()]), "h2");
        assert_eq!(ja4_alpn(&[b"h".to_vec()]), "hh");
        assert_eq!(ja4_alpn(&[vec![0xab, b'x', 0xcd]]), "ad");
        assert_eq!(ja4_alpn(&[]), "00");
    }

    #[test]
    fn ja3_drops_grease_everywhere() {
        let ch = ClientHello {
            version: 771,
            ciphers: vec![0x0a0a, 4865, 49199],
            extensions: vec![0x1a1a, 0, 10, 11],
            groups: vec![0x2a2a, 29, 23],
            point_formats: vec![0],
            ..ClientHello::default()
        };
        assert_eq!(ja3_string(&ch), "771,4865-49199,0-10-11,29-23,0");
        assert_eq!(
            ja3(&ch),
            hex(&Md5::digest(b"771,4865-49199,0-10-11,29-23,0"))
        );
    }

    #[test]
    fn ja3s_of_wiresharks_example() {
        // tshark shows this JA3S full string for an openssl 3 server.
        let sh = ServerHello {
            version: 771,
            cipher: 49200,
            extensions: vec![65281, 11, 35, 23],
            ..ServerHello::default()
        };
        assert_eq!(ja3s_string(&sh), "771,49200,65281-11-35-23");
        assert_eq!(ja3s(&sh), "ec74a5c51106f0419184d0dd08fb05bc");
    }
}
