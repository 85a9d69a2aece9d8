//! `[[clusters]]`: each cluster's domain, nodes and presence redundancy groups (the SIP
//! publish trunk is in `trunk.rs`).

use super::error::Ctx;
use super::kinds::{Role, Service};
use super::raw::{RawCluster, RawGroup, RawNode};
use super::trunk::{self, SipTrunk};
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use toml::Spanned;

/// A cluster: its nodes, presence redundancy groups and SIP publish trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The cluster's name (unique in the spec).
    pub name: String,
    /// The IM domain this cluster serves (one of the spec's `domains`).
    pub domain: String,
    /// The cluster's nodes, IM&P and CUCM.
    pub nodes: Vec<Node>,
    /// The presence redundancy groups: pairs of the cluster's IM&P nodes.
    pub redundancy_groups: Vec<RedundancyGroup>,
    /// The SIP publish trunk from CUCM to this cluster, if the deployment has one.
    pub sip_trunk: Option<SipTrunk>,
    /// The CUCM publisher of the cluster as UDS names a user's home cluster
    /// (`clusterUser`'s `homeCluster`), lower case, when the spec gives it; else any
    /// CUCM node of the cluster stands for it.
    pub cucm_publisher: Option<String>,
}

impl Cluster {
    /// Whether `host` (a name or an address, as UDS gives a home cluster) is this
    /// cluster's CUCM: its `cucm_publisher`, or one of its CUCM nodes by name or by
    /// pinned address.
    pub fn is_cucm_host(&self, host: &str) -> bool {
        let host = host.trim().trim_end_matches('.');
        let ip = host.parse::<IpAddr>().ok();
        self.cucm_publisher
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(host))
            || self.nodes.iter().filter(|n| n.role == Role::Cucm).any(|n| {
                n.fqdn.trim_end_matches('.').eq_ignore_ascii_case(host)
                    || (ip.is_some() && n.address == ip)
            })
    }
}

/// A node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's fully qualified host name (unique in the spec).
    pub fqdn: String,
    /// The address the FQDN must resolve to, if the spec pins it.
    pub address: Option<IpAddr>,
    /// IM&P or CUCM.
    pub role: Role,
    /// The services to check: the spec's list (each once), or the role's default.
    pub services: Vec<Service>,
    /// Port overrides by service.
    pub ports: BTreeMap<Service, u16>,
}

impl Node {
    /// The node's fully qualified host name.
    pub fn fqdn(&self) -> &str {
        &self.fqdn
    }

    /// The services of the node with their ports.
    pub fn service_ports(&self) -> Vec<(Service, u16)> {
        self.services.iter().map(|s| (*s, self.port(*s))).collect()
    }

    /// The port of a service on this node (override or default).
    pub fn port(&self, service: Service) -> u16 {
        self.ports
            .get(&service)
            .copied()
            .unwrap_or(service.default_port())
    }
}

/// A presence redundancy group: a pair of IM&P nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedundancyGroup {
    /// The group's name.
    pub name: String,
    /// The FQDNs of its two nodes.
    pub nodes: Vec<String>,
}

impl RedundancyGroup {
    /// The FQDNs of the group's nodes.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(String::as_str).collect()
    }
}

/// The role of every node of the spec by lower-case FQDN, for cross-references.
pub(crate) type NodeIndex = BTreeMap<String, Role>;

/// The nodes of the raw clusters, by lower-case FQDN (the first of duplicates).
pub(crate) fn index(raw: &[RawCluster]) -> NodeIndex {
    let mut index = NodeIndex::new();
    for n in raw.iter().flat_map(|c| &c.nodes) {
        index
            .entry(n.fqdn.get_ref().to_ascii_lowercase())
            .or_insert(n.role);
    }
    index
}

/// Checks every cluster: names unique, domain listed, nodes unique and well named,
/// redundancy groups pairs of the cluster's IM&P nodes, each node in one group at most.
pub(crate) fn validate(
    ctx: &mut Ctx,
    raw: &[RawCluster],
    domains: &[String],
    nodes: &NodeIndex,
) -> Vec<Cluster> {
    let mut names = HashSet::new();
    let mut fqdns = HashSet::new();
    let mut grouped = HashSet::new();
    let mut publishers: BTreeMap<String, String> = BTreeMap::new();
    let mut clusters = Vec::new();
    for c in raw {
        if !names.insert(c.name.get_ref().clone()) {
            ctx.error(
                c.name.span(),
                format!("cluster `{}` is listed twice", c.name.get_ref()),
            );
        }
        let domain = c.domain.get_ref();
        let listed = domains.iter().find(|d| d.eq_ignore_ascii_case(domain));
        if listed.is_none() {
            ctx.error(
                c.domain.span(),
                format!(
                    "cluster `{}` serves domain `{domain}`, which is not in `domains`",
                    c.name.get_ref()
                ),
            );
        }
        if c.nodes.is_empty() {
            ctx.error(
                c.domain.span(),
                format!("cluster `{}` has no nodes", c.name.get_ref()),
            );
        }
        let cluster_nodes = c
            .nodes
            .iter()
            .map(|n| validate_node(ctx, n, &mut fqdns))
            .collect();
        let redundancy_groups = c
            .redundancy_groups
            .iter()
            .map(|g| validate_group(ctx, g, c, &mut grouped))
            .collect();
        let sip_trunk = c.sip_trunk.as_ref().map(|t| trunk::validate(ctx, t, nodes));
        let cucm_publisher = c
            .cucm_publisher
            .as_ref()
            .map(|p| validate_publisher(ctx, p, c, raw, &mut publishers));
        clusters.push(Cluster {
            name: c.name.get_ref().clone(),
            // As `domains` spells it, so that probes compare the two exactly.
            domain: listed.unwrap_or(domain).clone(),
            nodes: cluster_nodes,
            redundancy_groups,
            sip_trunk,
            cucm_publisher,
        });
    }
    clusters
}

/// Checks a cluster's `cucm_publisher`: a host name or an address; when it names a
/// node of the spec, a CUCM node of this cluster; no two clusters with the same one.
fn validate_publisher(
    ctx: &mut Ctx,
    p: &Spanned<String>,
    cluster: &RawCluster,
    raw: &[RawCluster],
    publishers: &mut BTreeMap<String, String>,
) -> String {
    let name = p
        .get_ref()
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let cname = cluster.name.get_ref();
    if !is_hostname(&name) && name.parse::<IpAddr>().is_err() {
        ctx.error(
            p.span(),
            format!(
                "`cucm_publisher` of cluster `{cname}` (`{}`) is neither a host name nor an address",
                p.get_ref()
            ),
        );
    }
    let owner = raw.iter().find_map(|c| {
        c.nodes
            .iter()
            .find(|n| {
                n.fqdn
                    .get_ref()
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(&name)
            })
            .map(|n| (c, n))
    });
    match owner {
        Some((_, n)) if n.role != Role::Cucm => ctx.error(
            p.span(),
            format!(
                "`cucm_publisher` of cluster `{cname}` names `{}`, an IM&P node; UDS names a CUCM node (the publisher) as home cluster",
                p.get_ref()
            ),
        ),
        Some((c, _)) if c.name.get_ref() != cname => ctx.error(
            p.span(),
            format!(
                "`cucm_publisher` of cluster `{cname}` names `{}`, a node of cluster `{}`",
                p.get_ref(),
                c.name.get_ref()
            ),
        ),
        _ => {}
    }
    if let Some(first) = publishers.get(&name) {
        ctx.error(
            p.span(),
            format!(
                "`cucm_publisher` `{}` of cluster `{cname}` is cluster `{first}`'s too: each CUCM cluster has its own publisher",
                p.get_ref()
            ),
        );
    } else {
        publishers.insert(name.clone(), cname.clone());
    }
    name
}

fn validate_node(ctx: &mut Ctx, n: &RawNode, fqdns: &mut HashSet<String>) -> Node {
    let fqdn = n.fqdn.get_ref();
    let name = fqdn.to_ascii_lowercase();
    if !is_hostname(&name) {
        ctx.error(
            n.fqdn.span(),
            format!("`{fqdn}` is not a fully qualified host name"),
        );
    }
    if !fqdns.insert(name) {
        ctx.error(n.fqdn.span(), format!("node `{fqdn}` is listed twice"));
    }
    let services = match &n.services {
        None => n.role.default_services().to_vec(),
        Some(listed) => {
            let mut services = Vec::new();
            for s in listed {
                if services.contains(s.get_ref()) {
                    ctx.error(
                        s.span(),
                        format!("node `{fqdn}` lists service `{}` twice", s.get_ref().name()),
                    );
                } else {
                    services.push(*s.get_ref());
                }
            }
            services
        }
    };
    Node {
        fqdn: fqdn.clone(),
        address: n.address,
        role: n.role,
        services,
        ports: n.ports.clone(),
    }
}

fn validate_group(
    ctx: &mut Ctx,
    g: &RawGroup,
    cluster: &RawCluster,
    grouped: &mut HashSet<String>,
) -> RedundancyGroup {
    let members = g.nodes.get_ref();
    if members.len() != 2 {
        ctx.error(
            g.nodes.span(),
            format!(
                "redundancy group `{}` has {} node(s); a presence redundancy group is a pair of IM&P nodes",
                g.name,
                members.len()
            ),
        );
    }
    let mut in_group = HashSet::new();
    for m in members {
        let name = m.get_ref();
        if !in_group.insert(name.to_ascii_lowercase()) {
            ctx.error(
                m.span(),
                format!("redundancy group `{}` names `{name}` twice", g.name),
            );
            continue;
        }
        let node = cluster
            .nodes
            .iter()
            .find(|n| n.fqdn.get_ref().eq_ignore_ascii_case(name));
        match node {
            None => ctx.error(
                m.span(),
                format!(
                    "redundancy group `{}` names `{name}`, which is not a node of cluster `{}`",
                    g.name,
                    cluster.name.get_ref()
                ),
            ),
            Some(n) if n.role != Role::Imp => ctx.error(
                m.span(),
                format!(
                    "redundancy group `{}` names `{name}`, which is not an IM&P node (role = \"imp\")",
                    g.name
                ),
            ),
            Some(_) => {
                if !grouped.insert(name.to_ascii_lowercase()) {
                    ctx.error(
                        m.span(),
                        format!("node `{name}` is in more than one redundancy group"),
                    );
                }
            }
        }
    }
    RedundancyGroup {
        name: g.name.clone(),
        nodes: members.iter().map(|m| m.get_ref().clone()).collect(),
    }
}

/// A DNS name of at least two labels (a trailing dot allowed).
pub(crate) fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(is_hostname("imp1.lab.test"));
        assert!(is_hostname("imp1.lab.test."));
        assert!(!is_hostname("imp1"));
        assert!(!is_hostname("bad host.lab"));
    }
}
