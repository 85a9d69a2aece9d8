//! What the reports work out from a run: root causes, the changes since a baseline,
//! the HTML page, and JUnit that stays well-formed whatever a peer sends. Events are
//! made by hand, with a real dependency graph.

use imp_verify_core::event::{CheckInfo, RunInfo, RunSummary};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{catalog, CheckKey, CheckResult, Counts, Event, Outcome, Status};
use imp_verify_report::{
    Analysis, Baseline, BaselineError, HtmlReporter, HumanOptions, HumanReporter, JsonReport,
    JsonReporter, JunitReporter, RegressionKind, ReportContext, Reporter, Thresholds,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

struct Check {
    key: CheckKey,
    deps: Vec<CheckKey>,
    outcome: Outcome,
    start_ms: Option<u64>,
    ms: u64,
}

fn k(id: &'static str, target: &str) -> CheckKey {
    CheckKey::new(id, target)
}

fn check(
    key: CheckKey,
    deps: &[&CheckKey],
    outcome: Outcome,
    start_ms: Option<u64>,
    ms: u64,
) -> Check {
    Check {
        key,
        deps: deps.iter().map(|d| (*d).clone()).collect(),
        outcome,
        start_ms,
        ms,
    }
}

fn blocked(by: &CheckKey, status: Status) -> Outcome {
    Outcome::skip(format!("blocked by {by}"))
        .with("blocked_by", by)
        .with("blocked_by_status", status)
        .because(imp_verify_core::Reason::Blocked {
            by: by.clone(),
            status,
        })
}

fn events(checks: &[Check]) -> Vec<Event> {
    let started_at = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let result = |c: &Check| {
        let def = catalog::check(c.key.id).unwrap();
        CheckResult {
            key: c.key.clone(),
            area: def.area,
            tasks: def.tasks_in(Workflow::C),
            outcome: c.outcome.clone(),
            duration: Duration::from_millis(c.ms),
            attempts: u32::from(c.start_ms.is_some()),
        }
    };
    let infos = checks
        .iter()
        .map(|c| {
            let r = result(c);
            CheckInfo {
                key: c.key.clone(),
                area: r.area,
                tasks: r.tasks,
                description: "",
                depends_on: c.deps.clone(),
            }
        })
        .collect();
    let mut counts = Counts::default();
    let mut v = vec![Event::RunStarted(RunInfo {
        spec: PathBuf::from("lab.toml"),
        workflow: Workflow::C,
        started_at,
        checks: infos,
        per_server: 8,
    })];
    for c in checks {
        counts.add(c.outcome.status);
        if let Some(at) = c.start_ms {
            v.push(Event::CheckStarted {
                key: c.key.clone(),
                at: Duration::from_millis(at),
            });
        }
        v.push(Event::CheckFinished(result(c)));
    }
    v.push(Event::RunFinished(RunSummary {
        counts,
        started_at,
        wall: Duration::from_millis(300),
        stopped: None,
        auth: Default::default(),
        directory_auth: Default::default(),
    }));
    v
}

/// imp2's c2s port is closed: its TLS and XMPP checks are skipped, one through another
/// skip; imp1 is healthy.
fn broken_imp2() -> Vec<Check> {
    let port1 = k("services.port", "imp1.lab.test:5222 (xmpp-c2s)");
    let port2 = k("services.port", "imp2.lab.test:5222 (xmpp-c2s)");
    let dns2 = k("dns.node", "imp2.lab.test");
    let conn1 = k("xmpp.connect", "imp1.lab.test");
    let conn2 = k("xmpp.connect", "imp2.lab.test");
    let login2 = k("xmpp.login", "carol on imp2.lab.test");
    let login1 = k("xmpp.login", "alice on imp1.lab.test");
    vec![
        check(
            dns2.clone(),
            &[],
            Outcome::fail("imp2.lab.test does not exist", "Add an A record"),
            Some(0),
            3,
        ),
        check(
            port1.clone(),
            &[],
            Outcome::pass("open").metric("connect_ms", 1.0),
            Some(0),
            2,
        ),
        check(
            port2.clone(),
            &[],
            Outcome::fail("connection refused", "Start the XCP services"),
            Some(0),
            2,
        ),
        check(
            conn1.clone(),
            &[&port1],
            Outcome::pass("stream opened"),
            Some(2),
            40,
        ),
        check(
            conn2.clone(),
            &[&port2],
            blocked(&port2, Status::Fail),
            None,
            0,
        ),
        check(
            login1.clone(),
            &[&conn1],
            Outcome::pass("logged in").metric("login_ms", 100.0),
            Some(42),
            120,
        ),
        check(
            login2.clone(),
            &[&conn2],
            blocked(&conn2, Status::Skip),
            None,
            0,
        ),
        check(
            k("xmpp.im", "carol to dave on imp2.lab.test"),
            &[&login2, &login1],
            blocked(&login2, Status::Skip),
            None,
            0,
        ),
    ]
}

fn healthy_all() -> Vec<Check> {
    broken_imp2()
        .into_iter()
        .map(|mut c| {
            c.outcome = match c.key.id {
                "xmpp.login" => Outcome::pass("logged in").metric("login_ms", 100.0),
                "services.port" => Outcome::pass("open").metric("connect_ms", 1.0),
                _ => Outcome::pass("fine"),
            };
            c.start_ms = Some(c.start_ms.unwrap_or(50));
            c.ms = c.ms.max(10);
            c
        })
        .collect()
}

fn feed<R: Reporter>(mut r: R, ev: &[Event]) -> R {
    for e in ev {
        r.on_event(e);
    }
    r
}

fn results_of(ev: &[Event]) -> Vec<CheckResult> {
    ev.iter()
        .filter_map(|e| match e {
            Event::CheckFinished(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The run's analysis, as the binary makes it once for every report.
fn analysed(ev: &[Event], cx: &ReportContext) -> Analysis {
    Analysis::of(&results_of(ev), cx)
}

fn json_of(ev: &[Event], cx: Arc<ReportContext>) -> JsonReport {
    feed(
        JsonReporter::new(PathBuf::from("r.json")).with_domains(cx.domains.clone()),
        ev,
    )
    .report(&analysed(ev, &cx))
}

fn lab_context(baseline: Option<Baseline>) -> Arc<ReportContext> {
    Arc::new(ReportContext {
        domains: vec!["lab.test".into()],
        baseline,
        coverage: None,
    })
}

#[test]
fn root_causes_follow_skips_to_the_failure_that_blocked_them() {
    let ev = events(&broken_imp2());
    let doc = json_of(&ev, lab_context(None));
    let roots = &doc.summary.root_causes;
    // The DNS failure blocked nothing: it is a failure, not a root cause of skips.
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(
        roots[0].key,
        "services.port [imp2.lab.test:5222 (xmpp-c2s)]"
    );
    assert_eq!(roots[0].explains, 3);
    assert_eq!(
        roots[0].skipped,
        [
            "xmpp.connect [imp2.lab.test]",
            "xmpp.login [carol on imp2.lab.test]",
            "xmpp.im [carol to dave on imp2.lab.test]"
        ]
    );
    assert_eq!(
        roots[0].remediation.as_deref(),
        Some("Start the XCP services")
    );

    let text = feed(
        HumanReporter::new(Box::new(std::io::sink()), HumanOptions::default()),
        &ev,
    )
    .render(&analysed(&ev, &ReportContext::default()));
    // The root causes come last, right before the summary line.
    let tail: Vec<&str> = text.trim_end().lines().rev().take(5).collect();
    assert!(
        tail[0].starts_with("8 check(s): 3 passed, 0 warned, 2 failed, 3 skipped"),
        "{text}"
    );
    assert_eq!(tail[2].trim(), "fix: Start the XCP services", "{text}");
    assert!(
        tail[3].contains(
            "services.port [imp2.lab.test:5222 (xmpp-c2s)]: connection refused (3 skipped)"
        ),
        "{text}"
    );
    assert_eq!(tail[4], "1 failure explains 3 skipped checks:", "{text}");
}

#[test]
fn quiet_shows_only_failures_warnings_root_causes_and_the_summary() {
    let ev = events(&broken_imp2());
    let text = feed(
        HumanReporter::new(
            Box::new(std::io::sink()),
            HumanOptions {
                quiet: true,
                ..HumanOptions::default()
            },
        ),
        &ev,
    )
    .render(&analysed(&ev, &ReportContext::default()));
    assert!(!text.contains("PASS"), "{text}");
    assert!(!text.contains("SKIP"), "{text}");
    assert!(text.contains("FAIL dns.node"), "{text}");
    assert!(
        text.contains("1 failure explains 3 skipped checks:"),
        "{text}"
    );
    assert!(text.contains("8 check(s):"), "{text}");
}

#[test]
fn the_json_gives_start_offsets_and_prerequisites_for_the_critical_path() {
    let doc = json_of(&events(&broken_imp2()), lab_context(None));
    let by = |key: &str| doc.checks.iter().find(|c| c.key == key).unwrap();
    let login = by("xmpp.login [alice on imp1.lab.test]");
    assert_eq!(login.start_ms, Some(42.0));
    assert_eq!(login.requires, ["xmpp.connect [imp1.lab.test]"]);
    assert_eq!(by("xmpp.connect [imp2.lab.test]").start_ms, None);
    // The critical path, as a consumer computes it: longest chain of durations.
    fn path(doc: &JsonReport, key: &str) -> f64 {
        let c = doc.checks.iter().find(|c| c.key == key).unwrap();
        c.duration_ms + c.requires.iter().map(|r| path(doc, r)).fold(0.0, f64::max)
    }
    let critical = doc
        .checks
        .iter()
        .map(|c| path(&doc, &c.key))
        .fold(0.0, f64::max);
    assert_eq!(critical, 2.0 + 40.0 + 120.0);
    assert_eq!(doc.domains, ["lab.test"]);
}

#[test]
fn the_json_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let ev = events(&broken_imp2());
    let r = Box::new(feed(
        JsonReporter::new(path.clone()).with_domains(vec!["lab.test".into()]),
        &ev,
    ));
    let a = analysed(&ev, &lab_context(None));
    let written = r.report(&a);
    r.finish(&a).unwrap();
    let read: JsonReport = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        serde_json::to_value(&written).unwrap()
    );
}

fn baseline_file(dir: &Path, checks: &[Check], domains: &[&str]) -> PathBuf {
    let path = dir.join("prev.json");
    let cx = ReportContext {
        domains: domains.iter().map(|d| d.to_string()).collect(),
        ..ReportContext::default()
    };
    let ev = events(checks);
    Box::new(feed(
        JsonReporter::new(path.clone()).with_domains(cx.domains.clone()),
        &ev,
    ))
    .finish(&analysed(&ev, &cx))
    .unwrap();
    path
}

#[test]
fn a_baseline_tells_what_broke_what_was_fixed_and_what_got_slower() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = healthy_all();
    // Last night: the DNS record was missing, and one check that no longer exists ran.
    before[0].outcome = Outcome::fail("imp2.lab.test does not exist", "Add an A record");
    before.push(check(
        k("xmpp.muc", "alice and bob on imp1.lab.test"),
        &[],
        Outcome::pass("ok"),
        Some(0),
        5,
    ));
    let prev = baseline_file(dir.path(), &before, &["lab.test"]);
    let mut now = broken_imp2();
    now[0].outcome = Outcome::pass("resolves");
    // The login took 250 ms instead of 100.
    now[5].outcome = Outcome::pass("logged in").metric("login_ms", 250.0);
    now.push(check(
        k("xmpp.ha", "alice on imp2.lab.test"),
        &[],
        Outcome::pass("ok"),
        Some(0),
        5,
    ));

    let baseline = Baseline::load(&prev, &["lab.test".into()], Thresholds::default()).unwrap();
    let ev = events(&now);
    let doc = json_of(&ev, lab_context(Some(baseline)));
    let ch = doc.changes.as_ref().expect("changes with a baseline");
    let keys =
        |v: &[imp_verify_report::StatusChange]| v.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&ch.newly_failing),
        ["services.port [imp2.lab.test:5222 (xmpp-c2s)]"]
    );
    assert_eq!(keys(&ch.fixed), ["dns.node [imp2.lab.test]"]);
    assert!(ch.still_failing.is_empty());
    assert_eq!(ch.newly_skipped.len(), 3);
    assert_eq!(ch.new.len(), 1);
    assert_eq!(ch.new[0].key, "xmpp.ha [alice on imp2.lab.test]");
    assert_eq!(ch.removed.len(), 1);
    assert_eq!(
        ch.removed[0].key,
        "xmpp.muc [alice and bob on imp1.lab.test]"
    );
    assert_eq!(
        ch.metric_regressions.len(),
        1,
        "{:?}",
        ch.metric_regressions
    );
    let m = &ch.metric_regressions[0];
    assert_eq!(
        (m.metric.as_str(), m.before, m.after),
        ("login_ms", 100.0, 250.0)
    );
    assert_eq!(m.change_pct, Some(150.0));
    assert_eq!(m.kind, RegressionKind::Slower);
    assert_eq!(ch.regressions, 2);
    let value = serde_json::to_value(&doc).unwrap();
    assert_eq!(value["changes"]["newly_failing"][0]["before"], "pass");
    assert_eq!(value["changes"]["newly_failing"][0]["after"], "fail");

    // The terminal shows the same, before the root causes and the summary.
    let baseline = Baseline::load(&prev, &["lab.test".into()], Thresholds::default()).unwrap();
    let text = feed(
        HumanReporter::new(Box::new(std::io::sink()), HumanOptions::default()),
        &ev,
    )
    .render(&analysed(&ev, &lab_context(Some(baseline))));
    let changes_at = text.find("Changes since").expect(&text);
    assert!(changes_at < text.find("1 failure explains").unwrap());
    assert!(text.contains("newly failing (1):"), "{text}");
    assert!(text.contains("fixed (1):"), "{text}");
    assert!(text.contains("login_ms: 100 -> 250 (+150%)"), "{text}");
}

#[test]
fn a_baseline_of_another_deployment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let prev = baseline_file(dir.path(), &healthy_all(), &["other.example"]);
    let e = Baseline::load(&prev, &["lab.test".into()], Thresholds::default()).unwrap_err();
    assert!(matches!(e, BaselineError::OtherDeployment { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("other.example") && msg.contains("lab.test"),
        "{msg}"
    );
    // Not a regular file: refused at once, not read (a FIFO would hang the run).
    let e = Baseline::load(
        Path::new("/dev/zero"),
        &["lab.test".into()],
        Thresholds::default(),
    )
    .unwrap_err();
    assert!(matches!(e, BaselineError::NotAReport { .. }), "{e}");
    let e = Baseline::load(&dir.path().join("none.json"), &[], Thresholds::default()).unwrap_err();
    assert!(matches!(e, BaselineError::Read { .. }), "{e}");
    // Not a report at all.
    std::fs::write(&prev, "{\"hello\": 1}").unwrap();
    let e = Baseline::load(&prev, &["lab.test".into()], Thresholds::default()).unwrap_err();
    assert!(matches!(e, BaselineError::Parse { .. }), "{e}");
}

#[test]
fn the_html_page_is_self_contained_and_escapes_peer_text() {
    let mut checks = broken_imp2();
    checks[2].outcome = Outcome::fail("<img src=http://evil/x> refused", "Start the XCP services");
    let ev = events(&checks);
    let html = feed(
        HtmlReporter::new(PathBuf::from("r.html")).with_domains(vec!["lab.test".into()]),
        &ev,
    )
    .html(&analysed(&ev, &lab_context(None)));
    assert!(!html.contains("<img"), "peer markup is text");
    assert!(html.contains("&lt;img src=http://evil/x&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    // Each task of workflow C, once.
    for n in 1..=15 {
        assert_eq!(
            html.matches(&format!("data-task=\"C.{n}\"")).count(),
            1,
            "C.{n}"
        );
    }
    assert!(
        html.contains("data-task=\"C.2\" data-status=\"fail\""),
        "C.2 has the failed port"
    );
    assert!(
        html.contains("data-task=\"C.14\" data-status=\"none\""),
        "no check of C.14 ran"
    );
    // The critical path: imp1's port, connect and login, 2 + 40 + 120 ms.
    assert!(html.contains("data-critical-ms=\"162\""), "critical path");
    assert!(html
        .contains("<tr class=\"pass critical\" data-key=\"xmpp.login [alice on imp1.lab.test]\""));
}

#[test]
fn junit_stays_well_formed_whatever_a_peer_sends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let hostile = "peer said \u{fffe}\u{ffff}\u{0}\u{1b}[2J\u{8} <x>&amp; \u{10ffff} end";
    let mut checks = broken_imp2();
    checks[2].outcome = Outcome::fail(hostile, "fix \u{ffff}").with("banner", hostile);
    checks[1].outcome = Outcome::warn(hostile, "w").with("banner", hostile);
    let ev = events(&checks);
    Box::new(feed(JunitReporter::new(path.clone()), &ev))
        .finish(&analysed(&ev, &ReportContext::default()))
        .unwrap();
    let script = r#"
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    for case in suite:
        for r in case.result:
            print(type(r).__name__, repr(r.message))
        if case.system_out:
            print("out", repr(case.system_out[:40]))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "junitparser (scripts/setup installs it) cannot read the report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Failure 'peer said \u{fffd}\u{fffd}\u{fffd}\u{fffd}[2J\u{fffd} <x>&amp; \\U0010ffff end'"),
        "{stdout}"
    );
    assert!(stdout.contains("out 'WARNING: peer said"), "{stdout}");
}

#[test]
fn authentications_per_account_and_the_per_server_cap_are_reported() {
    let mut ev = events(&broken_imp2());
    if let Some(Event::RunFinished(sum)) = ev.last_mut() {
        sum.auth.insert(
            "uid=alice,ou=people,dc=lab,dc=test".into(),
            imp_verify_core::AuthCount {
                attempts: 2,
                refused: 1,
            },
        );
        sum.auth.insert(
            "cn=impverify-svc,ou=services,dc=lab,dc=test".into(),
            imp_verify_core::AuthCount {
                attempts: 3,
                refused: 0,
            },
        );
    }
    let doc = json_of(&ev, lab_context(None));
    assert_eq!(doc.per_server_cap, Some(8));
    let alice = doc.summary.authentications["uid=alice,ou=people,dc=lab,dc=test"];
    assert_eq!((alice.attempts, alice.refused), (2, 1));
    assert_eq!(doc.summary.authentications.len(), 2);
    let text = feed(
        HumanReporter::new(Box::new(std::io::sink()), HumanOptions::default()),
        &ev,
    )
    .render(&analysed(&ev, &ReportContext::default()));
    assert!(text.contains("at most 8 at once per server"), "{text}");
    assert!(
        text.contains(
            "uid=alice,ou=people,dc=lab,dc=test: 2 authentication(s), 1 refused (not retried)"
        ),
        "{text}"
    );
    // Accounts no server refused are in the JSON only.
    assert!(!text.contains("impverify-svc"), "{text}");
}

#[test]
fn exposures_are_counted_once_and_shown_by_every_report() {
    let mut checks = broken_imp2();
    // Taken as refusal checks here (the catalog's own are being written): imp1's
    // connect warns, imp2's port fails; the skipped connect is no exposure.
    checks[3].outcome = Outcome::warn("PLAIN offered before TLS", "Set c2s_require_encryption");
    let ev = events(&checks);
    let refusal = |id: &str| id == "services.port" || id == "xmpp.connect";
    let a = Analysis::with_refusals(&results_of(&ev), &lab_context(None), &refusal);
    let keys: Vec<&str> = a.exposures.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "services.port [imp2.lab.test:5222 (xmpp-c2s)]",
            "xmpp.connect [imp1.lab.test]"
        ]
    );
    let text = feed(
        HumanReporter::new(Box::new(std::io::sink()), HumanOptions::default()),
        &ev,
    )
    .render(&a);
    assert!(
        text.contains("2 exposures: what the deployment accepts and must refuse:"),
        "{text}"
    );
    assert!(
        text.contains("change: Set c2s_require_encryption"),
        "{text}"
    );
    let summary = text.trim_end().lines().last().unwrap();
    assert!(summary.ends_with("; 2 exposures"), "{summary}");
    let doc = feed(JsonReporter::new(PathBuf::from("r.json")), &ev).report(&a);
    assert_eq!(doc.summary.exposures.len(), 2);
    assert_eq!(
        doc.summary.exposures[1].remediation.as_deref(),
        Some("Set c2s_require_encryption")
    );
    let value = serde_json::to_value(&doc).unwrap();
    assert_eq!(value["summary"]["exposures"][0]["status"], "fail");
    let html = feed(HtmlReporter::new(PathBuf::from("r.html")), &ev).html(&a);
    assert!(html.contains("id=\"exposures\" data-count=\"2\""), "{html}");
    assert!(html.contains("Exposure: 2 exposures"), "{html}");
    // None: no section, and the JSON says so with an empty list.
    let none = analysed(&ev, &lab_context(None));
    assert!(none.exposures.is_empty());
    let doc = feed(JsonReporter::new(PathBuf::from("r.json")), &ev).report(&none);
    assert_eq!(
        serde_json::to_value(&doc).unwrap()["summary"]["exposures"],
        serde_json::json!([])
    );
}

#[test]
fn html_tiles_count_what_the_table_shows_and_skips_have_their_colour() {
    let ev = events(&broken_imp2());
    let html = feed(HtmlReporter::new(PathBuf::from("r.html")), &ev)
        .html(&analysed(&ev, &lab_context(None)));
    for n in 1..=15 {
        let task = format!("C.{n}");
        let rows = html.matches(&format!("\"><td>{task}</td>")).count();
        let tile = html
            .split(&format!("data-task=\"{task}\""))
            .nth(1)
            .expect("a tile for every task");
        let shown: usize = tile
            .split("data-checks=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            shown, rows,
            "tile {task} counts {shown}, its table rows are {rows}"
        );
    }
    let colour = |class: &str| {
        let at = html.find(&format!(".{class}{{--c:")).unwrap() + class.len() + 6;
        html[at..at + 7].to_string()
    };
    assert_ne!(
        colour("skip"),
        colour("none"),
        "a skipped task is not a task with no check"
    );
}

#[test]
fn what_the_spec_leaves_unverified_is_in_every_report() {
    let spec_text = r#"
workflow = "C"
domains = ["lab.test"]
[[clusters]]
name = "c1"
domain = "lab.test"
[[clusters.nodes]]
fqdn = "imp1.lab.test"
role = "imp"
"#;
    let spec = imp_verify_core::Spec::parse(
        spec_text,
        Path::new("s.toml"),
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    let cov = imp_verify_core::coverage::Coverage::of(&spec);
    let cx = ReportContext {
        domains: vec!["lab.test".into()],
        baseline: None,
        coverage: Some(cov),
    };
    let ev = events(&healthy_all());
    let a = analysed(&ev, &cx);
    let text = feed(
        HumanReporter::new(Box::new(std::io::sink()), HumanOptions::default()),
        &ev,
    )
    .render(&a);
    assert!(text.contains("Not verified"), "{text}");
    assert!(
        text.contains("xmpp.login, xmpp.im, xmpp.presence, xmpp.muc not planned"),
        "{text}"
    );
    assert!(
        text.contains("no test user homed on imp1.lab.test"),
        "{text}"
    );
    assert!(text.contains("tls.chain, xmpp.connect left out"), "{text}");
    let summary = text.trim_end().lines().last().unwrap();
    assert!(
        summary.contains(
            "none of workflow C's verification tasks (C.7, C.10, C.12, C.15) verified in full"
        ),
        "{summary}"
    );
    let doc =
        serde_json::to_value(feed(JsonReporter::new(PathBuf::from("r.json")), &ev).report(&a))
            .unwrap();
    let gaps = doc["coverage"]["gaps"].as_array().unwrap();
    assert!(gaps.iter().any(|g| g["field"] == "test_users"
        && g["scope"] == serde_json::json!(["imp1.lab.test"])
        && g["effect"] == "not_planned"));
    assert!(gaps
        .iter()
        .any(|g| g["field"] == "tls.ca_bundle" && g["effect"] == "left_out"));
    assert!(doc["coverage"]["tasks_not_verified"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("C.3")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    Box::new(feed(JunitReporter::new(path.clone()), &ev))
        .finish(&a)
        .unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(
        xml.contains("name=\"xmpp.login [not verified on imp1.lab.test]\""),
        "{xml}"
    );
    assert!(
        xml.contains("not verified: no test user homed on imp1.lab.test"),
        "{xml}"
    );
    let html = feed(HtmlReporter::new(PathBuf::from("r.html")), &ev).html(&a);
    assert!(html.contains("id=\"coverage\""), "{html}");
    assert!(html.contains("data-field=\"tls.ca_bundle\""), "{html}");
}

#[test]
fn the_terminal_report_fits_the_width_it_is_given() {
    let mut checks = broken_imp2();
    checks[2].outcome = Outcome::fail(
        "connection refused: nothing listens on the port, which is a long message to read on a narrow terminal",
        "Check that the Cisco XCP Connection Manager and Cisco XCP Router services are activated and running on the node, and that no firewall blocks the port",
    )
    .with("address", "127.0.0.23:5222 and a very long piece of evidence that goes on and on past any width");
    let ev = events(&checks);
    for color in [false, true] {
        let text = feed(
            HumanReporter::new(
                Box::new(std::io::sink()),
                HumanOptions {
                    width: Some(80),
                    color,
                    ..HumanOptions::default()
                },
            ),
            &ev,
        )
        .render(&analysed(&ev, &ReportContext::default()));
        let plain = |l: &str| {
            let mut n = 0;
            let mut esc = false;
            for c in l.chars() {
                match (esc, c) {
                    (false, '\u{1b}') => esc = true,
                    (true, 'm') => esc = false,
                    (true, _) => {}
                    (false, _) => n += 1,
                }
            }
            n
        };
        for l in text.lines().filter(|l| !l.contains(" check(s): ")) {
            assert!(plain(l) <= 80, "{} > 80: {l}", plain(l));
        }
        // The fix is wrapped, not cut: every word of it is there.
        assert!(text.contains("blocks"), "{text}");
    }
}
