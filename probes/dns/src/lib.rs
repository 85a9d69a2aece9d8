//! imp-verify probe `dns`: the DNS records an IM and Presence deployment needs, asked
//! through the run's resolver (`imp_verify_net::Resolver`).
//!
//! Checks: `dns.node` (each node FQDN resolves, to the spec's address if given, and the
//! address's PTR names the node); `dns.srv.*` (the SRV records clients, federated
//! servers and the SIP publish trunk use: present, targets resolve, targets are the
//! deployment's nodes with the spec's ports; the trunk's name lists exactly the
//! cluster's IM&P nodes; `_sipfederationtls._tcp` of the local domains and of the
//! federated SIP domains).
//!
//! Every check observes ([`observe_node`], [`observe_srv`]: bounded lookups within the
//! check's time) into plain facts ([`NodeFacts`], [`SrvFacts`]) that pure judges
//! ([`judge_node`], [`judge_srv`]) turn into a verdict; a failed lookup is named as what
//! it is (absent, a CNAME loop, SERVFAIL, no answer...) with the fix that fits it.

#![warn(missing_docs)]

mod failure;
mod node;
mod srv;

pub use failure::Asked;
pub use node::{judge_node, observe_node, NodeFacts};
pub use srv::{judge_srv, observe_srv, SrvExpect, SrvFacts, MAX_TARGETS};

use imp_verify_core::spec::Spec;
use imp_verify_core::{keys, PlannedCheck, Probe, Stage};
use imp_verify_net::Net;
use std::sync::Arc;

/// The probe.
pub struct DnsProbe {
    net: Arc<Net>,
}

impl DnsProbe {
    /// The probe, with the run's network toolkit.
    pub fn new(net: Arc<Net>) -> Self {
        DnsProbe { net }
    }
}

impl Probe for DnsProbe {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let resolver = &self.net.resolver;
        let workflow = spec.workflow;
        let mut checks = Vec::new();
        for (_, node) in spec.nodes() {
            let job = Arc::new((resolver.clone(), node.fqdn().to_string(), node.address));
            let check = PlannedCheck::keyed(keys::dns_node(node), move |ctx| {
                let job = job.clone();
                async move {
                    let (resolver, fqdn, expected) = &*job;
                    ctx.enter(Stage::DnsQuery);
                    let deadline = ctx.budget_deadline().into();
                    let facts =
                        observe_node(resolver, fqdn, *expected, deadline, ctx.budget()).await;
                    judge_node(&facts, workflow)
                }
            });
            checks.push(check.on(resolver.servers()));
        }
        checks.extend(srv::plan(spec, resolver));
        checks
    }
}

#[cfg(test)]
mod tests {
    use imp_verify_core::catalog;

    #[test]
    fn the_tasks_fixes_name_are_those_of_the_catalog() {
        let rows = [
            ("dns.node", crate::node::TASKS),
            ("dns.srv.xmpp-client", crate::srv::tasks::XMPP_CLIENT),
            ("dns.srv.xmpp-server", crate::srv::tasks::XMPP_SERVER),
            ("dns.srv.cuplogin", crate::srv::tasks::DISCOVERY),
            ("dns.srv.cisco-uds", crate::srv::tasks::DISCOVERY),
            ("dns.srv.collab-edge", crate::srv::tasks::DISCOVERY),
            ("dns.srv.sip-trunk", crate::srv::tasks::SIP_TRUNK),
            ("dns.srv.federation", crate::srv::tasks::FEDERATION),
            ("dns.srv.sipfederationtls", crate::srv::tasks::FEDERATION),
            ("dns.srv.sip-federation", crate::srv::tasks::FEDERATION),
        ];
        for (id, tasks) in rows {
            assert_eq!(catalog::check(id).unwrap().tasks, tasks, "{id}");
        }
    }
}
