//! `imp-verify` when the deployment is broken: each check fails for its own reason,
//! a silent server cannot hang a run, the deadline bounds it, Ctrl-C still writes
//! the reports. Faults are injected into a lab of the test's own (`Lab::isolated`),
//! never into the shared one.

mod common;
use common::*;
use imp_verify_testlab::Lab;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A spec whose only DNS server is `dns` (asked with `query_timeout`) and whose one
/// node is resolved through it.
fn spec_with_dns(dir: &Path, dns: &str, query_timeout: &str) -> std::path::PathBuf {
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            r#"workflow = "A"
domains = ["example.test"]
[dns]
servers = ["{dns}"]
timeout = "{query_timeout}"
[[clusters]]
name = "c"
domain = "example.test"
[[clusters.nodes]]
fqdn = "imp1.example.test"
role = "imp"
"#
        ),
    )
    .unwrap();
    spec
}

/// A UDP "DNS server" on loopback that reads queries and never answers.
fn silent_dns() -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.9:0").expect("bind a loopback UDP socket");
    let addr = sock.local_addr().unwrap().to_string();
    (sock, addr)
}

#[test]
fn a_closed_port_fails_services_port_for_that_endpoint_only() {
    let lab = Lab::isolated();
    lab.stop("imp2-xmpp");
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("r.json");
    let out = imp_verify(&[
        "services",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 1, "{o}{e}");
    let report = json(&json_path);
    for c in checks(&report, "services.port") {
        let target = c["target"].as_str().unwrap();
        if target.starts_with("imp2.lab.test:5222") || target.starts_with("imp2.lab.test:5269") {
            assert_eq!(c["status"], "fail", "{c}");
            let msg = c["message"].as_str().unwrap();
            assert!(msg.contains("connection refused"), "{msg}");
            assert!(
                c["remediation"].as_str().unwrap().contains("Cisco XCP"),
                "{c}"
            );
            assert_eq!(c["tasks"], serde_json::json!(["C.2", "C.10"]));
        } else {
            assert_eq!(c["status"], "pass", "{c}");
        }
    }
    assert!(o.contains("FAIL"), "{o}");
}

#[test]
fn a_silent_dns_server_fails_within_the_timeout_and_blocks_the_port_check() {
    let (_sock, addr) = silent_dns();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_with_dns(dir.path(), &addr, "500ms");
    let json_path = dir.path().join("r.json");
    let started = Instant::now();
    let out = imp_verify(&[
        "all",
        "--spec",
        spec.to_str().unwrap(),
        "--timeout",
        "3s",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    let (o, e) = text(&out);
    assert_eq!(code(&out), 1, "{o}{e}");
    // Bounded by the check timeout, with room for a slow machine; a hang would not end.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let report = json(&json_path);
    let node = checks(&report, "dns.node");
    assert_eq!(node.len(), 1);
    assert_eq!(node[0]["status"], "fail", "{}", node[0]);
    let msg = node[0]["message"].as_str().unwrap().to_lowercase();
    assert!(msg.contains("imp1.example.test"), "{msg}");
    assert!(
        msg.contains("answer") || msg.contains("timed out") || msg.contains("timeout"),
        "{msg}"
    );
    // The port checks could not run: skipped, naming the failed prerequisite.
    for c in checks(&report, "services.port") {
        assert_eq!(c["status"], "skip", "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("blocked by dns.node [imp1.example.test], which failed"),
            "{c}"
        );
    }
}

#[test]
fn the_global_deadline_bounds_a_run() {
    let (_sock, addr) = silent_dns();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_with_dns(dir.path(), &addr, "10m");
    let json_path = dir.path().join("r.json");
    let started = Instant::now();
    let out = imp_verify(&[
        "all",
        "--spec",
        spec.to_str().unwrap(),
        "--timeout",
        "10m",
        "--deadline",
        "1s",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{:?}", text(&out));
    assert!(
        took < Duration::from_secs(60),
        "the deadline did not end the run: {took:?}"
    );
    let report = json(&json_path);
    assert_eq!(report["stopped"], "deadline");
    let node = checks(&report, "dns.node");
    let msg = node[0]["message"].as_str().unwrap();
    assert_eq!(node[0]["status"], "fail");
    assert!(
        msg.contains("did not finish before the run deadline (1s)"),
        "{msg}"
    );
    // The port check waited on it and never ran.
    for c in checks(&report, "services.port") {
        assert_eq!(c["status"], "skip", "{c}");
        assert!(c["message"].as_str().unwrap().contains("deadline"), "{c}");
    }
}

#[test]
fn ctrl_c_stops_the_run_writes_the_reports_and_exits_3() {
    let (_sock, addr) = silent_dns();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_with_dns(dir.path(), &addr, "10m");
    let json_path = dir.path().join("r.json");
    let junit_path = dir.path().join("j.xml");
    let child = Command::new(bin())
        .args([
            "all",
            "--spec",
            spec.to_str().unwrap(),
            "--timeout",
            "10m",
            "--json",
            json_path.to_str().unwrap(),
            "--junit",
            junit_path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let report = json(&json_path);
    assert_eq!(report["stopped"], "interrupted");
    let node = checks(&report, "dns.node");
    assert_eq!(node[0]["status"], "skip");
    assert!(node[0]["message"].as_str().unwrap().contains("interrupted"));
    assert!(
        junit_path.exists(),
        "the JUnit report is written on Ctrl-C too"
    );
}

#[test]
fn a_removed_record_fails_dns_node_naming_the_name_and_the_resolver() {
    let lab = Lab::isolated();
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("imp2 "))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("r.json");
    let out = imp_verify(&[
        "dns",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--only",
        "dns.node",
        "--json",
        json_path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{:?}", text(&out));
    let report = json(&json_path);
    for c in checks(&report, "dns.node") {
        if c["target"] == "imp2.lab.test" {
            assert_eq!(c["status"], "fail", "{c}");
            let msg = c["message"].as_str().unwrap();
            assert!(
                msg.contains("imp2.lab.test does not exist (NXDOMAIN)"),
                "{msg}"
            );
            let evidence = c["evidence"].to_string();
            assert!(
                evidence.contains(&format!("{}:53", lab.ip(0))),
                "{evidence}"
            );
            assert!(c["remediation"]
                .as_str()
                .unwrap()
                .contains("Add an A (or AAAA) record for imp2.lab.test"));
        } else {
            assert_eq!(c["status"], "pass", "{c}");
        }
    }
}
