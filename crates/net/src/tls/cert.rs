//! What a certificate says: names, validity, key usage, key and signature.

use imp_verify_core::text::{cut_list, peer_text};
use rustls::pki_types::CertificateDer;
use std::time::{Duration, UNIX_EPOCH};
use x509_parser::prelude::*;

const OID_XMPP_ADDR: &str = "1.3.6.1.5.5.7.8.5";
const OID_SRV_NAME: &str = "1.3.6.1.5.5.7.8.7";

/// The names a certificate carries.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// DNS names of the Subject Alternative Names, lower case.
    pub dns: Vec<String>,
    /// IP addresses of the Subject Alternative Names.
    pub ip: Vec<String>,
    /// id-on-xmppAddr identities (RFC 6120), lower case.
    pub xmpp_addr: Vec<String>,
    /// SRVName identities (RFC 4985), like `_xmpp-client.lab.test`, lower case.
    pub srv_name: Vec<String>,
}

impl Names {
    /// The names as a report shows them: `DNS:a, IP:b, xmppAddr:c, SRVName:d` (each
    /// escaped and cut, as the peer wrote them; a long list cut with a count).
    pub fn show(&self) -> String {
        let mut v: Vec<String> = self.dns.iter().map(|d| format!("DNS:{d}")).collect();
        v.extend(self.ip.iter().map(|d| format!("IP:{d}")));
        v.extend(self.xmpp_addr.iter().map(|d| format!("xmppAddr:{d}")));
        v.extend(self.srv_name.iter().map(|d| format!("SRVName:{d}")));
        cut_list(v.iter().map(|n| peer_text(n)), ", ")
    }
}

/// Reads an otherName's value: a DER string (UTF8String, IA5String), possibly inside
/// the explicit [0] wrapper.
fn other_name_text(value: &[u8]) -> Option<String> {
    let mut v = value;
    // [0] EXPLICIT wrapper, if the parser left it on.
    if v.first() == Some(&0xa0) {
        v = der_inner(v)?;
    }
    match v.first() {
        Some(0x0c) | Some(0x16) => der_inner(v)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(String::from),
        _ => None,
    }
}

/// The content of one DER TLV (short or long length form), bounded by the input.
fn der_inner(tlv: &[u8]) -> Option<&[u8]> {
    let (len, header) = super::starttls::ber_len(tlv.get(1..)?)?;
    let start = 1 + header;
    tlv.get(start..start.checked_add(len)?)
}

/// The parts of a certificate a report shows.
pub struct CertView {
    /// The subject distinguished name.
    pub subject: String,
    /// The subject's (first) common name, as written.
    pub cn: Option<String>,
    /// The issuer distinguished name.
    pub issuer: String,
    /// The serial number, hexadecimal.
    pub serial: String,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// The identities the certificate carries.
    pub names: Names,
    /// SHA-256 fingerprint of the DER certificate, `AA:BB:...`.
    pub sha256: String,
    /// Whether the extended key usage allows serverAuth.
    pub server_auth: bool,
    /// Whether the extended key usage allows clientAuth.
    pub client_auth: bool,
    /// Whether it has an extended key usage extension at all (none: any use).
    pub has_eku: bool,
    /// The public key, like `RSA 2048 bits`.
    pub key: String,
    /// Whether the key is strong enough (RSA 2048+, EC 256+).
    pub key_ok: bool,
    /// The signature algorithm's name.
    pub signature: String,
    /// Whether the signature algorithm is acceptable (not SHA-1 nor MD5).
    pub signature_ok: bool,
    /// Whether subject and issuer are the same name.
    pub self_signed: bool,
}

/// Seconds since the Unix epoch as an RFC 3339 date (`2026-09-21T14:13:20Z`).
pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses the server's own certificate. What the peer wrote in it is kept as written
/// for matching (names, the common name); the subject and issuer, which reports show
/// as they are, are escaped and cut ([`imp_verify_core::text::peer_text`]).
pub fn view(der: &CertificateDer<'_>) -> Result<CertView, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let mut names = Names::default();
    let mut usage = Usage::default();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                san.general_names.iter().for_each(|gn| names.add(gn));
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                usage.has_eku = true;
                usage.server_auth |= eku.server_auth || eku.any;
                usage.client_auth |= eku.client_auth || eku.any;
            }
            _ => {}
        }
    }
    let (key, key_ok) = key_strength(cert.public_key());
    let (signature, signature_ok) =
        signature_name(&cert.signature_algorithm.algorithm.to_id_string());
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok().map(str::to_string));
    Ok(CertView {
        subject: peer_text(&cert.subject().to_string()),
        cn,
        issuer: peer_text(&cert.issuer().to_string()),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        names,
        sha256: fingerprint(der),
        server_auth: usage.server_auth,
        client_auth: usage.client_auth,
        has_eku: usage.has_eku,
        key,
        key_ok,
        signature,
        signature_ok,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

/// What the extended key usage extension allows.
#[derive(Default)]
struct Usage {
    server_auth: bool,
    client_auth: bool,
    has_eku: bool,
}

impl Names {
    /// Adds one Subject Alternative Name.
    fn add(&mut self, gn: &GeneralName<'_>) {
        match gn {
            GeneralName::DNSName(d) => self.dns.push(d.to_ascii_lowercase()),
            GeneralName::IPAddress(b) => self.ip.push(match b.len() {
                4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    std::net::Ipv6Addr::from(a).to_string()
                }
                _ => format!("{b:02x?}"),
            }),
            GeneralName::OtherName(oid, value) => {
                let oid = oid.to_id_string();
                if let Some(text) = other_name_text(value) {
                    if oid == OID_XMPP_ADDR {
                        self.xmpp_addr.push(text.to_ascii_lowercase());
                    } else if oid == OID_SRV_NAME {
                        self.srv_name.push(text.to_ascii_lowercase());
                    }
                }
            }
            _ => {}
        }
    }
}

/// The public key in words (`RSA 2048 bits`) and whether it is strong enough.
fn key_strength(spki: &SubjectPublicKeyInfo<'_>) -> (String, bool) {
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            (format!("RSA {bits} bits"), bits >= 2048)
        }
        Ok(x509_parser::public_key::PublicKey::EC(ec)) => {
            let bits = ec.key_size();
            (format!("EC {bits} bits"), bits >= 256)
        }
        Ok(other) => (format!("{:?}", std::mem::discriminant(&other)), true),
        Err(e) => (format!("unparsed public key: {e}"), false),
    }
}

/// The signature algorithm's name, by its OID, and whether it is acceptable.
fn signature_name(oid: &str) -> (String, bool) {
    let (name, ok) = match oid {
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", true),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", true),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", true),
        "1.2.840.113549.1.1.10" => ("RSASSA-PSS", true),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", true),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", true),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", true),
        "1.3.101.112" => ("Ed25519", true),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", false),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", false),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", false),
        other => (other, true),
    };
    (name.to_string(), ok)
}

/// The SHA-256 fingerprint of a DER certificate, `AA:BB:...`.
fn fingerprint(der: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// DNS name matching with a single left-most wildcard label (RFC 6125).
pub fn dns_covers(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = pattern.strip_prefix("*.") {
        name.split_once('.')
            .map(|(_, n)| n == rest)
            .unwrap_or(false)
    } else {
        pattern == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(dns_covers("*.lab.test", "imp1.lab.test"));
        assert!(!dns_covers("*.lab.test", "a.imp1.lab.test"));
        assert!(!dns_covers("*.lab.test", "lab.test"));
        assert!(dns_covers("IMP1.lab.test.", "imp1.lab.test"));
    }

    #[test]
    fn names_are_shown_escaped_and_cut() {
        let names = Names {
            dns: (0..30).map(|i| format!("n{i}.lab.test")).collect(),
            ip: vec![],
            xmpp_addr: vec!["evil\u{1b}[2J".into()],
            srv_name: vec![],
        };
        let shown = names.show();
        assert!(
            shown.starts_with("DNS:n0.lab.test, DNS:n1.lab.test"),
            "{shown}"
        );
        assert!(shown.ends_with(", and 21 more"), "{shown}");
        let few = Names {
            dns: vec![],
            ip: vec![],
            xmpp_addr: vec!["evil\u{1b}[2J".into()],
            srv_name: vec![],
        };
        assert_eq!(few.show(), "xmppAddr:evil\\u{1b}[2J");
    }

    #[test]
    fn other_names_read_bounded() {
        // UTF8String "lab.test", with and without the [0] wrapper.
        let utf8 = [0x0c, 0x08, b'l', b'a', b'b', b'.', b't', b'e', b's', b't'];
        assert_eq!(other_name_text(&utf8).as_deref(), Some("lab.test"));
        let mut wrapped = vec![0xa0, utf8.len() as u8];
        wrapped.extend_from_slice(&utf8);
        assert_eq!(other_name_text(&wrapped).as_deref(), Some("lab.test"));
        // Truncated, lying lengths, garbage: no panic, no value.
        assert_eq!(other_name_text(&[0x0c, 0x20, b'x']), None);
        assert_eq!(other_name_text(&[0x0c, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(other_name_text(&[]), None);
        assert_eq!(other_name_text(&[0xa0]), None);
    }

    #[test]
    fn dates_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
