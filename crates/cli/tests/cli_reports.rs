//! The reports of a nightly job, end to end against a lab of the test's own: a healthy
//! run, then a run with a server stopped given the first run's JSON as `--baseline`.
//! The terminal report ends with the root causes; the JSON carries the changes, the
//! start offsets and the prerequisites; the HTML page, rendered by headless Chromium,
//! shows the same task states and counts as the JSON (screenshots under target/).

mod common;
use common::*;
use imp_verify_testlab::Lab;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium(args: &[&str], html: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium (Debian's package; scripts/setup installs it)");
    assert!(out.status.success(), "chromium: {:?}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The workflow's tasks as the browser's DOM has them: task -> (status, checks,
/// pass, warn, fail, skip).
fn tasks_in_dom(dom: &str) -> BTreeMap<String, (String, u64, [u64; 4])> {
    let attr = |el: &str, name: &str| -> String {
        let at = el
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("{name} in {el}"));
        let rest = &el[at + name.len() + 2..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let mut out = BTreeMap::new();
    for piece in dom.split("<div class=\"task ").skip(1) {
        let el = &piece[..piece.find('>').unwrap()];
        let n = |k: &str| attr(el, k).parse::<u64>().unwrap();
        out.insert(
            attr(el, "data-task"),
            (
                attr(el, "data-status"),
                n("data-checks"),
                [
                    n("data-pass"),
                    n("data-warn"),
                    n("data-fail"),
                    n("data-skip"),
                ],
            ),
        );
    }
    out
}

/// The same, worked out from the JSON report.
fn tasks_in_json(report: &Value) -> BTreeMap<String, (String, u64, [u64; 4])> {
    let wf = report["workflow"].as_str().unwrap();
    let mut out = BTreeMap::new();
    for task in imp_verify_core::catalog::TASKS.iter().map(|r| r.label) {
        if !task.starts_with(&format!("{wf}.")) {
            continue;
        }
        let mut counts = [0u64; 4];
        for c in report["checks"].as_array().unwrap() {
            // The page shows (and counts) a check under its first task.
            if c["tasks"]
                .as_array()
                .unwrap()
                .first()
                .is_some_and(|t| t == task)
            {
                let i = ["pass", "warn", "fail", "skip"]
                    .iter()
                    .position(|s| c["status"] == *s)
                    .unwrap();
                counts[i] += 1;
            }
        }
        let status = if counts[2] > 0 {
            "fail"
        } else if counts[1] > 0 {
            "warn"
        } else if counts[3] > 0 {
            "skip"
        } else if counts[0] > 0 {
            "pass"
        } else {
            "none"
        };
        out.insert(
            task.to_string(),
            (status.to_string(), counts.iter().sum(), counts),
        );
    }
    out
}

/// Renders the page in Chromium, compares its tasks and counts with the JSON, and
/// saves a screenshot under target/.
fn page_matches_report(html: &Path, report: &Value, shot: &str) -> String {
    let dom = chromium(&["--dump-dom"], html);
    assert!(
        dom.contains("<h2>Timeline</h2>"),
        "rendered: {}",
        &dom[..dom.len().min(500)]
    );
    let in_dom = tasks_in_dom(&dom);
    assert!(!in_dom.is_empty(), "no task in the DOM");
    assert_eq!(in_dom, tasks_in_json(report));
    let s = &report["summary"];
    for k in ["total", "pass", "warn", "fail", "skip"] {
        assert!(
            dom.contains(&format!("data-{k}=\"{}\"", s[k])),
            "{k} count {} not in the page",
            s[k]
        );
    }
    let rows = dom.matches("<tr class=\"check ").count();
    assert_eq!(rows, report["checks"].as_array().unwrap().len());
    let png = root().join("target").join(shot);
    let _ = std::fs::remove_file(&png);
    chromium(
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
        ],
        html,
    );
    let bytes = std::fs::read(&png).expect("the screenshot is written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{}",
        png.display()
    );
    dom
}

fn run(lab: &Lab, dir: &Path, name: &str, extra: &[&str]) -> (i32, String, String, Value, PathBuf) {
    let json_path = dir.join(format!("{name}.json"));
    let html = dir.join(format!("{name}.html"));
    let junit = dir.join(format!("{name}.xml"));
    let mut args = vec![
        "all",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--no-progress",
        "--color",
        "never",
        "--json",
        json_path.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = imp_verify(&args);
    let (o, e) = text(&out);
    for s in [&o, &e] {
        lab.assert_no_secret_in(s);
    }
    let report = json(&json_path);
    lab.assert_no_secret_in(&std::fs::read_to_string(&html).unwrap());
    (code(&out), o, e, report, html)
}

fn keys(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_healthy_night_then_a_stopped_server_compared_with_it() {
    let lab = Lab::isolated();
    let dir = tempfile::tempdir().unwrap();

    // Night 1: healthy.
    let (code1, o1, e1, r1, html1) = run(&lab, dir.path(), "night1", &[]);
    assert_eq!(code1, 0, "{o1}{e1}");
    let checks1 = r1["checks"].as_array().unwrap();
    assert!(checks1.iter().all(|c| c["status"] == "pass"), "{o1}");
    assert_eq!(r1["domains"], serde_json::json!(["lab.test"]));
    assert!(r1["summary"].get("root_causes").is_none());
    assert!(!o1.contains("explain"), "{o1}");
    // Every check ran: it has a start offset, within the run, and its prerequisites
    // name checks of the report.
    let all: Vec<String> = keys(&r1["checks"]);
    let wall = r1["wall_ms"].as_f64().unwrap();
    for c in checks1 {
        let start = c["start_ms"].as_f64().unwrap_or_else(|| panic!("{c}"));
        assert!(
            start >= 0.0 && start + c["duration_ms"].as_f64().unwrap() <= wall + 1.0,
            "{c}"
        );
        let end = |r: &Value| {
            let dep = checks1.iter().find(|d| d["key"] == *r).unwrap();
            dep["start_ms"].as_f64().unwrap() + dep["duration_ms"].as_f64().unwrap()
        };
        let first_of: Vec<&Value> = c
            .get("first_of")
            .map(|f| f.as_array().unwrap().iter().collect())
            .unwrap_or_default();
        for r in c["requires"].as_array().unwrap() {
            assert!(all.contains(&r.as_str().unwrap().to_string()), "{r} of {c}");
            // A check starts after its prerequisites finished (of alternatives, after
            // the first that passed: all pass on a healthy night).
            if first_of.contains(&r) {
                continue;
            }
            assert!(
                start + 0.5 >= end(r),
                "{} started before {r} ended",
                c["key"]
            );
        }
        if !first_of.is_empty() {
            assert!(
                first_of
                    .iter()
                    .all(|r| c["requires"].as_array().unwrap().contains(r)),
                "{c}"
            );
            // The first alternative in order passes on a healthy night: it is the one
            // waited for.
            assert!(
                start + 0.5 >= end(first_of[0]),
                "{} started before {} ended",
                c["key"],
                first_of[0]
            );
        }
    }
    assert!(checks1
        .iter()
        .any(|c| !c["requires"].as_array().unwrap().is_empty()));
    page_matches_report(&html1, &r1, "html-report-healthy.png");

    // Night 2: imp2's XMPP server is down; compared with night 1.
    lab.stop("imp2-xmpp");
    let night1 = dir.path().join("night1.json");
    let (code2, o2, e2, r2, html2) = run(
        &lab,
        dir.path(),
        "night2",
        &["--baseline", night1.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(code2, 1, "{o2}{e2}");
    // Quiet: no passing or skipped check is listed.
    for l in o2.lines() {
        assert!(
            !l.starts_with("  PASS ") && !l.starts_with("  SKIP "),
            "{o2}"
        );
    }
    let failed: Vec<String> = r2["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect();
    let skipped: Vec<String> = r2["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "skip")
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect();
    assert!(
        failed.contains(&"services.port [imp2.lab.test:5222 (xmpp-c2s)]".to_string()),
        "{failed:?}"
    );
    assert!(
        skipped.contains(&"xmpp.login [carol on imp2.lab.test]".to_string()),
        "{skipped:?}"
    );

    // The changes, by check key.
    let ch = &r2["changes"];
    assert_eq!(ch["baseline"]["path"], night1.to_str().unwrap());
    assert_eq!(keys(&ch["newly_failing"]), failed);
    assert_eq!(keys(&ch["newly_skipped"]), skipped);
    for empty in ["fixed", "still_failing", "new", "removed", "newly_warning"] {
        assert_eq!(ch[empty], serde_json::json!([]), "{empty}");
    }
    assert!(ch["regressions"].as_u64().unwrap() >= failed.len() as u64);

    // Root causes: every skip is explained by one of the failures.
    let roots = r2["summary"]["root_causes"].as_array().unwrap();
    let explained: u64 = roots.iter().map(|r| r["explains"].as_u64().unwrap()).sum();
    assert_eq!(explained as usize, skipped.len());
    for r in roots {
        assert!(failed.contains(&r["key"].as_str().unwrap().to_string()));
        assert!(
            r["remediation"].as_str().unwrap().contains("Cisco XCP"),
            "{r}"
        );
    }
    let heading = format!(
        "{} failures explain {} skipped checks:",
        roots.len(),
        skipped.len()
    );
    let lines: Vec<&str> = o2.trim_end().lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == heading)
        .unwrap_or_else(|| panic!("{heading} in\n{o2}"));
    // Then each root cause with its fix, then the summary line, last.
    assert_eq!(lines.len(), at + 1 + 2 * roots.len() + 2, "{o2}");
    assert!(
        lines[at + 1].contains(roots[0]["key"].as_str().unwrap()),
        "{o2}"
    );
    assert!(lines[at + 2].trim_start().starts_with("fix: "), "{o2}");
    assert!(lines.last().unwrap().contains("check(s):"), "{o2}");
    let changes_at = o2.find("Changes since").expect("the changes section");
    assert!(changes_at < o2.find(&heading).unwrap());
    assert!(
        o2.contains(&format!("newly failing ({}):", failed.len())),
        "{o2}"
    );

    // The page shows the same, and the changes.
    let dom = page_matches_report(&html2, &r2, "html-report-stopped.png");
    assert!(
        dom.contains(&format!(
            "data-change=\"newly-failing\" data-count=\"{}\"",
            failed.len()
        )),
        "changes in the page"
    );
    assert!(dom.contains("id=\"roots\""));

    // JUnit carries the same verdicts.
    let xml = std::fs::read_to_string(dir.path().join("night2.xml")).unwrap();
    assert_eq!(xml.matches("<failure").count(), failed.len());
}

#[test]
fn fail_on_regression_fails_a_run_whose_checks_pass() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let spec = lab.spec();
    let prev = dir.path().join("prev.json");
    let args = |extra: &[&str]| {
        let mut v = vec!["services", "--spec", spec.to_str().unwrap(), "--quiet"];
        v.extend_from_slice(extra);
        imp_verify(&v)
    };
    let out = args(&["--json", prev.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    // A baseline in which three connections took no time at all: tonight's are slower.
    // (The other checks' times are left out of it: with too few times to tell a busy
    // machine from a slow server, each time is judged on its own. A baseline where
    // every time was shorter is a busy night, not a regression: see
    // crates/report/src/baseline.rs.)
    let mut r = json(&prev);
    for (i, c) in r["checks"].as_array_mut().unwrap().iter_mut().enumerate() {
        if i < 3 {
            c["metrics"]["connect_ms"] = serde_json::json!(0.0);
        } else {
            c["metrics"] = serde_json::json!({});
        }
    }
    let fast = dir.path().join("fast.json");
    std::fs::write(&fast, serde_json::to_string(&r).unwrap()).unwrap();
    let base = [
        "--baseline",
        fast.to_str().unwrap(),
        "--regression-min-ms",
        "0",
    ];
    // Without --fail-on-regression the changes are shown and the run passes.
    let out = args(&base);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 0, "{o}{e}");
    assert!(o.contains("metric regressions ("), "{o}");
    let mut with = base.to_vec();
    with.push("--fail-on-regression");
    let out = args(&with);
    assert_eq!(code(&out), 1, "{:?}", text(&out));

    // A baseline whose connections took an hour: nothing regressed.
    for c in r["checks"].as_array_mut().unwrap().iter_mut().take(3) {
        c["metrics"]["connect_ms"] = serde_json::json!(3_600_000.0);
    }
    std::fs::write(&fast, serde_json::to_string(&r).unwrap()).unwrap();
    let out = args(&with);
    assert_eq!(code(&out), 0, "{:?}", text(&out));

    // A baseline of another deployment is refused before any check runs.
    r["domains"] = serde_json::json!(["other.example"]);
    std::fs::write(&fast, serde_json::to_string(&r).unwrap()).unwrap();
    let out = args(&base);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 2, "{o}{e}");
    assert!(
        e.contains("another deployment") && e.contains("other.example"),
        "{e}"
    );
    assert!(o.is_empty(), "{o}");
}

#[test]
fn junit_stays_well_formed_when_a_hostile_server_sends_xml_forbidden_characters() {
    let lab = Lab::isolated();
    // imp2's SIP server is replaced by one whose answers carry U+FFFE, U+FFFF and
    // control characters in the reason phrase and the Server header.
    lab.stop("imp2-sip");
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut hostile = Command::new("python3")
        .arg(root().join("tests/lab/hostile_sip.py"))
        .arg(lab.ip(3).to_string())
        .arg("5060")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hostile.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ready");
    let hostile = Killed(hostile);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("j.xml");
    let json_path = dir.path().join("r.json");
    let out = imp_verify(&[
        "sip",
        "--spec",
        lab.spec().to_str().unwrap(),
        "--only",
        "sip.options",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ]);
    drop(hostile);
    let (o, e) = text(&out);
    // The hostile answer reached a report: the UDP check of imp2 shows its text.
    let report = json(&json_path);
    let udp2 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"].as_str().unwrap().starts_with("udp imp2"))
        .unwrap_or_else(|| panic!("{o}{e}"));
    assert!(udp2.to_string().contains('\u{fffe}'), "{udp2}");
    // And the JUnit report is still read by a real JUnit parser, the text replaced: the
    // noncharacters by U+FFFD, the control characters already shown escaped in the
    // message (peer text goes through imp_verify_core::text).
    let script = r#"
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    for case in suite:
        if case.name.startswith("sip.options [udp imp2"):
            print(case.system_out or "".join(r.text or "" for r in case.result))
"#;
    let parsed = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&junit)
        .output()
        .unwrap();
    let (po, pe) = text(&parsed);
    assert!(parsed.status.success(), "junitparser: {pe}");
    assert!(
        po.contains("200 OK \u{fffd}\u{fffd}\\u{1}\\u{1b}[2J<x>&amp;"),
        "{po}"
    );
}
