//! Names of TLS registry values (IANA TLS parameters), keeping unknown values visible.

use std::borrow::Cow;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use tls_parser::TlsCipherSuite;

/// A protocol version's name: `SSL 2.0`, `SSL 3.0`, `TLS 1.0` ... `TLS 1.3`,
/// `TLS 1.3 (draft N)`, GREASE, or the hex value.
pub fn version_name(v: u16) -> Cow<'static, str> {
    match v {
        0x0002 => "SSL 2.0".into(),
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        0x7f00..=0x7fff => format!("TLS 1.3 (draft {})", v & 0xff).into(),
        v if is_grease(v) => format!("GREASE 0x{v:04x}").into(),
        v => format!("0x{v:04x}").into(),
    }
}

/// RFC 8701 GREASE values: 0x0a0a, 0x1a1a, ... 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A handshake message type: its RFC name in snake case (events) and Wireshark's display name
/// (Info column, `ssl_31_handshake_type` in packet-tls-utils.c).
pub fn handshake_type(t: u8) -> Option<(&'static str, &'static str)> {
    // Looked up for every handshake message and every record's first bytes: a table, where
    // the match compiled to a chain of comparisons.
    HANDSHAKE_TYPES[usize::from(t)]
}

static HANDSHAKE_TYPES: [Option<(&str, &str)>; 256] = {
    let mut t: [Option<(&str, &str)>; 256] = [None; 256];
    t[0] = Some(("hello_request", "Hello Request"));
    t[1] = Some(("client_hello", "Client Hello"));
    t[2] = Some(("server_hello", "Server Hello"));
    t[3] = Some(("hello_verify_request", "Hello Verify Request"));
    t[4] = Some(("new_session_ticket", "New Session Ticket"));
    t[5] = Some(("end_of_early_data", "End of Early Data"));
    t[6] = Some(("hello_retry_request", "Hello Retry Request"));
    t[8] = Some(("encrypted_extensions", "Encrypted Extensions"));
    t[11] = Some(("certificate", "Certificate"));
    t[12] = Some(("server_key_exchange", "Server Key Exchange"));
    t[13] = Some(("certificate_request", "Certificate Request"));
    t[14] = Some(("server_hello_done", "Server Hello Done"));
    t[15] = Some(("certificate_verify", "Certificate Verify"));
    t[16] = Some(("client_key_exchange", "Client Key Exchange"));
    t[20] = Some(("finished", "Finished"));
    t[21] = Some(("certificate_url", "Client Certificate URL"));
    t[22] = Some(("certificate_status", "Certificate Status"));
    t[23] = Some(("supplemental_data", "Supplemental Data"));
    t[24] = Some(("key_update", "Key Update"));
    t[25] = Some(("compressed_certificate", "Compressed Certificate"));
    t[67] = Some(("encrypted_extensions", "Encrypted Extensions"));
    t
};

/// An alert level: snake-case name and Wireshark's display name.
pub fn alert_level(v: u8) -> (Cow<'static, str>, Cow<'static, str>) {
    match v {
        1 => ("warning".into(), "Warning".into()),
        2 => ("fatal".into(), "Fatal".into()),
        v => (
            format!("unknown_{v}").into(),
            format!("Unknown ({v})").into(),
        ),
    }
}

/// An alert description (RFC 8446 section 6 and the IANA registry): snake-case name and
/// Wireshark's display name (`ssl_31_alert_description`).
pub fn alert_description(v: u8) -> (Cow<'static, str>, Cow<'static, str>) {
    let (snake, shown) = match v {
        0 => ("close_notify", "Close Notify"),
        1 => ("end_of_early_data", "End of Early Data"),
        10 => ("unexpected_message", "Unexpected Message"),
        20 => ("bad_record_mac", "Bad Record MAC"),
        21 => ("decryption_failed", "Decryption Failed"),
        22 => ("record_overflow", "Record Overflow"),
        30 => ("decompression_failure", "Decompression Failure"),
        40 => ("handshake_failure", "Handshake Failure"),
        41 => ("no_certificate", "No Certificate"),
        42 => ("bad_certificate", "Bad Certificate"),
        43 => ("unsupported_certificate", "Unsupported Certificate"),
        44 => ("certificate_revoked", "Certificate Revoked"),
        45 => ("certificate_expired", "Certificate Expired"),
        46 => ("certificate_unknown", "Certificate Unknown"),
        47 => ("illegal_parameter", "Illegal Parameter"),
        48 => ("unknown_ca", "Unknown CA"),
        49 => ("access_denied", "Access Denied"),
        50 => ("decode_error", "Decode Error"),
        51 => ("decrypt_error", "Decrypt Error"),
        60 => ("export_restriction", "Export Restriction"),
        70 => ("protocol_version", "Protocol Version"),
        71 => ("insufficient_security", "Insufficient Security"),
        80 => ("internal_error", "Internal Error"),
        86 => ("inappropriate_fallback", "Inappropriate Fallback"),
        90 => ("user_canceled", "User Canceled"),
        100 => ("no_renegotiation", "No Renegotiation"),
        109 => ("missing_extension", "Missing Extension"),
        110 => ("unsupported_extension", "Unsupported Extension"),
        111 => ("certificate_unobtainable", "Certificate Unobtainable"),
        112 => ("unrecognized_name", "Unrecognized Name"),
        113 => (
            "bad_certificate_status_response",
            "Bad Certificate Status Response",
        ),
        114 => ("bad_certificate_hash_value", "Bad Certificate Hash Value"),
        115 => ("unknown_psk_identity", "Unknown PSK Identity"),
        116 => ("certificate_required", "Certificate Required"),
        120 => ("no_application_protocol", "No application Protocol"),
        121 => ("ech_required", "ECH Required"),
        v => {
            return (
                format!("unknown_{v}").into(),
                format!("Unknown ({v})").into(),
            );
        }
    };
    (snake.into(), shown.into())
}

/// A named group (supported_groups, key_share, ServerKeyExchange curve) by its IANA name.
pub fn group_name(v: u16) -> Cow<'static, str> {
    let name = match v {
        1..=22 => return format!("sect/secp {v}").into(),
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        v if is_grease(v) => return format!("GREASE 0x{v:04x}").into(),
        v => return format!("0x{v:04x}").into(),
    };
    name.into()
}

/// A signature scheme (RFC 8446 section 4.2.3; TLS 1.2 hash/signature pairs) by IANA name.
pub fn signature_scheme_name(v: u16) -> Cow<'static, str> {
    let name = match v {
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        0x0202 => "dsa_sha1",
        0x0301 => "rsa_pkcs1_sha224",
        0x0303 => "ecdsa_sha224",
        0x0401 => "rsa_pkcs1_sha256",
        0x0402 => "dsa_sha256",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0501 => "rsa_pkcs1_sha384",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_rsae_sha256",
        0x0805 => "rsa_pss_rsae_sha384",
        0x0806 => "rsa_pss_rsae_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        0x081a => "ecdsa_brainpoolP256r1tls13_sha256",
        0x081b => "ecdsa_brainpoolP384r1tls13_sha384",
        0x081c => "ecdsa_brainpoolP512r1tls13_sha512",
        v if is_grease(v) => return format!("GREASE 0x{v:04x}").into(),
        v => return format!("0x{v:04x}").into(),
    };
    name.into()
}

/// tls-parser's record of a cipher suite. Its own lookup hashes with SipHash, several times
/// per handshake; this map of the same records uses the faster Fx hash.
pub fn cipher_suite(id: u16) -> Option<&'static TlsCipherSuite> {
    static BY_ID: OnceLock<FxHashMap<u16, &'static TlsCipherSuite>> = OnceLock::new();
    BY_ID
        .get_or_init(|| {
            tls_parser::CIPHERS
                .entries()
                .map(|(k, v)| (*k, v))
                .collect()
        })
        .get(&id)
        .copied()
}

/// A cipher suite's IANA name, or its hex value when unassigned.
pub fn cipher_suite_name(id: u16) -> Cow<'static, str> {
    match cipher_suite(id) {
        Some(c) => c.name.into(),
        None if is_grease(id) => format!("GREASE 0x{id:04x}").into(),
        None => format!("0x{id:04x}").into(),
    }
}

/// An extension type's IANA name, or its number.
pub fn extension_name(v: u16) -> Cow<'static, str> {
    let name = match v {
        0 => "server_name",
        1 => "max_fragment_length",
        5 => "status_request",
        10 => "supported_groups",
        11 => "ec_point_formats",
        13 => "signature_algorithms",
        14 => "use_srtp",
        15 => "heartbeat",
        16 => "application_layer_protocol_negotiation",
        17 => "status_request_v2",
        18 => "signed_certificate_timestamp",
        21 => "padding",
        22 => "encrypt_then_mac",
        23 => "extended_master_secret",
        27 => "compress_certificate",
        28 => "record_size_limit",
        35 => "session_ticket",
        41 => "pre_shared_key",
        42 => "early_data",
        43 => "supported_versions",
        44 => "cookie",
        45 => "psk_key_exchange_modes",
        47 => "certificate_authorities",
        49 => "post_handshake_auth",
        50 => "signature_algorithms_cert",
        51 => "key_share",
        57 => "quic_transport_parameters",
        0x4469 | 0x44cd => "application_settings",
        0xfe0d => "encrypted_client_hello",
        0xff01 => "renegotiation_info",
        13172 => "next_protocol_negotiation",
        v if is_grease(v) => return format!("GREASE 0x{v:04x}").into(),
        v => return format!("{v}").into(),
    };
    name.into()
}

/// The Protocol column for a version (`ssl_version_short_names`): `TLSv1.2`, `SSLv3` ...;
/// Wireshark shows `TLS` for versions it has no short name for, such as TLS 1.3 drafts.
pub fn version_short_name(v: u16) -> &'static str {
    match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        0x0101 => "GMTLSv1",
        // Drafts of TLS 1.3 are shown as TLS 1.3 once negotiated.
        0x7f00..=0x7fff => "TLSv1.3",
        _ => "TLS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_by_name() {
        assert_eq!(version_name(0x0303), "TLS 1.2");
        assert_eq!(version_name(0x7f12), "TLS 1.3 (draft 18)");
        assert_eq!(version_name(0x0300), "SSL 3.0");
        assert_eq!(version_name(0x1234), "0x1234");
    }

    #[test]
    fn cipher_suites_are_tls_parsers_records() {
        for id in 0..=u16::MAX {
            let ours = cipher_suite(id).map(|c| c as *const TlsCipherSuite);
            let theirs = TlsCipherSuite::from_id(id).map(|c| c as *const TlsCipherSuite);
            assert_eq!(ours, theirs, "cipher suite 0x{id:04x}");
        }
        assert_eq!(
            cipher_suite(0x1302).map(|c| c.name),
            Some("TLS_AES_256_GCM_SHA384")
        );
    }

    #[test]
    fn alert_and_handshake_names_have_both_forms() {
        assert_eq!(
            alert_description(42),
            ("bad_certificate".into(), "Bad Certificate".into())
        );
        assert_eq!(alert_level(2).1, "Fatal");
        assert_eq!(
            handshake_type(14),
            Some(("server_hello_done", "Server Hello Done"))
        );
        assert_eq!(handshake_type(99), None);
        let known: Vec<u8> = (0..=255).filter(|&t| handshake_type(t).is_some()).collect();
        assert_eq!(
            known,
            [
                0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 67
            ]
        );
    }

    #[test]
    fn grease_values_are_recognised() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x0303));
    }
}
