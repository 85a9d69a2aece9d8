//! What the SIP checks are handed: the run's spec and network toolkit ([`SipCtx`]), the
//! trunk they check ([`Trunk`]), the node endpoint of one check ([`TrunkTarget`]), and
//! the certificates the spec gives the probe to present ([`ClientCert`]).

use crate::conn::Deadline;
use crate::error::IdentityError;
use imp_verify_core::catalog::{first_label, Task};
use imp_verify_core::spec::{SipTrunk, Spec, Transport, Workflow};
use imp_verify_net::tls::{view, ClientIdentity};
use imp_verify_net::{ConnectError, Net};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The probe's view of the run: the spec and the network toolkit.
pub(crate) struct SipCtx {
    pub spec: Arc<Spec>,
    pub net: Arc<Net>,
}

impl SipCtx {
    /// The address to reach `host` at: the spec's pinned address of the node, else the
    /// first one the resolver gives before `deadline`.
    pub async fn addr(
        &self,
        host: &str,
        port: u16,
        deadline: Deadline,
    ) -> Result<SocketAddr, ConnectError> {
        let pinned = self.spec.node(host).and_then(|(_, n)| n.address);
        let ip =
            imp_verify_net::address(&self.net.resolver, host, pinned, deadline.tokio()).await?;
        Ok(SocketAddr::new(ip, port))
    }

    /// The run's workflow.
    pub fn workflow(&self) -> Workflow {
        self.spec.workflow
    }
}

/// The tasks the trunk's fixes name, as the run's workflow numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tasks {
    /// IP Phone presence: the SIP publish trunk (B.8, C.8; A.9 or D.1 otherwise).
    pub trunk: &'static str,
    /// Secure communication: SIP security and the TLS peer subjects (A.10, B.11, C.11).
    pub secure: &'static str,
}

impl Tasks {
    /// The labels of `w`.
    pub fn of(w: Workflow) -> Tasks {
        Tasks {
            trunk: first_label(
                w,
                &[
                    Task::IpPhonePresence,
                    Task::VerifyServices,
                    Task::LicenseUsers,
                ],
            ),
            secure: first_label(w, &[Task::SecureCommunication, Task::LdapForJabber]),
        }
    }
}

/// The subject of a certificate the probe presents: its DN and common name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertName {
    /// The subject DN (`O=..., CN=cucm.lab.test`).
    pub subject: String,
    /// The common name, lower case (empty when there is none).
    pub cn: String,
}

/// A certificate and key the spec gives the probe to present over TLS.
pub(crate) enum ClientCert {
    /// The spec gives none.
    None,
    /// Readable: the identity and whom it names.
    Usable { id: ClientIdentity, name: CertName },
    /// Given but not usable (why).
    Unusable(IdentityError),
}

impl ClientCert {
    /// Reads `cert` and `key` (both given, or none), described as `what` in errors.
    pub fn load(what: impl Into<String>, cert: Option<&Path>, key: Option<&Path>) -> ClientCert {
        let (Some(cert), Some(key)) = (cert, key) else {
            return ClientCert::None;
        };
        match ClientIdentity::from_pem_files(cert, key) {
            Ok(id) => {
                let name = match id.chain.first().map(view) {
                    Some(Ok(v)) => CertName {
                        subject: v.subject,
                        cn: v.cn.unwrap_or_default().to_ascii_lowercase(),
                    },
                    _ => CertName {
                        subject: String::new(),
                        cn: String::new(),
                    },
                };
                ClientCert::Usable { id, name }
            }
            Err(why) => ClientCert::Unusable(IdentityError {
                what: what.into(),
                why,
            }),
        }
    }

    /// The identity to present (`None`: the spec gives none), or why it cannot be used.
    pub fn identity(&self) -> Result<Option<&ClientIdentity>, IdentityError> {
        match self {
            ClientCert::None => Ok(None),
            ClientCert::Usable { id, .. } => Ok(Some(id)),
            ClientCert::Unusable(e) => Err(e.clone()),
        }
    }

    /// Whom the certificate names, when it is usable.
    pub fn name(&self) -> Option<&CertName> {
        match self {
            ClientCert::Usable { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether the spec gives one (usable or not).
    pub fn given(&self) -> bool {
        !matches!(self, ClientCert::None)
    }
}

/// The SIP publish trunk of a cluster, as the checks use it.
pub(crate) struct Trunk {
    /// The cluster's IM domain.
    pub domain: String,
    /// The cluster-wide SRV name.
    pub srv_name: String,
    /// The subjects the nodes' certificates may present (lower case).
    pub subjects: Vec<String>,
    /// CUCM's client certificate.
    pub client: ClientCert,
    /// The test presentity.
    pub presentity: Option<String>,
}

impl Trunk {
    /// The trunk of a cluster of domain `domain`.
    pub fn of(domain: &str, t: &SipTrunk) -> Trunk {
        Trunk {
            domain: domain.to_string(),
            srv_name: t.srv_name.clone(),
            subjects: t
                .tls_peer_subjects
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            client: ClientCert::load(
                "the trunk's client certificate",
                t.client_cert.as_deref(),
                t.client_key.as_deref(),
            ),
            presentity: t.presentity.clone(),
        }
    }
}

/// One node endpoint of the trunk on one transport: `tls imp1.lab.test:5061`, the
/// target of its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrunkTarget {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
}

impl TrunkTarget {
    /// The transport's name (`udp`, `tcp`, `tls`).
    pub fn name(&self) -> &'static str {
        transport_name(self.transport)
    }
}

impl fmt::Display for TrunkTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}", self.name(), self.host, self.port)
    }
}

/// A transport's name, as targets, Via headers and evidence write it.
pub(crate) fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}
