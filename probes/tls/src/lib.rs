//! imp-verify probe `tls`: every TLS certificate the deployment presents, and the
//! [`TlsInspector`] the LDAP, XMPP and SIP probes hand their handshakes to.
//!
//! For each TLS endpoint the spec implies — XMPP c2s and s2s (STARTTLS), SIP TLS (with
//! the trunk's client certificate), HTTPS where listed, LDAPS and LDAP StartTLS — one
//! handshake per run is judged by five checks: `tls.chain`, `tls.names`,
//! `tls.validity`, `tls.usage`, `tls.strength`. A certificate is judged even when its
//! chain fails, so one run shows every problem of a bad certificate.

#![warn(missing_docs)]

mod inspect;
pub mod starttls;

pub use inspect::{
    await_refusal, view, CertView, ClientIdentity, Expectation, Names, TlsError, TlsFacts,
    TlsInspector,
};
/// The TLS crate the inspector's types come from, for callers that name them.
pub use rustls;

use imp_probe_dns::Resolver;
use imp_verify_core::spec::{LdapSecurity, Role, Service, Spec, Workflow};
use imp_verify_core::{CheckCtx, Outcome, PerAttempt, PlannedCheck, Probe};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

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
    match w {
        Workflow::A => "A.10",
        Workflow::B => "B.11",
        Workflow::C => "C.11",
        Workflow::D => "D.2",
    }
}

/// The task of "integrate LDAP directory clients" (LDAP server certificate) in a workflow.
fn ldap_task(w: Workflow) -> &'static str {
    match w {
        Workflow::A => "A.6",
        Workflow::B => "B.6",
        Workflow::C => "C.6",
        Workflow::D => "D.2",
    }
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

/// Connects to an endpoint, runs its prelude and the handshake: the facts, or why not.
/// Every step (resolution, TCP connection, STARTTLS, handshake) shares `budget`, and a
/// step that outlasts it is named: a server that accepts TCP and never answers the
/// handshake fails with "no TLS handshake ... within N ms".
pub async fn inspect_endpoint(
    inspector: &TlsInspector,
    resolver: &Resolver,
    ep: &Endpoint,
    budget: Duration,
) -> Result<TlsFacts, String> {
    let deadline = tokio::time::Instant::now() + budget;
    let within = format!("within {} ms", budget.as_millis());
    let ips = match ep.address {
        Some(ip) => vec![ip],
        None => tokio::time::timeout_at(deadline, resolver.lookup_ip(&ep.host))
            .await
            .map_err(|_| {
                format!(
                    "no DNS answer for {} {within} (resolver {})",
                    ep.host,
                    resolver.servers()
                )
            })?
            .map_err(|e| format!("cannot resolve {}: {e}", ep.host))?,
    };
    let ip = *ips
        .first()
        .ok_or_else(|| format!("{} has no address", ep.host))?;
    let addr = SocketAddr::new(ip, ep.port);
    let mut tcp = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            format!(
                "no TCP connection to {}:{} ({addr}) {within}",
                ep.host, ep.port
            )
        })?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    match &ep.start {
        Start::Direct => {}
        Start::Xmpp { domain, namespace } => {
            tokio::time::timeout_at(deadline, starttls::xmpp(&mut tcp, domain, namespace))
                .await
                .map_err(|_| format!("XMPP STARTTLS with {}:{} ({addr}) not done {within}: the server accepted the connection but did not answer the stream header or the <starttls/> request", ep.host, ep.port))?
                .map_err(|e| format!("XMPP STARTTLS with {addr}: {e}"))?;
        }
        Start::Ldap => tokio::time::timeout_at(deadline, starttls::ldap(&mut tcp))
            .await
            .map_err(|_| format!("LDAP StartTLS with {}:{} ({addr}) not done {within}: the server accepted the connection but did not answer the StartTLS request", ep.host, ep.port))?
            .map_err(|e| format!("LDAP StartTLS with {addr}: {e}"))?,
    };
    let handshake = inspector.handshake(tcp, &ep.server_name, ep.client.as_ref());
    match tokio::time::timeout_at(deadline, handshake).await {
        Err(_) => Err(format!(
            "no TLS handshake with {}:{} ({addr}) {within}: the server accepted the connection but did not answer the handshake",
            ep.host, ep.port
        )),
        Ok(Ok((mut stream, mut facts))) => {
            // A TLS 1.3 server refuses the client (certificate) only now.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            await_refusal(&mut stream, &mut facts, REFUSAL_WAIT.min(left)).await;
            Ok(facts)
        }
        // The server sent its certificate before the handshake broke: judge it anyway.
        Ok(Err(TlsError { facts: Some(facts), .. })) => Ok(facts),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
    }
}

/// How long [`inspect_endpoint`] waits, after a TLS 1.3 handshake, for the server to
/// refuse the client's certificate (see [`await_refusal`]).
pub const REFUSAL_WAIT: Duration = Duration::from_millis(300);

type Judged = Result<(TlsFacts, Vec<(&'static str, Outcome)>), String>;

/// The probe.
pub struct TlsProbe;

impl Probe for TlsProbe {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let inspector = Arc::new(TlsInspector::from_spec(spec));
        let resolver = Arc::new(Resolver::from_spec(spec));
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
            let port_key = imp_probe_services::port_key(&ep.host, ep.port, ep.service);
            for id in CHECKS {
                let (ep, shared, inspector, resolver) = (
                    ep.clone(),
                    shared.clone(),
                    inspector.clone(),
                    resolver.clone(),
                );
                let check = PlannedCheck::new(id, ep.target(), move |ctx: CheckCtx| {
                    let (ep, shared, inspector, resolver) = (
                        ep.clone(),
                        shared.clone(),
                        inspector.clone(),
                        resolver.clone(),
                    );
                    async move { verdict(id, &ep, &shared, &inspector, &resolver, ctx).await }
                });
                checks.push(check.after(port_key.clone()));
            }
        }
        checks
    }
}

async fn verdict(
    id: &'static str,
    ep: &Endpoint,
    shared: &PerAttempt<Judged>,
    inspector: &TlsInspector,
    resolver: &Resolver,
    ctx: CheckCtx,
) -> Outcome {
    let budget = ctx.timeout.mul_f32(0.8);
    let judged = shared
        .get_or_init(ctx.attempt, || async {
            inspect_endpoint(inspector, resolver, ep, budget)
                .await
                .map(|facts| {
                    let v = inspector.judge(&facts, &ep.expect);
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
                || (id == "tls.strength" && why.contains(inspect::NO_MODERN_TLS)) =>
        {
            let fix = if why.contains(inspect::NO_MODERN_TLS) {
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
            Outcome::fail(why.clone(), fix)
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
