//! The TLS endpoints a spec implies, and how TLS starts at each.

use crate::judge::Expectation;
use imp_verify_core::catalog::{self, Task};
use imp_verify_core::spec::{LdapSecurity, Role, Service, Spec, Workflow};
use imp_verify_net::tls::{ClientIdentity, PemError};
use std::net::IpAddr;

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
pub struct TlsEndpoint {
    /// The service (`xmpp-c2s`, `sip-tls`, `ldaps`...).
    pub service: Service,
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

impl TlsEndpoint {
    /// The check target: `xmpp-c2s imp1.lab.test:5222`.
    pub fn target(&self) -> String {
        format!("{} {}:{}", self.service.name(), self.host, self.port)
    }

    /// "presented" or "none", as the evidence says whether a client certificate went.
    pub(crate) fn client_certificate(&self) -> &'static str {
        if self.client.is_some() {
            "presented"
        } else {
            "none"
        }
    }

    /// A request of the endpoint's protocol, sent after the handshake of a SIP TLS
    /// endpoint, which may require a client certificate (the trunk's, or one that is
    /// not presented): a TLS 1.3 server refuses the client only after the handshake,
    /// and the answer to this first request (or the alert instead of it) tells. It
    /// costs one round trip, no fixed wait. Other endpoints (XMPP, LDAP, HTTPS) ask for
    /// no client certificate, and get no request.
    pub(crate) fn first_request(&self) -> Option<Vec<u8>> {
        (self.service == Service::SipTls && matches!(self.start, Start::Direct)).then(|| {
            let host = &self.host;
            let port = self.port;
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
}

/// The task of "enable secure communication" in a workflow (A.10, B.11, C.11).
fn secure_task(w: Workflow) -> &'static str {
    catalog::first_label(w, &[Task::SecureCommunication, Task::LdapForJabber])
}

/// The task of "integrate LDAP directory clients" (LDAP server certificate) in a workflow.
fn ldap_task(w: Workflow) -> &'static str {
    catalog::first_label(w, &[Task::LdapClients, Task::LdapForJabber])
}

/// How a node's service speaks TLS.
struct NodeTls {
    start: Start,
    /// The name asked for (SNI) and verified.
    server_name: String,
    /// The XMPP domain its certificate must cover, with the SRVName label.
    xmpp_domain: Option<(String, &'static str)>,
    /// Whether the node also presents the certificate as a client.
    client_auth: bool,
}

/// How a node's service speaks TLS, if it does.
fn node_tls(service: Service, role: Role, fqdn: &str, domain: &str) -> Option<NodeTls> {
    let xmpp = |namespace, label| {
        Some(NodeTls {
            start: Start::Xmpp {
                domain: domain.to_string(),
                namespace,
            },
            server_name: domain.to_string(),
            xmpp_domain: Some((domain.to_string(), label)),
            client_auth: namespace == "jabber:server",
        })
    };
    let direct = |client_auth| {
        Some(NodeTls {
            start: Start::Direct,
            server_name: fqdn.to_string(),
            xmpp_domain: None,
            client_auth,
        })
    };
    match service {
        Service::XmppC2s => xmpp("jabber:client", "_xmpp-client"),
        Service::XmppS2s => xmpp("jabber:server", "_xmpp-server"),
        Service::SipTls => direct(role == Role::Imp),
        Service::Https | Service::Ldaps => direct(false),
        Service::SipTcp | Service::Ldap => None,
    }
}

/// The TLS endpoints the spec implies, or why the SIP trunk's client certificate
/// cannot be used.
pub fn endpoints(spec: &Spec) -> Result<Vec<TlsEndpoint>, PemError> {
    let mut v = Vec::new();
    let secure = secure_task(spec.workflow);
    for cluster in &spec.clusters {
        let domain = cluster.domain.to_ascii_lowercase();
        let trunk_client = match &cluster.sip_trunk {
            Some(t) => match (&t.client_cert, &t.client_key) {
                (Some(c), Some(k)) => Some(ClientIdentity::load(c, k)?),
                _ => None,
            },
            None => None,
        };
        for node in &cluster.nodes {
            let fqdn = node.fqdn().to_ascii_lowercase();
            for (service, port) in node.service_ports() {
                let Some(tls) = node_tls(service, node.role, &fqdn, &domain) else {
                    continue;
                };
                // The trunk's client certificate goes to the IM&P nodes' SIP TLS port.
                let client = (service == Service::SipTls && node.role == Role::Imp)
                    .then(|| trunk_client.clone())
                    .flatten();
                v.push(TlsEndpoint {
                    service,
                    host: fqdn.clone(),
                    port,
                    address: node.address,
                    start: tls.start,
                    server_name: tls.server_name,
                    expect: Expectation {
                        dns_names: vec![fqdn.clone()],
                        xmpp_domain: tls.xmpp_domain,
                        client_auth: tls.client_auth,
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
            v.push(TlsEndpoint {
                service: server.security.service(),
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
