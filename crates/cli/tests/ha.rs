//! `imp-verify ha`: the high-availability checks as one named selection, against the
//! lab's two IM&P nodes in one presence redundancy group.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::collections::BTreeSet;

/// (id, target) of every check of a JSON report, with its status.
fn results(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["target"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn ha_runs_the_high_availability_checks_and_passes_on_the_healthy_lab() {
    let lab = Lab::shared();
    let run = run_json(&["ha", "--spec", lab.spec().to_str().unwrap()]);
    let o = &run.out;
    assert_eq!(run.code, 0, "{o}");
    let r = results(&run.report);
    let ids: BTreeSet<&str> = r.iter().map(|(id, _, _)| id.as_str()).collect();
    // Exactly the HA selection and its prerequisites: no LDAP, TLS, SIP OPTIONS...
    assert_eq!(
        ids,
        BTreeSet::from([
            "services.port",
            "dns.srv.xmpp-client",
            "dns.srv.sip-trunk",
            "xmpp.connect",
            "xmpp.ha",
        ]),
        "{o}"
    );
    for (id, target, status) in &r {
        assert_eq!(status, "pass", "{id} [{target}]\n{o}");
    }
    // Every service port of both nodes of the group, and nothing of the directory or CUCM.
    let ports: BTreeSet<&str> = r
        .iter()
        .filter(|(id, _, _)| id == "services.port")
        .map(|(_, t, _)| t.as_str())
        .collect();
    for node in ["imp1.lab.test", "imp2.lab.test"] {
        for p in [
            "5222 (xmpp-c2s)",
            "5269 (xmpp-s2s)",
            "5060 (sip-tcp)",
            "5061 (sip-tls)",
        ] {
            assert!(ports.contains(format!("{node}:{p}").as_str()), "{ports:?}");
        }
    }
    assert_eq!(ports.len(), 8, "{ports:?}");
    // Each test user logs in on the peer of its home node; all three trunk records.
    assert_eq!(r.iter().filter(|(id, _, _)| id == "xmpp.ha").count(), 4);
    assert_eq!(
        r.iter()
            .filter(|(id, _, _)| id == "dns.srv.sip-trunk")
            .count(),
        3
    );
    // --skip still narrows it.
    let out = imp_verify(&[
        "ha",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--skip",
        "xmpp.*",
    ]);
    let (o, _) = text(&out);
    assert_eq!(code(&out), 0, "{o}");
    assert!(!o.contains("xmpp.ha"), "{o}");
    assert!(o.contains("dns.srv.sip-trunk"), "{o}");
}

#[test]
fn ha_fails_naming_the_stopped_redundancy_peer() {
    let lab = Lab::isolated();
    lab.stop("imp2-xmpp");
    let run = run_json(&["ha", "--spec", lab.spec().to_str().unwrap()]);
    let o = &run.out;
    assert_eq!(run.code, 1, "{o}");
    let r = results(&run.report);
    let status = |id: &str, target: &str| {
        r.iter()
            .find(|(i, t, _)| i == id && t == target)
            .unwrap_or_else(|| panic!("{id} [{target}] not in the report:\n{o}"))
            .2
            .clone()
    };
    // The peer's XMPP port is the failure, named.
    assert_eq!(
        status("services.port", "imp2.lab.test:5222 (xmpp-c2s)"),
        "fail"
    );
    assert_eq!(
        status("services.port", "imp2.lab.test:5269 (xmpp-s2s)"),
        "fail"
    );
    assert!(
        o.contains("FAIL services.port        imp2.lab.test:5222"),
        "the failure names the stopped node:\n{o}"
    );
    // The users whose failover target is imp2 cannot fail over: skipped, naming why.
    assert_eq!(status("xmpp.ha", "alice on imp2.lab.test"), "skip");
    // The other direction still works, and imp1 and its SIP side are fine.
    assert_eq!(status("xmpp.ha", "carol on imp1.lab.test"), "pass");
    assert_eq!(
        status("services.port", "imp1.lab.test:5222 (xmpp-c2s)"),
        "pass"
    );
    assert_eq!(
        status("services.port", "imp2.lab.test:5060 (sip-tcp)"),
        "pass"
    );
    let failed: BTreeSet<&str> = r
        .iter()
        .filter(|(_, _, s)| s == "fail")
        .map(|(_, t, _)| t.as_str())
        .collect();
    assert!(
        failed.iter().all(|t| t.starts_with("imp2.lab.test")),
        "{failed:?}"
    );
}
