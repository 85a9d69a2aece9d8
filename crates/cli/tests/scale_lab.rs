//! The lab's scale profile (`IMPV_LAB_SCALE=CxN`, fixtures/lab/scale.sh) at its smallest
//! that still has intercluster peers: two clusters of two IM&P nodes, each node its own
//! address and certificate, one Kamailio per cluster on both its nodes' addresses. The
//! large shapes (5x6, 20x6) are measured by `scripts/bench --scale`, not tested here.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::collections::BTreeMap;

/// How many checks of each id a report holds, and those that did not pass.
fn tally(report: &serde_json::Value) -> (BTreeMap<String, usize>, Vec<String>) {
    let mut counts = BTreeMap::new();
    let mut not_passed = Vec::new();
    for c in report["checks"].as_array().expect("checks") {
        let id = c["id"].as_str().unwrap().to_string();
        *counts.entry(id.clone()).or_insert(0) += 1;
        if c["status"] != "pass" {
            not_passed.push(format!(
                "{id} [{}] {}: {}",
                c["target"].as_str().unwrap(),
                c["status"],
                c["message"]
            ));
        }
    }
    (counts, not_passed)
}

#[test]
fn two_clusters_of_two_nodes_pass_and_a_stopped_node_fails_only_its_own_checks() {
    let lab = Lab::isolated_scale("2x2");
    let spec = lab.spec();
    let run = run_json(&["all", "--spec", spec.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.out);
    let (counts, not_passed) = tally(&run.report);
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    // The deployment's shape, check by check: 4 IM&P nodes and 2 CUCMs.
    for (id, n) in [
        ("dns.node", 6),              // 4 nodes and 2 CUCMs
        ("xmpp.connect", 4),          // each node
        ("tls.chain", 4 * 3 + 2),     // c2s, s2s and SIP TLS of each node; LDAPS, StartTLS
        ("sip.options", 4 * 3),       // UDP, TCP and TLS of each node
        ("sip.presence-e2e", 4),      // each node's TLS endpoint
        ("dns.srv.sip-trunk", 2 * 3), // each cluster's trunk, per transport
        ("xmpp.login", 4),            // two test users a cluster
        ("xmpp.ha", 4),               // each on the peer node of its group
        ("xmpp.intercluster", 1),     // c01 with c02
        ("sip.presence-gateway", 2),  // each cluster's CUCM
    ] {
        assert_eq!(counts.get(id), Some(&n), "{id}: {counts:?}");
    }

    // Cluster c02's first node stops serving XMPP: its own checks and the intercluster
    // pair fail or are skipped naming it; cluster c01's pass.
    lab.stop("c02-imp1-xmpp");
    let Run {
        code,
        report: r,
        out: o,
    } = run_json(&["all", "--spec", spec.to_str().unwrap()]);
    assert_eq!(code, 1, "{o}");
    for c in r["checks"].as_array().unwrap() {
        let (id, target, status) = (
            c["id"].as_str().unwrap(),
            c["target"].as_str().unwrap(),
            c["status"].as_str().unwrap(),
        );
        let about_c02_imp1 = target.contains("imp1.c02.lab.test")
            || (id == "xmpp.intercluster" && target.contains("c02"));
        if about_c02_imp1 && id.starts_with("xmpp.") {
            assert_ne!(
                status, "pass",
                "{id} [{target}] passed with the node stopped\n{o}"
            );
        } else if target.contains("c01") && !target.contains("c02") {
            assert_eq!(status, "pass", "{id} [{target}] is cluster c01's\n{o}");
        }
    }
    let port = checks(&r, "services.port")
        .into_iter()
        .find(|c| {
            c["target"]
                .as_str()
                .unwrap()
                .starts_with("imp1.c02.lab.test:5222")
        })
        .expect("c02's imp1 c2s port is checked");
    assert_eq!(port["status"], "fail", "{port}");
    assert!(
        port["message"].as_str().unwrap().contains("refused"),
        "the reason names the refusal: {port}"
    );
    lab.start("c02-imp1-xmpp");
}
