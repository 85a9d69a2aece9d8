//! What a handshake showed, and why one failed.

use rustls::pki_types::CertificateDer;

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
    /// The facts, when the server had sent its certificate before the failure.
    pub facts: Option<TlsFacts>,
}

impl TlsError {
    pub(crate) fn setup(message: String) -> Self {
        TlsError {
            kind: HandshakeFailure::Setup,
            message,
            facts: None,
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
    /// first request (under TLS 1.3, how it refuses a client certificate).
    ClosedAfterHandshake,
    /// Anything else (the text says what).
    Other,
}

impl HandshakeFailure {
    /// Whether the server refused the client (its certificate, or its absence).
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

/// Classifies a failed handshake by the TLS library's error inside `e`.
pub(crate) fn classify(e: &std::io::Error) -> (HandshakeFailure, String) {
    use rustls::AlertDescription as A;
    let text = e.to_string();
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let kind = match tls {
        Some(rustls::Error::AlertReceived(A::ProtocolVersion))
        | Some(rustls::Error::PeerIncompatible(_)) => HandshakeFailure::NoModernTls,
        Some(rustls::Error::AlertReceived(A::CertificateRequired)) => {
            HandshakeFailure::ClientCertificateRequired
        }
        Some(rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnknownCA
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::AccessDenied,
        )) => HandshakeFailure::ClientCertificateRefused,
        _ if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            HandshakeFailure::ClosedDuringHandshake
        }
        _ => HandshakeFailure::Other,
    };
    let message = match kind {
        HandshakeFailure::NoModernTls => format!("{NO_MODERN_TLS} ({text})"),
        HandshakeFailure::ClientCertificateRequired => {
            format!("the server requires a client certificate and refused the handshake ({text})")
        }
        HandshakeFailure::ClientCertificateRefused => {
            format!("the server refused the client certificate ({text})")
        }
        HandshakeFailure::ClosedDuringHandshake => {
            "the server closed the connection during the handshake".into()
        }
        _ => format!("the TLS handshake failed: {text}"),
    };
    (kind, message)
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
