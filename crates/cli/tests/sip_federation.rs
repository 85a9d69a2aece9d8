//! SIP federation (task C.14) against the lab's federated SIP domain `sipfed.test` (a
//! Kamailio demanding mutual TLS on 5061, server `partner-sip`): the records, mutual TLS
//! with the peer, and an OPTIONS crossing each way pass on the healthy lab, and fail for
//! their own reasons on a missing record, a stopped peer and a wrong peer subject.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::path::Path;

const SELECTION: [&str; 6] = [
    "--only",
    "sip.federation*",
    "--only",
    "dns.srv.sipfederationtls",
    "--only",
    "dns.srv.sip-federation",
];

/// Runs the SIP federation checks of `spec`; returns the exit code and the JSON report.
fn run(spec: &Path) -> (i32, serde_json::Value, String) {
    let mut args = vec!["all", "--spec", spec.to_str().unwrap()];
    args.extend(SELECTION);
    args.extend(["--color", "never"]);
    let r = run_json(&args);
    (r.code, r.report, r.out)
}

fn one<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    let c = checks(report, id);
    assert_eq!(c.len(), 1, "{id}: {c:?}");
    c[0]
}

fn evidence<'a>(check: &'a serde_json::Value, key: &str) -> &'a str {
    check["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == key)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no evidence {key} in {check}"))
}

#[test]
fn the_healthy_lab_federates_over_sip_both_ways() {
    let lab = Lab::shared();
    let (code, r, out) = run(&lab.spec());
    assert_eq!(code, 0, "{out}");
    let all = r["checks"].as_array().unwrap();
    // Two records, mutual TLS, one crossing out through each IM&P node, one back in,
    // and the refusals of each IM&P node's federation port.
    assert_eq!(all.len(), 8, "{out}");
    for c in all {
        assert_eq!(c["status"], "pass", "{c}");
        assert_eq!(c["tasks"][0], "C.14", "{c}");
    }
    let local = one(&r, "dns.srv.sipfederationtls");
    assert_eq!(local["target"], "_sipfederationtls._tcp.lab.test");
    assert!(
        evidence(local, "records").contains("5061 imp1.lab.test.")
            && evidence(local, "records").contains("5061 imp2.lab.test."),
        "{local}"
    );
    assert_eq!(one(&r, "dns.srv.sip-federation")["target"], "sipfed.test");

    let tls = one(&r, "sip.federation-tls");
    assert!(
        evidence(tls, "without_client_certificate").starts_with("refused"),
        "the peer demands a client certificate: {tls}"
    );
    assert!(
        evidence(tls, "subject").contains("CN=sip.sipfed.test"),
        "{tls}"
    );

    let out_checks = checks(&r, "sip.federation-out");
    let targets: Vec<&str> = out_checks
        .iter()
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    for c in out_checks {
        // Answered by the peer's software, not by the IM&P node it was handed to.
        assert_eq!(evidence(c, "status_line"), "SIP/2.0 200 OK", "{c}");
        assert_eq!(evidence(c, "answered_by"), "lab-sipfed-sip", "{c}");
        assert!(evidence(c, "hop_server").starts_with("lab-imp-sip"), "{c}");
    }
    let back = one(&r, "sip.federation-in");
    assert_eq!(back["target"], "sipfed.test -> lab.test");
    assert!(
        evidence(back, "answered_by").starts_with("lab-imp-sip"),
        "{back}"
    );
    assert_eq!(evidence(back, "hop_server"), "lab-sipfed-sip", "{back}");
    lab.assert_no_secret_in(&out);
}

#[test]
fn a_wrong_peer_subject_fails_the_tls_check_naming_the_subject_seen() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    let text = std::fs::read_to_string(lab.spec()).unwrap();
    let wrong = text.replace(
        "tls_peer_subjects = [\"sip.sipfed.test\"]",
        "tls_peer_subjects = [\"edge.sipfed.test\"]",
    );
    assert_ne!(wrong, text);
    std::fs::write(&spec, wrong).unwrap();
    let (code, r, out) = run(&spec);
    assert_eq!(code, 1, "{out}");
    let tls = one(&r, "sip.federation-tls");
    assert_eq!(tls["status"], "fail", "{tls}");
    let msg = tls["message"].as_str().unwrap();
    assert!(msg.contains("CN sip.sipfed.test"), "{msg}");
    assert!(msg.contains("edge.sipfed.test"), "{msg}");
    assert!(
        tls["remediation"].as_str().unwrap().contains("(task C.14)"),
        "{tls}"
    );
    // The crossing back goes through the peer's TLS: skipped, naming the check.
    let back = one(&r, "sip.federation-in");
    assert_eq!(back["status"], "skip", "{back}");
    assert!(back["message"]
        .as_str()
        .unwrap()
        .contains("sip.federation-tls [sipfed.test]"));
    // IM&P's own route to the peer still works: its crossing passes.
    for c in checks(&r, "sip.federation-out") {
        assert_eq!(c["status"], "pass", "{c}");
    }
}

#[test]
fn a_missing_record_and_a_stopped_peer_fail_for_their_own_reasons() {
    let lab = Lab::isolated();

    // No _sipfederationtls._tcp.lab.test: federated domains cannot find IM&P.
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_sipfederationtls._tcp"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let (code, r, out) = run(&lab.spec());
    assert_eq!(code, 1, "{out}");
    let dns = one(&r, "dns.srv.sipfederationtls");
    assert_eq!(dns["status"], "fail", "{dns}");
    assert!(
        dns["message"]
            .as_str()
            .unwrap()
            .starts_with("_sipfederationtls._tcp.lab.test: "),
        "{dns}"
    );
    let fix = dns["remediation"].as_str().unwrap();
    assert!(
        fix.contains("Publish the SRV records _sipfederationtls._tcp.lab.test")
            && fix.contains("imp1.lab.test:5061")
            && fix.contains("task C.14"),
        "{fix}"
    );
    let back = one(&r, "sip.federation-in");
    assert_eq!(back["status"], "skip", "{back}");
    assert!(
        back["message"]
            .as_str()
            .unwrap()
            .contains("dns.srv.sipfederationtls [_sipfederationtls._tcp.lab.test]"),
        "{back}"
    );
    for id in [
        "dns.srv.sip-federation",
        "sip.federation-tls",
        "sip.federation-out",
    ] {
        for c in checks(&r, id) {
            assert_eq!(c["status"], "pass", "{c}");
        }
    }

    // The federated SIP domain's edge stopped (records back).
    lab.edit_zone("lab.test", |z| {
        format!(
            "{z}\n_sipfederationtls._tcp SRV 10 10 5061 imp1.lab.test.\n_sipfederationtls._tcp SRV 10 10 5061 imp2.lab.test.\n"
        )
    });
    lab.stop("partner-sip");
    let (code, r, out) = run(&lab.spec());
    assert_eq!(code, 1, "{out}");
    assert_eq!(one(&r, "dns.srv.sipfederationtls")["status"], "pass");
    let tls = one(&r, "sip.federation-tls");
    assert_eq!(tls["status"], "fail", "{tls}");
    let msg = tls["message"].as_str().unwrap();
    assert!(
        msg.starts_with("sipfed.test: ") && msg.contains("sip.sipfed.test:5061"),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    // IM&P is still asked: it answers with its own failure, which the evidence carries.
    let outs = checks(&r, "sip.federation-out");
    assert_eq!(outs.len(), 2);
    for c in outs {
        assert_eq!(c["status"], "fail", "{c}");
        assert!(
            c["message"].as_str().unwrap().contains("sipfed.test"),
            "{c}"
        );
        let line = evidence(c, "status_line");
        assert!(
            line.starts_with("SIP/2.0 4") || line.starts_with("SIP/2.0 5"),
            "{line}"
        );
        assert!(evidence(c, "answered_by").starts_with("lab-imp-sip"), "{c}");
    }
    let back = one(&r, "sip.federation-in");
    assert_eq!(back["status"], "skip", "{back}");
    assert!(
        back["message"]
            .as_str()
            .unwrap()
            .contains("blocked by sip.federation-tls [sipfed.test], which failed"),
        "{back}"
    );
}

#[test]
fn a_missing_peer_record_an_unreachable_imp_and_default_server_headers() {
    let lab = Lab::isolated();

    // The federated domain publishes no _sipfederationtls._tcp: IM&P cannot find it.
    lab.edit_zone("sipfed.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_sipfederationtls._tcp"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let (code, r, out) = run(&lab.spec());
    assert_eq!(code, 1, "{out}");
    let dns = one(&r, "dns.srv.sip-federation");
    assert_eq!(dns["status"], "fail", "{dns}");
    assert!(
        dns["message"]
            .as_str()
            .unwrap()
            .contains("_sipfederationtls._tcp.sipfed.test"),
        "{dns}"
    );
    assert!(
        dns["remediation"].as_str().unwrap().contains("C.14"),
        "{dns}"
    );
    lab.edit_zone("sipfed.test", |z| {
        format!("{z}\n_sipfederationtls._tcp SRV 10 0 5061 sip.sipfed.test.\n")
    });

    // Both IM&P nodes' SIP stopped: the peer takes the inbound OPTIONS over mutual TLS
    // but cannot route it to IM&P; its own answer is the evidence.
    lab.stop("imp1-sip");
    lab.stop("imp2-sip");
    let (code, r, out) = run(&lab.spec());
    assert_eq!(code, 1, "{out}");
    assert_eq!(one(&r, "sip.federation-tls")["status"], "pass", "{out}");
    let back = one(&r, "sip.federation-in");
    assert_eq!(back["status"], "fail", "{back}");
    let line = evidence(back, "status_line");
    assert!(
        line.starts_with("SIP/2.0 4") || line.starts_with("SIP/2.0 5"),
        "{line}"
    );
    assert_eq!(evidence(back, "answered_by"), "lab-sipfed-sip", "{back}");
    assert!(
        back["message"]
            .as_str()
            .unwrap()
            .contains("sip.sipfed.test answers an OPTIONS for lab.test with"),
        "{back}"
    );
    lab.start("imp1-sip");
    lab.start("imp2-sip");

    // Kamailio as it comes (no server_header of the lab's own) on both sides: the same
    // Server everywhere, so nothing tells the peer's 200 from IM&P's own. The crossings
    // still happen; the checks say they are not proven, they do not fail.
    for conf in [
        "imp1-sip/kamailio.cfg",
        "imp2-sip/kamailio.cfg",
        "partner-sip/kamailio.cfg",
    ] {
        lab.edit_conf(conf, |t| {
            t.lines()
                .filter(|l| !l.starts_with("server_header="))
                .collect::<Vec<_>>()
                .join("\n")
        });
    }
    for s in ["imp1-sip", "imp2-sip", "partner-sip"] {
        lab.stop(s);
        lab.start(s);
    }
    let (code, r, out) = run(&lab.spec());
    assert_eq!(code, 0, "warnings only: {out}");
    let mut crossings = checks(&r, "sip.federation-out");
    crossings.push(one(&r, "sip.federation-in"));
    for c in crossings {
        assert_eq!(c["status"], "warn", "{c}");
        assert!(evidence(c, "answered_by").starts_with("kamailio ("), "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("runs the same software"),
            "{c}"
        );
    }
}
