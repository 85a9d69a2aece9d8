//! The deployment spec: one TOML file saying what should hold.
//!
//! Every field is documented in `fixtures/specs/example.toml`. The spec comes in two
//! forms: the raw one (`raw.rs`, serde types as the TOML reads, with the place of each
//! value) and the validated [`Spec`], which the probes use: passwords are [`Secret`]s,
//! an LDAP server's security is a [`LdapSecurity`], paths are resolved against the
//! spec's folder. Validation is one function per section, in a file per section; it
//! reports every problem with file, line and column ([`SpecErrors`]), and never the
//! value of a password field.
//!
//! [`Spec::load`] also reads the passwords (and removes a `password_env` variable from
//! the process environment once read) and checks that certificate files exist;
//! [`Spec::load_structure`] only parses and validates the structure, for listing the
//! checks of a spec whose secrets are not on this machine.

#![warn(missing_docs)]

mod clusters;
mod dns;
mod error;
mod federation;
mod kinds;
mod ldap;
mod password;
mod raw;
pub mod reference;
mod sip_federation;
mod tls;
mod trunk;
mod users;
mod xmpp;

pub use clusters::{Cluster, Node, RedundancyGroup};
pub use dns::DnsSpec;
pub use error::{SpecError, SpecErrors, SpecWarning};
pub use federation::FederationPeer;
pub use kinds::{AddressScheme, Role, Service, Transport, Workflow};
pub use ldap::{AttributeMap, LdapSecurity, LdapServer, LdapSpec};
pub use password::{is_variable_name, Env, ProcessEnv, MAX_PASSWORD_FILE};
pub use sip_federation::SipFederationPeer;
pub use tls::TlsSpec;
pub use trunk::SipTrunk;
pub use users::TestUser;
pub use xmpp::{PlainAfterTls, XmppSpec};

use crate::secret::Secret;
use error::Ctx;
use password::Passwords;
use raw::RawSpec;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What loading a spec reads besides the spec itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadMode {
    /// Everything: passwords are read from their variables and files, and the CA
    /// bundle and the trunk's certificate files must exist. For running checks.
    Full,
    /// The structure only: password sources are checked for form but never read, and
    /// no file the spec names is looked at. For planning and listing the checks; the
    /// spec's secrets cannot be exposed ([`Secret::expose`] panics).
    Structure,
}

/// The validated deployment spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Where the spec was read from.
    pub path: PathBuf,
    /// The deployment workflow the deployment followed.
    pub workflow: Workflow,
    /// The IM domains of the deployment (at least one, each once).
    pub domains: Vec<String>,
    /// How IM addresses are formed.
    pub im_address_scheme: AddressScheme,
    /// Whether remote access (Expressway, `_collab-edge._tls`) is deployed.
    pub remote_access: bool,
    /// Which DNS servers to ask.
    pub dns: DnsSpec,
    /// The trust anchors and limits certificates are judged against.
    pub tls: TlsSpec,
    /// The clusters (each name, node FQDN once in the whole spec).
    pub clusters: Vec<Cluster>,
    /// The LDAP directory, if the deployment integrates one.
    pub ldap: Option<LdapSpec>,
    /// The users the checks log in as.
    pub test_users: Vec<TestUser>,
    /// The federated domains.
    pub federation: Vec<FederationPeer>,
    /// The federated SIP domains.
    pub sip_federation: Vec<SipFederationPeer>,
    /// What the XMPP service may offer clients (`[xmpp]`).
    pub xmpp: XmppSpec,
    /// What loading found worth telling (never a secret): to print before running.
    pub warnings: Vec<SpecWarning>,
    /// How the spec was loaded.
    pub mode: LoadMode,
}

impl Spec {
    /// Reads and validates the spec at `path`, resolving passwords from the process
    /// environment. A `password_env` variable read is removed from the environment, so
    /// call this before starting threads.
    pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
        Self::load_mode(path, LoadMode::Full, &ProcessEnv)
    }

    /// Reads and validates the structure of the spec at `path`, reading no password and
    /// no file it names ([`LoadMode::Structure`]): for listing its checks.
    pub fn load_structure(path: &Path) -> Result<Spec, SpecErrors> {
        Self::load_mode(path, LoadMode::Structure, &ProcessEnv)
    }

    /// Reads and validates the spec at `path`, with environment variables from `env`.
    pub fn load_with_env(path: &Path, env: &dyn Env) -> Result<Spec, SpecErrors> {
        Self::load_mode(path, LoadMode::Full, env)
    }

    /// Reads and validates the spec at `path` in `mode`, with variables from `env`.
    pub fn load_mode(path: &Path, mode: LoadMode, env: &dyn Env) -> Result<Spec, SpecErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecErrors::unreadable(path, e))?;
        Self::parse_mode(&text, path, mode, env)
    }

    /// Parses and validates spec text; `path` names it in errors and anchors relative
    /// paths.
    pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Spec, SpecErrors> {
        Self::parse_mode(text, path, LoadMode::Full, env)
    }

    /// Parses and validates spec text in `mode`.
    pub fn parse_mode(
        text: &str,
        path: &Path,
        mode: LoadMode,
        env: &dyn Env,
    ) -> Result<Spec, SpecErrors> {
        let mut ctx = Ctx::new(path, text, mode);
        let raw: RawSpec =
            toml::from_str(text).map_err(|e| SpecErrors(vec![ctx.toml_error(&e)]))?;
        let mut passwords = Passwords::new(env);
        let spec = validate(&mut ctx, &raw, &mut passwords);
        for name in &passwords.read_vars {
            env.forget(name);
        }
        if !ctx.errors.is_empty() {
            return Err(SpecErrors(ctx.errors));
        }
        password::warn_of_passwords_in_text(&mut ctx, &passwords.resolved);
        Ok(Spec {
            path: path.to_path_buf(),
            warnings: ctx.warnings,
            ..spec
        })
    }

    /// Every secret, so that outputs can be scrubbed of them.
    pub fn secret_values(&self) -> Vec<Secret> {
        let ldap = self.ldap.iter().map(|l| &l.password);
        let users = self.test_users.iter().map(|u| &u.password);
        let peers = self.federation.iter().map(|f| &f.password);
        ldap.chain(users)
            .chain(peers)
            .filter(|s| s.is_read())
            .cloned()
            .collect()
    }

    /// All nodes, with their cluster.
    pub fn nodes(&self) -> impl Iterator<Item = (&Cluster, &Node)> {
        self.clusters
            .iter()
            .flat_map(|c| c.nodes.iter().map(move |n| (c, n)))
    }

    /// The node with this FQDN.
    pub fn node(&self, fqdn: &str) -> Option<(&Cluster, &Node)> {
        self.nodes()
            .find(|(_, n)| n.fqdn.eq_ignore_ascii_case(fqdn))
    }

    /// The IM address of a test user.
    pub fn jid_of(&self, user: &TestUser) -> String {
        if let Some(j) = &user.jid {
            return j.clone();
        }
        let domain = self
            .node(&user.home_node)
            .map(|(c, _)| c.domain.clone())
            .unwrap_or_else(|| self.domains.first().cloned().unwrap_or_default());
        format!("{}@{}", user.user_id, domain)
    }
}

/// Validates every section of `raw`, in the order of the file. The result is only
/// meaningful when `ctx` holds no error.
fn validate(ctx: &mut Ctx, raw: &RawSpec, passwords: &mut Passwords) -> Spec {
    let domains = validate_domains(ctx, &raw.domains);
    let dns = dns::validate(ctx, &raw.dns);
    let tls = tls::validate(ctx, &raw.tls);
    let nodes = clusters::index(&raw.clusters);
    let clusters = clusters::validate(ctx, &raw.clusters, &domains, &nodes);
    let ldap = raw
        .ldap
        .as_ref()
        .and_then(|l| ldap::validate(ctx, l, &clusters, passwords));
    let test_users = users::validate(ctx, &raw.test_users, &nodes, passwords);
    let user_ids: Vec<&str> = raw
        .test_users
        .iter()
        .map(|u| u.get_ref().user_id.get_ref().as_str())
        .collect();
    let federation = federation::validate(ctx, &raw.federation, &domains, &user_ids, passwords);
    let sip_federation = sip_federation::validate(ctx, &raw.sip_federation, &domains, &clusters);
    let xmpp = xmpp::validate(raw.xmpp.as_ref(), ldap.is_some());
    Spec {
        path: PathBuf::new(),
        workflow: raw.workflow,
        domains,
        im_address_scheme: raw.im_address_scheme,
        remote_access: raw.remote_access,
        dns,
        tls,
        clusters,
        ldap,
        test_users,
        federation,
        sip_federation,
        xmpp,
        warnings: Vec::new(),
        mode: ctx.mode,
    }
}

/// Checks `domains`: at least one, each once.
fn validate_domains(ctx: &mut Ctx, raw: &Spanned<Vec<Spanned<String>>>) -> Vec<String> {
    if raw.get_ref().is_empty() {
        ctx.error(
            raw.span(),
            "`domains` is empty: list the deployment's IM domains",
        );
    }
    let mut domains: Vec<String> = Vec::new();
    for d in raw.get_ref() {
        if domains.iter().any(|o| o.eq_ignore_ascii_case(d.get_ref())) {
            ctx.error(
                d.span(),
                format!("domain `{}` is listed twice", d.get_ref()),
            );
        } else {
            domains.push(d.get_ref().clone());
        }
    }
    domains
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SPEC: &str = r#"
workflow = "a"
domains = ["example.com"]

[[clusters]]
name = "c1"
domain = "EXAMPLE.com"

[[clusters.nodes]]
fqdn = "imp1.example.com"
role = "imp"
ports = { xmpp-c2s = 15222 }

[[clusters.nodes]]
fqdn = "cucm1.example.com"
role = "cucm"
services = ["https"]
"#;

    #[test]
    fn the_validated_spec_is_complete_and_canonical() {
        let spec = Spec::parse(SPEC, Path::new("s.toml"), &BTreeMap::new()).unwrap();
        assert_eq!(spec.workflow, Workflow::A);
        // The cluster's domain as `domains` spells it.
        assert_eq!(spec.clusters[0].domain, "example.com");
        let (_, imp1) = spec.node("IMP1.example.com").unwrap();
        assert_eq!(imp1.services, Role::Imp.default_services());
        assert_eq!(imp1.port(Service::XmppC2s), 15222);
        let (_, cucm) = spec.node("cucm1.example.com").unwrap();
        assert_eq!(cucm.service_ports(), [(Service::Https, 8443)]);
        assert_eq!(spec.dns, DnsSpec::default());
        assert_eq!(spec.tls.expiry_warning_days, 30);
        assert!(spec.warnings.is_empty());
        assert_eq!(spec.mode, LoadMode::Full);
    }
}
