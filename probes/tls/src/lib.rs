//! imp-verify probe `tls`: every TLS certificate the deployment presents, observed
//! through the run's toolkit (`imp_verify_net::tls`) and judged here ([`judge`]).
//!
//! For each TLS endpoint the spec implies — XMPP c2s and s2s (STARTTLS), SIP TLS (with
//! the trunk's client certificate), HTTPS where listed, LDAPS and LDAP StartTLS — one
//! handshake per run is judged by five checks: `tls.chain`, `tls.names`,
//! `tls.validity`, `tls.usage`, `tls.strength`. A certificate is judged even when its
//! chain fails, so one run shows every problem of a bad certificate.

#![warn(missing_docs)]

mod judge;

pub use judge::{judge, Expectation};

use imp_verify_core::catalog::{self, Task};
use imp_verify_core::spec::{LdapSecurity, Role, Service, Spec, Workflow};
use imp_verify_core::{keys, CheckCtx, Outcome, PerAttempt, PlannedCheck, Probe};
use imp_verify_net::tls::{
    confirm_client_accepted, starttls, ClientIdentity, HandshakeFailure, TlsError, TlsFacts,
};
use imp_verify_net::{ConnectError, Net};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The five checks of an endpoint, in report order.
pub const CHECKS: [&str; 5] = [
    "tls.chain",
    "tls.names",
    "tls.validity",
    "tls.usage",
    "tls.strength",
];

/// How TLS starts at an endpoint.
#[derive(Debug, Clone)]
pub enum Start {
    /// TLS from the first byte (LDAPS, SIP TLS, HTTPS).
    Direct,
    /// XMPP STARTTLS on a stream to `domain` in `namespace` (`jabber:client`, `jabber:server`).
    Xmpp {
        /// The XMPP domain the stream is opened to.
        domain: String,
        /// The stream's default namespace.
        namespace: &'static str,
    },
    /// LDAP's StartTLS extended operation.
    Ldap,
}

/// One TLS endpoint of the deployment.
#[derive(Clone)]
pub struct Endpoint {
    /// The service name (`xmpp-c2s`, `sip-tls`, `ldaps`...).
    pub service: &'static str,
    /// The host as the spec names it (node FQDN or directory server).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The address, if the spec pins it; else the host is resolved.
    pub address: Option<IpAddr>,
    /// How TLS starts.
    pub start: Start,
    /// The name asked for in the handshake (SNI) and verified.
    pub server_name: String,
    /// What the certificate must be.
    pub expect: Expectation,
    /// The certificate to present (the SIP trunk's CUCM certificate).
    pub client: Option<ClientIdentity>,
}

impl Endpoint {
    /// The check target: `xmpp-c2s imp1.lab.test:5222`.
    pub fn target(&self) -> String {
        format!("{} {}:{}", self.service, self.host, self.port)
    }
}

/// The task of "enable secure communication" in a workflow (A.10, B.11, C.11).
fn secure_task(w: Workflow) -> &'static str {
    catalog::first_label(w, &[Task::SecureCommunication, Task::LdapForJabber])
}

/// The task of "integrate LDAP directory clients" (LDAP server certificate) in a workflow.
fn ldap_task(w: Workflow) -> &'static str {
    catalog::first_label(w, &[Task::LdapClients, Task::LdapForJabber])
}

/// The TLS endpoints the spec implies.
pub fn endpoints(spec: &Spec) -> Result<Vec<Endpoint>, String> {
    let mut v = Vec::new();
    let secure = secure_task(spec.workflow);
    for cluster in &spec.clusters {
        let domain = cluster.domain.to_ascii_lowercase();
        let trunk_client = match &cluster.sip_trunk {
            Some(t) => match (&t.client_cert, &t.client_key) {
                (Some(c), Some(k)) => Some(ClientIdentity::from_pem_files(c, k)?),
                _ => None,
            },
            None => None,
        };
        for node in &cluster.nodes {
            let fqdn = node.fqdn().to_ascii_lowercase();
            for (service, port) in node.service_ports() {
                let (name, start, server_name, xmpp, client_auth, client) = match service {
                    Service::XmppC2s => (
                        "xmpp-c2s",
                        Start::Xmpp {
                            domain: domain.clone(),
                            namespace: "jabber:client",
                        },
                        domain.clone(),
                        Some((domain.clone(), "_xmpp-client")),
                        false,
                        None,
                    ),
                    Service::XmppS2s => (
                        "xmpp-s2s",
                        Start::Xmpp {
                            domain: domain.clone(),
                            namespace: "jabber:server",
                        },
                        domain.clone(),
                        Some((domain.clone(), "_xmpp-server")),
                        true,
                        None,
                    ),
                    Service::SipTls if node.role == Role::Imp => (
                        "sip-tls",
                        Start::Direct,
                        fqdn.clone(),
                        None,
                        true,
                        trunk_client.clone(),
                    ),
                    Service::SipTls => ("sip-tls", Start::Direct, fqdn.clone(), None, false, None),
                    Service::Https => ("https", Start::Direct, fqdn.clone(), None, false, None),
                    Service::Ldaps => ("ldaps", Start::Direct, fqdn.clone(), None, false, None),
                    Service::SipTcp | Service::Ldap => continue,
                };
                v.push(Endpoint {
                    service: name,
                    host: fqdn.clone(),
                    port,
                    address: node.address,
                    start,
                    server_name,
                    expect: Expectation {
                        dns_names: vec![fqdn.clone()],
                        xmpp_domain: xmpp,
                        client_auth,
                        task: secure,
                    },
                    client,
                });
            }
        }
    }
    if let Some(ldap) = &spec.ldap {
        for server in &ldap.servers {
            if !server.security.is_tls() {
                continue; // cleartext by the spec's explicit choice: nothing to judge here
            }
            let host = server.host.to_ascii_lowercase();
            v.push(Endpoint {
                service: server.security.service().name(),
                host: host.clone(),
                port: server.port,
                address: host.parse().ok(),
                start: match server.security {
                    LdapSecurity::Ldaps => Start::Direct,
                    _ => Start::Ldap,
                },
                server_name: host.clone(),
                expect: Expectation {
                    dns_names: vec![host.clone()],
                    xmpp_domain: None,
                    client_auth: false,
                    task: ldap_task(spec.workflow),
                },
                client: None,
            });
        }
    }
    Ok(v)
}

/// Why an endpoint's handshake could not be observed.
#[derive(Debug, Clone)]
pub struct EndpointError {
    /// What went wrong, in the administrator's words.
    pub message: String,
    /// The kind of handshake failure, when the handshake itself failed.
    pub failure: Option<HandshakeFailure>,
}

impl EndpointError {
    fn new(message: String) -> Self {
        EndpointError {
            message,
            failure: None,
        }
    }
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A request of the endpoint's protocol, sent after the handshake of a SIP TLS
/// endpoint, which may require a client certificate (the trunk's, or one that is not
/// presented): a TLS 1.3 server refuses the client only after the handshake, and the
/// answer to this first request (or the alert instead of it) tells. It costs one
/// round trip, no fixed wait. Other endpoints (XMPP, LDAP, HTTPS) ask for no client
/// certificate, and get no request.
fn first_request(ep: &Endpoint) -> Option<Vec<u8>> {
    (ep.service == Service::SipTls.name() && matches!(ep.start, Start::Direct)).then(|| {
        let host = &ep.host;
        let port = ep.port;
        format!(
            "OPTIONS sip:{host}:{port};transport=tls SIP/2.0\r\n\
             Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-impv-tls-{port}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:imp-verify@{host}>;tag=impv-tls\r\n\
             To: <sip:{host}:{port}>\r\n\
             Call-ID: impv-tls-check@{host}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    })
}

/// Connects to an endpoint, runs its prelude and the handshake: the facts, or why not.
/// Every step (resolution, TCP connection, STARTTLS, handshake, and where a client
/// certificate is presented the first request) shares `budget`, and a step that
/// outlasts it is named: a server that accepts TCP and never answers the handshake
/// fails with "no TLS handshake ... within N ms".
pub async fn inspect_endpoint(
    net: &Net,
    ep: &Endpoint,
    budget: Duration,
) -> Result<TlsFacts, EndpointError> {
    let deadline = tokio::time::Instant::now() + budget;
    let within = format!("within {} ms", budget.as_millis());
    let (mut tcp, addr) =
        imp_verify_net::reach(&net.resolver, &ep.host, ep.address, ep.port, deadline)
            .await
            .map_err(|e| {
                EndpointError::new(match e {
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
                })
            })?;
    match &ep.start {
        Start::Direct => {}
        Start::Xmpp { domain, namespace } => {
            tokio::time::timeout_at(deadline, starttls::xmpp(&mut tcp, domain, namespace))
                .await
                .map_err(|_| EndpointError::new(format!("XMPP STARTTLS with {}:{} ({addr}) not done {within}: the server accepted the connection but did not answer the stream header or the <starttls/> request", ep.host, ep.port)))?
                .map_err(|e| EndpointError::new(format!("XMPP STARTTLS with {addr}: {e}")))?;
        }
        Start::Ldap => tokio::time::timeout_at(deadline, starttls::ldap(&mut tcp))
            .await
            .map_err(|_| EndpointError::new(format!("LDAP StartTLS with {}:{} ({addr}) not done {within}: the server accepted the connection but did not answer the StartTLS request", ep.host, ep.port)))?
            .map_err(|e| EndpointError::new(format!("LDAP StartTLS with {addr}: {e}")))?,
    };
    let handshake = net.tls.handshake(tcp, &ep.server_name, ep.client.as_ref());
    match tokio::time::timeout_at(deadline, handshake).await {
        Err(_) => Err(EndpointError::new(format!(
            "no TLS handshake with {}:{} ({addr}) {within}: the server accepted the connection but did not answer the handshake",
            ep.host, ep.port
        ))),
        Ok(Ok((mut stream, mut facts))) => {
            // A TLS 1.3 server refuses the client (certificate) only now: the first
            // request on the session tells (no fixed wait).
            if let Some(request) = first_request(ep) {
                let confirm = confirm_client_accepted(&mut stream, &mut facts, &request);
                if tokio::time::timeout_at(deadline, confirm).await.is_err() {
                    return Err(EndpointError::new(format!(
                        "{}:{} ({addr}) completed the TLS handshake but did not answer the first request {within}",
                        ep.host, ep.port
                    )));
                }
            }
            Ok(facts)
        }
        // The server sent its certificate before the handshake broke: judge it anyway.
        Ok(Err(TlsError {
            facts: Some(facts), ..
        })) => Ok(facts),
        Ok(Err(e)) => Err(EndpointError {
            message: format!("{addr}: {e}"),
            failure: Some(e.kind),
        }),
    }
}

type Judged = Result<(TlsFacts, Vec<(&'static str, Outcome)>), EndpointError>;

/// The probe.
pub struct TlsProbe {
    net: Arc<Net>,
}

impl TlsProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        TlsProbe { net }
    }
}

impl Probe for TlsProbe {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let endpoints = match endpoints(spec) {
            Ok(e) => e,
            Err(why) => {
                // The client certificate cannot be read: every TLS check says so.
                return CHECKS
                    .iter()
                    .map(|id| {
                        let why = why.clone();
                        PlannedCheck::new(id, "client certificate", move |_| {
                            let why = why.clone();
                            async move {
                                Outcome::fail(
                                    format!("the SIP trunk's client certificate cannot be used: {why}"),
                                    "Give the spec's sip_trunk.client_cert and client_key as PEM files",
                                )
                            }
                        })
                    })
                    .collect();
            }
        };
        let mut checks = Vec::new();
        for ep in endpoints {
            let ep = Arc::new(ep);
            let shared: Arc<PerAttempt<Judged>> = Arc::new(PerAttempt::default());
            let port_key = keys::services_port(&ep.host, ep.port, ep.service);
            for id in CHECKS {
                let host = ep.host.clone();
                let (ep, shared, net) = (ep.clone(), shared.clone(), self.net.clone());
                let check = PlannedCheck::new(id, ep.target(), move |ctx: CheckCtx| {
                    let (ep, shared, net) = (ep.clone(), shared.clone(), net.clone());
                    async move { verdict(id, &ep, &shared, &net, ctx).await }
                });
                checks.push(check.after(port_key.clone()).on(host));
            }
        }
        checks
    }
}

async fn verdict(
    id: &'static str,
    ep: &Endpoint,
    shared: &PerAttempt<Judged>,
    net: &Net,
    ctx: CheckCtx,
) -> Outcome {
    let budget = ctx.budget();
    let judged = shared
        .get_or_init(ctx.attempt, || async {
            inspect_endpoint(net, ep, budget).await.map(|facts| {
                let v = judge(&net.tls, &facts, &ep.expect);
                (facts, v)
            })
        })
        .await;
    match &judged {
        Ok((facts, verdicts)) => {
            let o = verdicts
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, o)| o.clone())
                .expect("judge gives every check");
            o.with("server_name", &facts.server_name).with(
                "client_certificate",
                if ep.client.is_some() {
                    "presented"
                } else {
                    "none"
                },
            )
        }
        // No TLS 1.2 or newer: a strength problem too, and the only thing to judge.
        Err(why)
            if id == "tls.chain"
                || (id == "tls.strength" && why.failure == Some(HandshakeFailure::NoModernTls)) =>
        {
            let fix = if why.failure == Some(HandshakeFailure::NoModernTls) {
                format!(
                    "Enable TLS 1.2 (or 1.3) on the service and retire older versions (task {})",
                    ep.expect.task
                )
            } else {
                format!(
                    "Check that the service offers TLS{} and accepts this client (task {})",
                    match ep.start {
                        Start::Direct => String::new(),
                        Start::Xmpp { .. } => " through STARTTLS".into(),
                        Start::Ldap => " through the StartTLS extended operation".into(),
                    },
                    ep.expect.task
                )
            };
            Outcome::fail(why.message.clone(), fix)
                .with("endpoint", ep.target())
                .with(
                    "client_certificate",
                    if ep.client.is_some() {
                        "presented"
                    } else {
                        "none"
                    },
                )
        }
        Err(_) => Outcome::skip(format!(
            "no certificate to judge: the TLS handshake failed (see tls.chain [{}])",
            ep.target()
        ))
        .with("blocked_by", format!("tls.chain [{}]", ep.target())),
    }
}
