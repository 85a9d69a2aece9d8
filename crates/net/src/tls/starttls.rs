//! The plaintext prelude before TLS: XMPP's STARTTLS and LDAP's StartTLS extended
//! operation. Every read is bounded in size; the caller bounds the time.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why the prelude failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreludeError {
    /// The server closed the connection; what it had sent.
    Closed(String),
    /// The server sent more than the bound without what was expected.
    TooLarge(usize),
    /// The server does not offer STARTTLS (XMPP): its stream features.
    NoStarttls(String),
    /// The server offers SASL before TLS while not offering STARTTLS.
    SaslWithoutTls(String),
    /// The server refused STARTTLS: what it said.
    Refused(String),
    /// The server's answer is not the protocol's.
    Garbage(String),
    /// A socket error.
    Io(String),
}

impl std::fmt::Display for PreludeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PreludeError::Closed(seen) => write!(
                f,
                "the server closed the connection before TLS (it had sent: {seen})"
            ),
            PreludeError::TooLarge(n) => {
                write!(f, "the server sent {n} bytes without the expected answer")
            }
            PreludeError::NoStarttls(features) => write!(
                f,
                "the server offers no STARTTLS (stream features: {features})"
            ),
            PreludeError::SaslWithoutTls(features) => write!(
                f,
                "the server offers authentication without TLS (stream features: {features})"
            ),
            PreludeError::Refused(what) => write!(f, "the server refused STARTTLS: {what}"),
            PreludeError::Garbage(what) => {
                write!(f, "the server's answer is not the protocol's: {what}")
            }
            PreludeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The most a prelude reads.
pub const MAX_PRELUDE: usize = 64 * 1024;

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Reads until `done(buffer)` says what was received is complete.
async fn read_until<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) -> Result<(), PreludeError> {
    let mut chunk = [0u8; 4096];
    while !done(buf) {
        if buf.len() > MAX_PRELUDE {
            return Err(PreludeError::TooLarge(buf.len()));
        }
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| PreludeError::Io(e.to_string()))?;
        if n == 0 {
            return Err(PreludeError::Closed(shown(buf)));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// XMPP (RFC 6120): opens a stream to `domain` (`jabber:client` or `jabber:server`),
/// reads the features, requires STARTTLS, asks for it and waits for `<proceed/>`.
/// Returns the features the server offered before TLS.
pub async fn xmpp<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    domain: &str,
    namespace: &str,
) -> Result<String, PreludeError> {
    let header = format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xmlns='{namespace}' xmlns:stream='http://etherx.jabber.org/streams'>"
    );
    io.write_all(header.as_bytes())
        .await
        .map_err(|e| PreludeError::Io(e.to_string()))?;
    let mut buf = Vec::new();
    read_until(io, &mut buf, |b| {
        contains(b, b"</stream:features>")
            || contains(b, b"<stream:features/>")
            || contains(b, b"</stream:error>")
            || contains(b, b"</stream:stream>")
            || !looks_like_xml(b)
    })
    .await?;
    let features = features_of(&buf)?;
    if !features.contains("urn:ietf:params:xml:ns:xmpp-tls") {
        if features.contains("urn:ietf:params:xml:ns:xmpp-sasl") {
            return Err(PreludeError::SaslWithoutTls(features));
        }
        return Err(PreludeError::NoStarttls(features));
    }
    io.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await
        .map_err(|e| PreludeError::Io(e.to_string()))?;
    let mut answer = Vec::new();
    read_until(io, &mut answer, |b| {
        contains(b, b"<proceed") || contains(b, b"<failure") || contains(b, b"</stream:")
    })
    .await?;
    if contains(&answer, b"<proceed") {
        Ok(features)
    } else {
        Err(PreludeError::Refused(shown(&answer)))
    }
}

/// Whether what arrived so far can be the start of an XML stream (the first byte that
/// is not white space is `<`); garbage is told at once instead of at the timeout.
fn looks_like_xml(b: &[u8]) -> bool {
    b.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_none_or(|c| *c == b'<')
}

/// The `<stream:features>` element of what the server sent, or why there is none.
pub fn features_of(received: &[u8]) -> Result<String, PreludeError> {
    let text = String::from_utf8_lossy(received);
    if let Some(i) = text.find("<stream:error") {
        return Err(PreludeError::Refused(shown(text[i..].as_bytes())));
    }
    if let Some(a) = text.find("<stream:features/>") {
        // No features at all.
        return Ok(shown(text[a..a + "<stream:features/>".len()].as_bytes()));
    }
    match (
        text.find("<stream:features"),
        text.find("</stream:features>"),
    ) {
        (Some(a), Some(b)) if b > a => {
            Ok(shown(text[a..b + "</stream:features>".len()].as_bytes()))
        }
        _ if !text.contains("<stream:stream") => Err(PreludeError::Garbage(shown(received))),
        _ => Err(PreludeError::Garbage(format!(
            "no stream features in {}",
            shown(received)
        ))),
    }
}

/// The StartTLS extended request (RFC 4511 4.14), message id 1.
pub const LDAP_STARTTLS_REQUEST: &[u8] = &[
    0x30, 0x1d, // LDAPMessage SEQUENCE
    0x02, 0x01, 0x01, // messageID 1
    0x77, 0x18, // ExtendedRequest [APPLICATION 23]
    0x80, 0x16, // requestName [0], the OID 1.3.6.1.4.1.1466.20037
    b'1', b'.', b'3', b'.', b'6', b'.', b'1', b'.', b'4', b'.', b'1', b'.', b'1', b'4', b'6', b'6',
    b'.', b'2', b'0', b'0', b'3', b'7',
];

/// LDAP: sends the StartTLS extended request and reads its response.
pub async fn ldap<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) -> Result<(), PreludeError> {
    io.write_all(LDAP_STARTTLS_REQUEST)
        .await
        .map_err(|e| PreludeError::Io(e.to_string()))?;
    let mut buf = Vec::new();
    // A response that does not start as an LDAPMessage is judged at its first byte.
    read_until(io, &mut buf, |b| {
        ber_complete(b).is_some() || b.first().is_some_and(|&t| t != 0x30)
    })
    .await?;
    ldap_starttls_result(&buf)
}

/// The length of the first complete BER element in `b`, if it is all there.
fn ber_complete(b: &[u8]) -> Option<usize> {
    let (len, header) = ber_len(b.get(1..)?)?;
    let total = header + 1 + len;
    (b.len() >= total).then_some(total)
}

/// (content length, bytes the length took) of a BER length field.
pub(crate) fn ber_len(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.first()?;
    if first < 0x80 {
        return Some((first as usize, 1));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 3 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *b.get(1 + i)? as usize;
    }
    Some((len, 1 + n))
}

/// Reads an ExtendedResponse: `Ok` for resultCode success, else what it says.
pub fn ldap_starttls_result(b: &[u8]) -> Result<(), PreludeError> {
    let garbage = || PreludeError::Garbage(format!("{:02x?}", &b[..b.len().min(32)]));
    if b.first() != Some(&0x30) {
        return Err(garbage());
    }
    let (_, h) = ber_len(&b[1..]).ok_or_else(garbage)?;
    let mut p = 1 + h;
    // messageID INTEGER
    if b.get(p) != Some(&0x02) {
        return Err(garbage());
    }
    let (len, h) = ber_len(b.get(p + 1..).ok_or_else(garbage)?).ok_or_else(garbage)?;
    p += 1 + h + len;
    // ExtendedResponse [APPLICATION 24]
    if b.get(p) != Some(&0x78) {
        return Err(garbage());
    }
    let (_, h) = ber_len(b.get(p + 1..).ok_or_else(garbage)?).ok_or_else(garbage)?;
    p += 1 + h;
    // resultCode ENUMERATED
    if b.get(p) != Some(&0x0a) || b.get(p + 1) != Some(&0x01) {
        return Err(garbage());
    }
    let code = *b.get(p + 2).ok_or_else(garbage)?;
    if code == 0 {
        Ok(())
    } else {
        Err(PreludeError::Refused(format!(
            "LDAP result {code} ({})",
            ldap_result_name(code)
        )))
    }
}

/// The name of an LDAP result code (RFC 4511).
pub fn ldap_result_name(code: u8) -> &'static str {
    match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_found_or_told_apart() {
        let ok = b"<?xml version='1.0'?><stream:stream from='lab.test' id='x'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
        assert!(features_of(ok).unwrap().contains("xmpp-tls"));
        let err = b"<stream:stream><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
        assert!(
            matches!(features_of(err), Err(PreludeError::Refused(s)) if s.contains("host-unknown"))
        );
        assert!(matches!(
            features_of(b"\x00\x01HTTP/1.1 400 Bad Request"),
            Err(PreludeError::Garbage(_))
        ));
    }

    #[test]
    fn ldap_responses_parse_bounded() {
        // Success: 30 0c 02 01 01 78 07 0a 01 00 04 00 04 00
        let ok = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert_eq!(ber_complete(&ok), Some(ok.len()));
        assert_eq!(ldap_starttls_result(&ok), Ok(()));
        let mut refused = ok;
        refused[9] = 53;
        assert_eq!(
            ldap_starttls_result(&refused),
            Err(PreludeError::Refused(
                "LDAP result 53 (unwillingToPerform)".into()
            ))
        );
        // Truncated, garbage, lying lengths: errors, no panic.
        for bad in [
            &ok[..5],
            &[0xff, 0xff, 0xff][..],
            &[][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x02, 0x02, 0x7f][..],
        ] {
            assert!(ldap_starttls_result(bad).is_err(), "{bad:02x?}");
        }
        assert_eq!(ber_complete(&ok[..5]), None);
    }

    #[test]
    fn the_request_is_well_formed() {
        assert_eq!(LDAP_STARTTLS_REQUEST.len(), 2 + 0x1d);
        assert_eq!(
            ber_complete(LDAP_STARTTLS_REQUEST),
            Some(LDAP_STARTTLS_REQUEST.len())
        );
    }

    /// Runs the XMPP prelude against a server that sends `script` (each part after
    /// reading something from the client), then keeps the connection open.
    async fn xmpp_against(script: &'static [&'static [u8]]) -> Result<String, PreludeError> {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            for part in script {
                let _ = server.read(&mut buf).await;
                let _ = server.write_all(part).await;
            }
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            xmpp(&mut client, "lab.test", "jabber:client"),
        )
        .await
        .expect("the prelude decides without waiting for the server to close")
    }

    #[tokio::test]
    async fn xmpp_prelude_against_captured_servers() {
        // Prosody, as captured from the lab: features with STARTTLS required, then proceed.
        let ok = xmpp_against(&[
            b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' from='lab.test' id='b5e04641-2180-4d9c-8815-6db417ef2821' xml:lang='en' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
            b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        ])
        .await;
        assert!(ok.unwrap().contains("xmpp-tls"));
        // Empty features (self-closing): no STARTTLS, decided at once.
        let e = xmpp_against(&[
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><stream:features/>",
        ])
        .await;
        assert!(
            matches!(e, Err(PreludeError::NoStarttls(ref f)) if f == "<stream:features/>"),
            "{e:?}"
        );
        // SASL offered without TLS.
        let e = xmpp_against(&[b"<stream:stream><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"]).await;
        assert!(matches!(e, Err(PreludeError::SaslWithoutTls(_))), "{e:?}");
        // STARTTLS offered, then refused.
        let e = xmpp_against(&[
            b"<stream:stream><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>",
        ])
        .await;
        assert!(
            matches!(e, Err(PreludeError::Refused(ref s)) if s.contains("failure")),
            "{e:?}"
        );
        // A stream error instead of features (unknown host).
        let e = xmpp_against(&[b"<stream:stream><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"]).await;
        assert!(
            matches!(e, Err(PreludeError::Refused(ref s)) if s.contains("host-unknown")),
            "{e:?}"
        );
        // Not XMPP at all: told at once.
        let e = xmpp_against(&[b"SSH-2.0-OpenSSH_9.2\r\n"]).await;
        assert!(
            matches!(e, Err(PreludeError::Garbage(ref s)) if s.contains("SSH-2.0")),
            "{e:?}"
        );
        // XML, then the server goes away.
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let _ = server.write_all(b"<stream:stream>").await;
        });
        let e = xmpp(&mut client, "lab.test", "jabber:client").await;
        assert!(
            matches!(e, Err(PreludeError::Closed(ref s)) if s.contains("<stream:stream>")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn ldap_prelude_decides_at_a_foreign_first_byte_and_reads_split_answers() {
        // An HTTP server on the LDAP port: garbage at once, not a wait for 84 bytes.
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let _ = server.read(&mut buf).await;
            let _ = server.write_all(b"HTTP/1.1 400").await;
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), ldap(&mut client))
            .await
            .expect("decided at once");
        assert!(matches!(e, Err(PreludeError::Garbage(_))), "{e:?}");
        // slapd's success answer, one byte a write.
        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let _ = server.read(&mut buf).await;
            for b in [
                0x30u8, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04,
                0x00,
            ] {
                let _ = server.write_all(&[b]).await;
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        assert_eq!(ldap(&mut client).await, Ok(()));
    }

    #[test]
    fn random_bytes_never_panic_the_parsers() {
        // A small deterministic generator: no dependency, reproducible.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let _ = ldap_starttls_result(&bytes);
            let _ = ber_complete(&bytes);
            let _ = features_of(&bytes);
            let mut framed = vec![0x30];
            framed.extend_from_slice(&bytes);
            let _ = ldap_starttls_result(&framed);
        }
    }

    #[tokio::test]
    async fn a_flood_without_features_is_cut_at_the_bound() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            // XML-looking, so that only the size bound stops it.
            let mut junk = b"<stream:stream>".to_vec();
            junk.resize(200 * 1024, b'a');
            let _ = server.write_all(&junk).await;
            let _ = server.shutdown().await;
        });
        let e = xmpp(&mut client, "lab.test", "jabber:client")
            .await
            .unwrap_err();
        assert!(
            matches!(e, PreludeError::TooLarge(n) if n > MAX_PRELUDE),
            "{e:?}"
        );
    }
}
