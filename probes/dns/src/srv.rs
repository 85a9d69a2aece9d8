//! The SRV records of a deployment: client and server XMPP, Jabber service discovery,
//! remote access, the SIP publish trunk's cluster-wide name, federation peers.

use imp_verify_core::spec::{Role, Service, Spec, Transport};
use imp_verify_core::{Outcome, PlannedCheck};
use imp_verify_net::{DnsError, Resolver, Srv};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the records of one SRV name must look like.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    /// The SRV name, e.g. `_xmpp-client._tcp.lab.test`.
    pub name: String,
    /// The hosts that should be targets, with their port.
    pub targets: Vec<(String, u16)>,
    /// Whether every expected target must be there (else a missing one warns).
    pub all_required: bool,
    /// Whether a target outside `targets` fails (else it is only reported).
    pub strangers_fail: bool,
    /// The workflow tasks to name in a fix, as text (`task C.8`).
    pub task: String,
    /// The high-availability task of the workflow, for a missing node (`task C.9`).
    pub ha_task: Option<&'static str>,
    /// What the record is for, in the administrator's words.
    pub purpose: &'static str,
    /// Presence redundancy groups whose nodes must all be targets (name, nodes).
    pub groups: Vec<(String, Vec<String>)>,
}

fn plan_one(
    checks: &mut Vec<PlannedCheck>,
    id: &'static str,
    target: String,
    resolver: &Arc<Resolver>,
    expect: Expect,
) {
    let resolver = resolver.clone();
    let server = resolver.servers().to_string();
    checks.push(
        PlannedCheck::new(id, target, move |ctx| {
            let resolver = resolver.clone();
            let expect = expect.clone();
            async move {
                let budget = ctx.budget();
                match tokio::time::timeout(budget, check(&resolver, &expect)).await {
                    Ok(o) => o,
                    Err(_) => Outcome::fail(
                        format!(
                            "{}: the DNS server did not answer within {} ms",
                            expect.name,
                            budget.as_millis()
                        ),
                        format!(
                            "Check that the DNS servers named in the spec are reachable ({})",
                            expect.task
                        ),
                    )
                    .with("name", &expect.name)
                    .with("resolver", resolver.servers()),
                }
            }
        })
        .on(server),
    );
}

/// Plans the SRV checks the spec calls for.
pub(crate) fn plan(spec: &Spec, resolver: &Arc<Resolver>) -> Vec<PlannedCheck> {
    let mut checks = Vec::new();
    for domain in &spec.domains {
        let clusters: Vec<_> = spec
            .clusters
            .iter()
            .filter(|c| c.domain == *domain)
            .collect();
        let nodes = |role: Role, service: Service| -> Vec<(String, u16)> {
            clusters
                .iter()
                .flat_map(|c| c.nodes.iter())
                .filter(|n| n.role == role)
                .map(|n| (n.fqdn().to_ascii_lowercase(), n.port(service)))
                .collect()
        };
        let imp_c2s = nodes(Role::Imp, Service::XmppC2s);
        if !imp_c2s.is_empty() {
            plan_one(
                &mut checks,
                "dns.srv.xmpp-client",
                format!("_xmpp-client._tcp.{domain}"),
                resolver,
                Expect {
                    name: format!("_xmpp-client._tcp.{domain}"),
                    targets: imp_c2s,
                    all_required: false,
                    strangers_fail: true,
                    task: crate::tasks(spec.workflow, "dns.srv.xmpp-client"),
                    ha_task: crate::ha_task(spec.workflow),
                    purpose: "XMPP clients find the IM&P nodes of the domain",
                    groups: Vec::new(),
                },
            );
            plan_one(
                &mut checks,
                "dns.srv.xmpp-server",
                format!("_xmpp-server._tcp.{domain}"),
                resolver,
                Expect {
                    name: format!("_xmpp-server._tcp.{domain}"),
                    targets: nodes(Role::Imp, Service::XmppS2s),
                    all_required: false,
                    strangers_fail: true,
                    task: crate::tasks(spec.workflow, "dns.srv.xmpp-server"),
                    ha_task: crate::ha_task(spec.workflow),
                    purpose: "federated XMPP servers reach the domain",
                    groups: Vec::new(),
                },
            );
            plan_one(
                &mut checks,
                "dns.srv.cuplogin",
                format!("_cuplogin._tcp.{domain}"),
                resolver,
                Expect {
                    name: format!("_cuplogin._tcp.{domain}"),
                    targets: nodes(Role::Imp, Service::Https),
                    all_required: false,
                    strangers_fail: true,
                    task: crate::tasks(spec.workflow, "dns.srv.cuplogin"),
                    ha_task: crate::ha_task(spec.workflow),
                    purpose: "Jabber clients discover the IM&P service",
                    groups: Vec::new(),
                },
            );
        }
        let cucm = nodes(Role::Cucm, Service::Https);
        if !cucm.is_empty() {
            plan_one(
                &mut checks,
                "dns.srv.cisco-uds",
                format!("_cisco-uds._tcp.{domain}"),
                resolver,
                Expect {
                    name: format!("_cisco-uds._tcp.{domain}"),
                    targets: cucm,
                    all_required: false,
                    strangers_fail: true,
                    task: crate::tasks(spec.workflow, "dns.srv.cisco-uds"),
                    ha_task: crate::ha_task(spec.workflow),
                    purpose: "Jabber clients discover CUCM's User Data Services",
                    groups: Vec::new(),
                },
            );
        }
        if spec.remote_access {
            plan_one(
                &mut checks,
                "dns.srv.collab-edge",
                format!("_collab-edge._tls.{domain}"),
                resolver,
                Expect {
                    name: format!("_collab-edge._tls.{domain}"),
                    // Expressway-E is not a node of the spec: any target that resolves will do.
                    targets: Vec::new(),
                    all_required: false,
                    strangers_fail: false,
                    task: crate::tasks(spec.workflow, "dns.srv.collab-edge"),
                    ha_task: crate::ha_task(spec.workflow),
                    purpose: "Jabber clients outside the network find Expressway (remote access)",
                    groups: Vec::new(),
                },
            );
        }
    }
    for cluster in &spec.clusters {
        let Some(trunk) = &cluster.sip_trunk else {
            continue;
        };
        for transport in &trunk.transports {
            let (prefix, service) = match transport {
                Transport::Udp => ("_sip._udp", Service::SipTcp),
                Transport::Tcp => ("_sip._tcp", Service::SipTcp),
                Transport::Tls => ("_sips._tcp", Service::SipTls),
            };
            let name = format!("{prefix}.{}", trunk.srv_name.trim_end_matches('.'));
            let targets = cluster
                .nodes
                .iter()
                .filter(|n| n.role == Role::Imp)
                .map(|n| (n.fqdn().to_ascii_lowercase(), n.port(service)))
                .collect();
            plan_one(&mut checks, "dns.srv.sip-trunk", name.clone(), resolver, Expect {
                name,
                targets,
                all_required: true,
                strangers_fail: true,
                task: crate::tasks(spec.workflow, "dns.srv.sip-trunk"),
                ha_task: crate::ha_task(spec.workflow),
                purpose: "the SIP publish trunk's cluster-wide DNS SRV name reaches every IM&P node of the cluster",
                groups: cluster
                    .redundancy_groups
                    .iter()
                    .map(|g| (g.name.clone(), g.node_names().iter().map(|n| n.to_ascii_lowercase()).collect()))
                    .collect(),
            });
        }
    }
    for peer in &spec.federation {
        let name = format!("_xmpp-server._tcp.{}", peer.domain);
        plan_one(
            &mut checks,
            "dns.srv.federation",
            peer.domain.clone(),
            resolver,
            Expect {
                name,
                targets: Vec::new(),
                all_required: false,
                strangers_fail: false,
                task: crate::tasks(spec.workflow, "dns.srv.federation"),
                ha_task: crate::ha_task(spec.workflow),
                purpose: "the federated domain's XMPP servers can be reached over s2s",
                groups: Vec::new(),
            },
        );
    }
    plan_sip_federation(&mut checks, spec, resolver);
    checks
}

/// SIP federation: each local domain's `_sipfederationtls._tcp` lists its IM&P nodes
/// with their SIP TLS port; each federated SIP domain's resolves.
fn plan_sip_federation(checks: &mut Vec<PlannedCheck>, spec: &Spec, resolver: &Arc<Resolver>) {
    let mut locals: Vec<&str> = Vec::new();
    for peer in &spec.sip_federation {
        if !locals.contains(&peer.local_domain.as_str()) {
            locals.push(&peer.local_domain);
        }
    }
    for local in locals {
        let name = format!("_sipfederationtls._tcp.{local}");
        let targets = spec
            .clusters
            .iter()
            .filter(|c| c.domain == local)
            .flat_map(|c| c.nodes.iter())
            .filter(|n| n.role == Role::Imp)
            .map(|n| (n.fqdn().to_ascii_lowercase(), n.port(Service::SipTls)))
            .collect();
        plan_one(
            checks,
            "dns.srv.sipfederationtls",
            name.clone(),
            resolver,
            Expect {
                name,
                targets,
                all_required: false,
                strangers_fail: true,
                task: crate::tasks(spec.workflow, "dns.srv.sipfederationtls"),
                ha_task: crate::ha_task(spec.workflow),
                purpose: "federated SIP domains reach the IM&P nodes over mutual TLS",
                groups: Vec::new(),
            },
        );
    }
    for peer in &spec.sip_federation {
        plan_one(
            checks,
            "dns.srv.sip-federation",
            peer.domain.clone(),
            resolver,
            Expect {
                name: format!("_sipfederationtls._tcp.{}", peer.domain),
                targets: Vec::new(),
                all_required: false,
                strangers_fail: false,
                task: crate::tasks(spec.workflow, "dns.srv.sip-federation"),
                ha_task: crate::ha_task(spec.workflow),
                purpose: "IM&P reaches the federated SIP domain's federation edge",
                groups: Vec::new(),
            },
        );
    }
}

fn show(records: &[Srv]) -> String {
    records
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) async fn check(resolver: &Resolver, e: &Expect) -> Outcome {
    let expected_text = if e.targets.is_empty() {
        "at least one record whose target resolves".to_string()
    } else {
        e.targets
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let records = match resolver.lookup_srv(&e.name).await {
        Ok(r) => r,
        Err(err) => {
            let fix = match &err {
                DnsError::NxDomain { .. } | DnsError::NoData { .. } => format!(
                    "Publish the SRV records {} in the deployment's DNS, one per target ({}; {})",
                    e.name, expected_text, e.task
                ),
                _ => format!(
                    "Check that the DNS servers named in the spec are reachable and answer for the zone of {} ({})",
                    e.name, e.task
                ),
            };
            return Outcome::fail(format!("{}: {err}", e.name), fix)
                .with("name", &e.name)
                .with("expected", &expected_text)
                .with("resolver", resolver.servers());
        }
    };
    let seen: BTreeSet<(String, u16)> =
        records.iter().map(|r| (r.target.clone(), r.port)).collect();
    let expected_hosts: BTreeSet<&str> = e.targets.iter().map(|(h, _)| h.as_str()).collect();
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    // Target "." (RFC 2782): the domain says the service is decidedly not offered.
    if records.iter().any(|r| r.target.is_empty()) {
        failures.push(
            "a record with target \".\" says the service is not offered in this domain".to_string(),
        );
    }
    // Strangers and wrong ports.
    for r in records.iter().filter(|r| !r.target.is_empty()) {
        match e.targets.iter().find(|(h, _)| *h == r.target) {
            Some((_, port)) if *port != r.port => failures.push(format!(
                "{} is listed with port {}, the spec expects {}",
                r.target, r.port, port
            )),
            Some(_) => {}
            None if e.strangers_fail => failures.push(format!(
                "{} is not a node of the deployment for this record",
                r.target
            )),
            None => {}
        }
    }
    // Missing nodes.
    let missing: Vec<&str> = expected_hosts
        .iter()
        .filter(|h| !seen.iter().any(|(t, _)| t == *h))
        .copied()
        .collect();
    if !missing.is_empty() {
        let text = format!("{} missing", missing.join(", "));
        if e.all_required {
            failures.push(text);
        } else {
            warnings.push(text);
        }
    }
    // Every target resolves.
    let mut unresolved = Vec::new();
    for target in records
        .iter()
        .map(|r| r.target.clone())
        .collect::<BTreeSet<_>>()
    {
        if target.is_empty() {
            continue; // "." : the service is decidedly not available
        }
        if let Err(err) = resolver.lookup_ip(&target).await {
            unresolved.push(format!("target {target} does not resolve: {err}"));
        }
    }
    failures.extend(unresolved);
    let mut o = if !failures.is_empty() {
        // Every problem in one message: what fails, then what alone would only warn.
        Outcome::fail(
            format!(
                "{}: {}",
                e.name,
                failures
                    .iter()
                    .chain(&warnings)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            format!(
                "Make the SRV records of {} list exactly {} so that {} ({})",
                e.name, expected_text, e.purpose, e.task
            ),
        )
    } else if !warnings.is_empty() {
        Outcome::warn(
            format!("{}: {}", e.name, warnings.join("; ")),
            format!(
                "Add a record for each node so that {} even when one node is down ({}{})",
                e.purpose,
                e.task,
                e.ha_task
                    .map(|t| format!("; high availability, task {t}"))
                    .unwrap_or_default()
            ),
        )
    } else {
        Outcome::pass(format!(
            "{} lists {}",
            e.name,
            records
                .iter()
                .map(|r| format!("{}:{}", r.target, r.port))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    for (group, members) in &e.groups {
        let absent: Vec<&str> = members
            .iter()
            .filter(|m| !seen.iter().any(|(t, _)| t == *m))
            .map(String::as_str)
            .collect();
        let state = if absent.is_empty() {
            "both nodes present".to_string()
        } else {
            format!("{} absent: no failover for its users", absent.join(", "))
        };
        o = o.with(format!("redundancy group {group}"), state);
    }
    o = o
        .with("name", &e.name)
        .with("records", show(&records))
        .with("expected", &expected_text)
        .with("resolver", resolver.servers());
    o.metric("record_count", records.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_as_zone_lines() {
        let r = vec![Srv {
            priority: 10,
            weight: 50,
            port: 5222,
            target: "imp1.lab.test".into(),
        }];
        assert_eq!(show(&r), "10 50 5222 imp1.lab.test.");
    }
}
