//! The SRV records Jabber looks up for a services domain: `_cisco-uds._tcp` (CUCM's User
//! Data Services) and `_cuplogin._tcp` (IM and Presence), each looked up once per
//! attempt and shared by the checks of the domain.

use imp_verify_core::{CheckCtx, Stage};
use imp_verify_net::{DnsError, Net, Srv};
use tokio::time::Instant;

/// What one SRV lookup gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The records, by priority then weight (never empty).
    Records(Vec<Srv>),
    /// The name has no SRV record (NXDOMAIN, NODATA, or a lone "." target).
    Absent(DnsError),
    /// The DNS server failed or answered nothing usable.
    Failed(DnsError),
    /// No answer before the check's deadline.
    TimedOut,
}

impl Lookup {
    /// The records, when there are some.
    pub fn records(&self) -> Option<&[Srv]> {
        match self {
            Lookup::Records(r) => Some(r),
            _ => None,
        }
    }
}

/// `_cisco-uds._tcp.<domain>`.
pub fn uds_record(domain: &str) -> String {
    format!("_cisco-uds._tcp.{domain}")
}

/// `_cuplogin._tcp.<domain>`.
pub fn cuplogin_record(domain: &str) -> String {
    format!("_cuplogin._tcp.{domain}")
}

/// Looks `name` up before `deadline`.
pub async fn lookup(net: &Net, name: &str, deadline: Instant, cx: &CheckCtx) -> Lookup {
    cx.enter(Stage::DnsQuery);
    match tokio::time::timeout_at(deadline, net.resolver.lookup_srv(name)).await {
        Err(_) => Lookup::TimedOut,
        Ok(Err(e)) if e.is_absent() => Lookup::Absent(e),
        Ok(Err(e)) => Lookup::Failed(e),
        Ok(Ok(records)) => {
            // RFC 2782: a single record whose target is "." says the service is not
            // available at this domain.
            let records: Vec<Srv> = records
                .into_iter()
                .filter(|r| !r.target.is_empty() && r.target != ".")
                .collect();
            if records.is_empty() {
                Lookup::Absent(DnsError::NoData {
                    name: name.to_string(),
                    rtype: "SRV".into(),
                    via: Vec::new(),
                })
            } else {
                Lookup::Records(records)
            }
        }
    }
}
