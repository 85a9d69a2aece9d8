//! imp-verify probe `services`: every service port of every node accepts a TCP
//! connection (check `services.port`, tasks "activate feature services" and "verify
//! services are running": A.2 and A.9 in workflow A).
//!
//! The ports come from the spec: each node's services (by role, or as listed) with
//! their ports, and each LDAP server's URL.

#![warn(missing_docs)]

use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Service, Spec, Workflow};
use imp_verify_core::{keys, CheckCtx, Outcome, PlannedCheck, Probe};
use imp_verify_net::{Net, Resolver};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

/// The probe.
pub struct ServicesProbe {
    net: Arc<Net>,
}

impl ServicesProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        ServicesProbe { net }
    }
}

impl Probe for ServicesProbe {
    fn name(&self) -> &'static str {
        "services"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let resolver = self.net.resolver.clone();
        let mut checks = Vec::new();
        for (_, node) in spec.nodes() {
            for (service, port) in node.service_ports() {
                let mut check = port_check(&resolver, node.fqdn(), node.address, port, service);
                if node.address.is_none() {
                    // Without a pinned address the port can only be reached through DNS.
                    check = check.after(keys::dns_node(node.fqdn()));
                }
                checks.push(check);
            }
        }
        if let Some(ldap) = &spec.ldap {
            for server in &ldap.servers {
                let service = server.security.service();
                let pinned = server.ip();
                checks.push(port_check(
                    &resolver,
                    &server.host,
                    pinned,
                    server.port,
                    service,
                ));
            }
        }
        checks
    }
}

/// The `services.port` check of one endpoint.
fn port_check(
    resolver: &Arc<Resolver>,
    host: &str,
    pinned: Option<IpAddr>,
    port: u16,
    service: Service,
) -> PlannedCheck {
    let host = host.to_string();
    let server = host.clone();
    let resolver = resolver.clone();
    PlannedCheck::keyed(
        keys::services_port(&host, port, service.name()),
        move |ctx| {
            let host = host.clone();
            let resolver = resolver.clone();
            async move {
                probe_port(
                    &resolver,
                    &host,
                    pinned,
                    port,
                    service.name(),
                    &hint(service, ctx.workflow),
                    &ctx,
                )
                .await
            }
        },
    )
    .on(server)
}

/// What to do when a service's port does not answer, in the administrator's words,
/// naming the tasks of the run's workflow.
fn hint(service: Service, w: Workflow) -> String {
    use Task::*;
    match service {
        Service::XmppC2s => format!("Check that the Cisco XCP Connection Manager and Cisco XCP Router services are activated and running on the node{}, and that no firewall blocks the port", cite(w, &[ActivateServices])),
        Service::XmppS2s => format!("Check that the Cisco XCP XMPP Federation Connection Manager is activated and running on the node{}, and that no firewall blocks the port", cite(w, &[ActivateServices, Federation])),
        Service::SipTcp | Service::SipTls => format!("Check that the Cisco SIP Proxy and Cisco Presence Engine services are running on the node{} and that the listener for this transport is enabled", cite(w, &[ActivateServices])),
        Service::Https => format!("Check that the Cisco Tomcat service is running on the node{}", cite(w, &[ActivateServices])),
        Service::Ldap | Service::Ldaps => format!("Check that the directory server is running and listens on this port{}", cite(w, &[SecureLdap, LdapClients, LdapForJabber])),
    }
}

async fn probe_port(
    resolver: &Resolver,
    host: &str,
    pinned: Option<IpAddr>,
    port: u16,
    service: &str,
    hint: &str,
    ctx: &CheckCtx,
) -> Outcome {
    let install = ctx.cite(&[Task::Install]);
    let timeout = ctx.timeout;
    let addrs: Vec<IpAddr> = match pinned {
        Some(ip) => vec![ip],
        None => match resolver.lookup_ip(host).await {
            Ok(ips) if !ips.is_empty() => ips,
            Ok(_) => {
                return Outcome::fail(
                    format!("{host} has no address to connect to {service} on"),
                    format!("Add an A or AAAA record for the host{install}"),
                )
                .with("host", host)
            }
            Err(e) => {
                return Outcome::fail(
                    format!("cannot resolve {host}: {e}"),
                    format!(
                    "Add an A or AAAA record for the host, or pin its address in the spec{install}"
                ),
                )
                .with("host", host)
            }
        },
    };
    // Leave a little of the check's time for reporting.
    let connect_timeout = timeout.mul_f32(0.9);
    let mut last = None;
    for ip in &addrs {
        let addr = SocketAddr::new(*ip, port);
        let start = Instant::now();
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => {
                return Outcome::pass(format!("{service} port {port} accepts connections on {addr}"))
                    .with("address", addr)
                    .with("service", service)
                    .metric("connect_ms", imp_verify_core::ms(start.elapsed()));
            }
            Ok(Err(e)) => last = Some((addr, describe(&e))),
            Err(_) => {
                last = Some((
                    addr,
                    format!(
                        "no answer to the TCP connection within {} ms (a firewall drops it, or the host is down)",
                        connect_timeout.as_millis()
                    ),
                ))
            }
        }
    }
    let (addr, why) = last.expect("at least one address was tried");
    let mut o = Outcome::fail(format!("{service} port {port} of {host}: {why}"), hint)
        .with("address", addr)
        .with("service", service)
        .with("expected", format!("a listener on TCP port {port}"));
    if addrs.len() > 1 {
        o = o.with(
            "addresses_tried",
            addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    o
}

fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused: nothing listens on the port".into(),
        ErrorKind::TimedOut => "the connection timed out".into(),
        _ => format!("cannot connect: {e}"),
    }
}
