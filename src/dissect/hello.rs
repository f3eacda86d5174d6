//! ClientHello and ServerHello (and HelloRetryRequest), decoded into the facts capd reports and
//! fingerprints: versions, cipher suites, and every extension in wire order.
//!
//! The fixed fields and the extension list are walked here, field by field as Wireshark's
//! `ssl_dissect_hnd_cli_hello`/`srv_hello` walk them, so that a malformed hello still yields
//! what came before the damage (and the same partial JA3 Wireshark computes), SSL 3.0 server
//! hellos keep their extensions and TLS 1.3 drafts' shorter ServerHello is understood;
//! tls-parser decodes each extension's contents. Nothing here panics.

use tls_parser::{
    TlsExtension, parse_tls_client_hello_extension, parse_tls_server_hello_extension,
};

use super::memo::{key_bytes, key_u16s};
use super::names::is_grease;

/// The random value HelloRetryRequest carries in ServerHello's place (RFC 8446 section 4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

pub const EXT_SERVER_NAME: u16 = 0;
pub const EXT_STATUS_REQUEST: u16 = 5;
pub const EXT_SUPPORTED_GROUPS: u16 = 10;
pub const EXT_EC_POINT_FORMATS: u16 = 11;
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
pub const EXT_ALPN: u16 = 16;
pub const EXT_SESSION_TICKET: u16 = 35;
pub const EXT_PRE_SHARED_KEY: u16 = 41;
pub const EXT_SUPPORTED_VERSIONS: u16 = 43;
pub const EXT_KEY_SHARE: u16 = 51;

/// What a ClientHello offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` (the only version before TLS 1.3).
    pub version: u16,
    pub session_id: Vec<u8>,
    pub ciphers: Vec<u16>,
    pub compression: Vec<u8>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    pub sni: Option<String>,
    pub alpn: Vec<Vec<u8>>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    pub supported_versions: Vec<u16>,
    /// Groups of the key shares offered.
    pub key_share_groups: Vec<u16>,
    /// Length of a session ticket offered for resumption (0: the extension asks for one).
    pub session_ticket: Option<usize>,
    /// A TLS 1.3 pre-shared key is offered.
    pub psk: bool,
    /// The message came in SSL 2.0 record format (RFC 6101 appendix E.2).
    pub sslv2_format: bool,
    /// Where the extensions block stands: absent, cut short, or present.
    pub extensions_block: ExtensionsBlock,
    /// SSL 2.0 cipher specs (3 bytes each) of such a message; those whose first byte is zero
    /// are TLS cipher suites and are also in `ciphers`.
    pub sslv2_cipher_specs: Vec<u32>,
}

/// The state of a hello's extensions block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExtensionsBlock {
    /// The message ends after the compression methods (SSL 3.0 style).
    #[default]
    Absent,
    /// Its length field is missing or longer than what is left: Wireshark stops there.
    Truncated,
    Present,
}

/// A cursor over a message body whose reads fail, rather than panic, past the end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let v = u16::from_be_bytes([*self.b.get(self.at)?, *self.b.get(self.at + 1)?]);
        self.at += 2;
        Some(v)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.b.get(self.at..self.at + n)?;
        self.at += n;
        Some(v)
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.at..).unwrap_or_default()
    }
    /// The extensions block: `Absent` at the end, else its length and contents.
    fn extensions(&mut self) -> (ExtensionsBlock, &'a [u8]) {
        if self.rest().is_empty() {
            return (ExtensionsBlock::Absent, &[]);
        }
        let Some(len) = self.u16() else {
            return (ExtensionsBlock::Truncated, &[]);
        };
        match self.take(usize::from(len)) {
            Some(block) => (ExtensionsBlock::Present, block),
            None => (ExtensionsBlock::Truncated, &[]),
        }
    }
}

/// What a ServerHello (or HelloRetryRequest) chose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub version: u16,
    pub session_id: Vec<u8>,
    pub cipher: u16,
    pub compression: u8,
    pub extensions: Vec<u16>,
    /// The supported_versions choice (TLS 1.3).
    pub selected_version: Option<u16>,
    pub alpn: Option<Vec<u8>>,
    pub key_share_group: Option<u16>,
    /// The server accepted a pre-shared key (TLS 1.3 resumption).
    pub psk: bool,
    /// The server sent an empty session ticket extension: it will issue a ticket.
    pub ticket_promised: bool,
    /// The random is RFC 8446's HelloRetryRequest value.
    pub hello_retry_request: bool,
}

impl ServerHello {
    /// The version the session runs: supported_versions' choice, else the legacy field.
    pub fn negotiated_version(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

/// Walks an extensions block as `(type, data)` pairs; stops at the first truncated one.
fn raw_extensions(mut block: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    std::iter::from_fn(move || {
        let whole = block;
        let ty = u16::from_be_bytes([*block.first()?, *block.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*block.get(2)?, *block.get(3)?]));
        let data = block.get(4..4 + len)?;
        block = &block[4 + len..];
        Some((ty, data, &whole[..4 + len]))
    })
}

fn u8_list(data: &[u8]) -> Vec<u8> {
    data.split_first()
        .map(|(n, rest)| rest.iter().take(usize::from(*n)).copied().collect())
        .unwrap_or_default()
}

/// Writes into `key` everything of a ClientHello body that `parse_client_hello` turns into
/// anything but the session id, and returns the session id. Left out are the bytes that
/// differ from one handshake of a client to the next: the random, the session id, the key
/// shares' keys (their groups stay), a session ticket's contents (its length stays) and a
/// pre-shared key offer (its presence stays). So two bodies with the same key parse alike but
/// for the session id. `None` exactly when `parse_client_hello` fails.
pub fn client_hello_key<'a>(body: &'a [u8], key: &mut Vec<u8>) -> Option<&'a [u8]> {
    let mut r = Reader { b: body, at: 0 };
    key.extend_from_slice(&r.u16()?.to_le_bytes());
    r.take(32)?;
    let sid_len = usize::from(r.u8()?);
    let session_id = r.take(sid_len)?;
    let cipher_len = usize::from(r.u16()?);
    key_bytes(key, r.take(cipher_len)?);
    let comp_len = usize::from(r.u8()?);
    key_bytes(key, r.take(comp_len)?);
    let (state, block) = r.extensions();
    key.push(state as u8);
    for (ty, data, _) in raw_extensions(block) {
        key.extend_from_slice(&ty.to_le_bytes());
        match ty {
            EXT_SESSION_TICKET => key.extend_from_slice(&(data.len() as u32).to_le_bytes()),
            EXT_PRE_SHARED_KEY => {}
            EXT_KEY_SHARE => key_u16s(key, key_share_groups(data).into_iter()),
            _ => key_bytes(key, data),
        }
    }
    Some(session_id)
}

/// Parses a ClientHello body (after the 4-byte handshake header). `None` if the fixed fields
/// do not parse.
pub fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader { b: body, at: 0 };
    let version = r.u16()?;
    r.take(32)?;
    let sid_len = usize::from(r.u8()?);
    let session_id = r.take(sid_len)?.to_vec();
    let cipher_len = usize::from(r.u16()?);
    let ciphers = r
        .take(cipher_len)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let comp_len = usize::from(r.u8()?);
    let compression = r.take(comp_len)?.to_vec();
    let (extensions_block, block) = r.extensions();
    let mut out = ClientHello {
        version,
        session_id,
        ciphers,
        compression,
        extensions_block,
        // Every extension takes 4 bytes at least: room for all of them at once.
        extensions: Vec::with_capacity(block.len() / 4),
        ..ClientHello::default()
    };
    for (ty, data, whole) in raw_extensions(block) {
        out.extensions.push(ty);
        if is_grease(ty) {
            continue;
        }
        match ty {
            // tls-parser does not know the RFC 8422 list layout for point formats.
            EXT_EC_POINT_FORMATS => out.point_formats = u8_list(data),
            EXT_SESSION_TICKET => out.session_ticket = Some(data.len()),
            EXT_PRE_SHARED_KEY => out.psk = true,
            EXT_KEY_SHARE => out.key_share_groups = key_share_groups(data),
            _ => {}
        }
        // tls-parser reads the lists taken from it below; other extensions are not parsed
        // (it would copy key shares and padding only for them to be dropped).
        if !matches!(
            ty,
            EXT_SERVER_NAME
                | EXT_ALPN
                | EXT_SUPPORTED_GROUPS
                | EXT_SIGNATURE_ALGORITHMS
                | EXT_SUPPORTED_VERSIONS
        ) {
            continue;
        }
        let Ok((_, ext)) = parse_tls_client_hello_extension(whole) else {
            continue;
        };
        match ext {
            TlsExtension::SNI(names) => {
                out.sni = names
                    .first()
                    .map(|(_, n)| String::from_utf8_lossy(n).into_owned());
            }
            TlsExtension::ALPN(list) => out.alpn = list.iter().map(|p| p.to_vec()).collect(),
            TlsExtension::EllipticCurves(g) => out.groups = g.iter().map(|g| g.0).collect(),
            TlsExtension::SignatureAlgorithms(s) => out.signature_algorithms = s,
            TlsExtension::SupportedVersions(v) => {
                out.supported_versions = v.iter().map(|v| v.0).collect()
            }
            _ => {}
        }
    }
    Some(out)
}

/// Groups named in a ClientHello key_share list.
fn key_share_groups(data: &[u8]) -> Vec<u16> {
    let mut v = Vec::new();
    let mut rest = data.get(2..).unwrap_or_default();
    while let (Some(g), Some(l)) = (rest.get(0..2), rest.get(2..4)) {
        v.push(u16::from_be_bytes([g[0], g[1]]));
        let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
        rest = rest.get(4 + len..).unwrap_or_default();
    }
    v
}

/// Parses an SSL 2.0-format ClientHello message (its type byte first, after the 2- or 3-byte
/// record header): version, cipher specs (3 bytes each), session id and challenge.
pub fn parse_sslv2_client_hello(msg: &[u8]) -> Option<ClientHello> {
    if *msg.first()? != 1 {
        return None;
    }
    let be16 = |at: usize| Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
    let version = be16(1)?;
    let specs_len = usize::from(be16(3)?);
    let sid_len = usize::from(be16(5)?);
    let specs = msg.get(9..9 + specs_len)?;
    let sid = msg.get(9 + specs_len..9 + specs_len + sid_len)?;
    let specs: Vec<u32> = specs
        .chunks_exact(3)
        .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]))
        .collect();
    Some(ClientHello {
        version,
        session_id: sid.to_vec(),
        ciphers: specs
            .iter()
            .filter_map(|s| u16::try_from(*s).ok())
            .collect(),
        sslv2_format: true,
        sslv2_cipher_specs: specs,
        ..ClientHello::default()
    })
}

/// Parses a ServerHello body (after the handshake header); recognises HelloRetryRequest.
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader { b: body, at: 0 };
    let version = r.u16()?;
    let random = r.take(32)?;
    // TLS 1.3 drafts before 22 dropped the session id and compression fields.
    let legacy = !(0x7f00..=0x7f15).contains(&version);
    let session_id = if legacy {
        let n = usize::from(r.u8()?);
        r.take(n)?.to_vec()
    } else {
        Vec::new()
    };
    let cipher = r.u16()?;
    let compression = if legacy { r.u8()? } else { 0 };
    let (_, block) = r.extensions();
    let mut out = ServerHello {
        version,
        session_id,
        cipher,
        compression,
        hello_retry_request: random == HRR_RANDOM,
        // Every extension takes 4 bytes at least: room for all of them at once.
        extensions: Vec::with_capacity(block.len() / 4),
        ..ServerHello::default()
    };
    for (ty, data, whole) in raw_extensions(block) {
        out.extensions.push(ty);
        match ty {
            EXT_SUPPORTED_VERSIONS if data.len() == 2 => {
                out.selected_version = Some(u16::from_be_bytes([data[0], data[1]]));
            }
            EXT_KEY_SHARE if data.len() >= 2 => {
                out.key_share_group = Some(u16::from_be_bytes([data[0], data[1]]));
            }
            EXT_PRE_SHARED_KEY => out.psk = true,
            EXT_SESSION_TICKET => out.ticket_promised = true,
            EXT_ALPN => {
                if let Ok((_, TlsExtension::ALPN(list))) = parse_tls_server_hello_extension(whole) {
                    out.alpn = list.first().map(|p| p.to_vec());
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// Whether a list element is a real value rather than RFC 8701 GREASE.
pub fn not_grease(v: &u16) -> bool {
    !is_grease(*v)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ClientHello body with GREASE, SNI, ALPN, groups, point formats, sigalgs, versions.
    pub fn sample_client_hello() -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[7u8; 32]);
        b.push(0); // session id
        b.extend_from_slice(&[0x00, 0x06, 0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2f]);
        b.extend_from_slice(&[0x01, 0x00]);
        let mut ext = Vec::new();
        let mut add = |ty: u16, data: &[u8]| {
            ext.extend_from_slice(&ty.to_be_bytes());
            ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext.extend_from_slice(data);
        };
        add(0x1a1a, &[]);
        add(0, b"\x00\x0c\x00\x00\x09localhost");
        add(16, b"\x00\x0c\x02h2\x08http/1.1");
        add(10, &[0x00, 0x06, 0x2a, 0x2a, 0x00, 0x1d, 0x00, 0x17]);
        add(11, &[0x01, 0x00]);
        add(13, &[0x00, 0x04, 0x04, 0x03, 0x08, 0x04]);
        add(43, &[0x04, 0x03, 0x04, 0x03, 0x03]);
        add(51, &[0x00, 0x06, 0x00, 0x1d, 0x00, 0x02, 0xaa, 0xbb]);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        b
    }

    #[test]
    fn client_hello_extensions_are_decoded_in_wire_order() {
        let ch = parse_client_hello(&sample_client_hello()).unwrap();
        assert_eq!(ch.version, 0x0303);
        assert_eq!(ch.ciphers, [0x0a0a, 0x1301, 0xc02f]);
        assert_eq!(ch.extensions, [0x1a1a, 0, 16, 10, 11, 13, 43, 51]);
        assert_eq!(ch.sni.as_deref(), Some("localhost"));
        assert_eq!(ch.alpn, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(ch.groups, [0x2a2a, 0x1d, 0x17]);
        assert_eq!(ch.point_formats, [0]);
        assert_eq!(ch.signature_algorithms, [0x0403, 0x0804]);
        assert_eq!(ch.supported_versions, [0x0304, 0x0303]);
        assert_eq!(ch.key_share_groups, [0x1d]);
    }

    #[test]
    fn a_truncated_extension_list_keeps_what_came_before() {
        // The last extension (key_share) loses its data: the others are still decoded.
        let mut b = sample_client_hello();
        let n = b.len();
        b.truncate(n - 3);
        let ext_len = u16::from_be_bytes([b[45], b[46]]) - 3;
        b[45..47].copy_from_slice(&ext_len.to_be_bytes());
        let ch = parse_client_hello(&b).unwrap();
        assert_eq!(ch.extensions, [0x1a1a, 0, 16, 10, 11, 13, 43]);
        assert_eq!(ch.supported_versions, [0x0304, 0x0303]);
        // Cut anywhere, the hello never panics.
        for cut in 0..b.len() {
            let _ = parse_client_hello(&b[..cut]);
        }
    }

    #[test]
    fn hello_retry_request_is_recognised_by_its_random() {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&HRR_RANDOM);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x01, 0x00]);
        b.extend_from_slice(&[0x00, 0x0c, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        b.extend_from_slice(&[0x00, 0x33, 0x00, 0x02, 0x00, 0x17]);
        let sh = parse_server_hello(&b).unwrap();
        assert!(sh.hello_retry_request);
        assert_eq!(sh.negotiated_version(), 0x0304);
        assert_eq!(sh.key_share_group, Some(0x17));
        assert_eq!(sh.extensions, [43, 51]);
    }

    #[test]
    fn sslv2_client_hello_lists_its_cipher_specs() {
        let msg = [
            1, 0x03, 0x01, 0, 6, 0, 0, 0, 16, 0x01, 0x00, 0x80, 0x00, 0x00, 0x2f, 1, 2, 3, 4, 5, 6,
            7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ];
        let ch = parse_sslv2_client_hello(&msg).unwrap();
        assert_eq!(ch.version, 0x0301);
        assert_eq!(ch.sslv2_cipher_specs, [0x010080, 0x00002f]);
        assert_eq!(ch.ciphers, [0x002f]);
        assert!(ch.sslv2_format);
    }
}
