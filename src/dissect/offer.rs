//! The ClientHello as a `tls_handshake` event reports it (`details.client_hello`), in two
//! parts: the session's own session id, and the offer (versions, cipher suites, extensions and
//! their lists, by name) that a client stack sends alike in every handshake it makes.
//!
//! Offers are remembered per thread (`memo.rs`, keyed by every field they are made from) and
//! shared by the sessions that made them, so a handshake in flight holds one pointer instead of
//! some sixty names, and a busy capture names each distinct offer once. Parsing the hello is
//! `hello.rs`'s work; this file only names what was parsed.
//!
//! Everything else a hello tells its session (fingerprints, SNI, ALPN) is the same for every
//! hello a client stack sends too: `client_hello_facts` remembers all of it by the hello's
//! bytes less those that change per handshake (`hello::client_hello_key`), so a repeated
//! hello is neither parsed nor named again.

use std::cell::RefCell;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::Version;
use super::fingerprint;
use super::hello::{self, ClientHello};
use super::memo::{Memo, key_bytes, key_u16s};
use super::names::{self, cipher_suite_name, extension_name, group_name, signature_scheme_name};
use super::session::Name;

/// What a client offered, by name: everything of a ClientHello's report but its session id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHelloOffer {
    pub version: Name,
    pub cipher_suites: Vec<Name>,
    pub compression_methods: Vec<u8>,
    pub extensions: Vec<Name>,
    pub supported_groups: Vec<Name>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<Name>,
    pub supported_versions: Vec<Name>,
    pub key_share: Vec<Name>,
    pub alpn: Vec<String>,
    pub session_ticket_len: Option<usize>,
    pub sslv2_format: bool,
    pub grease: bool,
}

/// Decoded ClientHello, as reported: the session id and the shared offer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHelloInfo {
    pub session_id: super::session::SessionId,
    pub offer: Arc<ClientHelloOffer>,
}

impl Serialize for ClientHelloInfo {
    /// One object of every field, as when the session id sat among the offer's fields.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = &*self.offer;
        let len = 13 + usize::from(o.session_ticket_len.is_some());
        let mut m = s.serialize_struct("ClientHelloInfo", len)?;
        m.serialize_field("version", &o.version)?;
        m.serialize_field("session_id", &self.session_id)?;
        m.serialize_field("cipher_suites", &o.cipher_suites)?;
        m.serialize_field("compression_methods", &o.compression_methods)?;
        m.serialize_field("extensions", &o.extensions)?;
        m.serialize_field("supported_groups", &o.supported_groups)?;
        m.serialize_field("ec_point_formats", &o.ec_point_formats)?;
        m.serialize_field("signature_algorithms", &o.signature_algorithms)?;
        m.serialize_field("supported_versions", &o.supported_versions)?;
        m.serialize_field("key_share", &o.key_share)?;
        m.serialize_field("alpn", &o.alpn)?;
        match &o.session_ticket_len {
            Some(n) => m.serialize_field("session_ticket_len", n)?,
            None => m.skip_field("session_ticket_len")?,
        }
        m.serialize_field("sslv2_format", &o.sslv2_format)?;
        m.serialize_field("grease", &o.grease)?;
        m.end()
    }
}

/// Distinct offers a thread keeps.
const CACHE_ENTRIES: usize = 128;
/// Offers whose key is longer than this (thousands of cipher suites) are named afresh.
const CACHE_MAX_KEY: usize = 8 * 1024;

struct Cache {
    memo: Memo<Arc<ClientHelloOffer>>,
    key: Vec<u8>,
}

thread_local! {
    static OFFERS: RefCell<Cache> = RefCell::new(Cache {
        memo: Memo::new(CACHE_ENTRIES, CACHE_MAX_KEY),
        key: Vec::new(),
    });
}

/// Every field an offer is made from, each list with its length, so two hellos have the same
/// key exactly when they make the same offer.
fn fill_key(key: &mut Vec<u8>, ch: &ClientHello) {
    key.extend_from_slice(&ch.version.to_le_bytes());
    key.push(u8::from(ch.sslv2_format));
    match ch.session_ticket {
        Some(n) => {
            key.push(1);
            key.extend_from_slice(&(n as u64).to_le_bytes());
        }
        None => key.push(0),
    }
    key_u16s(key, ch.ciphers.iter().copied());
    key_bytes(key, &ch.compression);
    key_u16s(key, ch.extensions.iter().copied());
    key_u16s(key, ch.groups.iter().copied());
    key_bytes(key, &ch.point_formats);
    key_u16s(key, ch.signature_algorithms.iter().copied());
    key_u16s(key, ch.supported_versions.iter().copied());
    key_u16s(key, ch.key_share_groups.iter().copied());
    key.extend_from_slice(&(ch.alpn.len() as u32).to_le_bytes());
    for p in &ch.alpn {
        key_bytes(key, p);
    }
}

/// The offer `ch` makes, named.
fn make(ch: &ClientHello) -> ClientHelloOffer {
    let grease = ch.ciphers.iter().any(|c| names::is_grease(*c))
        || ch.extensions.iter().any(|e| names::is_grease(*e));
    ClientHelloOffer {
        version: Version(ch.version).name(),
        cipher_suites: ch.ciphers.iter().map(|c| cipher_suite_name(*c)).collect(),
        compression_methods: ch.compression.clone(),
        extensions: ch.extensions.iter().map(|e| extension_name(*e)).collect(),
        supported_groups: ch.groups.iter().map(|g| group_name(*g)).collect(),
        ec_point_formats: ch.point_formats.clone(),
        signature_algorithms: ch
            .signature_algorithms
            .iter()
            .map(|s| signature_scheme_name(*s))
            .collect(),
        supported_versions: ch
            .supported_versions
            .iter()
            .map(|v| Version(*v).name())
            .collect(),
        key_share: ch.key_share_groups.iter().map(|g| group_name(*g)).collect(),
        alpn: ch
            .alpn
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
        session_ticket_len: ch.session_ticket,
        sslv2_format: ch.sslv2_format,
        grease,
    }
}

/// The offer `ch` makes, shared with the thread's earlier sessions that made the same one.
pub fn offer(ch: &ClientHello) -> Arc<ClientHelloOffer> {
    OFFERS.with(|c| {
        let c = &mut *c.borrow_mut();
        c.key.clear();
        fill_key(&mut c.key, ch);
        c.memo.get_or_make(&c.key, || Arc::new(make(ch)))
    })
}

/// What a ClientHello tells its session besides its session id and random.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloFacts {
    /// JA3 and JA4 (none for an SSL 2.0-format hello).
    /// Shared with each session the hello opens (`TlsSession`), which holds them without a
    /// copy of its own.
    pub ja3: Option<Arc<str>>,
    pub ja4: Option<Arc<str>>,
    pub sni: Option<Arc<str>>,
    /// The first protocol offered.
    pub alpn: Option<Arc<str>>,
    pub alpn_offered: bool,
    pub offer: Arc<ClientHelloOffer>,
}

impl HelloFacts {
    pub fn of(ch: &ClientHello) -> HelloFacts {
        HelloFacts {
            ja3: (!ch.sslv2_format).then(|| fingerprint::ja3(ch).into()),
            ja4: (!ch.sslv2_format).then(|| fingerprint::ja4(ch).into()),
            sni: ch.sni.as_deref().map(Arc::from),
            alpn: ch
                .alpn
                .first()
                .map(|p| Arc::from(String::from_utf8_lossy(p))),
            alpn_offered: !ch.alpn.is_empty(),
            offer: offer(ch),
        }
    }
}

/// Hellos a thread remembers, and the longest key kept.
const FACTS_ENTRIES: usize = 128;
const FACTS_MAX_KEY: usize = 8 * 1024;

struct FactsCache {
    memo: Memo<Option<Arc<HelloFacts>>>,
    key: Vec<u8>,
}

thread_local! {
    static FACTS: RefCell<FactsCache> = RefCell::new(FactsCache {
        memo: Memo::new(FACTS_ENTRIES, FACTS_MAX_KEY),
        key: Vec::new(),
    });
}

/// The facts of a ClientHello body (after the handshake header) and its session id: what
/// `HelloFacts::of(&parse_client_hello(body)?)` gives, from the thread's memo when a hello
/// alike was seen lately. `None` if the body does not parse.
pub fn client_hello_facts(body: &[u8]) -> Option<(Arc<HelloFacts>, Vec<u8>)> {
    FACTS.with(|c| {
        let c = &mut *c.borrow_mut();
        c.key.clear();
        let session_id = hello::client_hello_key(body, &mut c.key)?;
        let facts = c.memo.get_or_make(&c.key, || {
            hello::parse_client_hello(body).map(|ch| Arc::new(HelloFacts::of(&ch)))
        })?;
        Some((facts, session_id.to_vec()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::hello::{parse_client_hello, tests::sample_client_hello};
    use proptest::prelude::*;

    #[test]
    fn the_same_offer_is_shared_and_a_different_one_is_not() {
        let ch = parse_client_hello(&sample_client_hello()).unwrap();
        let a = offer(&ch);
        let b = offer(&ch.clone());
        assert!(Arc::ptr_eq(&a, &b));
        let mut other = ch.clone();
        other.ciphers.push(0x1301);
        let c = offer(&other);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, make(&other));
    }

    #[test]
    fn serializes_as_one_object_with_the_session_id_among_the_offer() {
        let ch = parse_client_hello(&sample_client_hello()).unwrap();
        let info = ClientHelloInfo {
            session_id: super::super::session::SessionId(vec![0xab, 0xcd]),
            offer: offer(&ch),
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["session_id"], "abcd");
        let o = &info.offer;
        let expect = serde_json::json!({
            "version": o.version, "session_id": "abcd", "cipher_suites": o.cipher_suites,
            "compression_methods": o.compression_methods, "extensions": o.extensions,
            "supported_groups": o.supported_groups, "ec_point_formats": o.ec_point_formats,
            "signature_algorithms": o.signature_algorithms,
            "supported_versions": o.supported_versions, "key_share": o.key_share,
            "alpn": o.alpn, "sslv2_format": o.sslv2_format, "grease": o.grease,
        });
        assert_eq!(v, expect, "no session_ticket_len when none was offered");
        let with_ticket = ClientHelloInfo {
            offer: Arc::new(ClientHelloOffer {
                session_ticket_len: Some(0),
                ..(*info.offer).clone()
            }),
            ..info
        };
        let v = serde_json::to_value(&with_ticket).unwrap();
        assert_eq!(v["session_ticket_len"], 0);
        assert_eq!(v.as_object().unwrap().len(), 14);
    }

    fn hello() -> impl Strategy<Value = ClientHello> {
        let u16s = || {
            prop::collection::vec(
                prop::sample::select(vec![0u16, 1, 0x0a0a, 0x1301, 0xc02b]),
                0..3,
            )
        };
        let u8s = || prop::collection::vec(0u8..3, 0..3);
        (
            (
                any::<bool>(),
                prop::option::of(0usize..3),
                u16s(),
                u8s(),
                u16s(),
                u16s(),
            ),
            (u8s(), u16s(), u16s(), u16s()),
            prop::collection::vec(u8s(), 0..3),
        )
            .prop_map(
                |(
                    (v2, ticket, ciphers, compression, extensions, groups),
                    (pf, sa, sv, ks),
                    alpn,
                )| ClientHello {
                    version: 0x0303,
                    sslv2_format: v2,
                    session_ticket: ticket,
                    ciphers,
                    compression,
                    extensions,
                    groups,
                    point_formats: pf,
                    signature_algorithms: sa,
                    supported_versions: sv,
                    key_share_groups: ks,
                    alpn,
                    ..ClientHello::default()
                },
            )
    }

    proptest! {
        /// Whatever hellos come, in whatever order (few distinct values, so lists collide in
        /// every way), the remembered offer is the one the hello makes.
        #[test]
        fn a_remembered_offer_is_the_hellos_own(hellos in prop::collection::vec(hello(), 1..60)) {
            for ch in &hellos {
                prop_assert_eq!(&*offer(ch), &make(ch));
            }
        }

        /// A hello's remembered facts are those of its own parse, whatever its bytes: the
        /// sample with a few bytes changed (so some parse, some do not, and repeats hit
        /// the memo).
        #[test]
        fn remembered_facts_are_the_hellos_own(
            edits in prop::collection::vec(prop::collection::vec((any::<prop::sample::Index>(), 0u8..4), 0..3), 1..40),
        ) {
            let sample = sample_client_hello();
            for edit in &edits {
                let mut body = sample.clone();
                for (at, v) in edit {
                    body[at.index(sample.len())] = *v;
                }
                let parsed = parse_client_hello(&body).map(|ch| (HelloFacts::of(&ch), ch.session_id));
                let remembered = client_hello_facts(&body).map(|(f, sid)| ((*f).clone(), sid));
                prop_assert_eq!(remembered, parsed);
            }
        }

        /// Hellos that differ only in what changes per handshake (random, session id, key
        /// share keys, ticket and pre-shared key contents) share one key and their facts;
        /// a different server name makes a different key.
        #[test]
        fn the_key_leaves_out_exactly_what_changes_per_handshake(
            a in per_handshake(), b in per_handshake(), sni_a in 0usize..2, sni_b in 0usize..2,
        ) {
            let names = ["localhost", "example"];
            let (ha, hb) = (built(&a, names[sni_a]), built(&b, names[sni_b]));
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            prop_assert_eq!(hello::client_hello_key(&ha, &mut ka), Some(&a.1[..]));
            prop_assert_eq!(hello::client_hello_key(&hb, &mut kb), Some(&b.1[..]));
            let facts = |h: &[u8]| HelloFacts::of(&parse_client_hello(h).unwrap());
            let same_lengths = a.3.len() == b.3.len();
            prop_assert_eq!(ka == kb, sni_a == sni_b && same_lengths);
            if ka == kb {
                prop_assert_eq!(facts(&ha), facts(&hb));
            }
        }
    }

    /// Random byte, session id, key share key, ticket and pre-shared key contents.
    type PerHandshake = (u8, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

    fn per_handshake() -> impl Strategy<Value = PerHandshake> {
        let bytes = |n| prop::collection::vec(any::<u8>(), n);
        (
            any::<u8>(),
            bytes(0..33),
            bytes(32..33),
            bytes(0..3),
            bytes(0..8),
        )
    }

    /// A TLS 1.3-style hello carrying the parts that change per handshake, naming `sni`.
    fn built((random, sid, key, ticket, psk): &PerHandshake, sni: &str) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[*random; 32]);
        b.push(sid.len() as u8);
        b.extend_from_slice(sid);
        b.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f, 0x01, 0x00]);
        let mut ext = Vec::new();
        let mut add = |ty: u16, data: &[u8]| {
            ext.extend_from_slice(&ty.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(data);
        };
        let mut sni_ext = ((sni.len() + 3) as u16).to_be_bytes().to_vec();
        sni_ext.push(0);
        sni_ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        sni_ext.extend_from_slice(sni.as_bytes());
        add(0, &sni_ext);
        add(35, ticket);
        let mut shares = vec![0x00, 0x24, 0x00, 0x1d, 0x00, 0x20];
        shares.extend_from_slice(key);
        add(51, &shares);
        add(41, psk);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        b
    }
}
