//! The reports, from hand-made events: the human report is snapshot-tested; the JSON
//! and JUnit documents are checked field by field (JUnit also by a real JUnit parser).

use imp_verify_core::event::{CheckInfo, RunInfo, RunSummary, StopReason};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{catalog, CheckKey, CheckResult, Counts, Event, Outcome, Status};
use imp_verify_report::{
    Analysis, HumanOptions, HumanReporter, JsonReporter, JunitReporter, ReportContext, Reporter,
};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

fn result(id: &'static str, target: &str, outcome: Outcome, ms: u64) -> CheckResult {
    let def = catalog::check(id).unwrap();
    CheckResult {
        key: CheckKey::new(id, target),
        area: def.area,
        tasks: def.tasks_in(Workflow::C),
        outcome,
        duration: Duration::from_millis(ms),
        attempts: 1,
    }
}

fn events(results: Vec<CheckResult>, stopped: Option<StopReason>) -> Vec<Event> {
    let started_at = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let checks = results
        .iter()
        .map(|r| CheckInfo {
            key: r.key.clone(),
            area: r.area,
            tasks: r.tasks.clone(),
            description: "",
            depends_on: vec![],
        })
        .collect();
    let mut counts = Counts::default();
    for r in &results {
        counts.add(r.outcome.status);
    }
    let mut v = vec![Event::RunStarted(RunInfo {
        spec: PathBuf::from("fixtures/specs/lab.toml"),
        workflow: Workflow::C,
        started_at,
        checks,
        per_server: 8,
    })];
    for r in results.into_iter().rev() {
        v.push(Event::CheckStarted {
            key: r.key.clone(),
            at: Duration::from_millis(5),
        });
        v.push(Event::CheckFinished(r));
    }
    v.push(Event::RunFinished(RunSummary {
        counts,
        started_at,
        wall: Duration::from_millis(1234),
        stopped,
        auth: Default::default(),
        directory_auth: Default::default(),
    }));
    v
}

fn healthy() -> Vec<CheckResult> {
    vec![
        result(
            "dns.node",
            "imp1.lab.test",
            Outcome::pass("imp1.lab.test resolves to 127.0.0.22; the PTR names it")
                .with("addresses", "127.0.0.22"),
            3,
        ),
        result(
            "services.port",
            "imp1.lab.test:5222 (xmpp-c2s)",
            Outcome::pass("xmpp-c2s port 5222 accepts connections on 127.0.0.22:5222")
                .metric("connect_ms", 0.4),
            1,
        ),
    ]
}

fn broken() -> Vec<CheckResult> {
    vec![
        result(
            "dns.node",
            "imp2.lab.test",
            Outcome::fail("imp2.lab.test: imp2.lab.test does not exist (NXDOMAIN)", "Add an A (or AAAA) record for imp2.lab.test (tasks A.1, A.9)")
                .with("name", "imp2.lab.test")
                .with("resolver", "127.0.0.20:53"),
            4,
        ),
        result(
            "dns.node",
            "imp1.lab.test",
            Outcome::warn("imp1.lab.test resolves to 127.0.0.22, but the PTR of 127.0.0.22 names other.lab.test instead", "Correct the PTR record (task A.1)")
                .with("ptr", "127.0.0.22 -> other.lab.test"),
            2,
        ),
        result(
            "services.port",
            "imp2.lab.test:5222 (xmpp-c2s)",
            Outcome::skip("blocked by dns.node [imp2.lab.test], which failed")
                .with("blocked_by", "dns.node [imp2.lab.test]")
                .because(imp_verify_core::Reason::Blocked {
                    by: CheckKey::new("dns.node", "imp2.lab.test"),
                    status: Status::Fail,
                }),
            0,
        ),
        result(
            "services.port",
            "imp1.lab.test:5222 (xmpp-c2s)",
            Outcome::pass("xmpp-c2s port 5222 accepts connections on 127.0.0.22:5222"),
            1500,
        ),
    ]
}

fn human(events: &[Event], color: bool, verbose: bool) -> String {
    let mut r = HumanReporter::new(
        Box::new(std::io::sink()),
        HumanOptions {
            color,
            progress: false,
            verbose,
            quiet: false,
            width: None,
        },
    );
    for e in events {
        r.on_event(e);
    }
    r.render(&analysed(events))
}

fn analysed(events: &[Event]) -> Analysis {
    let results: Vec<CheckResult> = events
        .iter()
        .filter_map(|e| match e {
            Event::CheckFinished(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    Analysis::of(&results, &ReportContext::default())
}

#[test]
fn human_all_pass() {
    insta::assert_snapshot!(human(&events(healthy(), None), false, false));
}

#[test]
fn human_fail_warn_and_blocked_skip() {
    insta::assert_snapshot!(human(&events(broken(), None), false, false));
}

#[test]
fn human_verbose_shows_evidence_of_passes() {
    let text = human(&events(healthy(), None), false, true);
    assert!(text.contains("addresses: 127.0.0.22"), "{text}");
    assert!(text.contains("connect_ms: 0.4"), "{text}");
}

#[test]
fn human_stopped_by_the_deadline() {
    let mut rs = healthy();
    rs[1].outcome = Outcome::fail(
        "did not finish before the run deadline (1s)",
        "Give the run a longer --deadline.",
    );
    insta::assert_snapshot!(human(&events(rs, Some(StopReason::Deadline)), false, false));
}

#[test]
fn colour_only_when_asked() {
    let ev = events(broken(), None);
    assert!(!human(&ev, false, false).contains('\u{1b}'));
    let coloured = human(&ev, true, false);
    assert!(coloured.contains("\u{1b}[1;31mFAIL\u{1b}[0m"), "{coloured}");
}

#[test]
fn json_document_carries_every_field_in_plan_order() {
    let ev = events(broken(), None);
    let mut r = JsonReporter::new(PathBuf::from("unused.json"));
    for e in &ev {
        r.on_event(e);
    }
    let doc = r.document(&analysed(&ev));
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["workflow"], "C");
    assert_eq!(doc["started_at"], "2026-09-21T14:13:20.000Z");
    assert_eq!(doc["wall_ms"], 1234.0);
    assert_eq!(doc["stopped"], serde_json::Value::Null);
    let summary = &doc["summary"];
    for (k, n) in [
        ("total", 4),
        ("pass", 1),
        ("warn", 1),
        ("fail", 1),
        ("skip", 1),
    ] {
        assert_eq!(summary[k], n, "{k}");
    }
    // The skip's reason links it to the failure that blocked it.
    assert_eq!(summary["root_causes"][0]["key"], "dns.node [imp2.lab.test]");
    assert_eq!(summary["root_causes"][0]["explains"], 1);
    let checks = doc["checks"].as_array().unwrap();
    // Plan order, not the order they finished in.
    let targets: Vec<_> = checks
        .iter()
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "imp2.lab.test",
            "imp1.lab.test",
            "imp2.lab.test:5222 (xmpp-c2s)",
            "imp1.lab.test:5222 (xmpp-c2s)"
        ]
    );
    let c = &checks[0];
    assert_eq!(c["id"], "dns.node");
    assert_eq!(c["area"], "dns");
    assert_eq!(c["tasks"], serde_json::json!(["C.1", "C.10"]));
    assert_eq!(c["status"], "fail");
    assert_eq!(
        c["evidence"][1],
        serde_json::json!({"key": "resolver", "value": "127.0.0.20:53"})
    );
    assert!(c["remediation"].as_str().unwrap().starts_with("Add an A"));
    assert_eq!(c["duration_ms"], 4.0);
    assert_eq!(c["attempts"], 1);
    assert_eq!(checks[3]["remediation"], serde_json::Value::Null);
}

#[test]
fn junit_is_read_by_a_real_junit_parser() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let ev = events(broken(), None);
    let r = {
        let mut r = JunitReporter::new(path.clone());
        for e in &ev {
            r.on_event(e);
        }
        Box::new(r)
    };
    r.finish(&analysed(&ev)).unwrap();
    let script = r#"
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    n = f = s = 0
    for case in suite:
        n += 1
        for r in case.result:
            k = type(r).__name__
            f += k == "Failure"
            s += k == "Skipped"
    print(suite.name, n, f, s)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser (scripts/setup installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "imp-verify.services 2 0 1\nimp-verify.dns 2 1 0"
    );
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(xml.contains("name=\"dns.node [imp2.lab.test]\""), "{xml}");
    assert!(xml.contains("classname=\"dns.C.1\""), "{xml}");
    // The warning passes, with its text in system-out.
    assert!(xml.contains("WARNING: imp1.lab.test resolves"), "{xml}");
}
