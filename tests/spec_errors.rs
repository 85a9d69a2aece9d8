//! A malformed spec stops imp-verify before any probe runs: the error names file,
//! line and column, and the exit code is 2.

mod common;
use common::*;

fn bad_specs() -> Vec<(std::path::PathBuf, String)> {
    let dir = root().join("fixtures/specs/bad");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let first = String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                .lines()
                .next()
                .unwrap()
                .to_string();
            let expect = first.strip_prefix("# expect: ").unwrap().to_string();
            (p, expect)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn check_spec_reports_each_mistake_with_its_place_and_exits_2() {
    let specs = bad_specs();
    assert!(specs.len() >= 10);
    for (path, expect) in specs {
        let (place, what) = expect.split_at(expect.find(": ").unwrap());
        let what = what.trim_start_matches(": ").trim();
        let out = imp_verify(&["check-spec", "--spec", path.to_str().unwrap()]);
        let (_, err) = text(&out);
        assert_eq!(code(&out), 2, "{}: {err}", path.display());
        let located = format!("{}:{place}: error: ", path.display());
        assert!(
            err.contains(&located),
            "{}: expected {located:?} in:\n{err}",
            path.display()
        );
        assert!(
            err.contains(what),
            "{}: expected {what:?} in:\n{err}",
            path.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_bad_spec_stops_a_run_before_any_probe_and_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let spec = root().join("fixtures/specs/bad/dangling-group-node.toml");
    let out = imp_verify(&[
        "all",
        "--spec",
        spec.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).1.contains("nothing was checked"));
    assert!(!json.exists(), "no report for a run that did not start");
}

#[test]
fn a_missing_spec_file_is_a_clear_error() {
    let out = imp_verify(&["check-spec", "--spec", "/nonexistent/imp-verify.toml"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out)
        .1
        .contains("/nonexistent/imp-verify.toml: error: cannot read the spec"));
}

#[test]
fn usage_errors_exit_2() {
    let out = imp_verify(&["all", "--timeout", "soon"]);
    assert_eq!(code(&out), 2);
    // A valid spec, a bad selection: the selection is the error.
    let spec = imp_verify_testlab::Lab::shared().spec();
    let out = imp_verify(&[
        "all",
        "--only",
        "task:Z.9",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("unknown task `Z.9`"),
        "{:?}",
        text(&out)
    );
    let out = imp_verify(&[
        "all",
        "--skip",
        "nosuch.check.*",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out).1.contains("matches no check id"),
        "{:?}",
        text(&out)
    );
    // Nothing selected is an error, not a green run.
    let out = imp_verify(&[
        "all",
        "--only",
        "dns.srv.collab-edge",
        "--spec",
        spec.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&out),
        2,
        "collab-edge is not planned without remote access"
    );
    assert!(
        text(&out).1.contains("nothing to check"),
        "{:?}",
        text(&out)
    );
    let out = imp_verify(&["frobnicate"]);
    assert_eq!(code(&out), 2);
}
