//! The keys of the checks that others wait for, each built by one constructor: the
//! probe that plans the check and every check that depends on it call the same
//! function, so a prerequisite cannot be misspelt (and [`crate::build_plan`] refuses one
//! that names no planned check all the same).

use crate::model::CheckKey;
use crate::spec::{
    FederationPeer, Node, Service, SipFederationPeer, SipTrunk, TestUser, Transport,
};

/// `services.port` of an endpoint: target `imp1.lab.test:5222 (xmpp-c2s)`, or
/// `[::1]:636 (ldaps)` for an IPv6 address (it keeps its brackets). `host` is a node's
/// FQDN or a directory server's host.
pub fn services_port(host: &str, port: u16, service: Service) -> CheckKey {
    let service = service.name();
    let target = if host.contains(':') {
        format!("[{host}]:{port} ({service})")
    } else {
        format!("{host}:{port} ({service})")
    };
    CheckKey::new("services.port", target)
}

/// `services.port` of `service` on `node`, at the node's port for it (an override or the
/// default): target `imp1.lab.test:5222 (xmpp-c2s)`.
pub fn node_port(node: &Node, service: Service) -> CheckKey {
    services_port(node.fqdn(), node.port(service), service)
}

/// `dns.node` of a node (target its FQDN).
pub fn dns_node(node: &Node) -> CheckKey {
    CheckKey::new("dns.node", node.fqdn())
}

/// `dns.srv.sip-trunk` of a trunk's SRV record for `transport`
/// (`_sips._tcp.imp-cluster.lab.test`).
pub fn dns_srv_sip_trunk(transport: Transport, trunk: &SipTrunk) -> CheckKey {
    CheckKey::new(
        "dns.srv.sip-trunk",
        transport.srv_name(trunk.srv_name.trim_end_matches('.')),
    )
}

/// `dns.srv.cisco-uds` of an IM domain, as the DNS probe plans it (target
/// `_cisco-uds._tcp.lab.test`).
pub fn dns_srv_cisco_uds(domain: &str) -> CheckKey {
    CheckKey::new("dns.srv.cisco-uds", format!("_cisco-uds._tcp.{domain}"))
}

/// `uds.https` of an IM domain's `_cisco-uds._tcp` record (target
/// `_cisco-uds._tcp.lab.test`).
pub fn uds_https(domain: &str) -> CheckKey {
    CheckKey::new("uds.https", format!("_cisco-uds._tcp.{domain}"))
}

/// `uds.version` of an IM domain's `_cisco-uds._tcp` record.
pub fn uds_version(domain: &str) -> CheckKey {
    CheckKey::new("uds.version", format!("_cisco-uds._tcp.{domain}"))
}

/// `uds.cluster-user` of a test user (target: the user id).
pub fn uds_cluster_user(user_id: &str) -> CheckKey {
    CheckKey::new("uds.cluster-user", user_id)
}

/// `dns.srv.federation` of a federated XMPP domain.
pub fn dns_srv_federation(peer: &FederationPeer) -> CheckKey {
    CheckKey::new("dns.srv.federation", &peer.domain)
}

/// `dns.srv.sipfederationtls` of the local domain of a federated SIP domain: the local
/// domain's record (`_sipfederationtls._tcp.lab.test`), one for every peer of that
/// local domain.
pub fn dns_srv_sipfederationtls(peer: &SipFederationPeer) -> CheckKey {
    CheckKey::new(
        "dns.srv.sipfederationtls",
        format!("_sipfederationtls._tcp.{}", peer.local_domain),
    )
}

/// `dns.srv.sip-federation` of a federated SIP domain.
pub fn dns_srv_sip_federation(peer: &SipFederationPeer) -> CheckKey {
    CheckKey::new("dns.srv.sip-federation", &peer.domain)
}

/// `sip.federation-tls` of a federated SIP domain.
pub fn sip_federation_tls(domain: &str) -> CheckKey {
    CheckKey::new("sip.federation-tls", domain)
}

/// `ldap.connect` of a directory server (target `ldaps://ldap.lab.test:636`).
pub fn ldap_connect(server: &str) -> CheckKey {
    CheckKey::new("ldap.connect", server)
}

/// `ldap.bind` of a directory server.
pub fn ldap_bind(server: &str) -> CheckKey {
    CheckKey::new("ldap.bind", server)
}

/// `ldap.base` of a search base.
pub fn ldap_base(base: &str) -> CheckKey {
    CheckKey::new("ldap.base", base)
}

/// `xmpp.connect` of an IM&P node.
pub fn xmpp_connect(node: &Node) -> CheckKey {
    CheckKey::new("xmpp.connect", node.fqdn())
}

/// `xmpp.login` of a test user on its home node (target `alice on imp1.lab.test`).
pub fn xmpp_login(user: &TestUser) -> CheckKey {
    CheckKey::new(
        "xmpp.login",
        format!("{} on {}", user.user_id, user.home_node),
    )
}

/// `xmpp.ha` of a test user on `peer`, the redundancy-group peer of its home node
/// (target `alice on imp2.lab.test`).
pub fn xmpp_ha(user: &TestUser, peer: &Node) -> CheckKey {
    CheckKey::new("xmpp.ha", format!("{} on {}", user.user_id, peer.fqdn()))
}

/// `sip.options` of a trunk target (`_sips._tcp.imp-cluster.lab.test imp1.lab.test:5061`).
pub fn sip_options(target: &str) -> CheckKey {
    CheckKey::new("sip.options", target)
}

/// `sip.publish` of a node and transport (`tls imp1.lab.test:5061`).
pub fn sip_publish(target: &str) -> CheckKey {
    CheckKey::new("sip.publish", target)
}

/// `sip.tls-peer` of a trunk node's TLS target (`tls imp1.lab.test:5061`).
pub fn sip_tls_peer(target: &str) -> CheckKey {
    CheckKey::new("sip.tls-peer", target)
}
