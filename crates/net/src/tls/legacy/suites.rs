//! The cipher suites and protocol versions the tolerant ClientHello speaks of, by their
//! IANA names.

/// A TLS protocol version up to 1.2, as the tolerant look offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// TLS 1.0 (0x0301).
    Tls1_0,
    /// TLS 1.1 (0x0302).
    Tls1_1,
    /// TLS 1.2 (0x0303).
    Tls1_2,
    /// TLS 1.3 (0x0304), as a modern handshake negotiates it.
    Tls1_3,
}

impl Version {
    /// The version's number on the wire.
    pub fn wire(self) -> u16 {
        match self {
            Version::Tls1_0 => 0x0301,
            Version::Tls1_1 => 0x0302,
            Version::Tls1_2 => 0x0303,
            Version::Tls1_3 => 0x0304,
        }
    }

    /// The version of a wire number, if it is one of these.
    pub fn from_wire(v: u16) -> Option<Version> {
        match v {
            0x0301 => Some(Version::Tls1_0),
            0x0302 => Some(Version::Tls1_1),
            0x0303 => Some(Version::Tls1_2),
            0x0304 => Some(Version::Tls1_3),
            _ => None,
        }
    }

    /// `TLSv1.0` .. `TLSv1.3`, as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls1_0 => "TLSv1.0",
            Version::Tls1_1 => "TLSv1.1",
            Version::Tls1_2 => "TLSv1.2",
            Version::Tls1_3 => "TLSv1.3",
        }
    }

    /// Whether it is obsolete (RFC 8996 deprecates TLS 1.0 and 1.1).
    pub fn deprecated(self) -> bool {
        self < Version::Tls1_2
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a cipher suite protects records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Authenticated encryption (AES-GCM, ChaCha20-Poly1305): what modern clients offer.
    Aead,
    /// A block cipher in CBC mode with HMAC (MAC-then-encrypt; Lucky13, and not
    /// offered by modern clients such as rustls).
    Cbc,
    /// A suite the table does not know.
    Unknown,
}

/// A cipher suite: its number, IANA name and protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// The suite's number on the wire.
    pub code: u16,
    /// Its IANA name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA`, or its number in hex.
    pub name: &'static str,
    /// How it protects records.
    pub protection: Protection,
}

/// Which of the suites a ClientHello offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// AEAD and CBC suites: what the server accepts at all.
    AeadAndCbc,
    /// AEAD suites only (as modern clients): whether the server has any.
    AeadOnly,
}

use Protection::{Aead, Cbc};

/// The suites the tolerant ClientHello offers, AEAD first, then CBC (the server picks).
pub(crate) const OFFERED: &[(u16, &str, Protection)] = &[
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Aead),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", Aead),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", Aead),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", Aead),
    (
        0xcca9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Aead,
    ),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", Aead),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", Aead),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", Aead),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", Aead),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", Aead),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", Cbc),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", Cbc),
    (0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", Cbc),
    (0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", Cbc),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Cbc),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Cbc),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", Cbc),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Cbc),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", Cbc),
    (0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", Cbc),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", Cbc),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", Cbc),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", Cbc),
    (0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", Cbc),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", Cbc),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", Cbc),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", Cbc),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", Cbc),
];

/// The suite of a wire number.
pub fn suite(code: u16) -> Suite {
    match OFFERED.iter().find(|(c, _, _)| *c == code) {
        Some(&(code, name, protection)) => Suite {
            code,
            name,
            protection,
        },
        None => Suite {
            code,
            name: "a suite the client did not offer",
            protection: Protection::Unknown,
        },
    }
}

/// Signature algorithms offered in TLS 1.2, SHA-256 first (a server with a 1024-bit
/// RSA key cannot sign RSA-PSS with SHA-512), then the legacy SHA-1 ones.
pub(crate) const SIGNATURE_ALGORITHMS: &[u16] = &[
    0x0401, // rsa_pkcs1_sha256
    0x0804, // rsa_pss_rsae_sha256
    0x0403, // ecdsa_secp256r1_sha256
    0x0501, // rsa_pkcs1_sha384
    0x0805, // rsa_pss_rsae_sha384
    0x0503, // ecdsa_secp384r1_sha384
    0x0601, // rsa_pkcs1_sha512
    0x0806, // rsa_pss_rsae_sha512
    0x0603, // ecdsa_secp521r1_sha512
    0x0807, // ed25519
    0x0201, // rsa_pkcs1_sha1
    0x0203, // ecdsa_sha1
    0x0202, // dsa_sha1
];

/// Key exchange groups offered.
pub(crate) const GROUPS: &[u16] = &[
    0x001d, // x25519
    0x0017, // secp256r1
    0x0018, // secp384r1
    0x0019, // secp521r1
    0x0100, // ffdhe2048
];
