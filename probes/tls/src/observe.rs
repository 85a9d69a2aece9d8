//! Observing an endpoint: the modern handshake (rustls) and, at the same time on their
//! own connections, the tolerant look (a TLS 1.2 ClientHello also offering CBC suites
//! and legacy signature algorithms) and ClientHellos of TLS 1.0 and 1.1. All share the
//! check's budget; nothing waits longer than the server takes to answer.

use crate::endpoint::{Start, TlsEndpoint};
use imp_verify_core::Stage;
use imp_verify_net::tls::legacy::{self, Offer, Protection, Version};
use imp_verify_net::tls::{
    confirm_client_accepted, starttls, HandshakeFailure, Refusal, SeenBy, TlsError, TlsFacts,
    VersionAnswer, Versions,
};
use imp_verify_net::{ConnectError, Net};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What kept an endpoint's handshake from being observed, as a type.
#[derive(Debug, Clone, PartialEq)]
pub enum Unobserved {
    /// A step had no answer within the check's time.
    TimedOut {
        /// The step that stalled (resolution, TCP connection, STARTTLS, the handshake,
        /// the first request after it).
        stage: Stage,
        /// The time the check had.
        after: Duration,
    },
    /// The host could not be resolved, or its port refused the connection.
    Unreachable {
        /// Resolution or the TCP connection.
        stage: Stage,
    },
    /// The STARTTLS prelude failed (the server refused it, or closed).
    Prelude,
    /// The handshake failed, and no certificate could be read.
    Handshake(HandshakeFailure),
}

/// Why an endpoint's handshake could not be observed.
#[derive(Debug, Clone)]
pub struct EndpointError {
    /// What went wrong, in the administrator's words.
    pub message: String,
    /// What it was, as a type.
    pub kind: Unobserved,
    /// The versions the server accepts, when they could be told without a certificate.
    pub versions: Option<Versions>,
}

impl EndpointError {
    fn new(kind: Unobserved, message: String) -> Self {
        EndpointError {
            message,
            kind,
            versions: None,
        }
    }

    fn timed_out(stage: Stage, budget: Duration, message: String) -> Self {
        Self::new(
            Unobserved::TimedOut {
                stage,
                after: budget,
            },
            message,
        )
    }

    /// The kind of handshake failure, when the handshake itself failed.
    pub fn failure(&self) -> Option<HandshakeFailure> {
        match self.kind {
            Unobserved::Handshake(k) => Some(k),
            _ => None,
        }
    }
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// "within 800 ms", as messages bound a step by the check's time.
fn within_ms(budget: Duration) -> String {
    format!("within {} ms", budget.as_millis())
}

/// A TCP connection to `addr` with the endpoint's prelude done (XMPP STARTTLS, LDAP
/// StartTLS), before `deadline`.
async fn open(
    ep: &TlsEndpoint,
    addr: SocketAddr,
    deadline: Instant,
    budget: Duration,
) -> Result<TcpStream, EndpointError> {
    let within = within_ms(budget);
    let mut tcp = imp_verify_net::connect(addr, deadline)
        .await
        .map_err(|e| connect_error(ep, e, budget))?;
    let (host, port) = (&ep.host, ep.port);
    let stalled = |what: &str| {
        EndpointError::timed_out(Stage::StartTls, budget, format!("{what} with {host}:{port} ({addr}) not done {within}: the server accepted the connection but did not answer {}", match ep.start {
            Start::Ldap => "the StartTLS request",
            _ => "the stream header or the <starttls/> request",
        }))
    };
    let refused = |what: &str, e: &dyn std::fmt::Display| {
        EndpointError::new(Unobserved::Prelude, format!("{what} with {addr}: {e}"))
    };
    match &ep.start {
        Start::Direct => {}
        Start::Xmpp { domain, namespace } => {
            tokio::time::timeout_at(deadline, starttls::xmpp(&mut tcp, domain, namespace))
                .await
                .map_err(|_| stalled("XMPP STARTTLS"))?
                .map_err(|e| refused("XMPP STARTTLS", &e))?;
        }
        Start::Ldap => tokio::time::timeout_at(deadline, starttls::ldap(&mut tcp))
            .await
            .map_err(|_| stalled("LDAP StartTLS"))?
            .map_err(|e| refused("LDAP StartTLS", &e))?,
    };
    Ok(tcp)
}

/// Resolution or the TCP connection failed: said as the step it was.
fn connect_error(ep: &TlsEndpoint, e: ConnectError, budget: Duration) -> EndpointError {
    let within = within_ms(budget);
    let (stage, timed_out) = (e.stage(), e.timed_out());
    let message = match e {
        ConnectError::ResolveTimeout { host, servers } => {
            format!("no DNS answer for {host} {within} (resolver {servers})")
        }
        ConnectError::ConnectTimeout { addr } => {
            format!(
                "no TCP connection to {}:{} ({addr}) {within}",
                ep.host, ep.port
            )
        }
        e => e.to_string(),
    };
    if timed_out {
        EndpointError::timed_out(stage, budget, message)
    } else {
        EndpointError::new(Unobserved::Unreachable { stage }, message)
    }
}

/// The modern handshake: the facts, or why not (with what it showed).
async fn modern(
    net: &Net,
    ep: &TlsEndpoint,
    addr: SocketAddr,
    deadline: Instant,
    budget: Duration,
) -> Result<Result<TlsFacts, TlsError>, EndpointError> {
    let within = within_ms(budget);
    let tcp = open(ep, addr, deadline, budget).await?;
    let handshake = net.tls.handshake(tcp, &ep.server_name, ep.client.as_ref());
    match tokio::time::timeout_at(deadline, handshake).await {
        Err(_) => Err(EndpointError::timed_out(Stage::TlsHandshake, budget, format!(
            "no TLS handshake with {}:{} ({addr}) {within}: the server accepted the connection but did not answer the handshake",
            ep.host, ep.port
        ))),
        Ok(Ok((mut stream, mut facts))) => {
            // A TLS 1.3 server refuses the client (certificate) only now: the first
            // request on the session tells (no fixed wait).
            if let Some(request) = ep.first_request() {
                let confirm = confirm_client_accepted(&mut stream, &mut facts, &request);
                if tokio::time::timeout_at(deadline, confirm).await.is_err() {
                    // The handshake was done; its answer to the first request stalled.
                    return Err(EndpointError::timed_out(Stage::TlsHandshake, budget, format!(
                        "{}:{} ({addr}) completed the TLS handshake but did not answer the first request {within}",
                        ep.host, ep.port
                    )));
                }
            }
            Ok(Ok(facts))
        }
        Ok(Err(e)) => Ok(Err(e)),
    }
}

/// One ClientHello offering at most `version` on its own connection; with
/// `want_certificate`, the certificate too.
async fn look(
    ep: &TlsEndpoint,
    addr: SocketAddr,
    version: Version,
    offer: Offer,
    want_certificate: bool,
    deadline: Instant,
    budget: Duration,
) -> Result<legacy::Answer, VersionAnswer> {
    let mut tcp = open(ep, addr, deadline, budget)
        .await
        .map_err(|e| VersionAnswer::Unknown(e.message))?;
    let hello = legacy::hello(&mut tcp, &ep.server_name, version, offer, want_certificate);
    match tokio::time::timeout_at(deadline, hello).await {
        Err(_) => Err(VersionAnswer::Unknown(format!(
            "no answer to a {version} ClientHello {}",
            within_ms(budget)
        ))),
        Ok(Err(e)) => Err(VersionAnswer::Refused(Refusal::Look(e))),
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// What a look says of the version it offered.
fn answer_for(version: Version, look: &Result<legacy::Answer, VersionAnswer>) -> VersionAnswer {
    match look {
        Ok(a) if a.version() == Some(version) => VersionAnswer::Accepted(a.suite),
        Ok(a) => VersionAnswer::Refused(Refusal::OtherVersion(a.version)),
        Err(e) => e.clone(),
    }
}

/// Facts read through the tolerant look whose server chose a CBC suite: one more
/// ClientHello, offering only AEAD suites (as modern clients do, with the tolerant
/// look's legacy signature algorithms), tells whether the server has any. Only a
/// refusal (an alert or a close) makes it CBC-only; no answer in time proves nothing.
async fn only_cbc(
    ep: &TlsEndpoint,
    addr: SocketAddr,
    mut facts: TlsFacts,
    deadline: Instant,
    budget: Duration,
) -> TlsFacts {
    if let SeenBy::TolerantLook {
        suite, only_cbc, ..
    } = &mut facts.seen_by
    {
        if suite.protection == Protection::Cbc {
            let aead = look(
                ep,
                addr,
                Version::Tls1_2,
                Offer::AeadOnly,
                false,
                deadline,
                budget,
            );
            *only_cbc = matches!(aead.await, Err(VersionAnswer::Refused(Refusal::Look(_))));
        }
    }
    facts
}

/// Connects to an endpoint, runs its prelude and the handshake: the facts, or why not.
/// Every step (resolution, TCP connection, STARTTLS, handshake, and on SIP TLS
/// endpoints the first request) shares `budget`, and a step that
/// outlasts it is named: a server that accepts TCP and never answers the handshake
/// fails with "no TLS handshake ... within N ms". At the same time, on connections of
/// their own (after the same prelude), ClientHellos of TLS 1.0, 1.1 and a tolerant
/// TLS 1.2 one tell the versions the server accepts ([`TlsFacts::versions`]); when the
/// modern handshake fails before the server's certificate was kept, the tolerant one's
/// certificate is judged instead ([`imp_verify_net::tls::SeenBy::TolerantLook`]), and
/// if that server chose a CBC suite, a ClientHello offering only AEAD suites tells
/// whether it has any.
pub async fn inspect_endpoint(
    net: &Net,
    ep: &TlsEndpoint,
    budget: Duration,
) -> Result<TlsFacts, EndpointError> {
    let deadline = Instant::now() + budget;
    let ip = imp_verify_net::address(&net.resolver, &ep.host, ep.address, deadline)
        .await
        .map_err(|e| connect_error(ep, e, budget))?;
    let addr = SocketAddr::new(ip, ep.port);
    let (modern, tolerant, tls1_0, tls1_1) = tokio::join!(
        modern(net, ep, addr, deadline, budget),
        look(
            ep,
            addr,
            Version::Tls1_2,
            Offer::AeadAndCbc,
            true,
            deadline,
            budget
        ),
        look(
            ep,
            addr,
            Version::Tls1_0,
            Offer::AeadAndCbc,
            false,
            deadline,
            budget
        ),
        look(
            ep,
            addr,
            Version::Tls1_1,
            Offer::AeadAndCbc,
            false,
            deadline,
            budget
        ),
    );
    let versions = Versions {
        answers: vec![
            (Version::Tls1_0, answer_for(Version::Tls1_0, &tls1_0)),
            (Version::Tls1_1, answer_for(Version::Tls1_1, &tls1_1)),
            (Version::Tls1_2, answer_for(Version::Tls1_2, &tolerant)),
        ],
    };
    let modern = modern.map_err(|e| EndpointError {
        versions: Some(versions.clone()),
        ..e
    })?;
    let mut facts = match modern {
        Ok(facts) => facts,
        // The server sent its certificate before the handshake broke: judge it anyway.
        Err(TlsError {
            facts: Some(facts), ..
        }) => facts,
        Err(e) => match tolerant
            .ok()
            .and_then(|a| TlsFacts::from_tolerant_look(&ep.server_name, &a, &e))
        {
            Some(facts) => only_cbc(ep, addr, facts, deadline, budget).await,
            None => {
                return Err(EndpointError {
                    message: format!("{addr}: {e}"),
                    kind: Unobserved::Handshake(e.kind),
                    versions: Some(versions),
                })
            }
        },
    };
    facts.versions = Some(versions);
    Ok(facts)
}
