//! The documentation of each spec field, from the one source the tool has:
//! `fixtures/specs/example.toml`, compiled in (`imp_verify_core::spec::reference`).

/// The documentation of field `path` (`clusters.nodes.fqdn`), as comment lines.
pub fn get(path: &str) -> String {
    let doc = imp_verify_core::spec::reference::doc(path);
    debug_assert!(!doc.is_empty(), "example.toml documents no {path}");
    doc
}

pub const HEADER: &str = "\
# Relative paths are relative to this file. Passwords are never
# written here: each is `password_env = \"VARIABLE\"` (read from the environment, which
# imp-verify then removes the variable from; a name of letters, digits and `_`) or
# `password_file = \"PATH\"` (a regular file of at most 4 KiB holding the password, one
# trailing newline ignored; readable by its owner only, or imp-verify warns).";

#[cfg(test)]
mod tests {
    const EXAMPLE: &str = include_str!("../../../fixtures/specs/example.toml");

    #[test]
    fn the_header_and_every_field_written_are_example_toml_s() {
        let text = super::HEADER.strip_prefix("# ").unwrap();
        assert!(EXAMPLE.contains(text), "not in example.toml:\n{text}");
        for path in [
            "workflow",
            "domains",
            "im_address_scheme",
            "remote_access",
            "dns.servers",
            "dns.timeout",
            "tls.ca_bundle",
            "tls.use_system_roots",
            "tls.expiry_warning_days",
            "clusters",
            "clusters.nodes.fqdn",
            "clusters.nodes.address",
            "clusters.nodes.services",
            "clusters.redundancy_groups",
            "clusters.sip_trunk",
            "clusters.sip_trunk.srv_name",
            "clusters.sip_trunk.transports",
            "clusters.sip_trunk.tls_peer_subjects",
            "clusters.sip_trunk.client_cert",
            "clusters.sip_trunk.presence_gateway",
            "clusters.sip_trunk.presentity",
            "ldap",
            "ldap.bind_dn",
            "ldap.base",
            "ldap.expected_users",
            "ldap.servers",
            "test_users",
            "test_users.home_node",
            "federation",
            "federation.test_contact",
            "federation.local_user",
            "sip_federation",
            "sip_federation.tls_peer_subjects",
            "sip_federation.client_cert",
        ] {
            let doc = super::get(path);
            assert!(!doc.is_empty() && EXAMPLE.contains(&doc), "{path}: {doc}");
        }
    }
}
