//! `dns.node`: a node's FQDN resolves (A/AAAA), to the spec's address when it pins one,
//! and each address's PTR names the node (a warning otherwise). Observed into
//! [`NodeFacts`], judged by [`judge_node`].

use crate::failure::{self, out_of_time, Asked, Wanted};
use imp_verify_core::catalog::{named, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::text::{cut_list, peer_text};
use imp_verify_core::{Outcome, Reason, Stage};
use imp_verify_net::Resolver;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// The tasks a fix of `dns.node` names (its catalog row's).
pub(crate) const TASKS: &[Task] = &[Task::Install, Task::VerifyServices];

/// What the DNS says of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// The node's FQDN.
    pub fqdn: String,
    /// The address the spec pins, if any.
    pub expected: Option<IpAddr>,
    /// Its A and AAAA records.
    pub addresses: Asked<Vec<IpAddr>>,
    /// The PTR names of each address (asked only when the addresses are as expected).
    pub ptr: Vec<(IpAddr, Asked<Vec<String>>)>,
    /// The servers asked, for evidence.
    pub resolver: String,
    /// The time the check had.
    pub budget: Duration,
}

/// Asks the resolver about `fqdn` before `deadline`: its addresses, then (when they
/// hold the expected one) the PTR of each, all at once.
pub async fn observe_node(
    resolver: &Resolver,
    fqdn: &str,
    expected: Option<IpAddr>,
    deadline: Instant,
    budget: Duration,
) -> NodeFacts {
    let addresses = Asked::within(deadline, resolver.lookup_ip(fqdn)).await;
    let mut ptr = Vec::new();
    if let Asked::Done(Ok(ips)) = &addresses {
        if expected.is_none_or(|want| ips.contains(&want)) {
            let asks = ips.iter().map(|ip| async move {
                (*ip, Asked::within(deadline, resolver.reverse(*ip)).await)
            });
            ptr = futures::future::join_all(asks).await;
        }
    }
    NodeFacts {
        fqdn: fqdn.to_string(),
        expected,
        addresses,
        ptr,
        resolver: resolver.servers().to_string(),
        budget,
    }
}

/// The verdict of `dns.node` on what the DNS said.
pub fn judge_node(f: &NodeFacts, workflow: Workflow) -> Outcome {
    let task = named(workflow, TASKS);
    let fqdn = f.fqdn.as_str();
    let timed_out = || {
        Outcome::fail(
            out_of_time(fqdn, f.budget),
            format!("Check that the DNS servers named in the spec are reachable and answer for the deployment's zone ({task})"),
        )
        .with("name", fqdn)
        .with("resolver", &f.resolver)
        .because(Reason::TimedOut {
            after: f.budget,
            stage: Some(Stage::DnsQuery),
        })
    };
    let addrs = match &f.addresses {
        Asked::OutOfTime => return timed_out(),
        Asked::Done(Ok(a)) => a,
        Asked::Done(Err(e)) => {
            let fix = if e.is_absent() {
                failure::alias_fix(e, fqdn, Wanted::Address, &task).unwrap_or_else(|| {
                    format!("Add an A (or AAAA) record for {fqdn} to the deployment's DNS zone; every node must be resolvable by its FQDN ({task})")
                })
            } else if matches!(e, imp_verify_net::DnsError::NoAnswer { .. }) {
                format!("Check that the DNS servers named in the spec are reachable and serve the deployment's zone ({task})")
            } else {
                failure::server_fix(e, fqdn, Wanted::Address, &f.resolver, &task)
            };
            return Outcome::fail(format!("{fqdn}: {e}"), fix)
                .with("name", fqdn)
                .with("resolver", &f.resolver)
                .with(
                    "expected",
                    f.expected
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "an A or AAAA record".into()),
                );
        }
    };
    if f.ptr.iter().any(|(_, l)| *l == Asked::OutOfTime) {
        return timed_out();
    }
    let shown = cut_list(addrs, ", ");
    if let Some(want) = f.expected {
        if !addrs.contains(&want) {
            return Outcome::fail(
                format!("{fqdn} resolves to {shown}, not to {want} as the spec says"),
                format!("Correct the A/AAAA record of {fqdn} (or the address in the spec) so that clients reach the node ({task})"),
            )
            .with("name", fqdn)
            .with("addresses", &shown)
            .with("expected", want)
            .with("resolver", &f.resolver);
        }
    }
    // Reverse: each address's PTR should name the node.
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (ip, lookup) in &f.ptr {
        match lookup {
            Asked::Done(Ok(names)) => {
                let names_text = cut_list(names.iter().map(|n| peer_text(n)), ", ");
                seen.push(format!("{ip} -> {names_text}"));
                if !names.iter().any(|n| n.eq_ignore_ascii_case(fqdn)) {
                    problems.push(format!("the PTR of {ip} names {names_text} instead"));
                }
            }
            Asked::Done(Err(e)) => {
                seen.push(format!("{ip} -> ({e})"));
                problems.push(format!("no PTR for {ip}: {e}"));
            }
            Asked::OutOfTime => {}
        }
    }
    let base = format!("{fqdn} resolves to {shown}");
    let ptr = cut_list(&seen, "; ");
    let o = if problems.is_empty() {
        Outcome::pass(format!("{base}; the PTR names it"))
    } else {
        Outcome::warn(
            format!("{base}, but {}", cut_list(&problems, "; ")),
            format!("Add or correct the PTR record of each address of {fqdn}: IM&P certificate and SIP peer checks, and some clients, look nodes up in reverse ({task})"),
        )
    };
    o.with("addresses", &shown)
        .with("ptr", ptr)
        .with("resolver", &f.resolver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;
    use imp_verify_net::{DnsError, Rcode};

    const IMP1: &str = "127.0.0.22";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn facts(addresses: Asked<Vec<IpAddr>>) -> NodeFacts {
        NodeFacts {
            fqdn: "imp1.lab.test".into(),
            expected: Some(ip(IMP1)),
            addresses,
            ptr: vec![(ip(IMP1), Asked::Done(Ok(vec!["imp1.lab.test".into()])))],
            resolver: "127.0.0.20:53".into(),
            budget: Duration::from_millis(4000),
        }
    }

    fn fix(o: &Outcome) -> &str {
        o.remediation.as_deref().unwrap_or_default()
    }

    #[test]
    fn the_expected_address_with_its_ptr_passes() {
        let o = judge_node(&facts(Asked::Done(Ok(vec![ip(IMP1)]))), Workflow::C);
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert_eq!(
            o.message,
            "imp1.lab.test resolves to 127.0.0.22; the PTR names it"
        );
    }

    #[test]
    fn another_address_than_the_spec_says_fails() {
        let o = judge_node(&facts(Asked::Done(Ok(vec![ip("127.0.0.29")]))), Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "imp1.lab.test resolves to 127.0.0.29, not to 127.0.0.22 as the spec says"
        );
        assert!(fix(&o).ends_with("(tasks C.1, C.10)"), "{}", fix(&o));
    }

    #[test]
    fn a_ptr_naming_another_host_or_missing_warns() {
        let mut f = facts(Asked::Done(Ok(vec![ip(IMP1)])));
        f.ptr = vec![(
            ip(IMP1),
            Asked::Done(Ok(vec!["somewhere-else.lab.test".into()])),
        )];
        let o = judge_node(&f, Workflow::C);
        assert_eq!(o.status, Status::Warn);
        assert!(
            o.message
                .contains("the PTR of 127.0.0.22 names somewhere-else.lab.test instead"),
            "{}",
            o.message
        );
        f.ptr = vec![(
            ip(IMP1),
            Asked::Done(Err(DnsError::NxDomain {
                name: "22.0.0.127.in-addr.arpa".into(),
                via: vec![],
            })),
        )];
        let o = judge_node(&f, Workflow::C);
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.contains("no PTR for 127.0.0.22"), "{}", o.message);
    }

    #[test]
    fn nxdomain_and_nodata_ask_for_an_address_record() {
        for e in [
            DnsError::NxDomain {
                name: "imp1.lab.test".into(),
                via: vec![],
            },
            DnsError::NoData {
                name: "imp1.lab.test".into(),
                rtype: "A or AAAA".into(),
                via: vec![],
            },
        ] {
            let o = judge_node(&facts(Asked::Done(Err(e.clone()))), Workflow::B);
            assert_eq!(o.status, Status::Fail);
            assert_eq!(o.message, format!("imp1.lab.test: {e}"));
            assert!(
                fix(&o).starts_with("Add an A (or AAAA) record for imp1.lab.test"),
                "{}",
                fix(&o)
            );
            assert!(fix(&o).ends_with("(tasks B.1, B.10)"), "{}", fix(&o));
        }
    }

    #[test]
    fn a_cname_loop_is_named_and_not_fixed_by_adding_a_record() {
        let e = DnsError::CnameLoop {
            name: "imp1.lab.test".into(),
            chain: vec![
                "imp1.lab.test".into(),
                "alias.lab.test".into(),
                "imp1.lab.test".into(),
            ],
        };
        let o = judge_node(&facts(Asked::Done(Err(e))), Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("CNAME loop"), "{}", o.message);
        assert!(!o.message.contains("NODATA"), "{}", o.message);
        assert!(fix(&o).starts_with("Break the CNAME loop"), "{}", fix(&o));
    }

    #[test]
    fn servfail_and_silence_are_server_problems() {
        let o = judge_node(
            &facts(Asked::Done(Err(DnsError::ServerError {
                rcode: Rcode::ServFail,
            }))),
            Workflow::C,
        );
        assert_eq!(
            o.message,
            "imp1.lab.test: the DNS server answered SERVFAIL (Server Failure)"
        );
        assert!(fix(&o).contains("see its log"), "{}", fix(&o));
        let o = judge_node(
            &facts(Asked::Done(Err(DnsError::NoAnswer {
                detail: "no reply".into(),
            }))),
            Workflow::A,
        );
        assert!(
            o.message.contains("the DNS server did not answer"),
            "{}",
            o.message
        );
        assert!(
            fix(&o).contains("reachable") && fix(&o).ends_with("(tasks A.1, A.9)"),
            "{}",
            fix(&o)
        );
        assert_eq!(o.reason, Reason::Verdict);
    }

    #[test]
    fn the_checks_time_running_out_is_a_timeout_of_the_dns_query() {
        let o = judge_node(&facts(Asked::OutOfTime), Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "imp1.lab.test: the DNS server did not answer within 4000 ms"
        );
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after: Duration::from_millis(4000),
                stage: Some(Stage::DnsQuery)
            }
        );
        let mut f = facts(Asked::Done(Ok(vec![ip(IMP1)])));
        f.ptr = vec![(ip(IMP1), Asked::OutOfTime)];
        assert!(matches!(
            judge_node(&f, Workflow::C).reason,
            Reason::TimedOut { .. }
        ));
    }

    #[test]
    fn a_hostile_ptr_list_is_cut_and_escaped() {
        let mut f = facts(Asked::Done(Ok(vec![ip(IMP1)])));
        let names: Vec<String> = (0..500).map(|i| format!("n{i}\u{1b}.lab.test")).collect();
        f.ptr = vec![(ip(IMP1), Asked::Done(Ok(names)))];
        let o = judge_node(&f, Workflow::C);
        assert!(o.message.len() < 600, "{}", o.message.len());
        assert!(o.message.contains("and 490 more"), "{}", o.message);
        assert!(!o.message.contains('\u{1b}'));
    }
}
