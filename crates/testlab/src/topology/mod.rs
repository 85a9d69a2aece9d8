//! The lab's topology, once: which hosts it has (their addresses), which servers run on
//! them (kind, sockets, how to ask whether they answer), the certificates, secrets and
//! test users, for every profile (directory `openldap` / `samba-ad`, XMPP `prosody` /
//! `ejabberd`, and the scale profile's clusters). From it come the rendered configs,
//! the zones, the spec (`lab.toml`) and `docker-compose.yml`; `fixtures/lab/lab` reads
//! the table through the `imp-verify-lab` binary and keeps installing, starting,
//! stopping and asking for readiness.
//!
//! Adding a server is a row in [`small::servers`] (or [`scale`]); a config it needs, a
//! [`Output::Render`] of its template in that row.

pub mod compose;
mod render;
#[cfg(test)]
mod render_tests;
mod scale;
mod small;
pub mod spec;
mod zone;

pub use render::{placeholders, render_template, write_all, RenderError};
pub use zone::{Record, Zone};

use std::fmt;
use std::net::Ipv4Addr;

/// The server behind `ldap.lab.test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directory {
    /// OpenLDAP's slapd (the default).
    OpenLdap,
    /// A Samba 4 Active Directory domain controller.
    SambaAd,
}

/// The server of the IM&P nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xmpp {
    /// Prosody (the default).
    Prosody,
    /// ejabberd, the two nodes one ejabberd cluster.
    Ejabberd,
}

/// The scale profile's shape: `clusters` clusters of `nodes` IM&P nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// 1 to 99.
    pub clusters: u8,
    /// 1 to 6.
    pub nodes: u8,
}

/// A lab's profile, as `lab up` chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `IMPV_LAB_DIRECTORY`.
    pub directory: Directory,
    /// `IMPV_LAB_XMPP`.
    pub xmpp: Xmpp,
    /// `IMPV_LAB_SCALE`, or the small deployment.
    pub scale: Option<Scale>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            directory: Directory::OpenLdap,
            xmpp: Xmpp::Prosody,
            scale: None,
        }
    }
}

/// Why a profile or an address block cannot be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    /// A value of the environment the lab does not know.
    #[error("{0}")]
    Invalid(String),
}

impl Directory {
    /// `openldap`, `samba-ad`.
    pub fn parse(s: &str) -> Result<Directory, TopologyError> {
        match s {
            "openldap" => Ok(Directory::OpenLdap),
            "samba-ad" => Ok(Directory::SambaAd),
            _ => Err(TopologyError::Invalid(format!(
                "IMPV_LAB_DIRECTORY must be openldap or samba-ad (got '{s}')"
            ))),
        }
    }

    /// The profile's name, as `IMPV_LAB_DIRECTORY` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Directory::OpenLdap => "openldap",
            Directory::SambaAd => "samba-ad",
        }
    }
}

impl Xmpp {
    /// `prosody`, `ejabberd`.
    pub fn parse(s: &str) -> Result<Xmpp, TopologyError> {
        match s {
            "prosody" => Ok(Xmpp::Prosody),
            "ejabberd" => Ok(Xmpp::Ejabberd),
            _ => Err(TopologyError::Invalid(format!(
                "IMPV_LAB_XMPP must be prosody or ejabberd (got '{s}')"
            ))),
        }
    }

    fn kind(self) -> Kind {
        match self {
            Xmpp::Prosody => Kind::Prosody,
            Xmpp::Ejabberd => Kind::Ejabberd,
        }
    }
}

impl Scale {
    /// `CxN`, e.g. `20x6`.
    pub fn parse(s: &str) -> Result<Scale, TopologyError> {
        let bad =
            || TopologyError::Invalid(format!("IMPV_LAB_SCALE must be CxN, e.g. 20x6 (got '{s}')"));
        let (c, n) = s.split_once('x').ok_or_else(bad)?;
        let num = |t: &str| -> Result<u32, TopologyError> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let (c, n) = (num(c)?, num(n)?);
        if !(1..=99).contains(&c) || !(1..=6).contains(&n) {
            return Err(TopologyError::Invalid(format!(
                "IMPV_LAB_SCALE: 1 to 99 clusters of 1 to 6 IM&P nodes (got '{s}')"
            )));
        }
        Ok(Scale {
            clusters: c as u8,
            nodes: n as u8,
        })
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.clusters, self.nodes)
    }
}

/// How a server is run (`fixtures/lab/processes.sh`'s `exec_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Knot DNS.
    Knot,
    /// OpenLDAP's slapd.
    OpenLdap,
    /// Samba AD.
    SambaAd,
    /// Prosody.
    Prosody,
    /// ejabberd.
    Ejabberd,
    /// Kamailio.
    Kamailio,
    /// Apache httpd (CUCM's User Data Services' stand-in, `exec_uds` of `uds.sh`).
    Apache,
}

impl Kind {
    /// As the lab script names it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Knot => "knot",
            Kind::OpenLdap => "openldap",
            Kind::SambaAd => "samba-ad",
            Kind::Prosody => "prosody",
            Kind::Ejabberd => "ejabberd",
            Kind::Kamailio => "kamailio",
            Kind::Apache => "apache",
        }
    }
}

/// How to ask a server whether it answers its protocol (`ready_one`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// A SOA query for `lab.test`.
    Dns,
    /// An LDAPS search of the root DSE, verified against the lab CA.
    Ldaps,
    /// An XMPP stream for this domain that offers STARTTLS.
    Xmpp(String),
    /// SIP OPTIONS over UDP.
    Sip,
    /// `GET /cucm-uds/version` over TLS to port 8443 gets 200 (any certificate), the
    /// TLS server name this one.
    Https(String),
}

impl fmt::Display for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ready::Dns => f.write_str("dns"),
            Ready::Ldaps => f.write_str("ldaps"),
            Ready::Xmpp(d) => write!(f, "xmpp:{d}"),
            Ready::Sip => f.write_str("sip"),
            Ready::Https(name) => write!(f, "https:{name}"),
        }
    }
}

/// A transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A socket a server must hold on each of its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket(pub Proto, pub u16);

impl fmt::Display for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.0 {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        write!(f, "{p}/{}", self.1)
    }
}

const fn tcp(port: u16) -> Socket {
    Socket(Proto::Tcp, port)
}
const fn udp(port: u16) -> Socket {
    Socket(Proto::Udp, port)
}

/// What `lab init` writes for a server (paths relative to the lab's folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `fixtures/lab/templates/<template>` with its `@NAME@`s filled in, to `path`;
    /// `vars` add to (or override) the lab's own. Mode 0600 when `private` (it holds a
    /// password).
    Render {
        /// The template's file name.
        template: &'static str,
        /// Where it goes.
        path: String,
        /// This file's own placeholders.
        vars: Vec<(&'static str, String)>,
        /// Whether only the owner may read it.
        private: bool,
    },
    /// A file whose text the topology makes itself (a zone, a resolv.conf).
    Text {
        /// Where it goes.
        path: String,
        /// Its text.
        text: String,
        /// Written once: kept when it exists and is newer than the renderer (tests
        /// edit zones in place and reload).
        keep: bool,
    },
    /// A symbolic link `path` -> `target` (a file of the lab's folder).
    Link {
        /// The link.
        path: String,
        /// What it points to, relative to the lab's folder.
        target: String,
    },
    /// A folder the server needs (its data, its certificates).
    Dir(String),
}

/// One server of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its name (`lab start NAME`).
    pub name: String,
    /// How it is run.
    pub kind: Kind,
    /// The hosts (n of 127.0.0.(base + n)) it listens on.
    pub hosts: Vec<u8>,
    /// What it must hold on each.
    pub sockets: Vec<Socket>,
    /// How to ask whether it answers.
    pub ready: Ready,
    /// What `lab init` writes for it.
    pub outputs: Vec<Output>,
}

/// A certificate of the lab CA (`cert` of the lab script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    /// `pki/<name>.crt`, `.key`.
    pub name: String,
    /// The subject's CN.
    pub cn: String,
    /// extendedKeyUsage, as openssl's config writes it.
    pub eku: &'static str,
    /// subjectAltName, as openssl's config writes it.
    pub san: String,
}

/// A test user of the scale profile (in the directory besides `people.tsv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// uid.
    pub uid: String,
    /// The domain of its mail.
    pub domain: String,
    /// telephoneNumber.
    pub phone: String,
}

/// The lab's topology for one profile and address block.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Hosts are 127.0.0.(base + n).
    pub base: u8,
    /// Its profile.
    pub profile: Profile,
    /// The highest n of its hosts.
    pub last_n: u16,
    /// Named hosts (`IMPV_LAB_<NAME>` of `lab env`): name, n.
    pub hosts: Vec<(&'static str, u8)>,
    /// The servers, in start order.
    pub servers: Vec<Server>,
    /// The certificates.
    pub certs: Vec<Cert>,
    /// The secrets (`secrets/<name>.password`).
    pub secrets: Vec<String>,
    /// People besides `people.tsv` (the scale profile's test users).
    pub people: Vec<Person>,
    /// The zones.
    pub zones: Vec<Zone>,
    /// The deployment the spec describes.
    pub deployment: Deployment,
}

/// A node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its FQDN.
    pub fqdn: String,
    /// Its host.
    pub n: u8,
}

/// A cluster of the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The spec's name.
    pub name: String,
    /// Its IM domain.
    pub domain: String,
    /// Its IM&P nodes.
    pub nodes: Vec<Node>,
    /// Its CUCM node (the trunk's far end, the presence gateway).
    pub cucm: Node,
    /// Presence redundancy groups: name and the indexes of its two nodes.
    pub groups: Vec<(String, [usize; 2])>,
    /// The SIP publish trunk's SRV name.
    pub trunk: String,
    /// The trunk's presentity.
    pub presentity: String,
}

/// A test user of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// Its user id.
    pub id: String,
    /// FQDN of its home node.
    pub home: String,
    /// Contacts its roster holds (the spec's `contacts`).
    pub contacts: Vec<String>,
}

/// The deployment the lab plays (what the spec says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its clusters.
    pub clusters: Vec<Cluster>,
    /// Its test users.
    pub users: Vec<TestUser>,
    /// The users `ldap.sync` expects.
    pub expected_users: Vec<String>,
    /// Whether the federated XMPP and SIP domains are there.
    pub federation: bool,
}

impl Topology {
    /// The topology of `profile` at addresses 127.0.0.(base + n).
    pub fn new(base: u8, profile: Profile) -> Result<Topology, TopologyError> {
        if profile.scale.is_some()
            && (profile.directory != Directory::OpenLdap || profile.xmpp != Xmpp::Prosody)
        {
            return Err(TopologyError::Invalid(
                "the scale profile runs with the openldap directory and prosody only".into(),
            ));
        }
        let last_n = match profile.scale {
            None => 9,
            Some(s) => 1 + u16::from(s.clusters) * (u16::from(s.nodes) + 1),
        };
        let end = u16::from(base) + last_n;
        if base == 0 || end > 254 {
            let why = match profile.scale {
                Some(s) => format!(
                    "IMPV_LAB_SCALE={s} needs {} addresses: 127.0.0.{base}-{end} is beyond .254 (lower IMPV_LAB_BASE)",
                    last_n + 1
                ),
                None => format!("IMPV_LAB_BASE must be a number from 1 to 245 (got '{base}')"),
            };
            return Err(TopologyError::Invalid(why));
        }
        Ok(match profile.scale {
            None => small::topology(base, profile),
            Some(s) => scale::topology(base, profile, s),
        })
    }

    /// The address of host `n`.
    pub fn ip(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, self.base + n)
    }

    /// The n of a named host (`ns`, `ldap`, `imp1`...).
    pub fn host(&self, name: &str) -> Option<u8> {
        self.hosts.iter().find(|(h, _)| *h == name).map(|&(_, n)| n)
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The server table as the lab script reads it: a row a server, `name addresses
    /// kind ready sockets...` (addresses comma-separated).
    pub fn table(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            let addrs: Vec<String> = s.hosts.iter().map(|&n| self.ip(n).to_string()).collect();
            let socks: Vec<String> = s.sockets.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "{} {} {} {} {}\n",
                s.name,
                addrs.join(","),
                s.kind.name(),
                s.ready,
                socks.join(" ")
            ));
        }
        out
    }

    /// `lab env`: the lab's addresses as shell exports (`IMPV_LAB_<HOST>`).
    pub fn env(&self) -> String {
        let mut out = String::new();
        for (name, n) in &self.hosts {
            let name = match *name {
                "ns" => "DNS".to_string(),
                other => other.to_ascii_uppercase(),
            };
            out.push_str(&format!("export IMPV_LAB_{name}={}\n", self.ip(*n)));
        }
        out.push_str(&format!("export IMPV_LAB_LAST_N={}\n", self.last_n));
        out
    }
}
