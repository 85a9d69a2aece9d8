//! The deployment spec: one TOML file saying what should hold.
//!
//! Every field is documented in `fixtures/specs/example.toml`. Loading checks syntax,
//! types, unknown and missing fields, cross-references (a redundancy group naming an
//! unknown node...) and resolves passwords from the environment variables or files the
//! spec names. Every problem is reported with file, line and column.

use crate::secret::Secret;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The deployment workflow of the configuration guide that the deployment followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Workflow {
    /// Basic high-availability deployment.
    A,
    /// High availability with IP Phone presence.
    B,
    /// Federation.
    C,
    /// IM-only deployment.
    D,
}

impl Workflow {
    pub fn letter(self) -> &'static str {
        match self {
            Workflow::A => "A",
            Workflow::B => "B",
            Workflow::C => "C",
            Workflow::D => "D",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Workflow::A => "basic high-availability deployment",
            Workflow::B => "high availability with IP Phone presence",
            Workflow::C => "federation",
            Workflow::D => "IM-only deployment",
        }
    }
}

impl<'de> Deserialize<'de> for Workflow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "A" | "a" => Ok(Workflow::A),
            "B" | "b" => Ok(Workflow::B),
            "C" | "c" => Ok(Workflow::C),
            "D" | "d" => Ok(Workflow::D),
            other => Err(serde::de::Error::custom(format!(
                "unknown workflow `{other}`, expected A, B, C or D"
            ))),
        }
    }
}

impl fmt::Display for Workflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// How a user's IM address is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum AddressScheme {
    /// `userid@domain` (the default).
    #[default]
    #[serde(rename = "userid@domain")]
    UserIdAtDomain,
    /// The user's directory URI (usually the LDAP `mail` attribute).
    #[serde(rename = "directory-uri")]
    DirectoryUri,
}

/// The role of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An IM and Presence Service node.
    Imp,
    /// A Unified Communications Manager node.
    Cucm,
}

/// A service a node offers on a TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    XmppC2s,
    XmppS2s,
    SipTcp,
    SipTls,
    Https,
    Ldap,
    Ldaps,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::XmppC2s => "xmpp-c2s",
            Service::XmppS2s => "xmpp-s2s",
            Service::SipTcp => "sip-tcp",
            Service::SipTls => "sip-tls",
            Service::Https => "https",
            Service::Ldap => "ldap",
            Service::Ldaps => "ldaps",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Service::XmppC2s => 5222,
            Service::XmppS2s => 5269,
            Service::SipTcp => 5060,
            Service::SipTls => 5061,
            Service::Https => 8443,
            Service::Ldap => 389,
            Service::Ldaps => 636,
        }
    }
}

impl Role {
    /// The services a node of this role offers unless the spec lists its own.
    pub fn default_services(self) -> &'static [Service] {
        match self {
            Role::Imp => &[
                Service::XmppC2s,
                Service::XmppS2s,
                Service::SipTcp,
                Service::SipTls,
            ],
            Role::Cucm => &[Service::SipTcp, Service::SipTls, Service::Https],
        }
    }
}

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// The parsed, validated deployment spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Where the spec was read from.
    #[serde(skip)]
    pub path: PathBuf,
    pub workflow: Workflow,
    /// The IM domains of the deployment.
    pub domains: Vec<String>,
    #[serde(default)]
    pub im_address_scheme: AddressScheme,
    /// Whether remote access (Expressway, `_collab-edge._tls`) is deployed.
    #[serde(default)]
    pub remote_access: bool,
    #[serde(default)]
    pub dns: DnsSpec,
    #[serde(default)]
    pub tls: TlsSpec,
    pub clusters: Vec<Cluster>,
    pub ldap: Option<LdapSpec>,
    #[serde(default)]
    pub test_users: Vec<TestUser>,
    #[serde(default)]
    pub federation: Vec<FederationPeer>,
}

/// Which DNS servers to ask.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// `address[:port]` of each server; empty: the system resolver (/etc/resolv.conf).
    #[serde(default)]
    servers: Vec<Spanned<String>>,
    /// Per-query timeout, like `2s` (default 2s).
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(skip)]
    pub resolved_servers: Vec<SocketAddr>,
    #[serde(skip)]
    pub query_timeout: Duration,
}

/// The trust anchors and limits certificates are judged against.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM bundle of the deployment's CA certificates (relative to the spec file).
    pub ca_bundle: Option<Spanned<PathBuf>>,
    /// Also trust the system's root certificates.
    #[serde(default)]
    pub use_system_roots: bool,
    /// Warn when a certificate expires within this many days.
    #[serde(default = "default_expiry_days")]
    pub expiry_warning_days: u32,
}

fn default_expiry_days() -> u32 {
    30
}

impl Default for TlsSpec {
    fn default() -> Self {
        TlsSpec {
            ca_bundle: None,
            use_system_roots: false,
            expiry_warning_days: default_expiry_days(),
        }
    }
}

impl TlsSpec {
    /// The CA bundle's path, resolved against the spec's folder.
    pub fn ca_bundle_path(&self) -> Option<&Path> {
        self.ca_bundle.as_ref().map(|p| p.get_ref().as_path())
    }
}

/// A cluster: its nodes, presence redundancy groups and SIP publish trunk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    /// The IM domain this cluster serves (one of `domains`).
    pub domain: Spanned<String>,
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub redundancy_groups: Vec<RedundancyGroup>,
    pub sip_trunk: Option<SipTrunk>,
}

/// A node of a cluster.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub fqdn: Spanned<String>,
    /// The address the FQDN must resolve to, if the spec pins it.
    pub address: Option<IpAddr>,
    pub role: Role,
    /// The services to check; default by role.
    pub services: Option<Vec<Service>>,
    /// Port overrides by service name.
    #[serde(default)]
    pub ports: BTreeMap<Service, u16>,
}

impl Node {
    pub fn fqdn(&self) -> &str {
        self.fqdn.get_ref()
    }

    /// The services of the node with their ports.
    pub fn service_ports(&self) -> Vec<(Service, u16)> {
        let services: &[Service] = match &self.services {
            Some(s) => s,
            None => self.role.default_services(),
        };
        services
            .iter()
            .map(|s| (*s, self.ports.get(s).copied().unwrap_or(s.default_port())))
            .collect()
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedundancyGroup {
    pub name: String,
    pub nodes: Spanned<Vec<Spanned<String>>>,
}

impl RedundancyGroup {
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes
            .get_ref()
            .iter()
            .map(|n| n.get_ref().as_str())
            .collect()
    }
}

/// The SIP publish trunk from CUCM to the IM&P cluster.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipTrunk {
    /// The cluster-wide DNS SRV name, e.g. `imp-cluster.example.com`.
    pub srv_name: String,
    pub transports: Spanned<Vec<Transport>>,
    /// Subjects (CN or SAN) the IM&P nodes' certificates may present.
    #[serde(default)]
    pub tls_peer_subjects: Vec<String>,
    /// The client certificate (PEM) CUCM presents over TLS, and its key.
    pub client_cert: Option<Spanned<PathBuf>>,
    pub client_key: Option<Spanned<PathBuf>>,
    /// FQDN of the presence gateway (the CUCM node), one of the cluster's nodes.
    pub presence_gateway: Option<Spanned<String>>,
    /// The presentity (user id) whose phone presence is published in tests.
    pub presentity: Option<String>,
}

/// The LDAP directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSpec {
    pub servers: Vec<LdapServer>,
    pub bind_dn: String,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    #[serde(skip)]
    pub password: Option<Secret>,
    pub base: String,
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    #[serde(default)]
    pub attributes: AttributeMap,
    #[serde(default)]
    pub expected_users: Vec<String>,
}

fn default_user_filter() -> String {
    "(objectClass=inetOrgPerson)".into()
}

/// One directory server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapServer {
    /// `ldaps://host[:port]` or `ldap://host[:port]` (then `starttls = true`).
    pub url: Spanned<String>,
    #[serde(default)]
    pub starttls: bool,
    /// Explicitly allow a cleartext connection (the report says so).
    #[serde(default)]
    pub allow_cleartext: bool,
    #[serde(skip)]
    pub host: String,
    #[serde(skip)]
    pub port: u16,
    #[serde(skip)]
    pub ldaps: bool,
}

/// Which LDAP attributes carry what.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMap {
    #[serde(default = "attr_uid")]
    pub user_id: String,
    #[serde(default = "attr_mail")]
    pub mail: String,
    #[serde(default = "attr_mail")]
    pub directory_uri: String,
    #[serde(default = "attr_display")]
    pub display_name: String,
    #[serde(default = "attr_phone")]
    pub phone: String,
}

fn attr_uid() -> String {
    "uid".into()
}
fn attr_mail() -> String {
    "mail".into()
}
fn attr_display() -> String {
    "displayName".into()
}
fn attr_phone() -> String {
    "telephoneNumber".into()
}

impl Default for AttributeMap {
    fn default() -> Self {
        AttributeMap {
            user_id: attr_uid(),
            mail: attr_mail(),
            directory_uri: attr_mail(),
            display_name: attr_display(),
            phone: attr_phone(),
        }
    }
}

/// A test user the checks log in as.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestUser {
    pub user_id: String,
    /// The IM&P node the user is assigned to.
    pub home_node: Spanned<String>,
    /// The user's IM address; default `user_id@<home cluster's domain>`.
    pub jid: Option<String>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl TestUser {
    pub fn password(&self) -> &Secret {
        self.password
            .as_ref()
            .expect("a loaded spec has every password resolved")
    }
}

/// A federated domain and a contact there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationPeer {
    pub domain: String,
    /// A contact in the federated domain (a JID).
    pub test_contact: Spanned<String>,
    /// The local test user who exchanges IM with the contact.
    pub local_user: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    #[serde(skip)]
    pub password: Option<Secret>,
}

impl LdapSpec {
    pub fn password(&self) -> &Secret {
        self.password
            .as_ref()
            .expect("a loaded spec has every password resolved")
    }
}

// ---------------------------------------------------------------------------------
// Errors

/// One problem in a spec, at a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place (the file cannot be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending line of the file, for display.
    pub source_line: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
            if let Some(src) = &self.source_line {
                let gutter = self.line.to_string().len();
                write!(
                    f,
                    "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                    "",
                    self.line,
                    src,
                    "",
                    "^",
                    col = self.column
                )?;
            }
            Ok(())
        }
    }
}

/// Every problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<SpecError>,
}

impl Ctx<'_> {
    fn at(&self, span: Option<Range<usize>>, message: String) -> SpecError {
        let Some(span) = span else {
            return SpecError {
                file: self.file.to_path_buf(),
                line: 0,
                column: 0,
                message,
                source_line: None,
            };
        };
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = self.text[line_start..start].chars().count() + 1;
        let source_line = self.text[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        SpecError {
            file: self.file.to_path_buf(),
            line,
            column,
            message,
            source_line: Some(source_line),
        }
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let e = self.at(Some(span), message.into());
        self.errors.push(e);
    }
}

// ---------------------------------------------------------------------------------
// Loading

/// Where a spec looks up environment variables (the process environment, or a map in tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Spec {
    /// Reads and validates the spec at `path`, resolving passwords from the process environment.
    pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
        Self::load_with_env(path, &ProcessEnv)
    }

    /// Reads and validates the spec at `path`, with environment variables from `env`.
    pub fn load_with_env(path: &Path, env: &dyn Env) -> Result<Spec, SpecErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SpecErrors(vec![SpecError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the spec: {e}"),
                source_line: None,
            }])
        })?;
        Self::parse(&text, path, env)
    }

    /// Parses and validates spec text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Spec, SpecErrors> {
        let mut ctx = Ctx {
            file: path,
            text,
            errors: Vec::new(),
        };
        let mut spec: Spec = match toml::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                let mut message = e.message().trim().to_string();
                if message.contains("unknown field `password`") {
                    message.push_str(
                        "; passwords are never written in the spec: name an environment \
                         variable with `password_env` or a file with `password_file`",
                    );
                }
                return Err(SpecErrors(vec![ctx.at(e.span(), message)]));
            }
        };
        spec.path = path.to_path_buf();
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        spec.validate(&mut ctx, &base_dir, env);
        if ctx.errors.is_empty() {
            Ok(spec)
        } else {
            Err(SpecErrors(ctx.errors))
        }
    }

    fn validate(&mut self, ctx: &mut Ctx, base_dir: &Path, env: &dyn Env) {
        if self.domains.is_empty() {
            ctx.errors.push(ctx.at(
                Some(0..0),
                "`domains` is empty: list the deployment's IM domains".into(),
            ));
        }

        // DNS
        let mut servers = Vec::new();
        for s in &self.dns.servers {
            match parse_socket_addr(s.get_ref(), 53) {
                Some(a) => servers.push(a),
                None => ctx.error(
                    s.span(),
                    format!(
                        "`{}` is not a DNS server address (expected `ip` or `ip:port`)",
                        s.get_ref()
                    ),
                ),
            }
        }
        self.dns.resolved_servers = servers;
        self.dns.query_timeout = Duration::from_secs(2);
        if let Some(t) = &self.dns.timeout {
            match humantime::parse_duration(t.get_ref()) {
                Ok(d) if !d.is_zero() => self.dns.query_timeout = d,
                _ => ctx.error(
                    t.span(),
                    format!("`{}` is not a duration (like `2s` or `500ms`)", t.get_ref()),
                ),
            }
        }

        // TLS
        if let Some(p) = self.tls.ca_bundle.take() {
            let span = p.span();
            let full = base_dir.join(p.get_ref());
            if !full.is_file() {
                ctx.error(
                    span.clone(),
                    format!("CA bundle `{}` is not a readable file", full.display()),
                );
            }
            self.tls.ca_bundle = Some(Spanned::new(span, full));
        }

        // Clusters and nodes
        let mut fqdns: HashSet<String> = HashSet::new();
        for cluster in &self.clusters {
            if !self.domains.contains(cluster.domain.get_ref()) {
                ctx.error(
                    cluster.domain.span(),
                    format!(
                        "cluster `{}` serves domain `{}`, which is not in `domains`",
                        cluster.name,
                        cluster.domain.get_ref()
                    ),
                );
            }
            if cluster.nodes.is_empty() {
                ctx.error(
                    cluster.domain.span(),
                    format!("cluster `{}` has no nodes", cluster.name),
                );
            }
            for node in &cluster.nodes {
                let name = node.fqdn.get_ref().to_ascii_lowercase();
                if !is_hostname(&name) {
                    ctx.error(
                        node.fqdn.span(),
                        format!(
                            "`{}` is not a fully qualified host name",
                            node.fqdn.get_ref()
                        ),
                    );
                }
                if !fqdns.insert(name) {
                    ctx.error(
                        node.fqdn.span(),
                        format!("node `{}` is listed twice", node.fqdn.get_ref()),
                    );
                }
            }
        }
        let roles: BTreeMap<String, Role> = self
            .nodes()
            .map(|(_, n)| (n.fqdn.get_ref().to_ascii_lowercase(), n.role))
            .collect();
        let node_role =
            |fqdn: &str| -> Option<Role> { roles.get(&fqdn.to_ascii_lowercase()).copied() };
        let mut grouped: HashSet<String> = HashSet::new();
        for cluster in &self.clusters {
            for group in &cluster.redundancy_groups {
                let members = group.nodes.get_ref();
                if members.len() != 2 {
                    ctx.error(
                        group.nodes.span(),
                        format!(
                            "redundancy group `{}` has {} node(s); a presence redundancy group is a pair of IM&P nodes",
                            group.name,
                            members.len()
                        ),
                    );
                }
                let mut in_group: HashSet<String> = HashSet::new();
                for m in members {
                    if !in_group.insert(m.get_ref().to_ascii_lowercase()) {
                        ctx.error(
                            m.span(),
                            format!(
                                "redundancy group `{}` names `{}` twice",
                                group.name,
                                m.get_ref()
                            ),
                        );
                        continue;
                    }
                    let in_cluster = cluster
                        .nodes
                        .iter()
                        .find(|n| n.fqdn.get_ref().eq_ignore_ascii_case(m.get_ref()));
                    match in_cluster {
                        None => ctx.error(
                            m.span(),
                            format!(
                                "redundancy group `{}` names `{}`, which is not a node of cluster `{}`",
                                group.name,
                                m.get_ref(),
                                cluster.name
                            ),
                        ),
                        Some(n) if n.role != Role::Imp => ctx.error(
                            m.span(),
                            format!(
                                "redundancy group `{}` names `{}`, which is not an IM&P node (role = \"imp\")",
                                group.name,
                                m.get_ref()
                            ),
                        ),
                        Some(_) => {
                            if !grouped.insert(m.get_ref().to_ascii_lowercase()) {
                                ctx.error(
                                    m.span(),
                                    format!(
                                        "node `{}` is in more than one redundancy group",
                                        m.get_ref()
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        for ci in 0..self.clusters.len() {
            let Some(trunk) = self.clusters[ci].sip_trunk.as_mut() else {
                continue;
            };
            if trunk.transports.get_ref().is_empty() {
                ctx.error(
                    trunk.transports.span(),
                    "the SIP publish trunk lists no transport (udp, tcp, tls)",
                );
            }
            if !is_hostname(&trunk.srv_name) {
                ctx.error(
                    trunk.transports.span(),
                    format!("`{}` is not a DNS name", trunk.srv_name),
                );
            }
            let wants_tls = trunk.transports.get_ref().contains(&Transport::Tls);
            for field in [&mut trunk.client_cert, &mut trunk.client_key] {
                if let Some(p) = field.take() {
                    let span = p.span();
                    let full = base_dir.join(p.get_ref());
                    if !full.is_file() {
                        ctx.error(
                            span.clone(),
                            format!("`{}` is not a readable file", full.display()),
                        );
                    }
                    *field = Some(Spanned::new(span, full));
                }
            }
            if wants_tls && (trunk.client_cert.is_none() || trunk.client_key.is_none()) {
                ctx.error(
                    trunk.transports.span(),
                    "the SIP publish trunk uses TLS: give `client_cert` and `client_key`, the certificate CUCM presents",
                );
            }
            if let Some(gw) = &trunk.presence_gateway {
                if node_role(gw.get_ref()).is_none() {
                    ctx.error(
                        gw.span(),
                        format!(
                            "presence gateway `{}` is not a node of the spec",
                            gw.get_ref()
                        ),
                    );
                }
            }
        }

        // LDAP
        if let Some(ldap) = &mut self.ldap {
            if ldap.servers.is_empty() {
                ctx.errors
                    .push(ctx.at(Some(0..0), "[ldap] lists no servers".into()));
            }
            for server in &mut ldap.servers {
                match parse_ldap_url(server.url.get_ref()) {
                    Err(why) => ctx.error(server.url.span(), why),
                    Ok((ldaps, host, port)) => {
                        server.ldaps = ldaps;
                        server.host = host;
                        server.port = port;
                        if ldaps && server.starttls {
                            ctx.error(
                                server.url.span(),
                                "`starttls = true` goes with an ldap:// URL; ldaps:// is already TLS",
                            );
                        }
                        if !ldaps && !server.starttls && !server.allow_cleartext {
                            ctx.error(
                                server.url.span(),
                                format!(
                                    "`{}` would send the service password in cleartext: use ldaps://, set `starttls = true`, or set `allow_cleartext = true` to allow it explicitly",
                                    server.url.get_ref()
                                ),
                            );
                        }
                    }
                }
            }
            ldap.password = resolve_password(
                ctx,
                "[ldap]",
                &ldap.password_env,
                &ldap.password_file,
                base_dir,
                env,
            );
        }

        // Test users
        let mut user_ids = HashSet::new();
        for user in &mut self.test_users {
            if !user_ids.insert(user.user_id.clone()) {
                ctx.error(
                    user.home_node.span(),
                    format!("test user `{}` is listed twice", user.user_id),
                );
            }
            match node_role(user.home_node.get_ref()) {
                None => ctx.error(
                    user.home_node.span(),
                    format!(
                        "test user `{}` has home node `{}`, which is not a node of the spec",
                        user.user_id,
                        user.home_node.get_ref()
                    ),
                ),
                Some(Role::Cucm) => ctx.error(
                    user.home_node.span(),
                    format!(
                        "test user `{}` has home node `{}`, a CUCM node; users are assigned to IM&P nodes",
                        user.user_id,
                        user.home_node.get_ref()
                    ),
                ),
                Some(Role::Imp) => {}
            }
            let what = format!("test user `{}`", user.user_id);
            user.password = resolve_password(
                ctx,
                &what,
                &user.password_env,
                &user.password_file,
                base_dir,
                env,
            );
        }

        // Federation
        for peer in &mut self.federation {
            let contact = peer.test_contact.get_ref();
            let ok = contact
                .split_once('@')
                .map(|(l, d)| !l.is_empty() && d.eq_ignore_ascii_case(&peer.domain))
                .unwrap_or(false);
            if !ok {
                ctx.error(
                    peer.test_contact.span(),
                    format!(
                        "test contact `{contact}` is not an address in the federated domain `{}`",
                        peer.domain
                    ),
                );
            }
            if let Some(local) = &peer.local_user {
                if !user_ids.contains(local.get_ref()) {
                    ctx.error(
                        local.span(),
                        format!("`{}` is not one of the test users", local.get_ref()),
                    );
                }
            }
            let what = format!("federation peer `{}`", peer.domain);
            peer.password = resolve_password(
                ctx,
                &what,
                &peer.password_env,
                &peer.password_file,
                base_dir,
                env,
            );
        }
    }

    /// Every secret's value, so that outputs can be scrubbed of them.
    pub fn secret_values(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(l) = &self.ldap {
            if let Some(p) = &l.password {
                v.push(p.expose().to_string());
            }
        }
        for u in &self.test_users {
            if let Some(p) = &u.password {
                v.push(p.expose().to_string());
            }
        }
        for f in &self.federation {
            if let Some(p) = &f.password {
                v.push(p.expose().to_string());
            }
        }
        v
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
            .find(|(_, n)| n.fqdn.get_ref().eq_ignore_ascii_case(fqdn))
    }

    /// The IM address of a test user.
    pub fn jid_of(&self, user: &TestUser) -> String {
        if let Some(j) = &user.jid {
            return j.clone();
        }
        let domain = self
            .node(user.home_node.get_ref())
            .map(|(c, _)| c.domain.get_ref().clone())
            .unwrap_or_else(|| self.domains.first().cloned().unwrap_or_default());
        format!("{}@{}", user.user_id, domain)
    }
}

fn resolve_password(
    ctx: &mut Ctx,
    what: &str,
    env_name: &Option<Spanned<String>>,
    file: &Option<Spanned<PathBuf>>,
    base_dir: &Path,
    env: &dyn Env,
) -> Option<Secret> {
    match (env_name, file) {
        (Some(_), Some(f)) => {
            ctx.error(
                f.span(),
                format!("{what}: give either `password_env` or `password_file`, not both"),
            );
            None
        }
        (None, None) => {
            let e = ctx.at(
                None,
                format!("{what} has no password: add `password_env = \"VARIABLE\"` or `password_file = \"PATH\"`"),
            );
            // Anchor it at the start of the file when there is no better place.
            let e = SpecError {
                line: if e.line == 0 { 1 } else { e.line },
                column: if e.column == 0 { 1 } else { e.column },
                ..e
            };
            ctx.errors.push(e);
            None
        }
        (Some(var), None) => match env.var(var.get_ref()) {
            Some(v) if !v.is_empty() => Some(Secret::new(v)),
            Some(_) => {
                ctx.error(
                    var.span(),
                    format!(
                        "{what}: environment variable `{}` (password_env) is empty",
                        var.get_ref()
                    ),
                );
                None
            }
            None => {
                ctx.error(
                    var.span(),
                    format!(
                        "{what}: environment variable `{}` (password_env) is not set",
                        var.get_ref()
                    ),
                );
                None
            }
        },
        (None, Some(f)) => {
            let full = base_dir.join(f.get_ref());
            match std::fs::read_to_string(&full) {
                Ok(s) => {
                    let s = s.strip_suffix('\n').unwrap_or(&s);
                    let s = s.strip_suffix('\r').unwrap_or(s);
                    if s.is_empty() {
                        ctx.error(
                            f.span(),
                            format!("{what}: password file `{}` is empty", full.display()),
                        );
                        None
                    } else {
                        Some(Secret::new(s))
                    }
                }
                Err(e) => {
                    ctx.error(
                        f.span(),
                        format!(
                            "{what}: cannot read password file `{}` (password_file): {e}",
                            full.display()
                        ),
                    );
                    None
                }
            }
        }
    }
}

fn parse_socket_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

fn is_hostname(s: &str) -> bool {
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

/// Splits an LDAP URL into (ldaps?, host, port).
fn parse_ldap_url(url: &str) -> Result<(bool, String, u16), String> {
    let (ldaps, rest) = if let Some(r) = url.strip_prefix("ldaps://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ldap://") {
        (false, r)
    } else {
        return Err(format!(
            "`{url}` is not an LDAP URL (expected ldaps://host[:port] or ldap://host[:port])"
        ));
    };
    let hostport = rest.split('/').next().unwrap_or("");
    let default_port = if ldaps { 636 } else { 389 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{url}`: unclosed IPv6 bracket"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("`{url}`: bad port `{p}`"))?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("`{url}`: bad port `{p}`"))?,
            ),
            None => (hostport.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok((ldaps, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldap_urls() {
        assert_eq!(
            parse_ldap_url("ldaps://ldap.lab.test").unwrap(),
            (true, "ldap.lab.test".into(), 636)
        );
        assert_eq!(
            parse_ldap_url("ldap://[::1]:1389/").unwrap(),
            (false, "::1".into(), 1389)
        );
        assert!(parse_ldap_url("http://x").is_err());
        assert!(parse_ldap_url("ldap://x:notaport").is_err());
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("imp1.lab.test"));
        assert!(is_hostname("imp1.lab.test."));
        assert!(!is_hostname("imp1"));
        assert!(!is_hostname("bad host.lab"));
    }
}
