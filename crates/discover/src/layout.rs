//! From what was observed to the deployment's shape: which host is an IM&P node and
//! which a CUCM node, which ports each offers, how nodes form clusters and presence
//! redundancy groups, and which workflow the deployment looks like. Pure functions of
//! a [`Discovery`], unit-tested with synthetic ones. What DNS says is used as said;
//! what it cannot say is guessed by the rules below, and every guess is called one in
//! the spec written.

use crate::endpoints::{Port, Seen};
use crate::records::Kind;
use crate::{Discovery, Trunk};
use imp_verify_core::spec::Transport;
use imp_verify_core::spec::{Role, Service};
use imp_verify_net::Srv;
use std::collections::{BTreeMap, BTreeSet};

/// Whether `s` is a DNS name with at least two labels.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn targets(d: &Discovery, kind: Kind) -> impl Iterator<Item = &str> {
    d.records(kind).iter().map(|s| s.target.as_str())
}

/// The IM&P nodes: the targets of `_xmpp-client._tcp`, `_xmpp-server._tcp`,
/// `_cuplogin._tcp` and of the trunk's SRV name.
pub fn imp_nodes(d: &Discovery) -> BTreeSet<String> {
    let mut v: BTreeSet<String> = [Kind::XmppClient, Kind::XmppServer, Kind::CupLogin]
        .into_iter()
        .flat_map(|k| targets(d, k).map(str::to_string).collect::<Vec<_>>())
        .collect();
    v.extend(d.trunks.iter().flat_map(Trunk::targets));
    v
}

/// The CUCM nodes: the targets of `_cisco-uds._tcp` that are not IM&P nodes.
pub fn cucm_nodes(d: &Discovery) -> BTreeSet<String> {
    let imp = imp_nodes(d);
    targets(d, Kind::CiscoUds)
        .filter(|h| !imp.contains(*h))
        .map(str::to_string)
        .collect()
}

/// The directory servers: the targets of `_ldap._tcp`, with their port.
pub fn ldap_servers(d: &Discovery) -> Vec<(String, u16)> {
    let mut seen = BTreeSet::new();
    d.records(Kind::Ldap)
        .iter()
        .filter(|s| seen.insert(s.target.clone()))
        .map(|s| (s.target.clone(), s.port))
        .collect()
}

/// The services discovery looks at on a node of `role`.
pub fn candidate_services(role: Role) -> &'static [Service] {
    match role {
        Role::Imp => &[
            Service::XmppC2s,
            Service::XmppS2s,
            Service::SipTcp,
            Service::SipTls,
            Service::Https,
        ],
        Role::Cucm => &[Service::SipTcp, Service::SipTls, Service::Https],
    }
}

/// The records that advertise `service` on a node of `role`, and the trunk transports.
fn advertising(role: Role, service: Service) -> (&'static [Kind], &'static [Transport]) {
    match (role, service) {
        (_, Service::XmppC2s) => (&[Kind::XmppClient], &[]),
        (_, Service::XmppS2s) => (&[Kind::XmppServer], &[]),
        (_, Service::SipTcp) => (&[Kind::Sip], &[Transport::Tcp, Transport::Udp]),
        (_, Service::SipTls) => (&[Kind::Sips], &[Transport::Tls]),
        (Role::Imp, Service::Https) => (&[Kind::CupLogin], &[]),
        (Role::Cucm, Service::Https) => (&[Kind::CiscoUds], &[]),
        (_, Service::Ldap) => (&[Kind::Ldap], &[]),
        (_, Service::Ldaps) => (&[], &[]),
    }
}

/// The record advertising `service` on `host`, if one does: its name and the record.
pub fn advertised<'a>(
    d: &'a Discovery,
    host: &str,
    role: Role,
    service: Service,
) -> Option<(String, &'a Srv)> {
    let (kinds, transports) = advertising(role, service);
    for t in d.trunks.iter() {
        for (tt, v) in &t.records {
            if transports.contains(tt) {
                if let Some(s) = v.iter().find(|s| s.target == host) {
                    return Some((format!("{}.{}", tt.srv_prefix(), t.srv_name), s));
                }
            }
        }
    }
    for k in kinds {
        if let Some(s) = d.records(*k).iter().find(|s| s.target == host) {
            return Some((format!("{}.{}", k.label(), d.domain), s));
        }
    }
    None
}

/// The port of `service` on `host`: the advertising record's, else the default.
pub fn port_of(d: &Discovery, host: &str, role: Role, service: Service) -> u16 {
    advertised(d, host, role, service)
        .map(|(_, s)| s.port)
        .unwrap_or(service.default_port())
}

/// Every port discovery opens: each candidate service of each node, and each directory
/// server's LDAP (StartTLS) and LDAPS ports.
pub fn ports_to_open(d: &Discovery) -> Vec<Port> {
    let mut v = Vec::new();
    let nodes = imp_nodes(d)
        .into_iter()
        .map(|h| (h, Role::Imp))
        .chain(cucm_nodes(d).into_iter().map(|h| (h, Role::Cucm)));
    for (host, role) in nodes {
        for s in candidate_services(role) {
            v.push(Port {
                host: host.clone(),
                service: *s,
                port: port_of(d, &host, role, *s),
            });
        }
    }
    for (host, port) in ldap_servers(d) {
        v.push(Port {
            host: host.clone(),
            service: Service::Ldap,
            port,
        });
        v.push(Port {
            host,
            service: Service::Ldaps,
            port: Service::Ldaps.default_port(),
        });
    }
    v
}

/// The TLS endpoints that are no node's service: the targets of `_collab-edge._tls`
/// and `_sipfederationtls._tcp`, and those of `_sips._tcp` that are not nodes.
pub fn other_tls_endpoints(d: &Discovery) -> Vec<(Kind, String, u16)> {
    let nodes: BTreeSet<String> = imp_nodes(d).into_iter().chain(cucm_nodes(d)).collect();
    [Kind::CollabEdge, Kind::SipFederationTls, Kind::Sips]
        .into_iter()
        .flat_map(|k| {
            d.records(k)
                .iter()
                .filter(|s| k != Kind::Sips || !nodes.contains(&s.target))
                .map(move |s| (k, s.target.clone(), s.port))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What a node's spec entry lists, and what it leaves out (with why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeServices {
    /// The services listed, with their ports.
    pub listed: Vec<(Service, u16)>,
    /// Services left out: the service, its port, why.
    pub left_out: Vec<(Service, u16, String)>,
    /// Listed services that did not answer during discovery: the service, port, why.
    pub silent: Vec<(Service, u16, String)>,
}

/// The services of a node: every port that answered; and every XMPP or SIP port a
/// record advertises even when it did not answer (the checks must then fail: that is
/// the deployment's news). An HTTPS port (`_cuplogin._tcp`, `_cisco-uds._tcp`) that
/// did not answer is left out: it is often filtered from where the verification runs,
/// and its record is checked by the DNS checks all the same.
pub fn node_services(d: &Discovery, host: &str, role: Role) -> NodeServices {
    let mut out = NodeServices {
        listed: Vec::new(),
        left_out: Vec::new(),
        silent: Vec::new(),
    };
    for s in candidate_services(role) {
        let port = port_of(d, host, role, *s);
        let key = Port {
            host: host.to_string(),
            service: *s,
            port,
        };
        let seen = d.ports.get(&key);
        let answered = seen.is_some_and(Seen::answered);
        let why = match seen {
            Some(Seen::Closed(why)) => why.clone(),
            Some(_) => String::new(),
            None => "not opened".into(),
        };
        match advertised(d, host, role, *s) {
            _ if answered => out.listed.push((*s, port)),
            Some((name, _)) if *s != Service::Https => {
                out.listed.push((*s, port));
                out.silent
                    .push((*s, port, format!("advertised by {name}; {why}")));
            }
            Some((name, _)) => {
                out.left_out
                    .push((*s, port, format!("advertised by {name}, but {why}")))
            }
            None => out
                .left_out
                .push((*s, port, format!("no record advertises it, and {why}"))),
        }
    }
    out
}

/// Names the IM&P nodes' certificates carry that could be the SIP publish trunk's
/// cluster-wide SRV name: DNS names that are not a node, not the domain, no wildcard.
pub fn trunk_candidates(d: &Discovery) -> Vec<String> {
    let imp = imp_nodes(d);
    let known: BTreeSet<String> = imp.iter().cloned().chain(cucm_nodes(d)).collect();
    let mut v = BTreeSet::new();
    for (p, seen) in &d.ports {
        if !imp.contains(&p.host) {
            continue;
        }
        if let Some(c) = seen.cert() {
            for name in &c.dns {
                if !known.contains(name)
                    && *name != d.domain
                    && !name.starts_with("*.")
                    && is_dns_name(name)
                {
                    v.insert(name.clone());
                }
            }
        }
    }
    v.into_iter().take(16).collect()
}

/// One cluster of the spec written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPlan {
    /// `cluster-1`, ...
    pub name: String,
    /// Its IM&P nodes.
    pub imp: Vec<String>,
    /// Its CUCM nodes.
    pub cucm: Vec<String>,
    /// The index in `Discovery::trunks` of its SIP publish trunk.
    pub trunk: Option<usize>,
    /// Presence redundancy groups: pairs of IM&P nodes.
    pub groups: Vec<[String; 2]>,
    /// IM&P nodes in no group.
    pub unpaired: Vec<String>,
    /// How the nodes were put together (for the spec's comments).
    pub how: Vec<String>,
}

/// Clusters: one per SIP publish trunk SRV name found (its targets are the cluster's
/// IM&P nodes: the trunk's SRV name lists exactly one cluster's nodes), and one more
/// for IM&P nodes no trunk names; the CUCM nodes go to the first cluster (a guess).
pub fn clusters(d: &Discovery) -> Vec<ClusterPlan> {
    let imp = imp_nodes(d);
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for (i, t) in d.trunks.iter().enumerate() {
        let nodes: Vec<String> = t
            .targets()
            .into_iter()
            .filter(|h| imp.contains(h) && !taken.contains(h))
            .collect();
        if nodes.is_empty() {
            continue;
        }
        taken.extend(nodes.iter().cloned());
        let tiers = t.records.first().map(|(_, v)| v.as_slice()).unwrap_or(&[]);
        let prefix = t
            .records
            .first()
            .map(|(tt, _)| tt.srv_prefix())
            .unwrap_or("");
        out.push(cluster(
            out.len() + 1,
            nodes,
            Some(i),
            tiers,
            format!(
                "its IM&P nodes are the targets of the SIP publish trunk's SRV name {} (found in the nodes' certificates)",
                t.srv_name
            ),
            format!("{prefix}.{}", t.srv_name),
        ));
    }
    let rest: Vec<String> = imp.into_iter().filter(|h| !taken.contains(h)).collect();
    if !rest.is_empty() {
        let why = if out.is_empty() {
            format!(
                "GUESS: every IM&P node of {} in one cluster (DNS does not say which nodes form a cluster; no SIP publish trunk SRV name was found to tell)",
                d.domain
            )
        } else {
            "GUESS: the IM&P nodes no trunk SRV name lists, together".to_string()
        };
        let source = format!("{}.{}", Kind::XmppClient.label(), d.domain);
        out.push(cluster(
            out.len() + 1,
            rest,
            None,
            d.records(Kind::XmppClient),
            why,
            source,
        ));
    }
    let cucm: Vec<String> = cucm_nodes(d).into_iter().collect();
    if !cucm.is_empty() {
        if out.is_empty() {
            out.push(ClusterPlan {
                name: "cluster-1".into(),
                imp: Vec::new(),
                cucm: Vec::new(),
                trunk: None,
                groups: Vec::new(),
                unpaired: Vec::new(),
                how: Vec::new(),
            });
        }
        out[0].how.push(format!(
            "GUESS: the CUCM node(s) of {} (targets of {}.{}) are put in this cluster",
            d.domain,
            Kind::CiscoUds.label(),
            d.domain
        ));
        out[0].cucm = cucm;
    }
    out
}

fn cluster(
    n: usize,
    nodes: Vec<String>,
    trunk: Option<usize>,
    tiers: &[Srv],
    why: String,
    source: String,
) -> ClusterPlan {
    let (groups, unpaired, how) = pair(&nodes, tiers, &source);
    ClusterPlan {
        name: format!("cluster-{n}"),
        imp: nodes,
        cucm: Vec::new(),
        trunk,
        groups,
        unpaired,
        how: std::iter::once(why).chain(how).collect(),
    }
}

/// Presence redundancy groups: DNS does not say which nodes are paired. Nodes of equal
/// priority in `tiers` (the trunk's records, else `_xmpp-client._tcp`) share the load
/// as peers do, so they are paired in name order; nodes left over are paired across
/// priorities in the same order; an odd node out stays in no group.
pub fn pair(
    nodes: &[String],
    tiers: &[Srv],
    source: &str,
) -> (Vec<[String; 2]>, Vec<String>, Vec<String>) {
    let mut by_priority: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    let mut placed = BTreeSet::new();
    for s in tiers {
        if nodes.contains(&s.target) && placed.insert(s.target.clone()) {
            by_priority
                .entry(s.priority)
                .or_default()
                .push(s.target.clone());
        }
    }
    let mut groups = Vec::new();
    let mut left = Vec::new();
    let mut how = Vec::new();
    for (priority, mut v) in by_priority {
        v.sort();
        let mut it = v.chunks(2);
        for c in &mut it {
            match c {
                [a, b] => {
                    how.push(format!(
                        "GUESS: {a} and {b} paired as a presence redundancy group: equal priority {priority} in {source}"
                    ));
                    groups.push([a.clone(), b.clone()]);
                }
                [a] => left.push(a.clone()),
                _ => {}
            }
        }
    }
    let mut rest: Vec<String> = nodes
        .iter()
        .filter(|n| !placed.contains(*n))
        .cloned()
        .collect();
    left.append(&mut rest);
    let mut unpaired = Vec::new();
    for c in left.chunks(2) {
        match c {
            [a, b] => {
                how.push(format!(
                    "GUESS: {a} and {b} paired as a presence redundancy group: the nodes left over, in name order"
                ));
                groups.push([a.clone(), b.clone()]);
            }
            [a] => unpaired.push(a.clone()),
            _ => {}
        }
    }
    (groups, unpaired, how)
}

/// The workflow the records suggest, and why: federation records → C; a SIP publish
/// trunk (or SIP records on IM&P nodes) → B; redundancy groups → A; else D.
pub fn workflow(d: &Discovery, clusters: &[ClusterPlan]) -> (&'static str, String) {
    let imp = imp_nodes(d);
    let has = |k: Kind| !d.records(k).is_empty();
    if has(Kind::XmppServer) || has(Kind::SipFederationTls) {
        let which: Vec<String> = [Kind::XmppServer, Kind::SipFederationTls]
            .into_iter()
            .filter(|k| has(*k))
            .map(|k| format!("{}.{}", k.label(), d.domain))
            .collect();
        return ("C", format!("federation: {} exists", which.join(" and ")));
    }
    let sip_on_imp = [Kind::Sip, Kind::Sips]
        .into_iter()
        .any(|k| targets(d, k).any(|h| imp.contains(h)));
    if !d.trunks.is_empty() || sip_on_imp {
        return (
            "B",
            "IP Phone presence: the IM&P nodes have SIP records (a SIP publish trunk)".into(),
        );
    }
    if clusters.iter().any(|c| !c.groups.is_empty()) {
        return (
            "A",
            "high availability: the IM&P nodes form presence redundancy groups, and no SIP or federation record exists".into(),
        );
    }
    (
        "D",
        "IM only: one IM&P node and no SIP or federation record".into(),
    )
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
