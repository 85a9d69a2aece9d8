//! imp-verify probe `dns`: the DNS records an IM and Presence deployment needs, asked
//! through the run's resolver (`imp_verify_net::Resolver`).
//!
//! Checks: `dns.node` (each node FQDN resolves, to the spec's address if given, and the
//! address's PTR names the node); `dns.srv.*` (the SRV records clients, federated
//! servers and the SIP publish trunk use: present, targets resolve, targets are the
//! deployment's nodes with the spec's ports; the trunk's name lists exactly the
//! cluster's IM&P nodes; `_sipfederationtls._tcp` of the local domains and of the
//! federated SIP domains).

#![warn(missing_docs)]

mod srv;

use imp_verify_net::{Net, Resolver};

use imp_verify_core::catalog;
use imp_verify_core::spec::{Spec, Workflow};
use imp_verify_core::{keys, Outcome, PlannedCheck, Probe};
use std::net::IpAddr;
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
        let resolver = self.net.resolver.clone();
        let workflow = spec.workflow;
        let mut checks = Vec::new();
        for (_, node) in spec.nodes() {
            let fqdn = node.fqdn().to_string();
            let expected = node.address;
            let server = resolver.servers().to_string();
            let resolver = resolver.clone();
            checks.push(PlannedCheck::keyed(keys::dns_node(&fqdn), move |ctx| {
                let fqdn = fqdn.clone();
                let resolver = resolver.clone();
                async move {
                    // Within the check's time, so that a silent server is named as such.
                    let budget = ctx.budget();
                    match tokio::time::timeout(budget, check_node(&resolver, &fqdn, expected, workflow)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Outcome::fail(
                            format!(
                                "{fqdn}: the DNS server did not answer within {} ms",
                                budget.as_millis()
                            ),
                            format!("Check that the DNS servers named in the spec are reachable and answer for the deployment's zone ({})", tasks(workflow, "dns.node")),
                        )
                        .with("name", &fqdn)
                        .with("resolver", resolver.servers()),
                    }
                }
            }).on(server));
        }
        checks.extend(srv::plan(spec, &resolver));
        checks
    }
}

async fn check_node(
    resolver: &Resolver,
    fqdn: &str,
    expected: Option<IpAddr>,
    workflow: Workflow,
) -> Outcome {
    let task = tasks(workflow, "dns.node");
    let addrs = match resolver.lookup_ip(fqdn).await {
        Ok(a) => a,
        Err(e) => {
            let fix = if e.is_absent() {
                format!("Add an A (or AAAA) record for {fqdn} to the deployment's DNS zone; every node must be resolvable by its FQDN ({task})")
            } else {
                format!("Check that the DNS servers named in the spec are reachable and serve the deployment's zone ({task})")
            };
            return Outcome::fail(format!("{fqdn}: {e}"), fix)
                .with("name", fqdn)
                .with("resolver", resolver.servers())
                .with(
                    "expected",
                    expected
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "an A or AAAA record".into()),
                );
        }
    };
    let shown = addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(want) = expected {
        if !addrs.contains(&want) {
            return Outcome::fail(
                format!("{fqdn} resolves to {shown}, not to {want} as the spec says"),
                format!("Correct the A/AAAA record of {fqdn} (or the address in the spec) so that clients reach the node ({task})"),
            )
            .with("name", fqdn)
            .with("addresses", &shown)
            .with("expected", want)
            .with("resolver", resolver.servers());
        }
    }
    // Reverse: each address's PTR should name the node.
    let mut ptr_problems = Vec::new();
    let mut ptr_seen = Vec::new();
    for ip in &addrs {
        match resolver.reverse(*ip).await {
            Ok(names) => {
                ptr_seen.push(format!("{ip} -> {}", names.join(", ")));
                if !names.iter().any(|n| n.eq_ignore_ascii_case(fqdn)) {
                    ptr_problems.push(format!(
                        "the PTR of {ip} names {} instead",
                        names.join(", ")
                    ));
                }
            }
            Err(e) => {
                ptr_seen.push(format!("{ip} -> ({e})"));
                ptr_problems.push(format!("no PTR for {ip}: {e}"));
            }
        }
    }
    let base = format!("{fqdn} resolves to {shown}");
    if ptr_problems.is_empty() {
        Outcome::pass(format!("{base}; the PTR names it"))
            .with("addresses", &shown)
            .with("ptr", ptr_seen.join("; "))
            .with("resolver", resolver.servers())
    } else {
        Outcome::warn(
            format!("{base}, but {}", ptr_problems.join("; ")),
            format!("Add or correct the PTR record of each address of {fqdn}: IM&P certificate and SIP peer checks, and some clients, look nodes up in reverse ({task})"),
        )
        .with("addresses", &shown)
        .with("ptr", ptr_seen.join("; "))
        .with("resolver", resolver.servers())
    }
}

/// The tasks of `workflow` that check `id` verifies, as a fix names them: `task C.8`,
/// `tasks C.1, C.10`.
pub(crate) fn tasks(workflow: Workflow, id: &str) -> String {
    catalog::check(id)
        .map(|def| catalog::named(workflow, def.tasks))
        .unwrap_or_default()
}

/// The workflow's task that configures presence redundancy groups (high availability).
pub(crate) fn ha_task(workflow: Workflow) -> Option<&'static str> {
    catalog::Task::HighAvailability.label(workflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_name_the_tasks_of_the_spec_workflow() {
        assert_eq!(tasks(Workflow::C, "dns.srv.sip-trunk"), "task C.8");
        assert_eq!(tasks(Workflow::B, "dns.node"), "tasks B.1, B.10");
        assert_eq!(tasks(Workflow::A, "dns.srv.federation"), "");
        for id in [
            "dns.node",
            "dns.srv.xmpp-client",
            "dns.srv.cisco-uds",
            "dns.srv.sip-trunk",
        ] {
            assert!(catalog::check(id).is_some(), "{id}");
        }
    }
}
