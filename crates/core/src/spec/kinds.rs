//! The spec's enumerations: workflow, address scheme, node role, service, SIP transport.
//! The raw and the validated spec share them.

use serde::{Deserialize, Deserializer};
use std::fmt;

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
    /// The workflow's letter, as the spec and the task numbers write it.
    pub fn letter(self) -> &'static str {
        match self {
            Workflow::A => "A",
            Workflow::B => "B",
            Workflow::C => "C",
            Workflow::D => "D",
        }
    }

    /// The workflow's title in the configuration guide.
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

/// A service a node offers on a TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// XMPP client-to-server (5222).
    XmppC2s,
    /// XMPP server-to-server (5269).
    XmppS2s,
    /// SIP over TCP (5060).
    SipTcp,
    /// SIP over TLS (5061).
    SipTls,
    /// HTTPS (8443: UDS, the login service).
    Https,
    /// LDAP (389).
    Ldap,
    /// LDAP over TLS (636).
    Ldaps,
}

impl Service {
    /// The service's name, as the spec writes it.
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

    /// The port the service listens on unless the spec overrides it.
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

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
    /// SIP over TLS.
    Tls,
}

impl Transport {
    /// The SRV label pair that names this transport's records (RFC 3263):
    /// `_sip._udp`, `_sip._tcp`, `_sips._tcp`.
    pub fn srv_prefix(self) -> &'static str {
        match self {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        }
    }

    /// The SRV record name of this transport for `name` (`_sips._tcp.imp-cluster.lab.test`).
    pub fn srv_name(self, name: &str) -> String {
        format!("{}.{name}", self.srv_prefix())
    }

    /// The node service that carries it (SIP over UDP and TCP share one port).
    pub fn service(self) -> Service {
        match self {
            Transport::Udp | Transport::Tcp => Service::SipTcp,
            Transport::Tls => Service::SipTls,
        }
    }
}
