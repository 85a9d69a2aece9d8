//! The domain's service records: which are asked, and what each answered.

use imp_verify_core::spec::Transport;
use imp_verify_net::{Resolver, Srv};
use std::time::Duration;

/// A service record of the domain that discovery reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `_xmpp-client._tcp`: the IM&P nodes' XMPP client port.
    XmppClient,
    /// `_xmpp-server._tcp`: the IM&P nodes' XMPP server port (federation).
    XmppServer,
    /// `_cisco-uds._tcp`: CUCM's User Data Services (Jabber discovery).
    CiscoUds,
    /// `_cuplogin._tcp`: IM&P login (Jabber discovery).
    CupLogin,
    /// `_collab-edge._tls`: Expressway (remote access).
    CollabEdge,
    /// `_sip._tcp`: SIP over TCP.
    Sip,
    /// `_sips._tcp`: SIP over TLS.
    Sips,
    /// `_sipfederationtls._tcp`: SIP federation (interdomain, mutual TLS).
    SipFederationTls,
    /// `_ldap._tcp`: directory servers.
    Ldap,
}

impl Kind {
    /// Every record discovery asks for, in the order a spec mentions them.
    pub const ALL: [Kind; 9] = [
        Kind::XmppClient,
        Kind::XmppServer,
        Kind::CiscoUds,
        Kind::CupLogin,
        Kind::CollabEdge,
        Kind::Sip,
        Kind::Sips,
        Kind::SipFederationTls,
        Kind::Ldap,
    ];

    /// The record's label before the domain: `_xmpp-client._tcp`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::XmppClient => "_xmpp-client._tcp",
            Kind::XmppServer => "_xmpp-server._tcp",
            Kind::CiscoUds => "_cisco-uds._tcp",
            Kind::CupLogin => "_cuplogin._tcp",
            Kind::CollabEdge => "_collab-edge._tls",
            Kind::Sip => Transport::Tcp.srv_prefix(),
            Kind::Sips => Transport::Tls.srv_prefix(),
            Kind::SipFederationTls => "_sipfederationtls._tcp",
            Kind::Ldap => "_ldap._tcp",
        }
    }
}

/// What one question found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The records, sorted by priority then weight.
    Found(Vec<Srv>),
    /// The name does not exist, or has no SRV record.
    Absent,
    /// The DNS server failed or did not answer in time (the reason).
    Failed(String),
}

impl Lookup {
    /// The records, none when absent or failed.
    pub fn records(&self) -> &[Srv] {
        match self {
            Lookup::Found(v) => v,
            _ => &[],
        }
    }
}

/// One service record name and what it answered.
#[derive(Debug, Clone)]
pub struct Record {
    /// Which record.
    pub kind: Kind,
    /// Its full name: `_xmpp-client._tcp.lab.test`.
    pub name: String,
    /// What it answered.
    pub lookup: Lookup,
}

/// The SRV records of `name`, within `step`.
pub async fn srv(resolver: &Resolver, name: &str, step: Duration) -> Lookup {
    match tokio::time::timeout(step, resolver.lookup_srv(name)).await {
        Err(_) => Lookup::Failed(format!(
            "no answer within {} from {}",
            humantime::format_duration(step),
            resolver.servers()
        )),
        Ok(Ok(v)) if v.is_empty() => Lookup::Absent,
        Ok(Ok(v)) => Lookup::Found(v),
        Ok(Err(e)) if e.is_absent() => Lookup::Absent,
        Ok(Err(e)) => Lookup::Failed(e.to_string()),
    }
}

/// Every record of `domain`, asked at once.
pub async fn read_all(resolver: &Resolver, domain: &str, step: Duration) -> Vec<Record> {
    let asks = Kind::ALL.into_iter().map(|kind| async move {
        let name = format!("{}.{domain}", kind.label());
        let lookup = srv(resolver, &name, step).await;
        Record { kind, name, lookup }
    });
    futures::future::join_all(asks).await
}
