//! A failed lookup named as what it is, with the fix that fits it: an absent record
//! (NXDOMAIN, NODATA, at the end of an alias too), a CNAME loop, a server that failed
//! (SERVFAIL) or refused, one that did not answer, an answer that could not be read.
//! Decided by the error's type, never by its words.

use imp_verify_core::text::{cut_list, peer_text};
use imp_verify_net::{DnsError, Rcode};
use std::time::Duration;

/// A lookup made within the check's time.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked<T> {
    /// The server's answer: the records, or why there are none.
    Done(Result<T, DnsError>),
    /// The check's time ended before an answer.
    OutOfTime,
}

impl<T> Asked<T> {
    /// Runs `lookup` until `deadline`.
    pub(crate) async fn within(
        deadline: tokio::time::Instant,
        lookup: impl std::future::Future<Output = Result<T, DnsError>>,
    ) -> Asked<T> {
        match tokio::time::timeout_at(deadline, lookup).await {
            Ok(r) => Asked::Done(r),
            Err(_) => Asked::OutOfTime,
        }
    }
}

/// The message of a lookup that ran out of the check's time.
pub(crate) fn out_of_time(name: &str, budget: Duration) -> String {
    format!(
        "{}: the DNS server did not answer within {} ms",
        peer_text(name),
        budget.as_millis()
    )
}

/// What records are missing, for a fix: "an A (or AAAA) record", "the SRV records".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// A node's addresses.
    Address,
    /// An SRV name's records.
    Srv,
}

impl Wanted {
    fn records(self) -> &'static str {
        match self {
            Wanted::Address => "an A (or AAAA) record",
            Wanted::Srv => "its SRV records",
        }
    }
}

/// The fix of a failed lookup of `name` that is not an absence (those have their
/// check's own fix): a loop, a failing, refusing or silent server, a broken answer.
/// `servers` names the resolver; `task` ends the sentence (`task C.8`).
pub(crate) fn server_fix(
    e: &DnsError,
    name: &str,
    wanted: Wanted,
    servers: &str,
    task: &str,
) -> String {
    let name = peer_text(name);
    match e {
        DnsError::CnameLoop { chain, .. } => format!(
            "Break the CNAME loop ({}): {name} must lead to a name that has {}, or carry it itself ({task})",
            cut_list(chain.iter().map(|n| peer_text(n)), " → "),
            wanted.records()
        ),
        DnsError::CnameChainTooLong { .. } => format!(
            "Shorten the CNAME chain of {name} (resolvers follow at most {} aliases), or give {name} {} itself ({task})",
            imp_verify_net::dns::MAX_ALIASES,
            wanted.records()
        ),
        DnsError::ServerError { rcode: Rcode::ServFail } => format!(
            "The DNS server failed to answer for {name} (SERVFAIL): see its log. An authoritative server answers so when it cannot load the zone (an error in the zone file, a secondary whose copy expired); a recursive one when it cannot reach the zone's servers or validate its DNSSEC signatures ({task})"
        ),
        DnsError::ServerError { rcode: Rcode::Refused } => format!(
            "The DNS server ({servers}) refuses to answer for {name}: name in the spec's [dns] servers a server that serves the deployment's zone, or allow queries from this host in the server's configuration ({task})"
        ),
        DnsError::ServerError { rcode } => format!(
            "The DNS server ({servers}) answered {rcode} for {name}: check that it serves the deployment's zone and see its log ({task})"
        ),
        DnsError::Malformed { .. } => format!(
            "The answer for {name} could not be read: check the DNS server ({servers}) and whatever stands between (a firewall or proxy that rewrites DNS) ({task})"
        ),
        DnsError::Config { .. } => format!(
            "Name the deployment's DNS servers in the spec ([dns] servers), or fix this host's /etc/resolv.conf ({task})"
        ),
        DnsError::NoAnswer { .. } | DnsError::NxDomain { .. } | DnsError::NoData { .. } => {
            format!(
                "Check that the DNS servers named in the spec are reachable and answer for the zone of {name} ({task})"
            )
        }
    }
}

/// When an absence is at the end of an alias chain: the fix of the alias, else `None`
/// (the check's own fix, to publish the records, fits).
pub(crate) fn alias_fix(e: &DnsError, name: &str, wanted: Wanted, task: &str) -> Option<String> {
    let (end, via) = match e {
        DnsError::NxDomain { name, via } | DnsError::NoData { name, via, .. } => (name, via),
        _ => return None,
    };
    if via.is_empty() {
        return None;
    }
    let (name, end) = (peer_text(name), peer_text(end));
    Some(match e {
        DnsError::NxDomain { .. } => format!(
            "{name} is an alias of {end}, which does not exist: point the CNAME at a name that has {}, or give {name} {} itself ({task})",
            wanted.records(),
            wanted.records()
        ),
        _ => format!(
            "{name} is an alias of {end}, which has no such record: add {} to {end}, or give {name} {} itself ({task})",
            wanted.records(),
            wanted.records()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cname_loop_is_fixed_by_breaking_it_not_by_adding_a_record() {
        let e = DnsError::CnameLoop {
            name: "imp1.lab.test".into(),
            chain: vec![
                "imp1.lab.test".into(),
                "x.lab.test".into(),
                "imp1.lab.test".into(),
            ],
        };
        let fix = server_fix(&e, "imp1.lab.test", Wanted::Address, "ns", "task C.1");
        assert!(
            fix.starts_with("Break the CNAME loop (imp1.lab.test → x.lab.test → imp1.lab.test)"),
            "{fix}"
        );
        assert!(!fix.starts_with("Add"), "{fix}");
    }

    #[test]
    fn servfail_refused_and_silence_have_fixes_of_their_own() {
        let servfail = server_fix(
            &DnsError::ServerError {
                rcode: Rcode::ServFail,
            },
            "_x._tcp.lab.test",
            Wanted::Srv,
            "127.0.0.1:53",
            "task C.8",
        );
        assert!(servfail.contains("(SERVFAIL): see its log"), "{servfail}");
        assert!(servfail.contains("cannot load the zone"), "{servfail}");
        let refused = server_fix(
            &DnsError::ServerError {
                rcode: Rcode::Refused,
            },
            "_x._tcp.lab.test",
            Wanted::Srv,
            "127.0.0.1:53",
            "task C.8",
        );
        assert!(refused.contains("refuses to answer"), "{refused}");
        let silent = server_fix(
            &DnsError::NoAnswer { detail: "x".into() },
            "_x._tcp.lab.test",
            Wanted::Srv,
            "127.0.0.1:53",
            "task C.8",
        );
        assert!(silent.contains("reachable"), "{silent}");
        for f in [&servfail, &refused, &silent] {
            assert!(f.ends_with("(task C.8)"), "{f}");
            assert!(!f.contains("Publish") && !f.contains("Add an A"), "{f}");
        }
    }

    #[test]
    fn an_absence_behind_an_alias_names_the_alias() {
        let e = DnsError::NxDomain {
            name: "nowhere.lab.test".into(),
            via: vec!["imp1.lab.test".into()],
        };
        let fix = alias_fix(&e, "imp1.lab.test", Wanted::Address, "task C.1").unwrap();
        assert!(
            fix.starts_with("imp1.lab.test is an alias of nowhere.lab.test, which does not exist"),
            "{fix}"
        );
        let plain = DnsError::NxDomain {
            name: "imp1.lab.test".into(),
            via: vec![],
        };
        assert_eq!(
            alias_fix(&plain, "imp1.lab.test", Wanted::Address, "t"),
            None
        );
    }
}
