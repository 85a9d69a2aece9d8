//! The documentation of each spec field, as `fixtures/specs/example.toml` gives it
//! (a unit test keeps the two the same).

pub const HEADER: &str = "\
# Relative paths are relative to this file. Passwords are never
# written here: each is `password_env = \"VARIABLE\"` (read from the environment, which
# imp-verify then removes the variable from; a name of letters, digits and `_`) or
# `password_file = \"PATH\"` (a regular file of at most 4 KiB holding the password, one
# trailing newline ignored; readable by its owner only, or imp-verify warns).";

pub const WORKFLOW: &str = "\
# Which deployment workflow of the IM and Presence configuration guide the deployment
# followed; it selects the checks that apply:
#   \"A\" basic high availability, \"B\" high availability with IP Phone presence,
#   \"C\" federation, \"D\" IM-only deployment.";

pub const DOMAINS: &str = "# The IM domains of the deployment (required, at least one).";

pub const ADDRESS_SCHEME: &str = "\
# How IM addresses are formed: \"userid@domain\" (default) or \"directory-uri\" (the
# user's directory URI, usually the LDAP mail attribute).";

pub const REMOTE_ACCESS: &str = "\
# Whether remote access (Expressway, the _collab-edge._tls SRV record) is deployed.
# Default false.";

pub const DNS_SERVERS: &str = "\
# DNS servers to ask, \"ip\" or \"ip:port\". Leave out (or empty) to use the system
# resolver (/etc/resolv.conf).";

pub const DNS_TIMEOUT: &str = "# Per-query timeout (default \"2s\").";

pub const CA_BUNDLE: &str = "\
# PEM bundle of the CA certificate(s) the deployment's certificates must chain to.
# Without it (and without use_system_roots) certificates cannot be verified.";

pub const SYSTEM_ROOTS: &str = "# Also accept chains to the system's public roots (default false).";

pub const EXPIRY: &str = "# Warn when a certificate expires within this many days (default 30).";

pub const CLUSTERS: &str = "# One [[clusters]] table per IM and Presence cluster (at least one).";

pub const NODE_FQDN: &str = "# Fully qualified host name (required, unique in the spec).";

pub const NODE_ADDRESS: &str =
    "# The address the name must resolve to (optional; without it any address passes).";

pub const NODE_SERVICES: &str = "\
# The services whose TCP ports are checked (optional). Default by role:
#   imp: xmpp-c2s, xmpp-s2s, sip-tcp, sip-tls;  cucm: sip-tcp, sip-tls, https.";

pub const GROUPS: &str = "# Presence redundancy groups: pairs of IM&P nodes of this cluster.";

pub const TRUNK: &str = "# The SIP publish trunk from CUCM to this cluster (workflows B and C).";

pub const TRUNK_SRV: &str = "\
# The cluster-wide DNS SRV name configured on the trunk; its _sip._udp, _sip._tcp and
# _sips._tcp records must list exactly the cluster's IM&P nodes.";

pub const TRUNK_TRANSPORTS: &str = "# Transports the trunk uses: any of \"udp\", \"tcp\", \"tls\".";

pub const TRUNK_SUBJECTS: &str = "\
# The TLS peer subjects configured for SIP security: the subjects (CN or DNS SAN) the
# IM&P nodes' certificates may present.";

pub const TRUNK_CLIENT: &str = "\
# The client certificate and key (PEM) that CUCM presents on the trunk over TLS;
# required when transports include \"tls\".";

pub const TRUNK_GATEWAY: &str =
    "# The presence gateway (the CUCM node IM&P sends presence to); a node of the spec.";

pub const TRUNK_PRESENTITY: &str = "# The user id whose phone presence the SIP checks publish.";

pub const LDAP: &str = "# The LDAP directory CUCM and IM&P use (optional).";

pub const LDAP_BIND: &str = "# The service account CUCM and IM&P bind as, and its password.";

pub const LDAP_BASE: &str = "# The search base and the filter that selects the users to provision.";

pub const LDAP_USERS: &str = "# The users that must be provisioned (by user id).";

pub const LDAP_SERVERS: &str = "# One [[ldap.servers]] per directory server.";

pub const TEST_USERS: &str = "# Test users the checks log in as: [[test_users]] per user.";

pub const HOME_NODE: &str = "# The IM&P node the user is assigned to (an imp node of the spec).";

pub const FEDERATION: &str = "# Federated domains (workflow C): [[federation]] per peer domain.";

pub const FEDERATION_CONTACT: &str =
    "# A contact in that domain, and its password (to log in as it on the peer's side).";

pub const FEDERATION_LOCAL: &str =
    "# The local test user who exchanges IM and presence with the contact.";

pub const SIP_FEDERATION: &str =
    "# Federated SIP domains (workflow C, interdomain federation over SIP): [[sip_federation]]
# per peer domain.";

pub const SIP_FEDERATION_SUBJECTS: &str =
    "# The subjects (CN or DNS name) its certificate may carry: the TLS peer subjects
# configured on IM&P for it (at least one).";

pub const SIP_FEDERATION_CLIENT: &str =
    "# The certificate (PEM) and key imp-verify presents to the peer's federation port: one
# it accepts as the local domain's (e.g. issued to an IM&P node's FQDN by a CA the peer
# trusts). Without them the OPTIONS from the peer's side is not sent (skipped).";

#[cfg(test)]
mod tests {
    const EXAMPLE: &str = include_str!("../../../fixtures/specs/example.toml");

    #[test]
    fn every_field_documentation_is_example_toml_s() {
        for doc in [
            super::HEADER,
            super::WORKFLOW,
            super::DOMAINS,
            super::ADDRESS_SCHEME,
            super::REMOTE_ACCESS,
            super::DNS_SERVERS,
            super::DNS_TIMEOUT,
            super::CA_BUNDLE,
            super::SYSTEM_ROOTS,
            super::EXPIRY,
            super::CLUSTERS,
            super::NODE_FQDN,
            super::NODE_ADDRESS,
            super::NODE_SERVICES,
            super::GROUPS,
            super::TRUNK,
            super::TRUNK_SRV,
            super::TRUNK_TRANSPORTS,
            super::TRUNK_SUBJECTS,
            super::TRUNK_CLIENT,
            super::TRUNK_GATEWAY,
            super::TRUNK_PRESENTITY,
            super::LDAP,
            super::LDAP_BIND,
            super::LDAP_BASE,
            super::LDAP_USERS,
            super::LDAP_SERVERS,
            super::TEST_USERS,
            super::HOME_NODE,
            super::FEDERATION,
            super::FEDERATION_CONTACT,
            super::FEDERATION_LOCAL,
            super::SIP_FEDERATION,
            super::SIP_FEDERATION_SUBJECTS,
            super::SIP_FEDERATION_CLIENT,
        ] {
            // (the first line may continue a line of example.toml)
            let text = doc.strip_prefix("# ").unwrap_or(doc);
            assert!(EXAMPLE.contains(text), "not in example.toml:\n{doc}");
        }
    }
}
