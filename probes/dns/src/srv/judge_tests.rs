//! The SRV judge driven with synthetic facts: every verdict the lab tests reach by
//! editing zones, and those they cannot (a loop, SERVFAIL, the check's time ending, a
//! list of thousands).

use super::*;
use imp_verify_core::Status;
use imp_verify_net::Rcode;
use std::net::IpAddr;
use std::time::Duration;

fn srv(priority: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight: 0,
        port,
        target: target.into(),
    }
}

/// The trunk's TLS name: both nodes required, one redundancy group.
fn trunk() -> SrvExpect {
    SrvExpect {
        name: "_sips._tcp.imp-cluster.lab.test".into(),
        targets: vec![("imp1.lab.test".into(), 5061), ("imp2.lab.test".into(), 5061)],
        all_required: true,
        strangers_fail: true,
        task: "task C.8".into(),
        ha_task: Some("C.9"),
        purpose: "the SIP publish trunk's cluster-wide DNS SRV name reaches every IM&P node of the cluster",
        groups: vec![(
            "prg-1".into(),
            vec!["imp1.lab.test".into(), "imp2.lab.test".into()],
        )],
    }
}

/// `_xmpp-client`: a missing node only warns.
fn client() -> SrvExpect {
    SrvExpect {
        name: "_xmpp-client._tcp.lab.test".into(),
        targets: vec![
            ("imp1.lab.test".into(), 5222),
            ("imp2.lab.test".into(), 5222),
        ],
        all_required: false,
        strangers_fail: true,
        task: "tasks C.5, C.10".into(),
        ha_task: Some("C.9"),
        purpose: "XMPP clients find the IM&P nodes of the domain",
        groups: vec![],
    }
}

/// A federated domain's record: any target that resolves.
fn federation() -> SrvExpect {
    SrvExpect {
        name: "_xmpp-server._tcp.partner.test".into(),
        targets: vec![],
        all_required: false,
        strangers_fail: false,
        task: "task C.14".into(),
        ha_task: Some("C.9"),
        purpose: "the federated domain's XMPP servers can be reached over s2s",
        groups: vec![],
    }
}

fn resolved() -> Asked<Vec<IpAddr>> {
    Asked::Done(Ok(vec!["127.0.0.22".parse().unwrap()]))
}

/// Facts of `records`, every target resolving.
fn facts(records: Vec<Srv>) -> SrvFacts {
    let targets = records
        .iter()
        .filter(|r| !r.target.is_empty())
        .map(|r| r.target.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|t| (t, resolved()))
        .collect();
    SrvFacts {
        records: Asked::Done(Ok(records)),
        targets,
        targets_not_asked: 0,
        resolver: "127.0.0.20:53".into(),
        budget: Duration::from_millis(4000),
    }
}

fn failed(err: DnsError) -> SrvFacts {
    SrvFacts {
        records: Asked::Done(Err(err)),
        targets: vec![],
        targets_not_asked: 0,
        resolver: "127.0.0.20:53".into(),
        budget: Duration::from_millis(4000),
    }
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
fn the_deployments_nodes_with_their_ports_pass() {
    let o = judge_srv(
        &trunk(),
        &facts(vec![
            srv(10, 5061, "imp1.lab.test"),
            srv(10, 5061, "imp2.lab.test"),
        ]),
    );
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert_eq!(
        o.message,
        "_sips._tcp.imp-cluster.lab.test lists imp1.lab.test:5061, imp2.lab.test:5061"
    );
    assert_eq!(
        ev(&o, "records"),
        Some("10 0 5061 imp1.lab.test.; 10 0 5061 imp2.lab.test.")
    );
    assert_eq!(ev(&o, "redundancy group prg-1"), Some("both nodes present"));
    assert_eq!(o.metrics.get("record_count"), Some(&2.0));
}

#[test]
fn a_wrong_port_fails_naming_both_ports() {
    let o = judge_srv(
        &client(),
        &facts(vec![
            srv(10, 5223, "imp1.lab.test"),
            srv(10, 5222, "imp2.lab.test"),
        ]),
    );
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("imp1.lab.test is listed with port 5223, the spec expects 5222"),
        "{}",
        o.message
    );
    assert!(
        fix(&o).starts_with("Make the SRV records of _xmpp-client._tcp.lab.test list exactly imp1.lab.test:5222, imp2.lab.test:5222"),
        "{}",
        fix(&o)
    );
}

#[test]
fn a_stranger_fails_where_the_spec_knows_the_targets_only() {
    let o = judge_srv(
        &trunk(),
        &facts(vec![
            srv(10, 5061, "imp1.lab.test"),
            srv(10, 5061, "ldap.lab.test"),
        ]),
    );
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("ldap.lab.test is not a node of the deployment for this record"),
        "{}",
        o.message
    );
    // The stranger stands in for imp2: the trunk misses it, and its group is incomplete.
    assert!(o.message.contains("imp2.lab.test missing"), "{}", o.message);
    assert_eq!(
        ev(&o, "redundancy group prg-1"),
        Some("imp2.lab.test absent: no failover for its users")
    );
    let o = judge_srv(
        &federation(),
        &facts(vec![srv(10, 5269, "xmpp.partner.test")]),
    );
    assert_eq!(o.status, Status::Pass, "{}", o.message);
}

#[test]
fn a_missing_node_fails_the_trunk_but_warns_for_clients() {
    let trunk_o = judge_srv(&trunk(), &facts(vec![srv(10, 5061, "imp1.lab.test")]));
    assert_eq!(trunk_o.status, Status::Fail);
    assert_eq!(
        trunk_o.message,
        "_sips._tcp.imp-cluster.lab.test: imp2.lab.test missing"
    );
    let client_o = judge_srv(&client(), &facts(vec![srv(10, 5222, "imp1.lab.test")]));
    assert_eq!(client_o.status, Status::Warn);
    assert_eq!(
        client_o.message,
        "_xmpp-client._tcp.lab.test: imp2.lab.test missing"
    );
    assert!(
        fix(&client_o).ends_with("(tasks C.5, C.10; high availability, task C.9)"),
        "{}",
        fix(&client_o)
    );
}

#[test]
fn target_dot_says_the_service_is_not_offered() {
    let o = judge_srv(&federation(), &facts(vec![srv(0, 0, "")]));
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("a record with target \".\" says the service is not offered"),
        "{}",
        o.message
    );
    assert!(!o.message.contains("not a node"), "{}", o.message);
}

#[test]
fn a_target_that_does_not_resolve_fails() {
    let mut f = facts(vec![
        srv(10, 8443, "edge.lab.test"),
        srv(20, 8443, "ghost.lab.test"),
    ]);
    f.targets[1].1 = Asked::Done(Err(DnsError::NxDomain {
        name: "ghost.lab.test".into(),
        via: vec![],
    }));
    let o = judge_srv(&federation(), &f);
    assert_eq!(o.status, Status::Fail);
    assert_eq!(
        o.message,
        "_xmpp-server._tcp.partner.test: target ghost.lab.test does not resolve: ghost.lab.test does not exist (NXDOMAIN)"
    );
}

#[test]
fn nxdomain_and_nodata_ask_to_publish_the_records() {
    for err in [
        DnsError::NxDomain {
            name: "_cuplogin._tcp.lab.test".into(),
            via: vec![],
        },
        DnsError::NoData {
            name: "_cuplogin._tcp.lab.test".into(),
            rtype: "SRV".into(),
            via: vec![],
        },
    ] {
        let mut e = client();
        e.name = "_cuplogin._tcp.lab.test".into();
        let o = judge_srv(&e, &failed(err.clone()));
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, format!("_cuplogin._tcp.lab.test: {err}"));
        assert!(
            fix(&o).starts_with("Publish the SRV records _cuplogin._tcp.lab.test in the deployment's DNS, one per target (imp1.lab.test:5222, imp2.lab.test:5222; tasks C.5, C.10)"),
            "{}",
            fix(&o)
        );
    }
}

#[test]
fn a_cname_loop_servfail_and_silence_are_named_as_what_they_are() {
    let looped = DnsError::CnameLoop {
        name: "_xmpp-client._tcp.lab.test".into(),
        chain: vec![
            "_xmpp-client._tcp.lab.test".into(),
            "b.lab.test".into(),
            "_xmpp-client._tcp.lab.test".into(),
        ],
    };
    let o = judge_srv(&client(), &failed(looped));
    assert!(o.message.contains("CNAME loop"), "{}", o.message);
    assert!(fix(&o).starts_with("Break the CNAME loop"), "{}", fix(&o));
    let o = judge_srv(
        &client(),
        &failed(DnsError::ServerError {
            rcode: Rcode::ServFail,
        }),
    );
    assert_eq!(
        o.message,
        "_xmpp-client._tcp.lab.test: the DNS server answered SERVFAIL (Server Failure)"
    );
    assert!(fix(&o).contains("see its log"), "{}", fix(&o));
    let o = judge_srv(
        &client(),
        &failed(DnsError::NoAnswer {
            detail: "no reply before the query timeout".into(),
        }),
    );
    assert!(o.message.contains("did not answer"), "{}", o.message);
    assert!(fix(&o).contains("reachable"), "{}", fix(&o));
    assert!(!fix(&o).contains("Publish"), "{}", fix(&o));
}

#[test]
fn the_checks_time_ending_is_a_timeout_of_the_dns_query() {
    let mut f = failed(DnsError::NoAnswer { detail: "x".into() });
    f.records = Asked::OutOfTime;
    let o = judge_srv(&client(), &f);
    assert_eq!(
        o.message,
        "_xmpp-client._tcp.lab.test: the DNS server did not answer within 4000 ms"
    );
    assert_eq!(
        o.reason,
        Reason::TimedOut {
            after: Duration::from_millis(4000),
            stage: Some(Stage::DnsQuery)
        }
    );
    // A target's lookup out of time: the records were judged, the target was not.
    let mut f = facts(vec![
        srv(10, 5222, "imp1.lab.test"),
        srv(10, 5222, "imp2.lab.test"),
    ]);
    f.targets[1].1 = Asked::OutOfTime;
    let o = judge_srv(&client(), &f);
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("target imp2.lab.test: the DNS server did not answer within 4000 ms"),
        "{}",
        o.message
    );
    assert!(matches!(o.reason, Reason::TimedOut { .. }));
}

#[test]
fn a_list_of_thousands_is_cut_with_a_count() {
    // About 33 KB of records, as a hostile zone serves them over TCP.
    let records: Vec<Srv> = (0..1000)
        .map(|i| srv(10, 5222, &format!("stranger-{i:04}-\\027.example.test")))
        .collect();
    let mut f = facts(records);
    f.targets.truncate(32);
    f.targets_not_asked = 968;
    let o = judge_srv(&client(), &f);
    assert_eq!(o.status, Status::Fail);
    assert!(o.message.len() < 1200, "{} bytes", o.message.len());
    assert!(o.message.ends_with("and 991 more"), "{}", o.message);
    let records = ev(&o, "records").unwrap();
    assert!(
        records.len() < 1200 && records.ends_with("and 990 more"),
        "{records}"
    );
    assert_eq!(ev(&o, "targets_not_resolved"), Some("968"));
    assert_eq!(o.metrics.get("record_count"), Some(&1000.0));
}
