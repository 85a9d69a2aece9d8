//! The TLS inspector of a run: the spec's trust anchors, and handshakes that complete
//! whatever the certificate, recording what the server sent.

use super::facts::{classify, SeenBy, TlsError, TlsFacts};
use super::legacy::Version;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

/// A client certificate chain and its key, as CUCM presents on the SIP trunk.
pub struct ClientIdentity {
    /// The certificate chain to present, its own certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub key: PrivateKeyDer<'static>,
}

/// Why a client certificate or its key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemError {
    /// The file cannot be read, or holds no valid PEM of its kind.
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The certificate file holds no certificate.
    NoCertificate {
        /// The file.
        path: std::path::PathBuf,
    },
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemError::Unreadable { path, detail } => write!(f, "{}: {detail}", path.display()),
            PemError::NoCertificate { path } => {
                write!(f, "{}: no certificate in it", path.display())
            }
        }
    }
}

impl std::error::Error for PemError {}

impl ClientIdentity {
    /// Reads a PEM certificate (chain) and a PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, PemError> {
        let unreadable = |path: &Path, e: &dyn std::fmt::Display| PemError::Unreadable {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| unreadable(cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable(cert, &e))?;
        if chain.is_empty() {
            return Err(PemError::NoCertificate {
                path: cert.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
        Ok(ClientIdentity { chain, key })
    }

    /// [`ClientIdentity::load`], its error as text (for callers that keep it so).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        Self::load(cert, key).map_err(|e| e.to_string())
    }
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Records the server's chain and lets the handshake finish; the chain is judged after.
#[derive(Debug)]
struct Recorder {
    provider: Arc<CryptoProvider>,
    seen: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.seen.lock().expect("not poisoned") = chain;
        // Not a verdict: TlsInspector::handshake verifies the recorded chain right after
        // the handshake, and TlsFacts::verified() tells callers before they send anything.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The inspector of a run: the spec's trust anchors.
#[derive(Clone)]
pub struct TlsInspector {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    /// Why there are no trust anchors, if there are none.
    pub trust_problem: Option<String>,
    /// Where the trust anchors come from, for evidence.
    pub trust_source: String,
    /// Warn when a certificate expires within this many days.
    pub expiry_warning_days: u32,
}

impl TlsInspector {
    /// Trust anchors from the spec's `tls.ca_bundle` (and nothing else: no system roots
    /// unless `tls.use_system_roots`).
    pub fn from_spec(spec: &imp_verify_core::Spec) -> Self {
        TlsInspector::new(
            spec.tls.ca_bundle_path(),
            spec.tls.use_system_roots,
            spec.tls.expiry_warning_days,
        )
    }

    /// Trust anchors from `ca_bundle` (PEM) and, with `use_system_roots`, the system's;
    /// with neither, handshakes are still observed but no chain verifies (a tool that
    /// only reads certificates, like `discover`).
    pub fn new(ca_bundle: Option<&Path>, use_system_roots: bool, expiry_warning_days: u32) -> Self {
        let mut roots = RootCertStore::empty();
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        if let Some(path) = ca_bundle {
            sources.push(path.display().to_string());
            match CertificateDer::pem_file_iter(path) {
                Ok(iter) => {
                    for c in iter {
                        match c {
                            Ok(c) => {
                                if let Err(e) = roots.add(c) {
                                    problems.push(format!(
                                        "{}: a certificate is not usable as a trust anchor: {e}",
                                        path.display()
                                    ));
                                }
                            }
                            Err(e) => problems.push(format!("{}: {e}", path.display())),
                        }
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        if use_system_roots {
            sources.push("system roots".into());
            let p = Path::new("/etc/ssl/certs/ca-certificates.crt");
            if let Ok(iter) = CertificateDer::pem_file_iter(p) {
                for c in iter.flatten() {
                    let _ = roots.add(c);
                }
            }
        }
        let trust_problem = if roots.is_empty() {
            Some(if problems.is_empty() {
                "the spec names no CA bundle (tls.ca_bundle), so no certificate can be verified"
                    .to_string()
            } else {
                problems.join("; ")
            })
        } else {
            None
        };
        TlsInspector {
            roots: Arc::new(roots),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            trust_problem,
            trust_source: if sources.is_empty() {
                "none".into()
            } else {
                sources.join(" + ")
            },
            expiry_warning_days,
        }
    }

    /// A client configuration that verifies certificates strictly (chain to the spec's
    /// trust anchors and name), for protocol crates that run TLS themselves (LDAP).
    pub fn strict_client_config(&self) -> Result<ClientConfig, String> {
        if let Some(p) = &self.trust_problem {
            return Err(p.clone());
        }
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth())
    }

    /// The handshake over `io` (a fresh TCP stream, or one after STARTTLS), asking for
    /// `server_name`, presenting `client` if given. It completes whatever the
    /// certificate; the facts say whether it verified.
    pub async fn handshake<S>(
        &self,
        io: S,
        server_name: &str,
        client: Option<&ClientIdentity>,
    ) -> Result<(TlsStream<S>, TlsFacts), TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let recorder = Arc::new(Recorder {
            provider: self.provider.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::setup(format!("TLS setup: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone());
        let config = match client {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| {
                    TlsError::setup(format!("the client certificate cannot be used: {e}"))
                })?,
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| TlsError::setup(format!("`{server_name}` is not a server name: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = match connector.connect(name.clone(), io).await {
            Ok(s) => s,
            Err(e) => {
                let (kind, ended, message) = classify(&e);
                let chain = recorder.seen.lock().expect("not poisoned").clone();
                let facts = (!chain.is_empty()).then(|| TlsFacts {
                    server_name: server_name.to_string(),
                    verify_error: self.verify(&chain, &name, UnixTime::now()).err(),
                    chain,
                    version: "not negotiated".into(),
                    cipher: "not negotiated".into(),
                    handshake_error: Some(message.clone()),
                    handshake_failure: Some(kind),
                    protocol: None,
                    seen_by: SeenBy::Handshake,
                    versions: None,
                });
                return Err(TlsError {
                    kind,
                    message,
                    ended,
                    facts,
                });
            }
        };
        let chain = recorder.seen.lock().expect("not poisoned").clone();
        let (_, conn) = stream.get_ref();
        let protocol = conn
            .protocol_version()
            .and_then(|v| Version::from_wire(u16::from(v)));
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|| "unknown".into());
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_else(|| "unknown".into());
        let verify_error = self.verify(&chain, &name, UnixTime::now()).err();
        Ok((
            stream,
            TlsFacts {
                server_name: server_name.to_string(),
                chain,
                version,
                cipher,
                verify_error,
                handshake_error: None,
                handshake_failure: None,
                protocol,
                seen_by: SeenBy::Handshake,
                versions: None,
            },
        ))
    }

    /// Chain to the trust anchors at `now`, then the name.
    fn verify(
        &self,
        chain: &[CertificateDer<'static>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), String> {
        self.verify_chain(chain, now).map_err(|e| e.to_string())?;
        let ee = chain.first().ok_or("the server sent no certificate")?;
        let parsed = rustls::server::ParsedCertificate::try_from(ee).map_err(|e| e.to_string())?;
        rustls::client::verify_server_name(&parsed, name).map_err(|e| format!("{e}"))
    }

    /// Whether `chain` verifies to the trust anchors at `now` (the name aside).
    pub fn verify_chain(
        &self,
        chain: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> Result<(), ChainError> {
        if let Some(p) = &self.trust_problem {
            return Err(ChainError::NoTrustAnchors(p.clone()));
        }
        let ee = chain.first().ok_or(ChainError::NoCertificate)?;
        let parsed = rustls::server::ParsedCertificate::try_from(ee)
            .map_err(|e| ChainError::Other(e.to_string()))?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            &chain[1..],
            now,
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(|e| match e {
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                ChainError::UnknownIssuer(e.to_string())
            }
            e => ChainError::Other(e.to_string()),
        })
    }
}

/// Why a chain does not verify to the trust anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// The spec gives no usable trust anchor (the text says why).
    NoTrustAnchors(String),
    /// The server sent no certificate.
    NoCertificate,
    /// The chain leads to no trust anchor (the library's words).
    UnknownIssuer(String),
    /// Anything else (the library's words).
    Other(String),
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::NoTrustAnchors(t) | ChainError::UnknownIssuer(t) | ChainError::Other(t) => {
                f.write_str(t)
            }
            ChainError::NoCertificate => f.write_str("the server sent no certificate"),
        }
    }
}
