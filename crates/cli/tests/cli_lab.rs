//! `imp-verify` against the lab of real servers: every check passes on the healthy
//! lab, and the human, JSON and JUnit reports say so correctly.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::process::Command;

#[test]
fn check_spec_accepts_the_lab_specs() {
    let lab = Lab::shared();
    for spec in [lab.spec(), root().join("fixtures/specs/lab.toml")] {
        let out = imp_verify(&["check-spec", "--spec", spec.to_str().unwrap()]);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 0, "{o}{e}");
        assert!(o.contains("valid (workflow C: federation"), "{o}");
    }
}

#[test]
fn list_prints_the_table_and_the_plan_for_a_spec() {
    let out = imp_verify(&["list", "--catalog"]);
    let (o, _) = text(&out);
    assert_eq!(code(&out), 0);
    for id in ["services.port", "dns.node"] {
        assert!(
            o.lines().any(|l| l.starts_with(id)),
            "{id} missing from:\n{o}"
        );
    }
    assert!(o.contains("A.2 A.9 B.2 B.10 C.2 C.10"), "{o}");

    let lab = Lab::shared();
    let out = imp_verify(&["list", "--spec", lab.spec().to_str().unwrap()]);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 0, "{e}");
    assert!(o.contains("for workflow C (federation)"), "{o}");
    assert!(o.contains("imp1.lab.test:5222 (xmpp-c2s)"), "{o}");
    assert!(o.contains("ldap.lab.test:636 (ldaps)"), "{o}");
    // CUCM's services in the lab spec are SIP over TCP (the presence gateway) and HTTPS
    // (the stand-in for its User Data Services), not SIP over TLS.
    assert!(o.contains("cucm.lab.test:5060 (sip-tcp)"), "{o}");
    assert!(o.contains("cucm.lab.test:8443 (https)"), "{o}");
    assert!(!o.contains("cucm.lab.test:5061"), "{o}");
}

#[test]
fn all_passes_on_the_lab_with_consistent_reports_and_no_secret_anywhere() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("report.json");
    let junit_path = dir.path().join("junit.xml");
    let out = imp_verify(&[
        "all",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
        "--junit",
        junit_path.to_str().unwrap(),
        "--color",
        "never",
    ]);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 0, "stdout:\n{o}\nstderr:\n{e}");

    // Human report: grouped by task, a line a check, a summary, no colour escapes.
    assert!(o.contains("\nC.1  Install\n"), "{o}");
    assert!(o.contains("\nC.2  Activate feature services\n"), "{o}");
    assert!(o.contains("PASS"), "{o}");
    assert!(!o.contains("FAIL"), "{o}");
    assert!(!o.contains('\u{1b}'), "colour codes with --color never");

    // JSON: every check passed, the counts add up.
    let report = json(&json_path);
    let all = report["checks"].as_array().unwrap();
    assert!(!all.is_empty());
    for c in all {
        assert_eq!(c["status"], "pass", "{c}");
        assert!(c["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_str().unwrap().starts_with("C.")));
    }
    assert_eq!(
        report["summary"]["total"].as_u64().unwrap() as usize,
        all.len()
    );
    assert_eq!(
        report["summary"]["pass"].as_u64().unwrap() as usize,
        all.len()
    );
    assert!(
        o.contains(&format!(
            "{n} check(s): {n} passed, 0 warned, 0 failed, 0 skipped",
            n = all.len()
        )),
        "{o}"
    );
    let ports = checks(&report, "services.port");
    // imp1 and imp2: c2s, s2s, sip-tcp, sip-tls; cucm: sip-tcp, https; ldap: 636 and 389.
    assert_eq!(ports.len(), 12, "{ports:?}");
    let nodes = checks(&report, "dns.node");
    assert_eq!(nodes.len(), 3, "{nodes:?}");

    // JUnit: a real JUnit parser reads the same counts.
    let script = r#"
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
cases = fail = skip = 0
for suite in xml:
    for case in suite:
        cases += 1
        for r in case.result:
            kind = type(r).__name__
            if kind in ("Failure", "Error"): fail += 1
            if kind == "Skipped": skip += 1
print(cases, fail, skip)
"#;
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&junit_path)
        .output()
        .expect("python3 runs");
    assert!(
        py.status.success(),
        "junitparser failed (scripts/setup installs it): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let counts = String::from_utf8_lossy(&py.stdout).trim().to_string();
    assert_eq!(counts, format!("{} 0 0", all.len()));

    // No password of the lab in any output.
    let outputs = [
        o,
        e,
        std::fs::read_to_string(&json_path).unwrap(),
        std::fs::read_to_string(&junit_path).unwrap(),
    ];
    assert!(lab.all_secrets().len() >= 5, "the lab wrote its passwords");
    for out in &outputs {
        lab.assert_no_secret_in(out);
    }
}
