//! What a handshake showed, and why one failed.

use super::legacy::{Answer, LookError, Suite, Version};
use rustls::pki_types::CertificateDer;
use rustls::{AlertDescription, CertificateError, PeerIncompatible, PeerMisbehaved};

/// What a handshake showed.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// The name the client asked for (SNI and verification).
    pub server_name: String,
    /// The certificates the server sent, its own first.
    pub chain: Vec<CertificateDer<'static>>,
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// Why the certificate is not trusted for `server_name` now; `None`: it is.
    pub verify_error: Option<String>,
    /// Why the handshake did not complete after the server sent its certificate
    /// (the certificate is still judged), or why the server ended the session right
    /// after it; `None`: it completed.
    pub handshake_error: Option<String>,
    /// What kind of failure `handshake_error` is.
    pub handshake_failure: Option<HandshakeFailure>,
    /// The negotiated version, typed; `None`: none was negotiated.
    pub protocol: Option<Version>,
    /// How the certificate was read: by the handshake, or only by the tolerant look.
    pub seen_by: SeenBy,
    /// The versions the server accepts, where they were probed.
    pub versions: Option<Versions>,
}

/// How the certificate in [`TlsFacts`] was read.
#[derive(Debug, Clone, PartialEq)]
pub enum SeenBy {
    /// By the (modern, rustls) handshake.
    Handshake,
    /// Only through the tolerant look: a TLS 1.2 ClientHello also offering CBC suites
    /// and legacy signature algorithms, after the modern handshake failed before the
    /// certificate was kept. `version` and `cipher` are the tolerant ServerHello's.
    TolerantLook {
        /// The suite the server chose when offered AEAD and CBC suites.
        suite: Suite,
        /// The version it chose.
        version: Version,
        /// Whether the server offers only CBC suites: it chose one when offered AEAD and
        /// CBC suites, and refused a ClientHello offering only AEAD suites (with the same
        /// legacy signature algorithms), which is all that modern clients offer.
        only_cbc: bool,
    },
}

impl TlsFacts {
    /// The facts of a certificate read only through the tolerant look, after the modern
    /// handshake failed with `modern` (before the certificate was kept).
    pub fn from_tolerant_look(
        server_name: &str,
        answer: &Answer,
        modern: &TlsError,
    ) -> Option<Self> {
        let version = answer.version()?;
        (!answer.chain.is_empty()).then(|| TlsFacts {
            server_name: server_name.to_string(),
            chain: answer.chain.clone(),
            version: format!("{:?}", rustls_version(version)),
            cipher: answer.suite.name.to_string(),
            verify_error: None,
            handshake_error: Some(modern.message.clone()),
            handshake_failure: Some(modern.kind),
            protocol: Some(version),
            seen_by: SeenBy::TolerantLook {
                suite: answer.suite,
                version,
                only_cbc: false,
            },
            versions: None,
        })
    }

    /// The version the handshake negotiated, when it did.
    pub fn negotiated(&self) -> Option<Version> {
        self.protocol
    }
}

fn rustls_version(v: Version) -> rustls::ProtocolVersion {
    match v {
        Version::Tls1_0 => rustls::ProtocolVersion::TLSv1_0,
        Version::Tls1_1 => rustls::ProtocolVersion::TLSv1_1,
        Version::Tls1_2 => rustls::ProtocolVersion::TLSv1_2,
        Version::Tls1_3 => rustls::ProtocolVersion::TLSv1_3,
    }
}

/// What the server answered a ClientHello of one version.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionAnswer {
    /// A ServerHello of that version, with this suite.
    Accepted(Suite),
    /// An alert, a close, or a ServerHello of another version.
    Refused(Refusal),
    /// No answer to tell by: the connection or the prelude failed, or time ran out.
    Unknown(String),
}

/// How a server refused a version.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The exchange ended so (alert, close, malformed answer).
    Look(LookError),
    /// It answered with another version (a version it accepts instead; TLS forbids a
    /// higher one).
    OtherVersion(u16),
}

impl std::fmt::Display for VersionAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionAnswer::Accepted(s) => write!(f, "accepted ({})", s.name),
            VersionAnswer::Refused(Refusal::Look(e)) => write!(f, "refused: {e}"),
            VersionAnswer::Refused(Refusal::OtherVersion(v)) => {
                write!(f, "refused: the server answered with version 0x{v:04x}")
            }
            VersionAnswer::Unknown(why) => write!(f, "not known: {why}"),
        }
    }
}

/// The ClientHellos of old versions and what the server answered each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Versions {
    /// Each version offered (as the highest of its ClientHello), with the answer.
    pub answers: Vec<(Version, VersionAnswer)>,
}

impl Versions {
    /// The lowest version the server accepts: the lowest accepted ClientHello's, or
    /// `negotiated` (the modern handshake's) if lower or none was.
    pub fn lowest(&self, negotiated: Option<Version>) -> Option<Version> {
        self.answers
            .iter()
            .filter(|(_, a)| matches!(a, VersionAnswer::Accepted(_)))
            .map(|(v, _)| *v)
            .chain(negotiated)
            .min()
    }

    /// The deprecated versions (TLS 1.0, 1.1) the server accepts.
    pub fn deprecated_accepted(&self) -> Vec<Version> {
        self.answers
            .iter()
            .filter(|(v, a)| v.deprecated() && matches!(a, VersionAnswer::Accepted(_)))
            .map(|(v, _)| *v)
            .collect()
    }
}

impl TlsFacts {
    /// Whether the chain verifies to the spec's CA and covers the name: the condition
    /// for sending credentials over this connection.
    pub fn verified(&self) -> bool {
        self.verify_error.is_none() && self.handshake_error.is_none()
    }
}

/// Why a handshake did not complete, and what it showed before it stopped.
#[derive(Debug, Clone)]
pub struct TlsError {
    /// What kind of failure it is.
    pub kind: HandshakeFailure,
    /// What went wrong, in the administrator's words.
    pub message: String,
    /// Which side ended the handshake, and why, as far as it can be known.
    pub ended: Ended,
    /// The facts, when the server had sent its certificate before the failure.
    pub facts: Option<TlsFacts>,
}

impl TlsError {
    pub(crate) fn setup(message: String) -> Self {
        TlsError {
            kind: HandshakeFailure::Setup,
            message,
            ended: Ended::NotStarted,
            facts: None,
        }
    }
}

/// Which side ended a failed handshake and why: from rustls' typed error.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The client could not start (its own configuration).
    NotStarted,
    /// The server sent this fatal alert.
    ServerAlert(AlertDescription),
    /// The server closed the connection without an alert.
    ServerClosed,
    /// The connection was reset or broke (its kind).
    ConnectionLost(std::io::ErrorKind),
    /// The client (rustls) refused what the server sent, and ended it.
    ClientRefusedIncompatible(PeerIncompatible),
    /// The client refused a server that broke the protocol.
    ClientRefusedMisbehaved(PeerMisbehaved),
    /// The client refused the server's certificate or its signature (e.g. a key too
    /// weak to verify the handshake signature with).
    ClientRefusedCertificate(CertificateError),
    /// The client refused a message it did not expect or could not decode.
    ClientRefusedMessage,
    /// Something else of the client's (rare).
    Other,
}

/// An alert as RFC 8446 names it, with its number: `handshake_failure (40)`.
pub fn alert_name(a: AlertDescription) -> String {
    if let AlertDescription::Unknown(n) = a {
        return format!("unknown alert ({n})");
    }
    let debug = format!("{a:?}");
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    format!("{name} ({})", u8::from(a))
}

/// What an alert from the server usually means during a handshake.
fn alert_meaning(a: AlertDescription) -> &'static str {
    use AlertDescription as A;
    match a {
        A::HandshakeFailure => ": it found no cipher suite, key exchange or signature algorithm in common with the client",
        A::InsufficientSecurity => ": it requires cipher suites stronger than the client offered",
        A::ProtocolVersion => ": it accepts none of the TLS versions the client offered",
        A::InternalError => ": something failed on the server's side (its key or its configuration)",
        A::UnrecognisedName => ": it serves no certificate for the name asked for (SNI)",
        A::IllegalParameter | A::DecodeError => ": it found the client's hello unacceptable",
        A::CertificateRequired => ": it requires a client certificate",
        A::AccessDenied => ": it refuses this client",
        _ => "",
    }
}

impl Ended {
    /// The words of a report: who ended the handshake and why.
    pub fn explain(&self) -> String {
        match self {
            Ended::NotStarted => "the client could not start the handshake".into(),
            Ended::ServerAlert(a) => format!(
                "the server ended the handshake with the alert {}{}",
                alert_name(*a),
                alert_meaning(*a)
            ),
            Ended::ServerClosed => {
                "the server closed the connection during the handshake, without an alert saying why".into()
            }
            Ended::ConnectionLost(kind) => format!("the connection broke during the handshake ({kind})"),
            Ended::ClientRefusedIncompatible(p) => {
                format!("the client ended the handshake: the server is incompatible with it ({p:?})")
            }
            Ended::ClientRefusedMisbehaved(p) => {
                format!("the client ended the handshake: the server broke the protocol ({p:?})")
            }
            Ended::ClientRefusedCertificate(c) => format!(
                "the client ended the handshake: it refused the server's certificate or handshake signature ({c:?})"
            ),
            Ended::ClientRefusedMessage => {
                "the client ended the handshake: the server sent a message it did not expect".into()
            }
            Ended::Other => "the handshake failed".into(),
        }
    }
}

/// Why a TLS handshake failed, as far as the client can tell: decided from the TLS
/// library's typed error and alert, never from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The client could not even start (its own configuration, a bad server name).
    Setup,
    /// No protocol version in common: the server offers neither TLS 1.2 nor TLS 1.3.
    NoModernTls,
    /// The server requires a client certificate and none was presented.
    ClientCertificateRequired,
    /// The server refused the client certificate that was presented.
    ClientCertificateRefused,
    /// The server closed the connection during the handshake, saying nothing.
    ClosedDuringHandshake,
    /// The server ended the session right after the handshake, before answering the
    /// first request, with no alert saying why: under TLS 1.3 how a server refuses a
    /// client certificate, but not a proof of it (its log tells).
    ClosedAfterHandshake,
    /// Anything else (the text says what).
    Other,
}

impl HandshakeFailure {
    /// Whether the server refused the client (its certificate, or its absence), or may
    /// have ([`HandshakeFailure::ClosedAfterHandshake`], a close without a word).
    pub fn is_client_refusal(self) -> bool {
        matches!(
            self,
            HandshakeFailure::ClientCertificateRequired
                | HandshakeFailure::ClientCertificateRefused
                | HandshakeFailure::ClosedAfterHandshake
        )
    }
}

/// What a handshake error says when the server speaks no TLS version the inspector
/// accepts (it offers TLS 1.2 and 1.3 only).
pub const NO_MODERN_TLS: &str = "the server offers neither TLS 1.2 nor TLS 1.3";

/// Classifies a failed handshake by the TLS library's error inside `e` (as tokio-rustls
/// returns it): its kind, which side ended it, and the words of a report. For protocol
/// crates that run rustls themselves (LDAP) as much as for the inspector.
pub fn classify(e: &std::io::Error) -> (HandshakeFailure, Ended, String) {
    use rustls::AlertDescription as A;
    use rustls::PeerIncompatible as P;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let ended = match tls {
        Some(rustls::Error::AlertReceived(a)) => Ended::ServerAlert(*a),
        Some(rustls::Error::PeerIncompatible(p)) => Ended::ClientRefusedIncompatible(p.clone()),
        Some(rustls::Error::PeerMisbehaved(p)) => Ended::ClientRefusedMisbehaved(p.clone()),
        Some(rustls::Error::InvalidCertificate(c)) => Ended::ClientRefusedCertificate(c.clone()),
        Some(
            rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::InvalidMessage(_),
        ) => Ended::ClientRefusedMessage,
        Some(_) => Ended::Other,
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => Ended::ServerClosed,
        None => Ended::ConnectionLost(e.kind()),
    };
    let kind = match &ended {
        Ended::ServerAlert(A::ProtocolVersion)
        | Ended::ClientRefusedIncompatible(
            P::ServerDoesNotSupportTls12Or13 | P::ServerTlsVersionIsDisabledByOurConfig,
        ) => HandshakeFailure::NoModernTls,
        Ended::ServerAlert(A::CertificateRequired) => HandshakeFailure::ClientCertificateRequired,
        Ended::ServerAlert(
            A::BadCertificate
            | A::UnknownCA
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::AccessDenied,
        ) => HandshakeFailure::ClientCertificateRefused,
        Ended::ServerClosed => HandshakeFailure::ClosedDuringHandshake,
        _ => HandshakeFailure::Other,
    };
    let message = match kind {
        HandshakeFailure::NoModernTls => format!("{NO_MODERN_TLS} ({})", ended.explain()),
        HandshakeFailure::ClientCertificateRequired => format!(
            "the server requires a client certificate and refused the handshake ({})",
            ended.explain()
        ),
        HandshakeFailure::ClientCertificateRefused => {
            format!(
                "the server refused the client certificate ({})",
                ended.explain()
            )
        }
        _ => ended.explain(),
    };
    (kind, ended, message)
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn wrapped(e: rustls::Error) -> Error {
        // How tokio-rustls hands rustls' error over.
        Error::new(ErrorKind::InvalidData, e)
    }

    #[test]
    fn who_ended_a_handshake_is_decided_from_the_typed_error() {
        let (kind, ended, message) = classify(&wrapped(rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure,
        )));
        assert_eq!(kind, HandshakeFailure::Other);
        assert_eq!(
            ended,
            Ended::ServerAlert(AlertDescription::HandshakeFailure)
        );
        assert!(
            message.starts_with("the server ended the handshake with the alert handshake_failure (40): it found no cipher suite"),
            "{message}"
        );
        let (kind, ended, message) = classify(&wrapped(rustls::Error::AlertReceived(
            AlertDescription::ProtocolVersion,
        )));
        assert_eq!(kind, HandshakeFailure::NoModernTls);
        assert_eq!(ended, Ended::ServerAlert(AlertDescription::ProtocolVersion));
        assert!(message.starts_with(NO_MODERN_TLS), "{message}");
        let (kind, ended, _) = classify(&Error::from(ErrorKind::UnexpectedEof));
        assert_eq!(
            (kind, ended),
            (HandshakeFailure::ClosedDuringHandshake, Ended::ServerClosed)
        );
        let (kind, ended, _) = classify(&Error::from(ErrorKind::ConnectionReset));
        assert_eq!(
            (kind, ended),
            (
                HandshakeFailure::Other,
                Ended::ConnectionLost(ErrorKind::ConnectionReset)
            )
        );
        let (kind, ended, message) = classify(&wrapped(rustls::Error::PeerIncompatible(
            PeerIncompatible::NoCipherSuitesInCommon,
        )));
        assert_eq!(kind, HandshakeFailure::Other);
        assert_eq!(
            ended,
            Ended::ClientRefusedIncompatible(PeerIncompatible::NoCipherSuitesInCommon)
        );
        assert!(
            message.starts_with("the client ended the handshake"),
            "{message}"
        );
        let (_, ended, _) = classify(&wrapped(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        )));
        assert_eq!(
            ended,
            Ended::ClientRefusedCertificate(CertificateError::BadSignature)
        );
    }

    #[test]
    fn alerts_are_named_as_the_rfc_does() {
        assert_eq!(
            alert_name(AlertDescription::ProtocolVersion),
            "protocol_version (70)"
        );
        assert_eq!(
            alert_name(AlertDescription::InternalError),
            "internal_error (80)"
        );
        assert_eq!(
            alert_name(AlertDescription::from(250)),
            "unknown alert (250)"
        );
    }
}
