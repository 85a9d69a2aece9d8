//! The wire codec of the tolerant look, apart from its logic: a TLS 1.0–1.2
//! ClientHello written as bytes, and the server's first flight read from bytes
//! (records, handshake messages reassembled across records, ServerHello, Certificate,
//! alerts). Pure and bounded: any input gives a value or a [`WireError`], never a panic.

use super::suites::{Offer, Protection, GROUPS, OFFERED, SIGNATURE_ALGORITHMS};

/// Record content types.
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

/// The largest record a peer may send (2^14 plus the expansion TLS allows).
pub const MAX_RECORD: usize = 16_384 + 2_048;
/// The largest handshake message read (a certificate chain of several certificates).
pub const MAX_HANDSHAKE: usize = 128 * 1024;

/// Why bytes are not the TLS the look expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// A record header that is not TLS (e.g. the server speaks another protocol).
    NotTls {
        /// The first bytes seen, for the report.
        first: Vec<u8>,
    },
    /// A record longer than TLS allows.
    RecordTooLong(usize),
    /// A handshake message longer than the look reads.
    HandshakeTooLong(usize),
    /// A message whose fields do not add up.
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::NotTls { first } => {
                write!(f, "the server's answer is not TLS (it began {first:02x?})")
            }
            WireError::RecordTooLong(n) => write!(
                f,
                "the server sent a TLS record of {n} bytes, more than TLS allows"
            ),
            WireError::HandshakeTooLong(n) => write!(
                f,
                "the server sent a handshake message of {n} bytes, more than the look reads"
            ),
            WireError::Malformed(what) => write!(f, "the server sent a malformed {what}"),
        }
    }
}

/// A ClientHello to write.
pub struct ClientHello<'a> {
    /// The highest version offered (`client_version`).
    pub version: u16,
    /// The client random.
    pub random: [u8; 32],
    /// The server name (SNI), if the endpoint is named by a DNS name.
    pub server_name: Option<&'a str>,
    /// Which suites it offers.
    pub offer: Offer,
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u24be(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
}

/// Appends `body` prefixed with its length in `width` bytes.
fn vec_with_len(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    let len = (body.len() as u32).to_be_bytes();
    out.extend_from_slice(&len[4 - width..]);
    out.extend_from_slice(body);
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    u16be(out, kind);
    vec_with_len(out, 2, body);
}

impl ClientHello<'_> {
    /// The ClientHello as one handshake record (record version 0x0301, as clients send
    /// their first flight for the widest acceptance).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(256);
        u16be(&mut body, self.version);
        body.extend_from_slice(&self.random);
        body.push(0); // no session id
        let suites: Vec<u8> = OFFERED
            .iter()
            .filter(|(_, _, p)| self.offer == Offer::AeadAndCbc || *p == Protection::Aead)
            .flat_map(|(c, _, _)| c.to_be_bytes())
            .collect();
        vec_with_len(&mut body, 2, &suites);
        body.extend_from_slice(&[1, 0]); // compression: null only
        let mut ext = Vec::new();
        if let Some(name) = self.server_name.filter(|n| n.len() < 256 && !n.is_empty()) {
            let mut entry = vec![0u8]; // host_name
            vec_with_len(&mut entry, 2, name.as_bytes());
            let mut list = Vec::new();
            vec_with_len(&mut list, 2, &entry);
            extension(&mut ext, 0x0000, &list);
        }
        let groups: Vec<u8> = GROUPS.iter().flat_map(|g| g.to_be_bytes()).collect();
        let mut list = Vec::new();
        vec_with_len(&mut list, 2, &groups);
        extension(&mut ext, 0x000a, &list); // supported_groups
        extension(&mut ext, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
        if self.version >= 0x0303 {
            let algs: Vec<u8> = SIGNATURE_ALGORITHMS
                .iter()
                .flat_map(|a| a.to_be_bytes())
                .collect();
            let mut list = Vec::new();
            vec_with_len(&mut list, 2, &algs);
            extension(&mut ext, 0x000d, &list); // signature_algorithms
        }
        extension(&mut ext, 0x0017, &[]); // extended_master_secret
        extension(&mut ext, 0xff01, &[0]); // renegotiation_info (initial handshake)
        vec_with_len(&mut body, 2, &ext);
        let mut handshake = vec![1u8]; // client_hello
        u24be(&mut handshake, body.len());
        handshake.extend_from_slice(&body);
        let mut record = vec![HANDSHAKE, 3, 1];
        vec_with_len(&mut record, 2, &handshake);
        record
    }
}

/// The server's ServerHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version the server chose (`server_version`, or the supported_versions
    /// extension's where present).
    pub version: u16,
    /// The cipher suite it chose.
    pub suite: u16,
}

/// A message of the server's first flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// ServerHello.
    ServerHello(ServerHello),
    /// Certificate: the DER certificates, the server's own first.
    Certificate(Vec<Vec<u8>>),
    /// ServerHelloDone: the server's flight is over.
    ServerHelloDone,
    /// Another handshake message (ServerKeyExchange, CertificateRequest...): its type.
    OtherHandshake(u8),
    /// An alert: level (1 warning, 2 fatal) and description.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert's number (RFC 8446 §6).
        description: u8,
    },
    /// ChangeCipherSpec or application data: the clear part is over.
    Encrypted,
}

/// A cursor over bytes that never reads past them.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.bytes.len() < n {
            return Err(WireError::Malformed(what));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn uint(&mut self, n: usize, what: &'static str) -> Result<usize, WireError> {
        Ok(self
            .take(n, what)?
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize))
    }

    fn vec(&mut self, width: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = self.uint(width, what)?;
        self.take(n, what)
    }
}

fn server_hello(body: &[u8]) -> Result<ServerHello, WireError> {
    const WHAT: &str = "ServerHello";
    let mut c = Cursor { bytes: body };
    let mut version = c.uint(2, WHAT)? as u16;
    c.take(32, WHAT)?;
    let sid = c.vec(1, WHAT)?;
    if sid.len() > 32 {
        return Err(WireError::Malformed(WHAT));
    }
    let suite = c.uint(2, WHAT)? as u16;
    c.take(1, WHAT)?; // compression
    if !c.bytes.is_empty() {
        let mut ext = Cursor {
            bytes: c.vec(2, WHAT)?,
        };
        while !ext.bytes.is_empty() {
            let kind = ext.uint(2, WHAT)?;
            let data = ext.vec(2, WHAT)?;
            if kind == 0x002b && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
        }
    }
    Ok(ServerHello { version, suite })
}

fn certificate(body: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    const WHAT: &str = "Certificate message";
    let mut c = Cursor { bytes: body };
    let mut list = Cursor {
        bytes: c.vec(3, WHAT)?,
    };
    let mut chain = Vec::new();
    while !list.bytes.is_empty() {
        chain.push(list.vec(3, WHAT)?.to_vec());
    }
    Ok(chain)
}

/// Reads the server's first flight from bytes as they arrive: [`Reader::push`] what
/// was received, then take [`Reader::message`] until it says more is needed.
#[derive(Default)]
pub struct Reader {
    /// Received bytes not yet cut into records.
    raw: Vec<u8>,
    /// Handshake bytes not yet cut into messages.
    handshake: Vec<u8>,
    /// Whether the clear part of the exchange is over (nothing more is read).
    encrypted: bool,
}

impl Reader {
    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn message(&mut self) -> Result<Option<Message>, WireError> {
        loop {
            if let Some(m) = self.handshake_message()? {
                return Ok(Some(m));
            }
            if self.encrypted {
                return Ok(None);
            }
            let Some(header) = self.raw.get(..5) else {
                return Ok(None);
            };
            let (kind, major) = (header[0], header[1]);
            let len = u16::from_be_bytes([header[3], header[4]]) as usize;
            if !matches!(kind, CHANGE_CIPHER_SPEC..=APPLICATION_DATA) || major != 3 {
                let first = self.raw.iter().take(8).copied().collect();
                return Err(WireError::NotTls { first });
            }
            if len > MAX_RECORD {
                return Err(WireError::RecordTooLong(len));
            }
            if self.raw.len() < 5 + len {
                return Ok(None);
            }
            let payload: Vec<u8> = self.raw.drain(..5 + len).skip(5).collect();
            match kind {
                HANDSHAKE => {
                    self.handshake.extend_from_slice(&payload);
                }
                ALERT => {
                    return match payload.as_slice() {
                        [level, description, ..] => Ok(Some(Message::Alert {
                            level: *level,
                            description: *description,
                        })),
                        _ => Err(WireError::Malformed("alert")),
                    }
                }
                _ => {
                    self.encrypted = true;
                    return Ok(Some(Message::Encrypted));
                }
            }
        }
    }

    fn handshake_message(&mut self) -> Result<Option<Message>, WireError> {
        let Some(header) = self.handshake.get(..4) else {
            return Ok(None);
        };
        let kind = header[0];
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        if len > MAX_HANDSHAKE {
            return Err(WireError::HandshakeTooLong(len));
        }
        if self.handshake.len() < 4 + len {
            return Ok(None);
        }
        let body: Vec<u8> = self.handshake.drain(..4 + len).skip(4).collect();
        Ok(Some(match kind {
            2 => Message::ServerHello(server_hello(&body)?),
            11 => Message::Certificate(certificate(&body)?),
            14 => Message::ServerHelloDone,
            k => Message::OtherHandshake(k),
        }))
    }
}

/// A fatal alert record (e.g. `user_canceled`, 90) in the clear, to end the exchange.
pub fn alert(version: u16, description: u8) -> Vec<u8> {
    let v = version.to_be_bytes();
    vec![ALERT, v[0], v[1], 0, 2, 2, description]
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
