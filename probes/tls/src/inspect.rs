//! The TLS inspector: a handshake that completes whatever the certificate, records
//! the chain, and then judges it — so that one run shows every problem of a bad
//! certificate. Callers that send credentials check [`TlsFacts::verified`] first.

use imp_verify_core::Outcome;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use x509_parser::prelude::*;

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
    /// (the certificate is still judged); `None`: it completed.
    pub handshake_error: Option<String>,
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
    /// What went wrong, in the administrator's words.
    pub message: String,
    /// The facts, when the server had sent its certificate before the failure.
    pub facts: Option<TlsFacts>,
}

impl TlsError {
    fn new(message: String) -> Self {
        TlsError {
            message,
            facts: None,
        }
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A client certificate chain and its key, as CUCM presents on the SIP trunk.
pub struct ClientIdentity {
    /// The certificate chain to present, its own certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Reads a PEM certificate (chain) and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("{}: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: no certificate in it", cert.display()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        Ok(ClientIdentity { chain, key })
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
        let mut roots = RootCertStore::empty();
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        if let Some(path) = spec.tls.ca_bundle_path() {
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
        if spec.tls.use_system_roots {
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
            expiry_warning_days: spec.tls.expiry_warning_days,
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
            .map_err(|e| TlsError::new(format!("TLS setup: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone());
        let config = match client {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| {
                    TlsError::new(format!("the client certificate cannot be used: {e}"))
                })?,
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| TlsError::new(format!("`{server_name}` is not a server name: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = match connector.connect(name.clone(), io).await {
            Ok(s) => s,
            Err(e) => {
                let message = describe_io(&e);
                let chain = recorder.seen.lock().expect("not poisoned").clone();
                let facts = (!chain.is_empty()).then(|| TlsFacts {
                    server_name: server_name.to_string(),
                    verify_error: self.verify(&chain, &name, UnixTime::now()).err(),
                    chain,
                    version: "not negotiated".into(),
                    cipher: "not negotiated".into(),
                    handshake_error: Some(message.clone()),
                });
                return Err(TlsError { message, facts });
            }
        };
        let chain = recorder.seen.lock().expect("not poisoned").clone();
        let (_, conn) = stream.get_ref();
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
        self.verify_chain(chain, now)?;
        let ee = chain.first().ok_or("the server sent no certificate")?;
        let parsed = rustls::server::ParsedCertificate::try_from(ee).map_err(|e| e.to_string())?;
        rustls::client::verify_server_name(&parsed, name).map_err(|e| format!("{e}"))
    }

    fn verify_chain(&self, chain: &[CertificateDer<'static>], now: UnixTime) -> Result<(), String> {
        if let Some(p) = &self.trust_problem {
            return Err(p.clone());
        }
        let ee = chain.first().ok_or("the server sent no certificate")?;
        let parsed = rustls::server::ParsedCertificate::try_from(ee).map_err(|e| e.to_string())?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            &chain[1..],
            now,
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(|e| format!("{e}"))
    }
}

/// Under TLS 1.3 a server that refuses the client's certificate (or its absence) says
/// so only after the client has finished its side of the handshake, so `handshake`
/// succeeds and the refusal arrives with the first read. This waits up to `wait` for
/// such a refusal and records it in `facts.handshake_error` (then
/// [`TlsFacts::verified`] is false). It returns at once under TLS 1.2, where a refusal
/// fails the handshake itself.
///
/// Use it only where the server does not speak first (SIP, LDAPS, HTTPS, XMPP after
/// STARTTLS): application data that arrives meanwhile is read and discarded.
pub async fn await_refusal<S>(stream: &mut TlsStream<S>, facts: &mut TlsFacts, wait: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    if facts.version != "TLSv1_3" || facts.handshake_error.is_some() {
        return;
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        // Silence: the server accepted us and waits for the first request.
        Err(_) => {}
        Ok(Ok(0)) => {
            facts.handshake_error = Some(
                "the server closed the connection right after the handshake (it may not accept the client certificate, or its absence)".into(),
            )
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => facts.handshake_error = Some(describe_io(&e)),
    }
}

/// Whether a handshake error says that the server refused the client's certificate.
pub(crate) fn is_client_refusal(message: &str) -> bool {
    message.contains("client certificate")
}

/// What a handshake error says when the server speaks no TLS version the inspector
/// accepts (it offers TLS 1.2 and 1.3 only).
pub(crate) const NO_MODERN_TLS: &str = "the server offers neither TLS 1.2 nor TLS 1.3";

fn describe_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    if ["ProtocolVersion", "protocol version", "PeerIncompatible"]
        .iter()
        .any(|a| text.contains(a))
    {
        format!("{NO_MODERN_TLS} ({text})")
    } else if text.contains("CertificateRequired") || text.contains("certificate required") {
        format!("the server requires a client certificate and refused the handshake ({text})")
    } else if [
        "BadCertificate",
        "UnknownCA",
        "UnsupportedCertificate",
        "CertificateRevoked",
        "CertificateExpired",
        "CertificateUnknown",
        "AccessDenied",
        "bad certificate",
    ]
    .iter()
    .any(|a| text.contains(a))
    {
        format!("the server refused the client certificate ({text})")
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "the server closed the connection during the handshake".into()
    } else {
        format!("the TLS handshake failed: {text}")
    }
}

// ---------------------------------------------------------------------------------
// Judging a certificate

/// What a certificate must be, at one endpoint.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// DNS names it must cover (the node FQDN).
    pub dns_names: Vec<String>,
    /// For XMPP: the domain it must also cover, as a DNS SAN, id-on-xmppAddr or SRVName.
    pub xmpp_domain: Option<(String, &'static str)>,
    /// Whether the same certificate is used as a client too (s2s, SIP mutual TLS).
    pub client_auth: bool,
    /// The workflow task to name in fixes.
    pub task: &'static str,
}

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
    fn show(&self) -> String {
        let mut v: Vec<String> = self.dns.iter().map(|d| format!("DNS:{d}")).collect();
        v.extend(self.ip.iter().map(|d| format!("IP:{d}")));
        v.extend(self.xmpp_addr.iter().map(|d| format!("xmppAddr:{d}")));
        v.extend(self.srv_name.iter().map(|d| format!("SRVName:{d}")));
        v.join(", ")
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
    let (len, header) = crate::starttls::ber_len(tlv.get(1..)?)?;
    let start = 1 + header;
    tlv.get(start..start.checked_add(len)?)
}

/// The parts of a certificate a report shows.
pub struct CertView {
    /// The subject distinguished name.
    pub subject: String,
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

fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses the server's own certificate.
pub fn view(der: &CertificateDer<'_>) -> Result<CertView, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let mut names = Names::default();
    let mut server_auth = false;
    let mut client_auth = false;
    let mut has_eku = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for gn in &san.general_names {
                    match gn {
                        GeneralName::DNSName(d) => names.dns.push(d.to_ascii_lowercase()),
                        GeneralName::IPAddress(b) => names.ip.push(match b.len() {
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
                                    names.xmpp_addr.push(text.to_ascii_lowercase());
                                } else if oid == OID_SRV_NAME {
                                    names.srv_name.push(text.to_ascii_lowercase());
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                has_eku = true;
                server_auth |= eku.server_auth || eku.any;
                client_auth |= eku.client_auth || eku.any;
            }
            _ => {}
        }
    }
    let spki = cert.public_key();
    let (key, key_ok) = match spki.parsed() {
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
    };
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let (signature, signature_ok) = match sig_oid.as_str() {
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption".to_string(), true),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption".to_string(), true),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption".to_string(), true),
        "1.2.840.113549.1.1.10" => ("RSASSA-PSS".to_string(), true),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256".to_string(), true),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384".to_string(), true),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512".to_string(), true),
        "1.3.101.112" => ("Ed25519".to_string(), true),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption".to_string(), false),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption".to_string(), false),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1".to_string(), false),
        other => (other.to_string(), true),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    let sha256 = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(CertView {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        names,
        sha256,
        server_auth,
        client_auth,
        has_eku,
        key,
        key_ok,
        signature,
        signature_ok,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

fn with_cert(o: Outcome, v: &CertView) -> Outcome {
    o.with("subject", &v.subject)
        .with("issuer", &v.issuer)
        .with("names", v.names.show())
        .with("serial", &v.serial)
        .with("not_before", rfc3339(v.not_before))
        .with("not_after", rfc3339(v.not_after))
        .with("sha256", &v.sha256)
}

/// DNS name matching with a single left-most wildcard label (RFC 6125).
fn dns_covers(pattern: &str, name: &str) -> bool {
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

impl TlsInspector {
    /// The five verdicts on a handshake's certificate: `tls.chain`, `tls.names`,
    /// `tls.validity`, `tls.usage`, `tls.strength`, in that order.
    pub fn judge(&self, facts: &TlsFacts, expect: &Expectation) -> Vec<(&'static str, Outcome)> {
        let task = expect.task;
        let Some(ee) = facts.chain.first() else {
            let o = || {
                Outcome::fail("the server sent no certificate", format!("Install a certificate signed by the deployment's CA on this service (task {task})"))
            };
            return [
                "tls.chain",
                "tls.names",
                "tls.validity",
                "tls.usage",
                "tls.strength",
            ]
            .into_iter()
            .map(|id| (id, o()))
            .collect();
        };
        let v = match view(ee) {
            Ok(v) => v,
            Err(e) => {
                let o = || {
                    Outcome::fail(
                        e.clone(),
                        format!("Replace the certificate with a well-formed one (task {task})"),
                    )
                };
                return [
                    "tls.chain",
                    "tls.names",
                    "tls.validity",
                    "tls.usage",
                    "tls.strength",
                ]
                .into_iter()
                .map(|id| (id, o()))
                .collect();
            }
        };
        vec![
            ("tls.chain", self.judge_chain(facts, &v, task)),
            ("tls.names", judge_names(&v, expect)),
            (
                "tls.validity",
                judge_validity(&v, self.expiry_warning_days, task),
            ),
            ("tls.usage", judge_usage(&v, expect)),
            ("tls.strength", judge_strength(facts, &v, task)),
        ]
    }

    fn judge_chain(&self, facts: &TlsFacts, v: &CertView, task: &str) -> Outcome {
        // Judged inside the certificate's own validity window, so that an expired
        // certificate is reported by tls.validity and its chain here on its own merits.
        let mid = v.not_before + (v.not_after - v.not_before) / 2;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(mid.max(0) as u64));
        let base = |o: Outcome| {
            with_cert(o, v)
                .with("chain_length", facts.chain.len())
                .with("trust_anchors", &self.trust_source)
        };
        match self.verify_chain(&facts.chain, at) {
            Ok(()) if facts.handshake_error.is_some() => base(Outcome::fail(
                format!(
                    "the certificate of {} chains to the deployment's CA, but the handshake failed: {}",
                    facts.server_name,
                    facts.handshake_error.as_deref().unwrap_or_default()
                ),
                if is_client_refusal(facts.handshake_error.as_deref().unwrap_or_default()) {
                    format!("Present a client certificate the server trusts: for the SIP publish trunk, sip_trunk.client_cert must be CUCM's certificate, signed by a CA the IM&P node trusts, and its subject one of the node's TLS peer subjects (task {task})")
                } else {
                    format!("See the other TLS checks of this endpoint for what is wrong with the certificate (task {task})")
                },
            )),
            Ok(()) => base(Outcome::pass(format!("the certificate of {} chains to the deployment's CA", facts.server_name))),
            Err(e) => {
                let what = if v.self_signed {
                    format!("the certificate is self-signed ({}), not signed by the deployment's CA", v.subject)
                } else if e.contains("UnknownIssuer") {
                    format!("the certificate's issuer ({}) is not the deployment's CA, nor chains to it", v.issuer)
                } else {
                    format!("the certificate chain does not verify: {e}")
                };
                base(Outcome::fail(
                    what,
                    format!("Upload a certificate signed by the deployment's CA (and its intermediates) for this service, or add the issuing CA to the spec's tls.ca_bundle if it is trusted (task {task})"),
                ))
                .with("error", e)
            }
        }
    }
}

fn judge_names(v: &CertView, e: &Expectation) -> Outcome {
    let mut missing = Vec::new();
    for name in &e.dns_names {
        if !v.names.dns.iter().any(|p| dns_covers(p, name)) {
            missing.push(format!("DNS name {name}"));
        }
    }
    if let Some((domain, srv_label)) = &e.xmpp_domain {
        let srv = format!("{srv_label}.{domain}");
        let covered = v.names.dns.iter().any(|p| dns_covers(p, domain))
            || v.names.xmpp_addr.iter().any(|a| a == domain)
            || v.names.srv_name.contains(&srv);
        if !covered {
            missing.push(format!(
                "the XMPP domain {domain} (as DNS name, id-on-xmppAddr or SRVName {srv})"
            ));
        }
    }
    let wanted = {
        let mut w = e.dns_names.clone();
        if let Some((d, _)) = &e.xmpp_domain {
            w.push(d.clone());
        }
        w.join(", ")
    };
    let o = if missing.is_empty() {
        Outcome::pass(format!("the certificate covers {wanted}"))
    } else {
        Outcome::fail(
            format!("the certificate does not cover {}", missing.join(", ")),
            format!("Reissue the certificate with these names in its Subject Alternative Names (task {})", e.task),
        )
    };
    with_cert(o, v).with("expected", wanted)
}

fn judge_validity(v: &CertView, margin_days: u32, task: &str) -> Outcome {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days_left = (v.not_after - now).div_euclid(86_400);
    let o = if now < v.not_before {
        Outcome::fail(
            format!("the certificate is not valid yet: it starts {}", rfc3339(v.not_before)),
            format!("Check the node's clock and the certificate's notBefore; reissue it if it is wrong (task {task})"),
        )
    } else if now > v.not_after {
        Outcome::fail(
            format!(
                "the certificate expired {}, {} day(s) ago",
                rfc3339(v.not_after),
                -days_left
            ),
            format!("Renew the certificate and upload it to the node (task {task})"),
        )
    } else if days_left < margin_days as i64 {
        Outcome::warn(
            format!(
                "the certificate expires {}, in {days_left} day(s) (warning margin {margin_days})",
                rfc3339(v.not_after)
            ),
            format!("Renew the certificate before it expires (task {task})"),
        )
    } else {
        Outcome::pass(format!(
            "valid until {} ({days_left} days left)",
            rfc3339(v.not_after)
        ))
    };
    with_cert(o, v)
        .with("expiry_warning_days", margin_days)
        .metric("days_left", days_left as f64)
}

fn judge_usage(v: &CertView, e: &Expectation) -> Outcome {
    let mut usages = Vec::new();
    if v.server_auth {
        usages.push("serverAuth");
    }
    if v.client_auth {
        usages.push("clientAuth");
    }
    let shown = if !v.has_eku {
        "no extended key usage extension (any use)".to_string()
    } else {
        usages.join(", ")
    };
    let server_ok = !v.has_eku || v.server_auth;
    let client_ok = !e.client_auth || !v.has_eku || v.client_auth;
    let o = if server_ok && client_ok {
        Outcome::pass(format!("extended key usage: {shown}"))
    } else {
        let mut need = Vec::new();
        if !server_ok {
            need.push("serverAuth");
        }
        if !client_ok {
            need.push("clientAuth (the node also presents this certificate as a client: XMPP s2s, SIP mutual TLS)");
        }
        Outcome::fail(
            format!(
                "the certificate lacks the extended key usage {}",
                need.join(" and ")
            ),
            format!(
                "Reissue the certificate with the extended key usages serverAuth{} (task {})",
                if e.client_auth { " and clientAuth" } else { "" },
                e.task
            ),
        )
    };
    with_cert(o, v).with("extended_key_usage", shown)
}

fn judge_strength(facts: &TlsFacts, v: &CertView, task: &str) -> Outcome {
    let mut problems = Vec::new();
    if !v.key_ok {
        problems.push(format!(
            "a weak key ({}; at least RSA 2048 or EC 256 bits)",
            v.key
        ));
    }
    if !v.signature_ok {
        problems.push(format!("a weak signature algorithm ({})", v.signature));
    }
    let version_ok = facts.version.contains("1_2") || facts.version.contains("1_3");
    if !version_ok && facts.handshake_error.is_none() {
        problems.push(format!("protocol {}", facts.version));
    }
    let o = if problems.is_empty() {
        Outcome::pass(format!(
            "{}, {}, {} ({})",
            v.key, v.signature, facts.version, facts.cipher
        ))
    } else {
        Outcome::fail(
            format!("the certificate has {}", problems.join(" and ")),
            format!("Reissue the certificate with an RSA 2048+ or EC P-256+ key and a SHA-256 (or stronger) signature (task {task})"),
        )
    };
    let o = match &facts.handshake_error {
        Some(e) => o.with("handshake", e),
        None => o,
    };
    with_cert(o, v)
        .with("key", &v.key)
        .with("signature_algorithm", &v.signature)
        .with("protocol", &facts.version)
        .with("cipher", &facts.cipher)
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

    fn cert(names: Names) -> CertView {
        CertView {
            subject: "CN=imp1.lab.test".into(),
            issuer: "CN=Lab CA".into(),
            serial: "01".into(),
            not_before: 0,
            not_after: 4_000_000_000,
            names,
            sha256: "AA".into(),
            server_auth: true,
            client_auth: true,
            has_eku: true,
            key: "RSA 2048 bits".into(),
            key_ok: true,
            signature: "sha256WithRSAEncryption".into(),
            signature_ok: true,
            self_signed: false,
        }
    }

    fn xmpp(srv: &'static str) -> Expectation {
        Expectation {
            dns_names: vec!["imp1.lab.test".into()],
            xmpp_domain: Some(("lab.test".into(), srv)),
            client_auth: false,
            task: "C.11",
        }
    }

    fn names(dns: &[&str], xmpp_addr: &[&str], srv_name: &[&str]) -> Names {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Names {
            dns: v(dns),
            ip: vec![],
            xmpp_addr: v(xmpp_addr),
            srv_name: v(srv_name),
        }
    }

    #[test]
    fn the_xmpp_domain_is_covered_by_dns_xmpp_addr_or_the_right_srv_name() {
        let ok = |n: Names, srv| judge_names(&cert(n), &xmpp(srv)).status;
        use imp_verify_core::Status::{Fail, Pass};
        assert_eq!(
            ok(
                names(&["imp1.lab.test", "lab.test"], &[], &[]),
                "_xmpp-client"
            ),
            Pass
        );
        assert_eq!(
            ok(
                names(&["imp1.lab.test"], &["lab.test"], &[]),
                "_xmpp-client"
            ),
            Pass
        );
        assert_eq!(
            ok(
                names(&["imp1.lab.test"], &[], &["_xmpp-client.lab.test"]),
                "_xmpp-client"
            ),
            Pass
        );
        // An SRVName is for one service only (RFC 4985, RFC 7590).
        assert_eq!(
            ok(
                names(&["imp1.lab.test"], &[], &["_xmpp-client.lab.test"]),
                "_xmpp-server"
            ),
            Fail
        );
        // A wildcard covers the node but not the domain itself.
        assert_eq!(ok(names(&["*.lab.test"], &[], &[]), "_xmpp-client"), Fail);
        // The domain alone does not name the node.
        let o = judge_names(
            &cert(names(&["lab.test"], &["lab.test"], &[])),
            &xmpp("_xmpp-client"),
        );
        assert_eq!(o.status, Fail);
        assert!(
            o.message.contains("DNS name imp1.lab.test"),
            "{}",
            o.message
        );
        assert!(!o.message.contains("XMPP domain"), "{}", o.message);
        let o = judge_names(
            &cert(names(&["imp1.lab.test"], &[], &[])),
            &xmpp("_xmpp-server"),
        );
        assert!(o.message.contains("the XMPP domain lab.test (as DNS name, id-on-xmppAddr or SRVName _xmpp-server.lab.test)"), "{}", o.message);
        assert!(o.remediation.as_deref().unwrap().contains("task C.11"));
    }

    #[test]
    fn dates_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
