//! The `details` object of the `tls_handshake` event: the hellos, the key exchange, the
//! CertificateRequest and CertificateVerify, application data counts. Keys in byte order, as
//! in `super`, whose tests cover these writers too.

use super::{Shared, size, u8_list};
use crate::dissect::messages::{
    CertificateRequest, CertificateVerify, ClientKeyExchange, NewSessionTicket, ServerKeyExchange,
};
use crate::dissect::offer::{ClientHelloInfo, ClientHelloOffer};
use crate::dissect::session::{AppDataCounts, HandshakeDetails, ServerHelloInfo, SessionId};
use crate::report::jsonw::JsonBuf;

pub(super) fn handshake_details(b: &mut JsonBuf, shared: &mut Shared, d: &HandshakeDetails) {
    let HandshakeDetails {
        client_hello,
        server_hello,
        server_key_exchange,
        certificate_request,
        client_key_exchange,
        certificate_verify,
        new_session_ticket,
        application_data,
        heartbeats,
        client_certificate_requested,
        incomplete,
    } = d;
    b.raw("{\"application_data\":");
    app_data(b, application_data);
    if let Some(r) = certificate_request {
        b.raw(",\"certificate_request\":");
        let render = |b: &mut JsonBuf, r: &CertificateRequest| {
            write_certificate_request(b, r);
            b.bytes.len()
        };
        match shared.requests.get(r, render) {
            Some(r) => b.bytes.extend_from_slice(&r.bytes),
            None => write_certificate_request(b, r),
        }
    }
    if let Some(v) = certificate_verify {
        b.raw(",\"certificate_verify\":");
        write_certificate_verify(b, v);
    }
    b.raw(",\"client_certificate_requested\":");
    b.bool(*client_certificate_requested);
    if let Some(h) = client_hello {
        b.raw(",\"client_hello\":");
        let ClientHelloInfo { session_id, offer } = h;
        match shared
            .offers
            .get(offer, |b, o| write_client_hello(b, o, None))
        {
            Some(r) => {
                let (before, after) = r.bytes.split_at(r.split);
                b.bytes.extend_from_slice(before);
                b.hex(&session_id.0);
                b.bytes.extend_from_slice(after);
            }
            None => {
                write_client_hello(b, offer, Some(session_id));
            }
        }
    }
    if let Some(k) = client_key_exchange {
        let ClientKeyExchange { kind, size: len } = k;
        b.raw(",\"client_key_exchange\":{\"kind\":");
        b.str(kind);
        b.raw(",\"size\":");
        size(b, *len);
        b.byte(b'}');
    }
    b.raw(",\"heartbeats\":[");
    b.u64(heartbeats[0]);
    b.byte(b',');
    b.u64(heartbeats[1]);
    b.byte(b']');
    if let Some(why) = incomplete {
        b.raw(",\"incomplete\":");
        b.str(why);
    }
    if let Some(t) = new_session_ticket {
        let NewSessionTicket {
            lifetime_hint,
            ticket_len,
        } = t;
        b.raw(",\"new_session_ticket\":{\"lifetime_hint\":");
        b.u32(*lifetime_hint);
        b.raw(",\"ticket_len\":");
        size(b, *ticket_len);
        b.byte(b'}');
    }
    if let Some(h) = server_hello {
        b.raw(",\"server_hello\":");
        write_server_hello(b, h);
    }
    if let Some(k) = server_key_exchange {
        b.raw(",\"server_key_exchange\":");
        write_server_key_exchange(b, k);
    }
    b.byte(b'}');
}

fn app_data(b: &mut JsonBuf, a: &AppDataCounts) {
    let AppDataCounts {
        client_records,
        client_bytes,
        server_records,
        server_bytes,
    } = a;
    b.raw("{\"client_bytes\":");
    b.u64(*client_bytes);
    b.raw(",\"client_records\":");
    b.u64(*client_records);
    b.raw(",\"server_bytes\":");
    b.u64(*server_bytes);
    b.raw(",\"server_records\":");
    b.u64(*server_records);
    b.byte(b'}');
}

fn write_certificate_request(b: &mut JsonBuf, r: &CertificateRequest) {
    let CertificateRequest {
        certificate_types,
        signature_algorithms,
        certificate_authorities,
    } = r;
    b.raw("{\"certificate_authorities\":");
    b.str_list(certificate_authorities);
    b.raw(",\"certificate_types\":");
    b.str_list(certificate_types);
    b.raw(",\"signature_algorithms\":");
    b.str_list(signature_algorithms);
    b.byte(b'}');
}

fn write_certificate_verify(b: &mut JsonBuf, v: &CertificateVerify) {
    let CertificateVerify {
        signature_algorithm,
        signature_len,
        scheme: _,
        signature: _,
    } = v;
    b.byte(b'{');
    if let Some(a) = signature_algorithm {
        b.raw("\"signature_algorithm\":");
        b.str(a);
        b.byte(b',');
    }
    b.raw("\"signature_len\":");
    size(b, *signature_len);
    b.byte(b'}');
}

/// Writes a ClientHello (`ClientHelloInfo`) of `offer` with `session_id`, or with nothing in
/// its place when `None`; returns where in `b` the session id goes.
fn write_client_hello(
    b: &mut JsonBuf,
    offer: &ClientHelloOffer,
    session_id: Option<&SessionId>,
) -> usize {
    let ClientHelloOffer {
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
    } = offer;
    b.raw("{\"alpn\":");
    b.str_list(alpn);
    b.raw(",\"cipher_suites\":");
    b.str_list(cipher_suites);
    b.raw(",\"compression_methods\":");
    u8_list(b, compression_methods);
    b.raw(",\"ec_point_formats\":");
    u8_list(b, ec_point_formats);
    b.raw(",\"extensions\":");
    b.str_list(extensions);
    b.raw(",\"grease\":");
    b.bool(*grease);
    b.raw(",\"key_share\":");
    b.str_list(key_share);
    b.raw(",\"session_id\":");
    let split = b.bytes.len();
    if let Some(id) = session_id {
        b.hex(&id.0);
    }
    if let Some(n) = session_ticket_len {
        b.raw(",\"session_ticket_len\":");
        size(b, *n);
    }
    b.raw(",\"signature_algorithms\":");
    b.str_list(signature_algorithms);
    b.raw(",\"sslv2_format\":");
    b.bool(*sslv2_format);
    b.raw(",\"supported_groups\":");
    b.str_list(supported_groups);
    b.raw(",\"supported_versions\":");
    b.str_list(supported_versions);
    b.raw(",\"version\":");
    b.str(version);
    b.byte(b'}');
    split
}

fn write_server_hello(b: &mut JsonBuf, h: &ServerHelloInfo) {
    let ServerHelloInfo {
        version,
        session_id,
        cipher_suite,
        compression_method,
        extensions,
        key_share,
        hello_retry_request,
    } = h;
    b.raw("{\"cipher_suite\":");
    b.str(cipher_suite);
    b.raw(",\"compression_method\":");
    b.u32(u32::from(*compression_method));
    b.raw(",\"extensions\":");
    b.str_list(extensions);
    b.raw(",\"hello_retry_request\":");
    b.bool(*hello_retry_request);
    if let Some(k) = key_share {
        b.raw(",\"key_share\":");
        b.str(k);
    }
    b.raw(",\"session_id\":");
    b.hex(&session_id.0);
    b.raw(",\"version\":");
    b.str(version);
    b.byte(b'}');
}

fn write_server_key_exchange(b: &mut JsonBuf, k: &ServerKeyExchange) {
    let ServerKeyExchange {
        kind,
        group,
        public_size,
        dh_bits,
        signature_algorithm,
        signature_len,
        params: _,
        signature: _,
        scheme: _,
    } = k;
    b.byte(b'{');
    if let Some(bits) = dh_bits {
        b.raw("\"dh_bits\":");
        size(b, *bits);
        b.byte(b',');
    }
    if let Some(g) = group {
        b.raw("\"group\":");
        b.str(g);
        b.byte(b',');
    }
    b.raw("\"kind\":");
    b.str(kind);
    b.raw(",\"public_size\":");
    size(b, *public_size);
    if let Some(a) = signature_algorithm {
        b.raw(",\"signature_algorithm\":");
        b.str(a);
    }
    b.raw(",\"signature_len\":");
    size(b, *signature_len);
    b.byte(b'}');
}
