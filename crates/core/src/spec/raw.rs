//! The spec as the TOML reads: serde types with the place of every value that an error
//! may point at. Nothing here is checked beyond syntax and types; `validate` turns a
//! [`RawSpec`] into a [`super::Spec`].

use super::kinds::{AddressScheme, Role, Service, Transport, Workflow};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpec {
    pub workflow: Workflow,
    pub domains: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub im_address_scheme: AddressScheme,
    #[serde(default)]
    pub remote_access: bool,
    #[serde(default)]
    pub dns: RawDns,
    #[serde(default)]
    pub tls: RawTls,
    pub clusters: Vec<RawCluster>,
    pub ldap: Option<Spanned<RawLdap>>,
    #[serde(default)]
    pub test_users: Vec<Spanned<RawTestUser>>,
    #[serde(default)]
    pub federation: Vec<Spanned<RawFederationPeer>>,
    #[serde(default)]
    pub sip_federation: Vec<Spanned<RawSipFederationPeer>>,
    pub xmpp: Option<RawXmpp>,
}

/// `[xmpp]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawXmpp {
    pub allow_plain: Option<bool>,
}

/// `[dns]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    #[serde(default)]
    pub servers: Vec<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

/// `[tls]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca_bundle: Option<Spanned<String>>,
    #[serde(default)]
    pub use_system_roots: bool,
    #[serde(default = "default_expiry_days")]
    pub expiry_warning_days: u32,
    pub unlisted_client_cert: Option<Spanned<String>>,
    pub unlisted_client_key: Option<Spanned<String>>,
}

fn default_expiry_days() -> u32 {
    30
}

impl Default for RawTls {
    fn default() -> Self {
        RawTls {
            ca_bundle: None,
            use_system_roots: false,
            expiry_warning_days: default_expiry_days(),
            unlisted_client_cert: None,
            unlisted_client_key: None,
        }
    }
}

/// `[[clusters]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    pub name: Spanned<String>,
    pub domain: Spanned<String>,
    pub nodes: Vec<RawNode>,
    #[serde(default)]
    pub redundancy_groups: Vec<RawGroup>,
    pub sip_trunk: Option<RawTrunk>,
    pub cucm_publisher: Option<Spanned<String>>,
}

/// `[[clusters.nodes]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub fqdn: Spanned<String>,
    pub address: Option<IpAddr>,
    pub role: Role,
    pub services: Option<Vec<Spanned<Service>>>,
    #[serde(default)]
    pub ports: BTreeMap<Service, u16>,
}

/// `[[clusters.redundancy_groups]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    pub name: String,
    pub nodes: Spanned<Vec<Spanned<String>>>,
}

/// `[clusters.sip_trunk]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrunk {
    pub srv_name: Spanned<String>,
    pub transports: Spanned<Vec<Spanned<Transport>>>,
    #[serde(default)]
    pub tls_peer_subjects: Vec<String>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub presence_gateway: Option<Spanned<String>>,
    pub presentity: Option<String>,
}

/// `[ldap]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLdap {
    pub servers: Vec<Spanned<RawLdapServer>>,
    pub bind_dn: String,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub base: String,
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    #[serde(default)]
    pub attributes: RawAttributes,
    #[serde(default)]
    pub expected_users: Vec<String>,
    pub max_message_bytes: Option<Spanned<u64>>,
}

fn default_user_filter() -> String {
    "(objectClass=inetOrgPerson)".into()
}

/// `[[ldap.servers]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLdapServer {
    pub url: Spanned<String>,
    #[serde(default)]
    pub starttls: bool,
    #[serde(default)]
    pub allow_cleartext: bool,
}

/// `[ldap.attributes]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAttributes {
    pub user_id: Option<String>,
    pub mail: Option<String>,
    pub directory_uri: Option<String>,
    pub display_name: Option<String>,
    pub phone: Option<String>,
}

/// `[[test_users]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTestUser {
    pub user_id: Spanned<String>,
    pub home_node: Spanned<String>,
    pub jid: Option<String>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    #[serde(default)]
    pub contacts: Vec<Spanned<String>>,
}

/// `[[federation]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFederationPeer {
    pub domain: Spanned<String>,
    pub test_contact: Spanned<String>,
    pub local_user: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
}

/// `[[sip_federation]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSipFederationPeer {
    pub domain: Spanned<String>,
    pub tls_peer_subjects: Spanned<Vec<String>>,
    pub local_domain: Option<Spanned<String>>,
    pub nodes: Option<Vec<Spanned<String>>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
}
