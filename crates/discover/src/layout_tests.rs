//! Unit tests of the layout rules, with synthetic discoveries.
use super::*;
use crate::records::{Lookup, Record};

fn srv(priority: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight: 10,
        port,
        target: target.into(),
    }
}

fn discovery(records: Vec<(Kind, Vec<Srv>)>) -> Discovery {
    Discovery {
        domain: "example.com".into(),
        dns_server: None,
        records: records
            .into_iter()
            .map(|(kind, v)| Record {
                kind,
                name: format!("{}.example.com", kind.label()),
                lookup: Lookup::Found(v),
            })
            .collect(),
        addresses: BTreeMap::new(),
        ports: BTreeMap::new(),
        others: BTreeMap::new(),
        trunks: Vec::new(),
        trunk_candidates: Vec::new(),
    }
}

#[test]
fn roles_come_from_the_records() {
    let d = discovery(vec![
        (Kind::XmppClient, vec![srv(10, 5222, "imp1.example.com")]),
        (Kind::CupLogin, vec![srv(10, 8443, "imp2.example.com")]),
        (
            Kind::CiscoUds,
            vec![
                srv(10, 8443, "cucm.example.com"),
                srv(10, 8443, "imp1.example.com"),
            ],
        ),
    ]);
    assert_eq!(
        imp_nodes(&d).into_iter().collect::<Vec<_>>(),
        ["imp1.example.com", "imp2.example.com"]
    );
    assert_eq!(
        cucm_nodes(&d).into_iter().collect::<Vec<_>>(),
        ["cucm.example.com"]
    );
}

#[test]
fn equal_priorities_pair_first_then_the_rest_in_name_order() {
    let nodes: Vec<String> = ["a.x.com", "b.x.com", "c.x.com", "d.x.com", "e.x.com"]
        .map(String::from)
        .to_vec();
    let tiers = [
        srv(10, 5222, "d.x.com"),
        srv(10, 5222, "a.x.com"),
        srv(20, 5222, "b.x.com"),
        srv(30, 5222, "c.x.com"),
    ];
    let (groups, unpaired, how) = pair(&nodes, &tiers, "_xmpp-client._tcp.x.com");
    assert_eq!(
        groups,
        vec![
            ["a.x.com".to_string(), "d.x.com".to_string()],
            ["b.x.com".to_string(), "c.x.com".to_string()]
        ]
    );
    assert_eq!(unpaired, vec!["e.x.com".to_string()]);
    assert!(how.iter().all(|h| h.starts_with("GUESS")));
}

#[test]
fn a_trunk_makes_a_cluster_of_its_targets_and_the_rest_another() {
    let mut d = discovery(vec![(
        Kind::XmppClient,
        vec![
            srv(10, 5222, "imp1.example.com"),
            srv(10, 5222, "imp2.example.com"),
            srv(10, 5222, "imp3.example.com"),
        ],
    )]);
    d.trunks.push(Trunk {
        srv_name: "c1.example.com".into(),
        records: vec![(
            Transport::Tcp,
            vec![
                srv(10, 5070, "imp1.example.com"),
                srv(10, 5070, "imp2.example.com"),
            ],
        )],
    });
    let c = clusters(&d);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].imp, ["imp1.example.com", "imp2.example.com"]);
    assert_eq!(c[0].trunk, Some(0));
    assert_eq!(c[0].groups.len(), 1);
    assert_eq!(c[1].imp, ["imp3.example.com"]);
    assert_eq!(c[1].unpaired, ["imp3.example.com"]);
    // The trunk's port is the node's SIP TCP port.
    assert_eq!(
        port_of(&d, "imp1.example.com", Role::Imp, Service::SipTcp),
        5070
    );
    assert_eq!(
        port_of(&d, "imp3.example.com", Role::Imp, Service::SipTcp),
        5060
    );
    assert_eq!(workflow(&d, &c).0, "B");
}

#[test]
fn a_silent_advertised_port_is_listed_and_a_silent_https_left_out() {
    let mut d = discovery(vec![
        (Kind::XmppClient, vec![srv(10, 5222, "imp1.example.com")]),
        (Kind::CupLogin, vec![srv(10, 8443, "imp1.example.com")]),
    ]);
    for (service, port, seen) in [
        (Service::XmppC2s, 5222, Seen::Closed("refused".into())),
        (Service::XmppS2s, 5269, Seen::Open),
        (Service::SipTcp, 5060, Seen::Closed("refused".into())),
        (Service::SipTls, 5061, Seen::Closed("refused".into())),
        (Service::Https, 8443, Seen::Closed("refused".into())),
    ] {
        d.ports.insert(
            Port {
                host: "imp1.example.com".into(),
                service,
                port,
            },
            seen,
        );
    }
    let s = node_services(&d, "imp1.example.com", Role::Imp);
    assert_eq!(
        s.listed,
        vec![(Service::XmppC2s, 5222), (Service::XmppS2s, 5269)]
    );
    assert_eq!(s.silent.len(), 1);
    let left: Vec<Service> = s.left_out.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(left, [Service::SipTcp, Service::SipTls, Service::Https]);
    assert_eq!(workflow(&d, &clusters(&d)).0, "D");
}
