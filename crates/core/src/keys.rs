//! The keys of the checks that others wait for, each built by one constructor: the
//! probe that plans the check and every check that depends on it call the same
//! function, so a prerequisite cannot be misspelt (and [`crate::build_plan`] refuses one
//! that names no planned check all the same).

use crate::model::CheckKey;
use crate::spec::{Node, Service, TestUser};

/// `services.port` of an endpoint: target `imp1.lab.test:5222 (xmpp-c2s)`, or
/// `[::1]:636 (ldaps)` for an IPv6 address (it keeps its brackets).
pub fn services_port(host: &str, port: u16, service: &str) -> CheckKey {
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
    services_port(node.fqdn(), node.port(service), service.name())
}

/// `dns.node` of a node FQDN.
pub fn dns_node(fqdn: &str) -> CheckKey {
    CheckKey::new("dns.node", fqdn)
}

/// `dns.srv.sip-trunk` of the trunk's SRV record name (`_sips._tcp.imp-cluster.lab.test`).
pub fn dns_srv_sip_trunk(record: &str) -> CheckKey {
    CheckKey::new("dns.srv.sip-trunk", record)
}

/// `dns.srv.federation` of a federated domain.
pub fn dns_srv_federation(domain: &str) -> CheckKey {
    CheckKey::new("dns.srv.federation", domain)
}

/// `dns.srv.sipfederationtls` of a local IM domain's record
/// (`_sipfederationtls._tcp.lab.test`).
pub fn dns_srv_sipfederationtls(record: &str) -> CheckKey {
    CheckKey::new("dns.srv.sipfederationtls", record)
}

/// `dns.srv.sip-federation` of a federated SIP domain.
pub fn dns_srv_sip_federation(domain: &str) -> CheckKey {
    CheckKey::new("dns.srv.sip-federation", domain)
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

/// `xmpp.connect` of an IM&P node (target: its FQDN).
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
