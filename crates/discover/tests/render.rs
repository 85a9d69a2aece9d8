//! The spec written from synthetic observations: valid TOML and a valid spec as written
//! (when nothing required is unknown), every record's facts in it, and hostile text
//! from the network unable to escape its comment.

use imp_verify_core::spec::Service;
use imp_verify_core::Spec;
use imp_verify_discover::endpoints::{CertSummary, Port, Seen};
use imp_verify_discover::records::{Kind, Lookup, Record};
use imp_verify_discover::{render, Discovery};
use imp_verify_net::Srv;
use std::collections::BTreeMap;
use std::path::Path;

fn srv(priority: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight: 0,
        port,
        target: target.into(),
    }
}

fn cert(cn: &str, subject: &str) -> CertSummary {
    CertSummary {
        subject: subject.into(),
        common_name: Some(cn.into()),
        dns: vec![cn.into(), "example.com".into()],
        xmpp_addr: vec!["example.com".into()],
        srv_name: vec![],
        issuer: "CN=Example Issuing CA".into(),
        self_signed: false,
        not_after: "2030-01-01T00:00:00Z".into(),
        chain_issuers: vec!["CN=Example Root CA".into()],
    }
}

fn discovery() -> Discovery {
    let mut records = Vec::new();
    for kind in Kind::ALL {
        let found = match kind {
            Kind::XmppClient => vec![
                srv(10, 5222, "imp1.example.com"),
                srv(10, 5222, "imp2.example.com"),
            ],
            Kind::CupLogin => vec![srv(10, 8443, "imp1.example.com")],
            Kind::CiscoUds => vec![srv(10, 8443, "cucm.example.com")],
            _ => vec![],
        };
        records.push(Record {
            kind,
            name: format!("{}.example.com", kind.label()),
            lookup: if found.is_empty() {
                Lookup::Absent
            } else {
                Lookup::Found(found)
            },
        });
    }
    let mut ports = BTreeMap::new();
    let port = |host: &str, service: Service, port: u16| Port {
        host: host.into(),
        service,
        port,
    };
    // A certificate whose subject tries to end the comment and add a table.
    let hostile = cert("imp1.example.com", "CN=imp1\n[ldap]\nbind_dn = \"x\"");
    ports.insert(
        port("imp1.example.com", Service::XmppC2s, 5222),
        Seen::Cert(hostile, None),
    );
    ports.insert(
        port("imp2.example.com", Service::XmppC2s, 5222),
        Seen::Closed("connection refused".into()),
    );
    ports.insert(port("imp1.example.com", Service::Https, 8443), Seen::Open);
    ports.insert(port("cucm.example.com", Service::Https, 8443), Seen::Open);
    let mut addresses = BTreeMap::new();
    addresses.insert(
        "imp1.example.com".to_string(),
        Ok(vec!["192.0.2.11".parse().unwrap()]),
    );
    addresses.insert(
        "imp2.example.com".to_string(),
        Ok(vec!["192.0.2.12".parse().unwrap()]),
    );
    addresses.insert("cucm.example.com".to_string(), Err("NXDOMAIN".to_string()));
    Discovery {
        domain: "example.com".into(),
        dns_server: Some("192.0.2.53:53".parse().unwrap()),
        records,
        addresses,
        ports,
        others: BTreeMap::new(),
        trunks: vec![],
        trunk_candidates: vec![],
    }
}

#[test]
fn the_spec_written_is_valid_and_says_what_was_found() {
    let text = render::spec(&discovery(), "imp-verify discover example.com", "now");
    let env: BTreeMap<String, String> = BTreeMap::new();
    let spec = Spec::parse(&text, Path::new("discovered.toml"), &env)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    // No SIP, no federation, a pair of IM&P nodes: workflow A, one cluster, one group.
    assert_eq!(spec.workflow.letter(), "A", "{text}");
    assert_eq!(spec.clusters.len(), 1);
    let c = &spec.clusters[0];
    assert_eq!(c.redundancy_groups.len(), 1);
    assert_eq!(
        c.redundancy_groups[0].node_names(),
        ["imp1.example.com", "imp2.example.com"]
    );
    assert!(c.sip_trunk.is_none());
    // The hostile subject stayed inside its comment: no [ldap] table appeared.
    assert!(spec.ldap.is_none(), "{text}");
    assert!(
        text.contains("# certificate on xmpp-c2s 5222: CN=imp1?[ldap]?bind_dn"),
        "{text}"
    );
    // Addresses pinned where they resolved; the CUCM node's failure told.
    let (_, imp1) = spec.node("imp1.example.com").unwrap();
    assert_eq!(imp1.address, Some("192.0.2.11".parse().unwrap()));
    let (_, cucm) = spec.node("cucm.example.com").unwrap();
    assert_eq!(cucm.address, None);
    assert!(
        text.contains("# cucm.example.com does not resolve: NXDOMAIN"),
        "{text}"
    );
    // imp1's answering HTTPS port is listed; imp2's silent c2s port is listed, marked.
    let services: Vec<Service> = imp1.service_ports().into_iter().map(|(s, _)| s).collect();
    assert_eq!(services, [Service::XmppC2s, Service::Https]);
    assert!(
        text.contains(
            "# certificate on xmpp-c2s 5222: UNREADABLE: nothing answered (connection refused)"
        ),
        "{text}"
    );
    // The CA: the root of the chain the servers sent.
    assert!(
        text.contains("`CN=Example Root CA` (on imp1.example.com xmpp-c2s)"),
        "{text}"
    );
    assert!(text.contains("[dns]\n# DNS servers to ask"), "{text}");
    assert!(text.contains("servers = [\"192.0.2.53:53\"]"), "{text}");
}
