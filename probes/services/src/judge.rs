//! Judging a service port: pure functions of [`PortFacts`], unit-tested with synthetic
//! facts.

use crate::observe::{Connected, PortFacts, ResolveFailure};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Service, Workflow};
use imp_verify_core::text::cut_list;
use imp_verify_core::{Outcome, Reason, Stage};
use std::io::ErrorKind;

/// What to do when a service's port does not answer, in the administrator's words,
/// naming the tasks of the run's workflow.
pub fn hint(service: Service, w: Workflow) -> String {
    use Task::*;
    match service {
        Service::XmppC2s => format!("Check that the Cisco XCP Connection Manager and Cisco XCP Router services are activated and running on the node{}, and that no firewall blocks the port", cite(w, &[ActivateServices])),
        Service::XmppS2s => format!("Check that the Cisco XCP XMPP Federation Connection Manager is activated and running on the node{}, and that no firewall blocks the port", cite(w, &[ActivateServices, Federation])),
        Service::SipTcp | Service::SipTls => format!("Check that the Cisco SIP Proxy and Cisco Presence Engine services are running on the node{} and that the listener for this transport is enabled", cite(w, &[ActivateServices])),
        Service::Https => format!("Check that the Cisco Tomcat service is running on the node{}", cite(w, &[ActivateServices])),
        Service::Ldap | Service::Ldaps => format!("Check that the directory server is running and listens on this port{}", cite(w, &[SecureLdap, LdapClients, LdapForJabber])),
    }
}

/// Why one attempt failed, in words.
fn describe(c: &Connected, f: &PortFacts) -> String {
    match c {
        Connected::Accepted { .. } => "accepted".into(),
        Connected::Refused => "connection refused: nothing listens on the port".into(),
        Connected::OutOfTime => format!(
            "no answer to the TCP connection within {} ms (a firewall drops it, or the host is down)",
            f.budget.as_millis()
        ),
        Connected::Failed {
            kind: ErrorKind::TimedOut,
            ..
        } => "the connection timed out".into(),
        Connected::Failed { detail, .. } => format!("cannot connect: {detail}"),
    }
}

/// The verdict of `services.port` on what the port did.
pub fn judge_port(f: &PortFacts, w: Workflow) -> Outcome {
    let ep = &f.endpoint;
    let (host, port, service) = (ep.host.as_str(), ep.port, ep.service.name());
    let install = cite(w, &[Task::Install]);
    let addrs = match &f.addresses {
        Ok(a) => a,
        Err(why) => return unresolved(f, why, &install),
    };
    if let Some((addr, Connected::Accepted { connect_ms })) = f
        .attempts
        .iter()
        .find(|(_, c)| matches!(c, Connected::Accepted { .. }))
    {
        return Outcome::pass(format!(
            "{service} port {port} accepts connections on {addr}"
        ))
        .with("address", addr)
        .with("service", service)
        .metric("connect_ms", *connect_ms);
    }
    let Some((addr, last)) = f.attempts.last() else {
        return Outcome::fail(
            format!("{host} has no address to connect to {service} on"),
            format!("Add an A or AAAA record for the host{install}"),
        )
        .with("host", host);
    };
    let mut o = Outcome::fail(
        format!("{service} port {port} of {host}: {}", describe(last, f)),
        hint(ep.service, w),
    )
    .with("address", addr)
    .with("service", service)
    .with("expected", format!("a listener on TCP port {port}"));
    if addrs.len() > 1 {
        o = o.with("addresses_tried", cut_list(addrs, ", ")).with(
            "attempts",
            cut_list(
                f.attempts
                    .iter()
                    .map(|(a, c)| format!("{a}: {}", describe(c, f))),
                "; ",
            ),
        );
    }
    if f.not_tried > 0 {
        o = o.with("addresses_not_tried", f.not_tried);
    }
    if f.attempts.iter().all(|(_, c)| *c == Connected::OutOfTime) {
        o = o.because(Reason::TimedOut {
            after: f.budget,
            stage: Some(Stage::TcpConnect),
        });
    }
    o
}

/// The host could not be resolved: the DNS's reason, with the fix that fits it.
fn unresolved(f: &PortFacts, why: &ResolveFailure, install: &str) -> Outcome {
    let ep = &f.endpoint;
    let host = ep.host.as_str();
    let ask_dns = format!(
        "Check that the DNS servers named in the spec ({}) answer for {host}, or pin its address in the spec{install}",
        f.resolver
    );
    let o = match why {
        ResolveFailure::OutOfTime => Outcome::fail(
            format!(
                "cannot resolve {host}: the DNS server did not answer within {} ms",
                f.budget.as_millis()
            ),
            ask_dns,
        )
        .because(Reason::TimedOut {
            after: f.budget,
            stage: Some(Stage::Resolve),
        }),
        ResolveFailure::NoAddress => Outcome::fail(
            format!(
                "{host} has no address to connect to {} on",
                ep.service.name()
            ),
            format!("Add an A or AAAA record for the host{install}"),
        ),
        ResolveFailure::Dns(e) if e.is_absent() => Outcome::fail(
            format!("cannot resolve {host}: {e}"),
            format!(
                "Add an A or AAAA record for the host, or pin its address in the spec{install}"
            ),
        ),
        ResolveFailure::Dns(
            e @ (imp_verify_net::DnsError::CnameLoop { .. }
            | imp_verify_net::DnsError::CnameChainTooLong { .. }),
        ) => Outcome::fail(
            format!("cannot resolve {host}: {e}"),
            format!("Break the CNAME loop of {host} in the deployment's DNS, so that its aliases lead to an A or AAAA record, or pin its address in the spec{install}"),
        ),
        ResolveFailure::Dns(e) => Outcome::fail(format!("cannot resolve {host}: {e}"), ask_dns),
    };
    o.with("host", host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::PortEndpoint;
    use imp_verify_core::Status;
    use imp_verify_net::{DnsError, Rcode};
    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn facts(service: Service, attempts: Vec<(&str, Connected)>) -> PortFacts {
        let addrs: Vec<IpAddr> = attempts.iter().map(|(a, _)| ip(a)).collect();
        PortFacts {
            endpoint: PortEndpoint {
                host: "imp2.lab.test".into(),
                pinned: None,
                port: 5222,
                service,
            },
            attempts: attempts
                .into_iter()
                .map(|(a, c)| (SocketAddr::new(ip(a), 5222), c))
                .collect(),
            addresses: Ok(addrs),
            not_tried: 0,
            resolver: "127.0.0.20:53".into(),
            budget: Duration::from_millis(8000),
        }
    }

    fn unresolved(why: ResolveFailure) -> PortFacts {
        let mut f = facts(Service::Ldaps, vec![]);
        f.endpoint.host = "ldap.lab.test".into();
        f.endpoint.port = 636;
        f.addresses = Err(why);
        f
    }

    fn ev<'a>(o: &'a Outcome, key: &str) -> Option<&'a str> {
        o.evidence
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn fix(o: &Outcome) -> &str {
        o.remediation.as_deref().unwrap_or_default()
    }

    #[test]
    fn an_accepted_connection_passes_naming_the_address() {
        let o = judge_port(
            &facts(
                Service::XmppC2s,
                vec![("127.0.0.23", Connected::Accepted { connect_ms: 0.4 })],
            ),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Pass);
        assert_eq!(
            o.message,
            "xmpp-c2s port 5222 accepts connections on 127.0.0.23:5222"
        );
        assert_eq!(o.metrics.get("connect_ms"), Some(&0.4));
    }

    #[test]
    fn one_address_of_two_accepting_is_enough() {
        let o = judge_port(
            &facts(
                Service::XmppC2s,
                vec![
                    ("::1", Connected::Refused),
                    ("127.0.0.23", Connected::Accepted { connect_ms: 0.4 }),
                ],
            ),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert_eq!(ev(&o, "address"), Some("127.0.0.23:5222"));
    }

    #[test]
    fn a_refused_connection_fails_with_the_services_hint() {
        let o = judge_port(
            &facts(Service::XmppC2s, vec![("127.0.0.23", Connected::Refused)]),
            Workflow::C,
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "xmpp-c2s port 5222 of imp2.lab.test: connection refused: nothing listens on the port"
        );
        assert!(fix(&o).starts_with("Check that the Cisco XCP Connection Manager"));
        assert!(fix(&o).contains("(task C.2)"), "{}", fix(&o));
        assert_eq!(ev(&o, "expected"), Some("a listener on TCP port 5222"));
        assert_eq!(o.reason, Reason::Verdict);
    }

    #[test]
    fn two_dead_addresses_are_one_timeout_of_the_tcp_connection_each_named() {
        let o = judge_port(
            &facts(
                Service::SipTls,
                vec![
                    ("127.0.0.23", Connected::OutOfTime),
                    ("::1", Connected::OutOfTime),
                ],
            ),
            Workflow::B,
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.ends_with("no answer to the TCP connection within 8000 ms (a firewall drops it, or the host is down)"),
            "{}",
            o.message
        );
        assert_eq!(ev(&o, "addresses_tried"), Some("127.0.0.23, ::1"));
        assert!(ev(&o, "attempts")
            .unwrap()
            .contains("[::1]:5222: no answer"));
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after: Duration::from_millis(8000),
                stage: Some(Stage::TcpConnect)
            }
        );
        // One refused, one silent: the refusal is an answer, not a timeout.
        let o = judge_port(
            &facts(
                Service::SipTls,
                vec![
                    ("127.0.0.23", Connected::OutOfTime),
                    ("::1", Connected::Refused),
                ],
            ),
            Workflow::B,
        );
        assert_eq!(o.reason, Reason::Verdict);
    }

    #[test]
    fn other_connection_failures_keep_the_systems_words() {
        let o = judge_port(
            &facts(
                Service::Https,
                vec![(
                    "127.0.0.23",
                    Connected::Failed {
                        kind: ErrorKind::HostUnreachable,
                        detail: "No route to host (os error 113)".into(),
                    },
                )],
            ),
            Workflow::A,
        );
        assert!(
            o.message
                .ends_with("cannot connect: No route to host (os error 113)"),
            "{}",
            o.message
        );
        assert!(fix(&o).contains("Cisco Tomcat"), "{}", fix(&o));
    }

    #[test]
    fn a_dns_server_that_never_answers_is_a_resolution_timeout_not_a_connection() {
        let o = judge_port(&unresolved(ResolveFailure::OutOfTime), Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "cannot resolve ldap.lab.test: the DNS server did not answer within 8000 ms"
        );
        assert!(!o.message.contains("accepted"), "{}", o.message);
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after: Duration::from_millis(8000),
                stage: Some(Stage::Resolve)
            }
        );
        assert!(fix(&o).contains("answer for ldap.lab.test"), "{}", fix(&o));
    }

    #[test]
    fn an_absent_host_asks_for_a_record_and_a_failing_server_for_the_dns() {
        let o = judge_port(
            &unresolved(ResolveFailure::Dns(DnsError::NxDomain {
                name: "ldap.lab.test".into(),
                via: vec![],
            })),
            Workflow::C,
        );
        assert_eq!(
            o.message,
            "cannot resolve ldap.lab.test: ldap.lab.test does not exist (NXDOMAIN)"
        );
        assert_eq!(
            fix(&o),
            "Add an A or AAAA record for the host, or pin its address in the spec (task C.1)"
        );
        let o = judge_port(
            &unresolved(ResolveFailure::Dns(DnsError::ServerError {
                rcode: Rcode::ServFail,
            })),
            Workflow::C,
        );
        assert!(
            o.message.ends_with("SERVFAIL (Server Failure)"),
            "{}",
            o.message
        );
        assert!(
            fix(&o).starts_with("Check that the DNS servers"),
            "{}",
            fix(&o)
        );
        let o = judge_port(
            &unresolved(ResolveFailure::Dns(DnsError::CnameLoop {
                name: "ldap.lab.test".into(),
                chain: vec![
                    "ldap.lab.test".into(),
                    "x.lab.test".into(),
                    "ldap.lab.test".into(),
                ],
            })),
            Workflow::C,
        );
        assert!(o.message.contains("CNAME loop"), "{}", o.message);
        assert!(
            fix(&o).starts_with("Break the CNAME loop of ldap.lab.test"),
            "{}",
            fix(&o)
        );
        let o = judge_port(&unresolved(ResolveFailure::NoAddress), Workflow::C);
        assert_eq!(
            o.message,
            "ldap.lab.test has no address to connect to ldaps on"
        );
    }
}
