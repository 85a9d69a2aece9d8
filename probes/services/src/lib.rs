//! imp-verify probe `services`: every service port of every node accepts a TCP
//! connection (check `services.port`, tasks "activate feature services" and "verify
//! services are running": A.2 and A.9 in workflow A).
//!
//! The ports come from the spec: each node's services (by role, or as listed) with
//! their ports, and each LDAP server's URL. Each check observes ([`observe_port`]: the
//! host's addresses, then a connection to each, within the check's time) into
//! [`PortFacts`], which [`judge_port`] judges.

#![warn(missing_docs)]

mod judge;
mod observe;

pub use judge::{hint, judge_port};
pub use observe::{
    observe_port, Connected, PortEndpoint, PortFacts, ResolveFailure, MAX_ADDRESSES,
};

use imp_verify_core::spec::Spec;
use imp_verify_core::{keys, PlannedCheck, Probe};
use imp_verify_net::{Net, Resolver};
use std::sync::Arc;

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
        let resolver = &self.net.resolver;
        let mut checks = Vec::new();
        for (_, node) in spec.nodes() {
            for (service, port) in node.service_ports() {
                let ep = PortEndpoint {
                    host: node.fqdn().to_string(),
                    pinned: node.address,
                    port,
                    service,
                };
                let mut check = port_check(resolver, ep);
                if node.address.is_none() {
                    // Without a pinned address the port can only be reached through DNS.
                    check = check.after(keys::dns_node(node));
                }
                checks.push(check);
            }
        }
        if let Some(ldap) = &spec.ldap {
            for server in &ldap.servers {
                checks.push(port_check(
                    resolver,
                    PortEndpoint {
                        host: server.host.clone(),
                        pinned: server.ip(),
                        port: server.port,
                        service: server.security.service(),
                    },
                ));
            }
        }
        checks
    }
}

/// The `services.port` check of one endpoint.
fn port_check(resolver: &Arc<Resolver>, ep: PortEndpoint) -> PlannedCheck {
    let key = keys::services_port(&ep.host, ep.port, ep.service);
    let server = ep.host.clone();
    let job = Arc::new((resolver.clone(), ep));
    PlannedCheck::keyed(key, move |ctx| {
        let job = job.clone();
        async move {
            let (resolver, ep) = &*job;
            let facts = observe_port(resolver, ep, &ctx).await;
            judge_port(&facts, ctx.workflow)
        }
    })
    .on(server)
}
