//! The `tls_handshake` event (CONTRACT.md), written by hand into a `JsonBuf`.
//!
//! Its bytes are those the summary serializer (`sorted`) makes of `TlsSession`'s derived
//! `Serialize`: `"event"` first, then every object's keys in byte order, at every depth,
//! `Option`s as `null` unless the type skips them. Here that order is written out once, at
//! compile time, instead of being found by sorting each object as it ends. Each writer
//! destructures its type completely, so a field added to one of them does not compile until
//! it is written here, in its sorted place. The tests hold this writer to the serializer on
//! every sample capture and on random sessions.
//!
//! Most of a handshake's bytes are parts that sessions share through an `Arc`: certificate
//! summaries, the ClientHello's offer, the CertificateRequest (see `dissect::memo`). A busy
//! capture repeats a few of them in every session, so `Shared` keeps each one's rendering
//! and later sessions copy it.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use super::jsonw::JsonBuf;
use crate::dissect::messages::CertificateRequest;
use crate::dissect::offer::ClientHelloOffer;
use crate::dissect::verify::{Check, Verdict};
use crate::dissect::{CertSummary, SessionAlert, Timing, TlsSession};

mod details;

use details::handshake_details;

/// Renderings of the parts sessions share, reused from one event to the next.
#[derive(Debug, Default)]
pub struct Shared {
    certs: Renderings<CertSummary>,
    offers: Renderings<ClientHelloOffer>,
    requests: Renderings<CertificateRequest>,
}

/// Renderings of one kind, by the address of the `Arc` rendered. Each entry holds its `Arc`,
/// so that the address cannot be reused by another value while the rendering is kept, and
/// the value cannot change (it is shared, so `Arc::get_mut` refuses it).
#[derive(Debug)]
struct Renderings<T> {
    map: HashMap<usize, Rendering<T>, FxBuildHasher>,
}

impl<T> Default for Renderings<T> {
    fn default() -> Self {
        Renderings {
            map: HashMap::default(),
        }
    }
}

#[derive(Debug)]
struct Rendering<T> {
    _kept: Arc<T>,
    bytes: Box<[u8]>,
    /// Where the session's own part goes, for renderings written around it.
    split: usize,
}

/// Renderings kept per kind; past this the kind starts afresh.
const MAX_RENDERINGS: usize = 256;

impl<T> Renderings<T> {
    /// The rendering of `v` by `render` (which returns where in its output the session's
    /// own part goes), kept from before or made now; `None` when `v` is held by this session
    /// alone, so will not come again, and the caller writes it afresh. Another owner is the
    /// dissector's memo, which hands the same `Arc` to the next session that sends it.
    fn get(
        &mut self,
        v: &Arc<T>,
        render: impl FnOnce(&mut JsonBuf, &T) -> usize,
    ) -> Option<&Rendering<T>> {
        if Arc::strong_count(v) < 2 {
            return None;
        }
        let key = Arc::as_ptr(v) as usize;
        if !self.map.contains_key(&key) && self.map.len() >= MAX_RENDERINGS {
            self.map.clear();
        }
        Some(self.map.entry(key).or_insert_with(|| {
            let mut b = JsonBuf::new();
            let split = render(&mut b, v);
            Rendering {
                _kept: v.clone(),
                bytes: b.bytes.into_boxed_slice(),
                split,
            }
        }))
    }
}

/// Writes a `tls_handshake` event, without the line end.
pub fn write_handshake(b: &mut JsonBuf, shared: &mut Shared, t: &TlsSession) {
    let TlsSession {
        flow,
        client,
        server,
        version,
        cipher_suite,
        cipher_suite_id,
        sni,
        alpn,
        client_messages,
        server_messages,
        mutual,
        resumed,
        established,
        alert,
        server_certs,
        client_certs,
        ja3,
        ja3s,
        ja4,
        timing,
        verdict,
        details,
        evidence: _,
    } = t;
    b.raw("{\"event\":\"tls_handshake\",\"alert\":");
    match alert {
        Some(a) => session_alert(b, a),
        None => b.raw("null"),
    }
    b.raw(",\"alpn\":");
    b.opt_str(alpn.as_deref());
    b.raw(",\"cipher_suite\":");
    b.opt_cow_name(cipher_suite.as_ref());
    b.raw(",\"cipher_suite_id\":");
    b.opt_u64(cipher_suite_id.map(u64::from));
    b.raw(",\"client\":");
    b.endpoint(client);
    b.raw(",\"client_certs\":");
    certs(b, &mut shared.certs, client_certs);
    b.raw(",\"client_messages\":");
    b.name_list(client_messages);
    if let Some(d) = details {
        b.raw(",\"details\":");
        handshake_details(b, shared, d);
    }
    b.raw(",\"established\":");
    b.bool(*established);
    b.raw(",\"flow\":");
    b.flow_id(*flow);
    b.raw(",\"ja3\":");
    b.opt_str(ja3.as_deref());
    b.raw(",\"ja3s\":");
    b.opt_str(ja3s.as_deref());
    b.raw(",\"ja4\":");
    b.opt_str(ja4.as_deref());
    b.raw(",\"mutual\":");
    b.bool(*mutual);
    b.raw(",\"resumed\":");
    b.bool(*resumed);
    b.raw(",\"server\":");
    b.endpoint(server);
    b.raw(",\"server_certs\":");
    certs(b, &mut shared.certs, server_certs);
    b.raw(",\"server_messages\":");
    b.name_list(server_messages);
    b.raw(",\"sni\":");
    b.opt_str(sni.as_deref());
    b.raw(",\"timing\":");
    write_timing(b, timing);
    if let Some(v) = verdict {
        b.raw(",\"verdict\":");
        write_verdict(b, v);
    }
    b.raw(",\"version\":");
    b.opt_cow_name(version.as_ref());
    b.byte(b'}');
}

/// A `usize` as serde writes it (as a `u64`).
fn size(b: &mut JsonBuf, v: usize) {
    b.u64(v as u64);
}

/// An array of small numbers.
fn u8_list(b: &mut JsonBuf, items: &[u8]) {
    b.byte(b'[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            b.byte(b',');
        }
        b.u32(u32::from(*v));
    }
    b.byte(b']');
}

fn session_alert(b: &mut JsonBuf, a: &SessionAlert) {
    let SessionAlert {
        level,
        description,
        encrypted,
        from,
    } = a;
    b.raw("{\"description\":");
    b.opt_str(description.as_deref());
    b.raw(",\"encrypted\":");
    b.bool(*encrypted);
    b.raw(",\"from\":");
    b.str(from);
    b.raw(",\"level\":");
    b.opt_str(level.as_deref());
    b.byte(b'}');
}

fn certs(b: &mut JsonBuf, kept: &mut Renderings<CertSummary>, chain: &[Arc<CertSummary>]) {
    b.byte(b'[');
    for (i, c) in chain.iter().enumerate() {
        if i > 0 {
            b.byte(b',');
        }
        let render = |b: &mut JsonBuf, c: &CertSummary| {
            cert(b, c);
            b.bytes.len()
        };
        match kept.get(c, render) {
            Some(r) => b.bytes.extend_from_slice(&r.bytes),
            None => cert(b, c),
        }
    }
    b.byte(b']');
}

fn cert(b: &mut JsonBuf, c: &CertSummary) {
    let CertSummary {
        subject,
        issuer,
        serial,
        not_before,
        not_after,
        san,
        sha256,
        key,
        signature_algorithm,
        error,
    } = c;
    b.byte(b'{');
    if let Some(e) = error {
        b.raw("\"error\":");
        b.str(e);
        b.byte(b',');
    }
    b.raw("\"issuer\":");
    b.str(issuer);
    b.raw(",\"key\":");
    b.str(key);
    b.raw(",\"not_after\":");
    b.str(not_after);
    b.raw(",\"not_before\":");
    b.str(not_before);
    b.raw(",\"san\":");
    b.str_list(san);
    b.raw(",\"serial\":");
    b.str(serial);
    b.raw(",\"sha256\":");
    b.str(sha256);
    b.raw(",\"signature_algorithm\":");
    b.str(signature_algorithm);
    b.raw(",\"subject\":");
    b.str(subject);
    b.byte(b'}');
}

fn write_timing(b: &mut JsonBuf, t: &Timing) {
    let Timing {
        client_hello,
        server_hello,
        server_done,
        client_finished,
        server_finished,
        first_application_data,
        alert,
    } = t;
    b.raw("{\"alert\":");
    b.opt_f64(*alert);
    b.raw(",\"client_finished\":");
    b.opt_f64(*client_finished);
    b.raw(",\"client_hello\":");
    b.opt_f64(*client_hello);
    b.raw(",\"first_application_data\":");
    b.opt_f64(*first_application_data);
    b.raw(",\"server_done\":");
    b.opt_f64(*server_done);
    b.raw(",\"server_finished\":");
    b.opt_f64(*server_finished);
    b.raw(",\"server_hello\":");
    b.opt_f64(*server_hello);
    b.byte(b'}');
}

fn write_verdict(b: &mut JsonBuf, v: &Verdict) {
    let Verdict {
        pass,
        checks,
        cause,
    } = v;
    b.raw("{\"cause\":");
    b.opt_str(cause.as_deref());
    b.raw(",\"checks\":[");
    for (i, c) in checks.iter().enumerate() {
        if i > 0 {
            b.byte(b',');
        }
        let Check { name, pass, detail } = c;
        b.raw("{\"detail\":");
        b.str(detail);
        b.raw(",\"name\":");
        b.str(name);
        b.raw(",\"pass\":");
        b.bool(*pass);
        b.byte(b'}');
    }
    b.raw("],\"pass\":");
    b.bool(*pass);
    b.byte(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::messages::{
        CertificateVerify, ClientKeyExchange, NewSessionTicket, ServerKeyExchange,
    };
    use crate::dissect::offer::ClientHelloInfo;
    use crate::dissect::session::Name;
    use crate::dissect::session::{AppDataCounts, HandshakeDetails, ServerHelloInfo, SessionId};
    use crate::engine::{Engine, EngineConfig, Frame};
    use crate::event::{Event, Timestamp};
    use crate::report::sorted;
    use proptest::prelude::*;
    use std::borrow::Cow;

    /// The summary serializer's bytes for `t`: the reference.
    fn reference(t: &TlsSession) -> String {
        let mut b = JsonBuf::new();
        sorted::write_tagged(&mut b, &mut sorted::Scratch::default(), "tls_handshake", t).unwrap();
        String::from_utf8(b.bytes).unwrap()
    }

    fn ours(shared: &mut Shared, t: &TlsSession) -> String {
        let mut b = JsonBuf::new();
        write_handshake(&mut b, shared, t);
        String::from_utf8(b.bytes).unwrap()
    }

    /// The TLS sessions of a capture, as the engine reports them.
    fn sessions(path: &std::path::Path) -> Vec<TlsSession> {
        let mut cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let linktype = cap.get_datalink().0;
        let mut engine = Engine::new(EngineConfig::default());
        let mut found = Vec::new();
        let mut take = |engine: &mut Engine| {
            while let Some(ev) = engine.poll_event() {
                if let Event::TlsHandshake(t) = ev {
                    found.push(*t);
                }
            }
        };
        let mut number = 0;
        while let Ok(p) = cap.next_packet() {
            number += 1;
            let frame = Frame {
                number,
                ts: Timestamp::new(p.header.ts.tv_sec, p.header.ts.tv_usec as u32),
                linktype,
                orig_len: p.header.len,
                data: p.data,
            };
            engine.handle_frame(&frame);
            take(&mut engine);
        }
        engine.finish();
        take(&mut engine);
        found
    }

    #[test]
    fn every_sample_session_is_written_as_the_serializer_writes_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        files.sort();
        let mut seen = 0;
        // One `Shared` for all: later sessions copy what earlier ones rendered, as in a run.
        let mut shared = Shared::default();
        for f in &files {
            for t in sessions(f) {
                assert_eq!(ours(&mut shared, &t), reference(&t), "{}", f.display());
                seen += 1;
            }
        }
        assert!(seen > 10, "only {seen} sessions in {}", dir.display());
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_ ]{0,6}",
            "[\"\\\\\\x00-\\x1f\u{e9}\u{2192}a]{0,6}",
            any::<String>(),
        ]
    }

    fn name() -> impl Strategy<Value = Name> {
        prop_oneof![
            Just(Cow::Borrowed("TLS_AES_128_GCM_SHA256")),
            text().prop_map(Cow::Owned),
        ]
    }

    fn names() -> impl Strategy<Value = Vec<Name>> {
        prop::collection::vec(name(), 0..3)
    }

    fn float() -> impl Strategy<Value = Option<f64>> {
        prop::option::of(prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            (0u32..100_000).prop_map(|v| f64::from(v) / 1000.0),
        ])
    }

    fn cert() -> impl Strategy<Value = Arc<CertSummary>> {
        (
            (text(), text(), text(), text(), text()),
            prop::collection::vec(text(), 0..3),
            (text(), text(), text(), prop::option::of(text())),
        )
            .prop_map(
                |(
                    (subject, issuer, serial, not_before, not_after),
                    san,
                    (sha256, key, signature_algorithm, error),
                )| {
                    Arc::new(CertSummary {
                        subject,
                        issuer,
                        serial,
                        not_before,
                        not_after,
                        san,
                        sha256,
                        key,
                        signature_algorithm,
                        error,
                    })
                },
            )
    }

    fn client_hello() -> impl Strategy<Value = ClientHelloInfo> {
        (
            (name(), names(), any::<Vec<u8>>(), names(), names()),
            (any::<Vec<u8>>(), names(), names(), names()),
            (
                prop::collection::vec(text(), 0..3),
                any::<Option<usize>>(),
                any::<bool>(),
                any::<bool>(),
                any::<Vec<u8>>(),
            ),
        )
            .prop_map(
                |(
                    (version, cipher_suites, compression_methods, extensions, supported_groups),
                    (ec_point_formats, signature_algorithms, supported_versions, key_share),
                    (alpn, session_ticket_len, sslv2_format, grease, session_id),
                )| ClientHelloInfo {
                    session_id: SessionId(session_id),
                    offer: Arc::new(ClientHelloOffer {
                        version,
                        cipher_suites,
                        compression_methods,
                        extensions,
                        supported_groups,
                        ec_point_formats,
                        signature_algorithms,
                        supported_versions,
                        key_share,
                        alpn,
                        session_ticket_len,
                        sslv2_format,
                        grease,
                    }),
                },
            )
    }

    fn details() -> impl Strategy<Value = HandshakeDetails> {
        let server_hello = (
            (name(), any::<Vec<u8>>(), name(), any::<u8>()),
            (names(), prop::option::of(name()), any::<bool>()),
        )
            .prop_map(
                |(
                    (version, session_id, cipher_suite, compression_method),
                    (extensions, key_share, hello_retry_request),
                )| ServerHelloInfo {
                    version,
                    session_id: SessionId(session_id),
                    cipher_suite,
                    compression_method,
                    extensions,
                    key_share,
                    hello_retry_request,
                },
            );
        let ske = (
            prop::sample::select(vec!["ecdhe", "dhe", "rsa"]),
            prop::option::of(text()),
            any::<usize>(),
            any::<Option<usize>>(),
            prop::option::of(text()),
            any::<usize>(),
        )
            .prop_map(
                |(kind, group, public_size, dh_bits, signature_algorithm, signature_len)| {
                    ServerKeyExchange {
                        kind,
                        group,
                        public_size,
                        dh_bits,
                        signature_algorithm,
                        signature_len,
                        params: vec![1, 2],
                        signature: vec![3],
                        scheme: Some(7),
                    }
                },
            );
        let request = (names(), names(), prop::collection::vec(text(), 0..3)).prop_map(
            |(certificate_types, signature_algorithms, certificate_authorities)| {
                Arc::new(CertificateRequest {
                    certificate_types,
                    signature_algorithms,
                    certificate_authorities,
                })
            },
        );
        let verify = (prop::option::of(text()), any::<usize>()).prop_map(
            |(signature_algorithm, signature_len)| CertificateVerify {
                signature_algorithm,
                signature_len,
                scheme: None,
                signature: vec![9],
            },
        );
        (
            (
                prop::option::of(client_hello()),
                prop::option::of(server_hello),
                prop::option::of(ske),
                prop::option::of(request),
            ),
            (
                prop::option::of(
                    (prop::sample::select(vec!["ecdhe", "rsa"]), any::<usize>())
                        .prop_map(|(kind, size)| ClientKeyExchange { kind, size }),
                ),
                prop::option::of(verify),
                prop::option::of(
                    any::<(u32, usize)>().prop_map(|(lifetime_hint, ticket_len)| {
                        NewSessionTicket {
                            lifetime_hint,
                            ticket_len,
                        }
                    }),
                ),
            ),
            (
                any::<[u64; 4]>(),
                any::<[u64; 2]>(),
                any::<bool>(),
                prop::option::of(Just("gap in the server's handshake")),
            ),
        )
            .prop_map(
                |(
                    (client_hello, server_hello, server_key_exchange, certificate_request),
                    (client_key_exchange, certificate_verify, new_session_ticket),
                    (app, heartbeats, client_certificate_requested, incomplete),
                )| HandshakeDetails {
                    client_hello,
                    server_hello,
                    server_key_exchange,
                    certificate_request,
                    client_key_exchange,
                    certificate_verify,
                    new_session_ticket,
                    application_data: AppDataCounts {
                        client_records: app[0],
                        client_bytes: app[1],
                        server_records: app[2],
                        server_bytes: app[3],
                    },
                    heartbeats,
                    client_certificate_requested,
                    incomplete,
                },
            )
    }

    fn verdict() -> impl Strategy<Value = Verdict> {
        (
            any::<bool>(),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["server_chain", "handshake"]),
                    any::<bool>(),
                    text(),
                )
                    .prop_map(|(name, pass, detail)| Check { name, pass, detail }),
                0..3,
            ),
            prop::option::of(text()),
        )
            .prop_map(|(pass, checks, cause)| Verdict {
                pass,
                checks,
                cause,
            })
    }

    fn session() -> impl Strategy<Value = TlsSession> {
        let alert = (
            prop::option::of(name()),
            prop::option::of(name()),
            any::<bool>(),
            prop::sample::select(vec!["client", "server"]),
        )
            .prop_map(|(level, description, encrypted, from)| SessionAlert {
                level,
                description,
                encrypted,
                from,
            });
        let messages =
            || prop::collection::vec(prop::sample::select(vec!["client_hello", "finished"]), 0..3);
        let opt = || prop::option::of(text());
        (
            (
                any::<u32>(),
                any::<std::net::SocketAddr>().prop_map(crate::event::Endpoint::from),
                any::<std::net::SocketAddr>().prop_map(crate::event::Endpoint::from),
                opt(),
                opt(),
                any::<Option<u16>>(),
                opt(),
                opt(),
            ),
            (
                messages(),
                messages(),
                any::<[bool; 3]>(),
                prop::option::of(alert),
            ),
            (
                prop::collection::vec(cert(), 0..3),
                prop::collection::vec(cert(), 0..3),
                opt(),
                opt(),
                opt(),
            ),
            (
                (
                    float(),
                    float(),
                    float(),
                    float(),
                    float(),
                    float(),
                    float(),
                ),
                prop::option::of(verdict()),
                prop::option::of(details().prop_map(Box::new)),
            ),
        )
            .prop_map(
                |(
                    (flow, client, server, version, cipher_suite, cipher_suite_id, sni, alpn),
                    (client_messages, server_messages, [mutual, resumed, established], alert),
                    (server_certs, client_certs, ja3, ja3s, ja4),
                    (t, verdict, details),
                )| TlsSession {
                    flow,
                    client,
                    server,
                    // Formatted names (owned) are escaped; table names are checked apart.
                    version: version.map(std::borrow::Cow::Owned),
                    cipher_suite: cipher_suite.map(std::borrow::Cow::Owned),
                    cipher_suite_id,
                    sni: sni.map(Into::into),
                    alpn: alpn.map(Into::into),
                    client_messages,
                    server_messages,
                    mutual,
                    resumed,
                    established,
                    alert,
                    server_certs,
                    client_certs,
                    ja3: ja3.map(Into::into),
                    ja3s,
                    ja4: ja4.map(Into::into),
                    timing: Timing {
                        client_hello: t.0,
                        server_hello: t.1,
                        server_done: t.2,
                        client_finished: t.3,
                        server_finished: t.4,
                        first_application_data: t.5,
                        alert: t.6,
                    },
                    verdict,
                    details,
                    evidence: None,
                },
            )
    }

    proptest! {
        #[test]
        fn sessions_are_written_as_the_serializer_writes_them(t in session()) {
            prop_assert_eq!(ours(&mut Shared::default(), &t), reference(&t));
        }

        /// Sessions that share their certificates, offer and request with others (here with a
        /// copy of themselves, their parts each held twice) are written from kept renderings
        /// the second time, with the same bytes; a third session of other parts is not.
        #[test]
        fn kept_renderings_give_the_same_bytes(t in session(), other in session()) {
            let mut shared = Shared::default();
            let copy = t.clone();
            for s in [&t, &copy, &other, &t] {
                prop_assert_eq!(ours(&mut shared, s), reference(s));
            }
        }

        #[test]
        fn the_flow_id_can_be_left_open(t in session(), id in any::<u32>()) {
            let mut open = JsonBuf::with_fixups();
            write_handshake(&mut open, &mut Shared::default(), &t);
            let mut s = crate::shard::Spliced::default();
            s.splice(0, 0..open.bytes.len(), open.fixups.unwrap(), |_| id);
            let spliced = s.joined(|_| &open.bytes);
            let mut expected = t.clone();
            expected.flow = id;
            prop_assert_eq!(String::from_utf8(spliced).unwrap(), reference(&expected));
        }
    }
}
