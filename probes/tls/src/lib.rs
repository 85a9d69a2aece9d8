//! imp-verify probe `tls`: every TLS certificate the deployment presents, observed
//! through the run's toolkit (`imp_verify_net::tls`) and judged here ([`judge`]).
//!
//! For each TLS endpoint the spec implies — XMPP c2s and s2s (STARTTLS), SIP TLS (with
//! the trunk's client certificate), HTTPS where listed, LDAPS and LDAP StartTLS — one
//! observation per run ([`inspect_endpoint`]: the modern handshake, and at the same time
//! a tolerant TLS 1.2 look and TLS 1.0/1.1 ClientHellos on connections of their own) is
//! judged by five checks: `tls.chain`, `tls.names`, `tls.validity`, `tls.usage`,
//! `tls.strength`. A certificate is judged even when its chain fails, and even when
//! only the tolerant look could read it (a 1024-bit key, CBC-only suites, TLS 1.0
//! only), so one run shows every problem of a bad certificate and names it.

#![warn(missing_docs)]

mod judge;
mod observe;

pub use judge::{judge, Expectation};
pub use observe::{inspect_endpoint, EndpointError};

use imp_verify_core::catalog::{self, Task};
use imp_verify_core::spec::{LdapSecurity, Role, Service, Spec, Workflow};
use imp_verify_core::{keys, CheckCtx, Outcome, PerAttempt, PlannedCheck, Probe};
use imp_verify_net::tls::{ClientIdentity, HandshakeFailure, TlsFacts};
use imp_verify_net::Net;
use std::net::IpAddr;
use std::sync::Arc;

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

/// A request of the endpoint's protocol, sent after the handshake of a SIP TLS
/// endpoint, which may require a client certificate (the trunk's, or one that is not
/// presented): a TLS 1.3 server refuses the client only after the handshake, and the
/// answer to this first request (or the alert instead of it) tells. It costs one
/// round trip, no fixed wait. Other endpoints (XMPP, LDAP, HTTPS) ask for no client
/// certificate, and get no request.
pub(crate) fn first_request(ep: &Endpoint) -> Option<Vec<u8>> {
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
            let o = Outcome::fail(why.message.clone(), fix)
                .with("endpoint", ep.target())
                .with(
                    "client_certificate",
                    if ep.client.is_some() {
                        "presented"
                    } else {
                        "none"
                    },
                );
            // What the tolerant look and the old-version ClientHellos got instead.
            let o = match &why.versions {
                Some(v) => v.answers.iter().fold(o, |o, (version, answer)| {
                    o.with(format!("offered_{}", version.name()), answer.to_string())
                }),
                None => o,
            };
            match (&why.versions, id) {
                (Some(v), "tls.strength") => o.with(
                    "lowest_version",
                    v.lowest(None).map(|v| v.name()).unwrap_or("not known"),
                ),
                _ => o,
            }
        }
        // No certificate, but the server still accepts TLS 1.0 or 1.1: that is judged.
        Err(why)
            if id == "tls.strength"
                && why
                    .versions
                    .as_ref()
                    .is_some_and(|v| !v.deprecated_accepted().is_empty()) =>
        {
            let v = why.versions.as_ref().expect("checked above");
            let names: Vec<&str> = v.deprecated_accepted().iter().map(|v| v.name()).collect();
            let lowest = v.lowest(None).map(|v| v.name()).unwrap_or("not known");
            Outcome::fail(
                format!("the server accepts {} (deprecated by RFC 8996; lowest version {lowest}); its certificate could not be read (see tls.chain [{}])", names.join(" and "), ep.target()),
                format!("Disable TLS 1.0 and TLS 1.1 on the service, so that it accepts TLS 1.2 and 1.3 only (task {})", ep.expect.task),
            )
            .with("endpoint", ep.target())
            .with("lowest_version", lowest)
        }
        Err(_) => Outcome::skip(format!(
            "no certificate to judge: the TLS handshake failed (see tls.chain [{}])",
            ep.target()
        ))
        .with("blocked_by", format!("tls.chain [{}]", ep.target()))
        .because(imp_verify_core::Reason::NotObservable {
            because: imp_verify_core::CheckKey::new("tls.chain", ep.target()),
        }),
    }
}
