//! The SRV records of a deployment: client and server XMPP, Jabber service discovery,
//! remote access, the SIP publish trunk's cluster-wide name, federation peers (XMPP and
//! SIP). One planner per check says what its records must be ([`SrvExpect`]); every
//! check then observes ([`observe_srv`]) and judges ([`judge_srv`]) the same way.

mod judge;
mod observe;

pub use judge::{judge_srv, SrvExpect};
pub use observe::{observe_srv, SrvFacts, MAX_TARGETS};

use imp_verify_core::catalog::{named, Task};
use imp_verify_core::spec::{Cluster, Role, Service, SipTrunk, Spec};
use imp_verify_core::{keys, CheckKey, PlannedCheck, Stage};
use imp_verify_net::Resolver;
use std::sync::Arc;

/// The tasks each SRV check's fixes name (their catalog rows').
pub(crate) mod tasks {
    use imp_verify_core::catalog::Task::{self, *};
    pub const XMPP_CLIENT: &[Task] = &[XmppClients, VerifyServices, LicenseUsers];
    pub const XMPP_SERVER: &[Task] = &[Federation];
    pub const DISCOVERY: &[Task] = &[VerifyServices, LicenseUsers];
    pub const SIP_TRUNK: &[Task] = &[IpPhonePresence];
    pub const FEDERATION: &[Task] = &[Federation];
}

/// Plans the SRV checks of a spec, one planner a check.
struct Planner<'a> {
    spec: &'a Spec,
    resolver: &'a Arc<Resolver>,
    checks: Vec<PlannedCheck>,
}

impl Planner<'_> {
    /// An expectation of `name` for the run's workflow.
    fn expect(&self, name: String, tasks: &[Task], purpose: &'static str) -> SrvExpect {
        SrvExpect {
            name,
            targets: Vec::new(),
            all_required: false,
            strangers_fail: true,
            task: named(self.spec.workflow, tasks),
            ha_task: Task::HighAvailability.label(self.spec.workflow),
            purpose,
            groups: Vec::new(),
        }
    }

    /// Plans the check `key`, whose records must meet `expect`.
    fn add(&mut self, key: CheckKey, expect: SrvExpect) {
        let job = Arc::new((self.resolver.clone(), expect));
        let server = self.resolver.servers().to_string();
        self.checks.push(
            PlannedCheck::keyed(key, move |ctx| {
                let job = job.clone();
                async move {
                    let (resolver, expect) = &*job;
                    ctx.enter(Stage::DnsQuery);
                    let deadline = ctx.budget_deadline().into();
                    let facts = observe_srv(resolver, &expect.name, deadline, ctx.budget()).await;
                    judge_srv(expect, &facts)
                }
            })
            .on(server),
        );
    }

    /// The nodes of `role` of `clusters`, lower case, with their port of `service`.
    fn nodes(clusters: &[&Cluster], role: Role, service: Service) -> Vec<(String, u16)> {
        clusters
            .iter()
            .flat_map(|c| c.nodes.iter())
            .filter(|n| n.role == role)
            .map(|n| (n.fqdn().to_ascii_lowercase(), n.port(service)))
            .collect()
    }

    /// `dns.srv.xmpp-client`, `dns.srv.xmpp-server`, `dns.srv.cuplogin` of a domain's
    /// IM&P nodes, `dns.srv.cisco-uds` of its CUCM nodes, `dns.srv.collab-edge`.
    fn domain(&mut self, domain: &str) {
        let clusters: Vec<&Cluster> = self
            .spec
            .clusters
            .iter()
            .filter(|c| c.domain == domain)
            .collect();
        let imp = |service| Self::nodes(&clusters, Role::Imp, service);
        if !imp(Service::XmppC2s).is_empty() {
            let for_imp = [
                (
                    "dns.srv.xmpp-client",
                    "_xmpp-client._tcp",
                    Service::XmppC2s,
                    tasks::XMPP_CLIENT,
                    "XMPP clients find the IM&P nodes of the domain",
                ),
                (
                    "dns.srv.xmpp-server",
                    "_xmpp-server._tcp",
                    Service::XmppS2s,
                    tasks::XMPP_SERVER,
                    "federated XMPP servers reach the domain",
                ),
                (
                    "dns.srv.cuplogin",
                    "_cuplogin._tcp",
                    Service::Https,
                    tasks::DISCOVERY,
                    "Jabber clients discover the IM&P service",
                ),
            ];
            for (id, label, service, tasks, purpose) in for_imp {
                let name = format!("{label}.{domain}");
                let mut e = self.expect(name.clone(), tasks, purpose);
                e.targets = imp(service);
                self.add(CheckKey::new(id, name), e);
            }
        }
        let cucm = Self::nodes(&clusters, Role::Cucm, Service::Https);
        if !cucm.is_empty() {
            let name = format!("_cisco-uds._tcp.{domain}");
            let mut e = self.expect(
                name.clone(),
                tasks::DISCOVERY,
                "Jabber clients discover CUCM's User Data Services",
            );
            e.targets = cucm;
            self.add(CheckKey::new("dns.srv.cisco-uds", name), e);
        }
        if self.spec.remote_access {
            let name = format!("_collab-edge._tls.{domain}");
            let mut e = self.expect(
                name.clone(),
                tasks::DISCOVERY,
                "Jabber clients outside the network find Expressway (remote access)",
            );
            // Expressway-E is not a node of the spec: any target that resolves will do.
            e.strangers_fail = false;
            self.add(CheckKey::new("dns.srv.collab-edge", name), e);
        }
    }

    /// `dns.srv.sip-trunk`: each transport's record of the trunk lists exactly the
    /// cluster's IM&P nodes, every redundancy group complete.
    fn sip_trunk(&mut self, cluster: &Cluster, trunk: &SipTrunk) {
        for &transport in &trunk.transports {
            let key = keys::dns_srv_sip_trunk(transport, trunk);
            let mut e = self.expect(
                key.target.clone(),
                tasks::SIP_TRUNK,
                "the SIP publish trunk's cluster-wide DNS SRV name reaches every IM&P node of the cluster",
            );
            e.targets = Self::nodes(&[cluster], Role::Imp, transport.service());
            e.all_required = true;
            e.groups = cluster
                .redundancy_groups
                .iter()
                .map(|g| {
                    let nodes = g
                        .node_names()
                        .iter()
                        .map(|n| n.to_ascii_lowercase())
                        .collect();
                    (g.name.clone(), nodes)
                })
                .collect();
            self.add(key, e);
        }
    }

    /// `dns.srv.federation`: each federated XMPP domain's `_xmpp-server._tcp` resolves.
    fn federation(&mut self) {
        for peer in &self.spec.federation {
            let mut e = self.expect(
                format!("_xmpp-server._tcp.{}", peer.domain),
                tasks::FEDERATION,
                "the federated domain's XMPP servers can be reached over s2s",
            );
            e.strangers_fail = false;
            self.add(keys::dns_srv_federation(peer), e);
        }
    }

    /// SIP federation: each local domain's `_sipfederationtls._tcp` lists its IM&P nodes
    /// with their SIP TLS port (`dns.srv.sipfederationtls`); each federated SIP domain's
    /// resolves (`dns.srv.sip-federation`).
    fn sip_federation(&mut self) {
        let mut locals: Vec<&str> = Vec::new();
        for peer in &self.spec.sip_federation {
            if locals.contains(&peer.local_domain.as_str()) {
                continue;
            }
            locals.push(&peer.local_domain);
            let key = keys::dns_srv_sipfederationtls(peer);
            let clusters: Vec<&Cluster> = self
                .spec
                .clusters
                .iter()
                .filter(|c| c.domain == peer.local_domain)
                .collect();
            let mut e = self.expect(
                key.target.clone(),
                tasks::FEDERATION,
                "federated SIP domains reach the IM&P nodes over mutual TLS",
            );
            e.targets = Self::nodes(&clusters, Role::Imp, Service::SipTls);
            self.add(key, e);
        }
        for peer in &self.spec.sip_federation {
            let mut e = self.expect(
                format!("_sipfederationtls._tcp.{}", peer.domain),
                tasks::FEDERATION,
                "IM&P reaches the federated SIP domain's federation edge",
            );
            e.strangers_fail = false;
            self.add(keys::dns_srv_sip_federation(peer), e);
        }
    }
}

/// Plans the SRV checks the spec calls for.
pub(crate) fn plan(spec: &Spec, resolver: &Arc<Resolver>) -> Vec<PlannedCheck> {
    let mut p = Planner {
        spec,
        resolver,
        checks: Vec::new(),
    };
    for domain in &spec.domains {
        p.domain(domain);
    }
    for cluster in &spec.clusters {
        if let Some(trunk) = &cluster.sip_trunk {
            p.sip_trunk(cluster, trunk);
        }
    }
    p.federation();
    p.sip_federation();
    p.checks
}
