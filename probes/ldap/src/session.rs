//! Opening an LDAP session: TCP, LDAPS or StartTLS verified against the spec's CA, and
//! the service account's bind. What went wrong is a [`SessionError`], a type, told apart
//! from the errors' structure (rustls' certificate errors, ldap3's variants), never from
//! their text.

use crate::codes::Refusal;
use crate::directory::Directory;
use imp_verify_core::spec::{LdapSecurity, LdapServer, LdapSpec, Spec, Workflow};
use imp_verify_core::{AuthLog, Outcome, PerAttempt};
use imp_verify_net::{Net, Resolver};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, StdStream};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

/// The tasks of the LDAP integration in the spec's workflow: (secure the LDAP
/// connection, integrate LDAP directory clients incl. LDAP user authentication).
pub fn tasks(w: Workflow) -> (&'static str, &'static str) {
    use imp_verify_core::catalog::{first_label, Task};
    (
        first_label(w, &[Task::SecureLdap, Task::LdapForJabber]),
        first_label(w, &[Task::LdapClients, Task::LdapForJabber]),
    )
}

/// Why a certificate was not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum CertProblem {
    /// Not signed by the spec's CA.
    UnknownIssuer,
    /// Does not name the server.
    NotValidForName,
    /// Expired.
    Expired,
    /// Any other rejection (rustls' words).
    Other(String),
}

/// How a TLS handshake failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Handshake {
    /// The server sent this alert (e.g. HandshakeFailure: nothing in common).
    Alert(String),
    /// The server offers nothing this client accepts (versions, suites, groups).
    Incompatible(String),
    /// The server closed the connection during the TLS handshake.
    Closed,
}

/// Why a session could not be opened or used.
#[derive(Debug, Clone)]
pub enum SessionError {
    /// The server's name did not resolve.
    Resolve(String, String),
    /// No TCP connection within the budget.
    ConnectTimeout(SocketAddr, Duration),
    /// The TCP connection failed.
    Connect(SocketAddr, String),
    /// The server's certificate was refused.
    Certificate(CertProblem, String),
    /// The spec's CA bundle could not be used.
    Trust(String),
    /// No answer in time.
    NoAnswer,
    /// The server answered with a result other than success (e.g. to StartTLS).
    Refused(Refusal),
    /// The server sent bytes that are not an LDAP message (ldap3 gave up on them).
    Undecodable,
    /// The TLS handshake failed (other than on the certificate).
    Handshake(Handshake),
    /// The connection broke or another failure (in ldap3's or the OS's words).
    Broken(String),
}

impl SessionError {
    /// Classifies an ldap3 error; `panicked` says whether the connection's driver died
    /// on undecodable bytes.
    pub fn of(e: &LdapError, panicked: bool) -> SessionError {
        if panicked && driver_gone(e) {
            return SessionError::Undecodable;
        }
        match e {
            LdapError::LdapResult { result } => match Refusal::of(result) {
                Some(r) => SessionError::Refused(r),
                None => SessionError::Broken("success reported as an error".into()),
            },
            LdapError::Timeout { .. } => SessionError::NoAnswer,
            LdapError::Rustls { source } => cert_or_broken(source),
            LdapError::Io { source } => match source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(t) => cert_or_broken(t),
                None if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                    SessionError::Handshake(Handshake::Closed)
                }
                None => SessionError::Broken(format!("connection: {source}")),
            },
            other => SessionError::Broken(other.to_string()),
        }
    }

    /// True when the certificate (or the trust in it) is the problem.
    pub fn is_certificate(&self) -> bool {
        matches!(self, SessionError::Certificate(..) | SessionError::Trust(_))
    }
}

/// Errors ldap3 gives when its connection task is gone (e.g. it panicked).
fn driver_gone(e: &LdapError) -> bool {
    matches!(
        e,
        LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. }
            | LdapError::EndOfStream
    )
}

fn cert_or_broken(e: &rustls::Error) -> SessionError {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => {
            let p = match c {
                C::UnknownIssuer => CertProblem::UnknownIssuer,
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    CertProblem::NotValidForName
                }
                C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
                other => CertProblem::Other(format!("{other:?}")),
            };
            SessionError::Certificate(p, e.to_string())
        }
        rustls::Error::AlertReceived(a) => {
            SessionError::Handshake(Handshake::Alert(format!("{a:?}")))
        }
        rustls::Error::PeerIncompatible(p) => {
            SessionError::Handshake(Handshake::Incompatible(format!("{p:?}")))
        }
        other => SessionError::Broken(format!("TLS: {other}")),
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Resolve(h, e) => write!(f, "cannot resolve {h}: {e}"),
            SessionError::ConnectTimeout(a, d) => {
                write!(f, "no TCP connection to {a} within {} ms", d.as_millis())
            }
            SessionError::Connect(a, e) => write!(f, "cannot connect to {a}: {e}"),
            SessionError::Certificate(p, t) => match p {
                CertProblem::UnknownIssuer => write!(
                    f,
                    "the server's certificate is not signed by the deployment's CA ({t})"
                ),
                CertProblem::NotValidForName => {
                    write!(
                        f,
                        "the server's certificate does not name this server ({t})"
                    )
                }
                CertProblem::Expired => write!(f, "the server's certificate has expired ({t})"),
                CertProblem::Other(_) => write!(f, "the server's certificate is refused ({t})"),
            },
            SessionError::Trust(e) => write!(f, "the spec's CA bundle cannot be used: {e}"),
            SessionError::Handshake(Handshake::Alert(a)) => {
                write!(f, "the server ended the TLS handshake with the alert {a}")
            }
            SessionError::Handshake(Handshake::Incompatible(p)) => write!(
                f,
                "the server's TLS offers nothing this client accepts ({p})"
            ),
            SessionError::Handshake(Handshake::Closed) => write!(
                f,
                "the server closed the connection during the TLS handshake"
            ),
            SessionError::NoAnswer => write!(f, "no answer in time"),
            SessionError::Refused(r) => write!(f, "{}", r.describe()),
            SessionError::Undecodable => write!(f, "the server sent an undecodable LDAP message"),
            SessionError::Broken(e) => write!(f, "cannot connect: {e}"),
        }
    }
}

/// The probe's context: the spec, its resolver and strict TLS configuration, and the
/// first server's directory, read once per attempt and shared by the checks using it.
pub(crate) struct Ctx {
    pub spec: Arc<Spec>,
    resolver: Arc<Resolver>,
    config: Result<Arc<rustls::ClientConfig>, String>,
    pub trust: String,
    pub directory: PerAttempt<Result<Arc<Directory>, Outcome>>,
}

pub(crate) fn ldap_spec(spec: &Spec) -> &LdapSpec {
    spec.ldap
        .as_ref()
        .expect("the ldap probe plans only when the spec has [ldap]")
}

/// An open session and whether its driver died on undecodable bytes.
pub(crate) struct Session {
    pub ldap: ldap3::Ldap,
    panicked: Arc<AtomicBool>,
}

/// ldap3 panics seen (by the hook of [`quiet_ldap3_panics`]).
static LDAP3_PANICS: AtomicUsize = AtomicUsize::new(0);

impl Session {
    /// Classifies an error of an operation on this session.
    pub fn error(&self, e: &LdapError) -> SessionError {
        SessionError::of(e, self.panicked.load(Ordering::SeqCst))
    }

    /// Ends the session politely.
    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// ldap3 panics on some malformed server bytes (in its connection driver and entry
/// parsing): a hostile server's fault, reported by the check as
/// [`SessionError::Undecodable`]. Those panics print nothing; any other goes to the
/// previous hook.
fn quiet_ldap3_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_ldap3 = info
                .location()
                .map(|l| l.file().contains("/ldap3-") || l.file().contains("/lber-"))
                .unwrap_or(false);
            if from_ldap3 {
                LDAP3_PANICS.fetch_add(1, Ordering::SeqCst);
            } else {
                previous(info);
            }
        }));
    });
}

/// The entries of a search's results, without its continuation references (Active
/// Directory returns some for a search at the domain root) and intermediate responses.
pub(crate) fn only_entries(v: Vec<ldap3::ResultEntry>) -> impl Iterator<Item = ldap3::ResultEntry> {
    v.into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate())
}

/// Parses a search entry; `None` if ldap3 cannot (it panics on malformed entries).
pub(crate) fn parse_entry(e: ldap3::ResultEntry) -> Option<ldap3::SearchEntry> {
    quiet_ldap3_panics();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ldap3::SearchEntry::construct(e)
    }))
    .ok()
}

impl Ctx {
    /// The spec's resolver and its CA's strict TLS configuration.
    pub fn new(spec: &Arc<Spec>, net: &Net) -> Ctx {
        Ctx {
            spec: spec.clone(),
            resolver: net.resolver.clone(),
            config: net.tls.strict_client_config().map(Arc::new),
            trust: net.tls.trust_source.clone(),
            directory: Default::default(),
        }
    }

    pub fn ldap(&self) -> &LdapSpec {
        ldap_spec(&self.spec)
    }

    /// An LDAP session with `server`, over TLS (LDAPS or StartTLS) verified against the
    /// spec's CA, unless the spec allows cleartext for it.
    pub async fn session(
        &self,
        server: &LdapServer,
        budget: Duration,
    ) -> Result<Session, SessionError> {
        quiet_ldap3_panics();
        let ips = match server.host.parse() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .lookup_ip(&server.host)
                .await
                .map_err(|e| SessionError::Resolve(server.host.clone(), e.to_string()))?,
        };
        let ip = *ips
            .first()
            .ok_or_else(|| SessionError::Resolve(server.host.clone(), "no address".into()))?;
        let addr = SocketAddr::new(ip, server.port);
        let tcp = tokio::time::timeout(budget, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| SessionError::ConnectTimeout(addr, budget))?
            .map_err(|e| SessionError::Connect(addr, e.to_string()))?;
        let std = tcp
            .into_std()
            .map_err(|e| SessionError::Connect(addr, e.to_string()))?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(budget)
            .set_std_stream(StdStream::Tcp(std));
        if server.security.is_tls() {
            let config = self.config.clone().map_err(SessionError::Trust)?;
            settings = settings
                .set_config(config)
                .set_starttls(server.security == LdapSecurity::StartTls);
        }
        let url = server.connect_url();
        let panicked = Arc::new(AtomicBool::new(false));
        // StartTLS runs in a task of ldap3's own: a panic there is seen only by the hook.
        let panics_before = LDAP3_PANICS.load(Ordering::SeqCst);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url)
            .await
            .map_err(|e| {
                SessionError::of(&e, LDAP3_PANICS.load(Ordering::SeqCst) > panics_before)
            })?;
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        let flag = panicked.clone();
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                if e.is_panic() {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        });
        ldap.with_timeout(budget);
        Ok(Session { ldap, panicked })
    }

    /// A session bound as the spec's service account; a refusal is judged as
    /// [`crate::bind::service_bind_failure`] says.
    /// A session bound as the service account; the bind is recorded in `auth` (a
    /// refusal of the account's password is final for the run).
    pub async fn bound(
        &self,
        server: &LdapServer,
        budget: Duration,
        auth: &AuthLog,
    ) -> Result<Session, Outcome> {
        let (secure, _) = tasks(self.spec.workflow);
        let s = self.ldap();
        let mut session = self.session(server, budget).await.map_err(|e| {
            Outcome::fail(e.to_string(), format!("See ldap.connect (task {secure})"))
        })?;
        let r = session
            .ldap
            .simple_bind(&s.bind_dn, s.password().expose())
            .await;
        if let Ok(r) = &r {
            auth.record(
                &s.bind_dn,
                Refusal::of(r).is_some_and(|f| f.refuses_credentials()),
            );
        }
        match r {
            Ok(r) => match Refusal::of(&r) {
                None => Ok(session),
                Some(refusal) => Err(crate::bind::service_bind_failure(
                    &s.bind_dn, &refusal, secure,
                )),
            },
            Err(e) => Err(Outcome::fail(
                format!("the bind was not answered: {}", session.error(&e)),
                format!("Check the directory server (task {secure})"),
            )),
        }
    }
}
