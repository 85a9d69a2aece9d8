//! The DNS probe against the lab's real Knot server: every check passes on the healthy
//! lab, and each fails (or warns) for its own reason when a record is wrong.

use imp_probe_dns::DnsProbe;
use imp_verify_core::spec::Spec;
use imp_verify_core::{Area, CheckResult, Outcome, Probe, Status};
use imp_verify_net::{DnsError, Net, Resolver};
use imp_verify_testlab::harness::{self, ev};
use imp_verify_testlab::Lab;
use std::path::Path;
use std::time::Duration;

/// Every DNS check of `spec` through the runner, 5 s each.
async fn run_spec(spec: &Path) -> Vec<CheckResult> {
    let spec = harness::load(spec);
    let probes: Vec<Box<dyn Probe>> = vec![Box::new(DnsProbe::new(Net::from_spec(&spec)))];
    harness::run_areas(&spec, &probes, &[Area::Dns], Duration::from_secs(5)).await
}

/// Every DNS check of the lab's spec.
async fn run_dns(lab: &Lab) -> Vec<CheckResult> {
    run_spec(&lab.spec()).await
}

/// The outcome of `id` on `target`.
fn find<'a>(r: &'a [CheckResult], id: &str, target: &str) -> &'a Outcome {
    &harness::get(r, id, target).outcome
}

#[tokio::test]
async fn every_dns_check_passes_on_the_lab() {
    let lab = Lab::shared();
    let results = run_dns(lab).await;
    let ids: std::collections::BTreeSet<&str> = results.iter().map(|r| r.key.id).collect();
    for id in [
        "dns.node",
        "dns.srv.xmpp-client",
        "dns.srv.xmpp-server",
        "dns.srv.cisco-uds",
        "dns.srv.cuplogin",
        "dns.srv.sip-trunk",
        "dns.srv.federation",
    ] {
        assert!(ids.contains(id), "{id} was not planned");
    }
    for r in &results {
        assert_eq!(
            r.outcome.status,
            Status::Pass,
            "{}: {}",
            r.key,
            r.outcome.message
        );
    }
    let trunk = find(
        &results,
        "dns.srv.sip-trunk",
        "_sips._tcp.imp-cluster.lab.test",
    );
    assert_eq!(
        ev(trunk, "records"),
        "10 10 5061 imp1.lab.test.; 10 10 5061 imp2.lab.test."
    );
    assert_eq!(ev(trunk, "redundancy group prg-1"), "both nodes present");
}

#[tokio::test]
async fn wrong_records_fail_each_for_its_own_reason() {
    let lab = Lab::isolated();
    lab.edit_zone("lab.test", |z| {
        z.lines()
            // The trunk's TLS name loses imp2: HA broken for the trunk.
            .filter(|l| !(l.starts_with("_sips._tcp.imp-cluster") && l.contains("imp2")))
            // Jabber discovery of IM&P: gone altogether (NXDOMAIN).
            .filter(|l| !l.starts_with("_cuplogin._tcp"))
            .map(|l| {
                if l.starts_with("_sip._tcp.imp-cluster") && l.contains("imp2") {
                    // A stranger instead of imp2 on the TCP name.
                    l.replace("imp2.lab.test.", "ldap.lab.test.")
                } else if l.starts_with("_xmpp-client._tcp") && l.contains("imp1") {
                    l.replace("5222", "5223")
                } else if l.starts_with("_cisco-uds._tcp") {
                    // The name stays, with no SRV record (NODATA).
                    "_cisco-uds._tcp TXT \"moved\"".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    lab.edit_zone("0.0.127.in-addr.arpa", |z| {
        z.replace("PTR   imp2.lab.test.", "PTR   somewhere-else.lab.test.")
    });
    let r = run_dns(&lab).await;

    let tls = find(&r, "dns.srv.sip-trunk", "_sips._tcp.imp-cluster.lab.test");
    assert_eq!(tls.status, Status::Fail, "{}", tls.message);
    assert!(
        tls.message.contains("imp2.lab.test missing"),
        "{}",
        tls.message
    );
    assert!(
        ev(tls, "redundancy group prg-1").contains("imp2.lab.test absent"),
        "{tls:?}"
    );
    assert!(tls.remediation.as_deref().unwrap().contains("task C.8"));

    let tcp = find(&r, "dns.srv.sip-trunk", "_sip._tcp.imp-cluster.lab.test");
    assert_eq!(tcp.status, Status::Fail);
    assert!(
        tcp.message
            .contains("ldap.lab.test is not a node of the deployment"),
        "{}",
        tcp.message
    );

    let udp = find(&r, "dns.srv.sip-trunk", "_sip._udp.imp-cluster.lab.test");
    assert_eq!(udp.status, Status::Pass, "{}", udp.message);

    let client = find(&r, "dns.srv.xmpp-client", "_xmpp-client._tcp.lab.test");
    assert_eq!(client.status, Status::Fail);
    assert!(
        client
            .message
            .contains("imp1.lab.test is listed with port 5223, the spec expects 5222"),
        "{}",
        client.message
    );

    let cup = find(&r, "dns.srv.cuplogin", "_cuplogin._tcp.lab.test");
    assert_eq!(cup.status, Status::Fail);
    assert!(
        cup.message.contains("does not exist (NXDOMAIN)"),
        "{}",
        cup.message
    );

    let uds = find(&r, "dns.srv.cisco-uds", "_cisco-uds._tcp.lab.test");
    assert_eq!(uds.status, Status::Fail);
    assert!(
        uds.message.contains("has no SRV record (NODATA)"),
        "{}",
        uds.message
    );

    let ptr = find(&r, "dns.node", "imp2.lab.test");
    assert_eq!(ptr.status, Status::Warn, "{}", ptr.message);
    assert!(
        ptr.message
            .contains("names somewhere-else.lab.test instead"),
        "{}",
        ptr.message
    );

    // What was not touched still passes.
    assert_eq!(find(&r, "dns.node", "imp1.lab.test").status, Status::Pass);
    assert_eq!(
        find(&r, "dns.srv.federation", "partner.test").status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_missing_node_of_xmpp_client_warns_aliases_are_followed_and_a_stopped_server_is_told_apart(
) {
    let lab = Lab::isolated();
    lab.edit_zone("lab.test", |z| {
        let mut out: Vec<String> = z
            .lines()
            .filter(|l| !(l.starts_with("_xmpp-client._tcp") && l.contains("imp2")))
            // Jabber discovery of IM&P: an alias of a name that does not exist.
            .filter(|l| !l.starts_with("_cuplogin._tcp"))
            // CUCM's name: an alias in a loop, as a botched rename leaves it.
            .filter(|l| !l.starts_with("cucm "))
            .map(String::from)
            .collect();
        out.push("_cuplogin._tcp CNAME gone.lab.test.".into());
        out.push("cucm CNAME cucm-old.lab.test.".into());
        out.push("cucm-old CNAME cucm.lab.test.".into());
        out.join("\n")
    });
    let r = run_dns(&lab).await;
    let client = find(&r, "dns.srv.xmpp-client", "_xmpp-client._tcp.lab.test");
    assert_eq!(client.status, Status::Warn, "{}", client.message);
    assert!(client.message.contains("imp2.lab.test missing"));

    // Knot answers the loop with both CNAMEs and NOERROR; the resolver library, after
    // following it, says only "no records": the loop is named, not NODATA.
    let cucm = find(&r, "dns.node", "cucm.lab.test");
    assert_eq!(cucm.status, Status::Fail, "{}", cucm.message);
    assert_eq!(
        cucm.message,
        "cucm.lab.test: cucm.lab.test is an alias in a CNAME loop (cucm.lab.test → cucm-old.lab.test → cucm.lab.test): it never reaches a name with records"
    );
    let fix = cucm.remediation.as_deref().unwrap();
    assert!(fix.starts_with("Break the CNAME loop"), "{fix}");
    assert!(!fix.contains("Add an A"), "{fix}");

    let cup = find(&r, "dns.srv.cuplogin", "_cuplogin._tcp.lab.test");
    assert_eq!(cup.status, Status::Fail, "{}", cup.message);
    assert_eq!(
        cup.message,
        "_cuplogin._tcp.lab.test: _cuplogin._tcp.lab.test is an alias (CNAME _cuplogin._tcp.lab.test → gone.lab.test), and gone.lab.test does not exist (NXDOMAIN)"
    );
    let fix = cup.remediation.as_deref().unwrap();
    assert!(
        fix.starts_with(
            "_cuplogin._tcp.lab.test is an alias of gone.lab.test, which does not exist"
        ),
        "{fix}"
    );

    lab.stop("dns");
    let r = run_dns(&lab).await;
    let node = find(&r, "dns.node", "imp1.lab.test");
    assert_eq!(node.status, Status::Fail);
    let m = node.message.to_lowercase();
    assert!(
        m.contains("did not answer") || m.contains("no reply"),
        "{}",
        node.message
    );
    assert!(!m.contains("nxdomain"), "{}", node.message);
}

/// The lab's spec with `remote_access = true`, written into `dir`.
fn with_remote_access(lab: &Lab, dir: &Path) -> std::path::PathBuf {
    harness::spec_variant(lab, dir, |text| {
        text.replacen(
            "workflow = \"C\"",
            "workflow = \"C\"\nremote_access = true",
            1,
        )
    })
}

#[tokio::test]
async fn federation_server_and_remote_access_records() {
    let lab = Lab::isolated();
    let dir = tempfile::tempdir().unwrap();
    let remote = with_remote_access(&lab, dir.path());
    // The lab publishes no _collab-edge._tls: with remote access in the spec, that fails.
    let r = run_spec(&remote).await;
    let edge = find(&r, "dns.srv.collab-edge", "_collab-edge._tls.lab.test");
    assert_eq!(edge.status, Status::Fail, "{}", edge.message);
    assert!(
        edge.message
            .contains("_collab-edge._tls.lab.test does not exist (NXDOMAIN)"),
        "{}",
        edge.message
    );
    assert!(
        edge.remediation.as_deref().unwrap().contains("task C.10"),
        "{edge:?}"
    );
    // Without remote access it is not planned at all.
    assert!(!run_dns(&lab)
        .await
        .iter()
        .any(|r| r.key.id == "dns.srv.collab-edge"));

    // Expressway-E records: one target resolves, one does not.
    lab.edit_zone("lab.test", |z| {
        format!(
            "{z}\n_collab-edge._tls SRV 10 0 8443 edge.lab.test.\n_collab-edge._tls SRV 20 0 8443 ghost.lab.test.\nedge A {}\n",
            lab.ip(9)
        )
    });
    // partner.test loses its s2s record; lab.test's s2s record gets a stranger.
    lab.edit_zone("partner.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_xmpp-server"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .map(|l| {
                if l.starts_with("_xmpp-server._tcp ") && l.contains("imp2") {
                    l.replace("imp2.lab.test.", "xmpp.partner.test.")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = run_spec(&remote).await;
    let edge = find(&r, "dns.srv.collab-edge", "_collab-edge._tls.lab.test");
    assert_eq!(edge.status, Status::Fail, "{}", edge.message);
    assert!(
        edge.message
            .contains("target ghost.lab.test does not resolve"),
        "{}",
        edge.message
    );
    assert!(
        !edge.message.contains("edge.lab.test does not"),
        "{}",
        edge.message
    );
    assert_eq!(
        ev(edge, "records"),
        "10 0 8443 edge.lab.test.; 20 0 8443 ghost.lab.test."
    );

    let fed = find(&r, "dns.srv.federation", "partner.test");
    assert_eq!(fed.status, Status::Fail, "{}", fed.message);
    assert!(
        fed.message
            .contains("_xmpp-server._tcp.partner.test does not exist (NXDOMAIN)"),
        "{}",
        fed.message
    );
    assert!(
        fed.remediation.as_deref().unwrap().contains("task C.14"),
        "{fed:?}"
    );

    let s2s = find(&r, "dns.srv.xmpp-server", "_xmpp-server._tcp.lab.test");
    assert_eq!(s2s.status, Status::Fail, "{}", s2s.message);
    assert!(
        s2s.message
            .contains("xmpp.partner.test is not a node of the deployment"),
        "{}",
        s2s.message
    );
    assert!(
        s2s.message.contains("imp2.lab.test missing"),
        "{}",
        s2s.message
    );
    assert_eq!(
        ev(s2s, "records"),
        "10 0 5269 imp1.lab.test.; 20 0 5269 xmpp.partner.test."
    );

    // The ghost goes: remote access passes. The partner now says "no s2s here" (".").
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .filter(|l| !l.contains("ghost"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    lab.edit_zone("partner.test", |z| {
        format!("{z}\n_xmpp-server._tcp SRV 0 0 0 .\n")
    });
    let r = run_spec(&remote).await;
    let edge = find(&r, "dns.srv.collab-edge", "_collab-edge._tls.lab.test");
    assert_eq!(edge.status, Status::Pass, "{}", edge.message);
    let fed = find(&r, "dns.srv.federation", "partner.test");
    assert_eq!(fed.status, Status::Fail, "{}", fed.message);
    assert!(
        fed.message
            .contains("target \".\" says the service is not offered"),
        "{}",
        fed.message
    );
    assert!(!fed.message.contains("not a node"), "{}", fed.message);
}

#[tokio::test]
async fn large_answers_come_over_tcp_and_a_wrong_address_fails() {
    let lab = Lab::isolated();
    // One resolver for the whole test, as one run (with --retry-for) has: an absence it
    // saw is not remembered once the record is published.
    let resolver = Resolver::from_spec(&Spec::load(&lab.spec()).unwrap());
    let e = resolver.lookup_srv("_big._tcp.lab.test").await.unwrap_err();
    assert!(matches!(e, DnsError::NxDomain { .. }), "{e:?}");
    let long =
        |i: usize| format!("a-rather-long-host-name-that-fills-the-datagram-{i:02}.lab.test.");
    lab.edit_zone("lab.test", |z| {
        let mut out = String::new();
        for l in z.lines() {
            if l.starts_with("imp1 ") {
                // imp1 moves to an address the spec does not give.
                out.push_str(&format!("imp1            A     {}\n", lab.ip(9)));
            } else {
                out.push_str(l);
                out.push('\n');
            }
        }
        for i in 0..60 {
            out.push_str(&format!("_big._tcp SRV 10 {i} 5222 {}\n", long(i)));
        }
        out
    });
    let cucm_n = lab.base + 4;
    lab.edit_zone("0.0.127.in-addr.arpa", |z| {
        let mut out = z.to_string();
        for i in 0..30 {
            out.push_str(&format!("\n{cucm_n} PTR {}", long(i)));
        }
        out
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Far more than a datagram holds (about 4 KB): the answer came over TCP.
    let srv = resolver.lookup_srv("_big._tcp.lab.test").await.unwrap();
    assert_eq!(srv.len(), 60);
    assert_eq!(srv[0].target, long(0).trim_end_matches('.'));
    // PTR is asked directly, without EDNS (512 bytes): 31 names (~2 KB) only over TCP.
    let names = resolver.reverse(lab.ip(4)).await.unwrap();
    assert_eq!(names.len(), 31, "{names:?}");
    assert!(names.contains(&"cucm.lab.test".to_string()));

    let r = run_dns(&lab).await;
    let imp1 = find(&r, "dns.node", "imp1.lab.test");
    assert_eq!(imp1.status, Status::Fail, "{}", imp1.message);
    assert!(
        imp1.message.contains(&format!(
            "imp1.lab.test resolves to {}, not to {} as the spec says",
            lab.ip(9),
            lab.ip(2)
        )),
        "{}",
        imp1.message
    );
    assert!(
        imp1.remediation
            .as_deref()
            .unwrap()
            .contains("tasks C.1, C.10"),
        "{imp1:?}"
    );
    let cucm = find(&r, "dns.node", "cucm.lab.test");
    assert_eq!(cucm.status, Status::Pass, "{}", cucm.message);
}
