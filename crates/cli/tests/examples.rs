//! The nightly recipes in examples/ are what they claim to be: well-formed YAML, valid
//! against their CI system's own schema (check-jsonschema's vendored GitHub workflow
//! and GitLab CI schemas), systemd units that `systemd-analyze verify` accepts, and
//! each runs `imp-verify all` with options the binary really takes, keeping the JSON
//! for the next night's `--baseline` and publishing the JUnit.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); scripts/setup installs it"));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{what} refused it:\n{o}{e}");
    o
}

fn yaml_is_well_formed(path: &Path) {
    run_ok(
        Command::new("python3")
            .args(["-c", "import sys, yaml; yaml.safe_load(open(sys.argv[1]))"])
            .arg(path),
        "python3 yaml (PyYAML)",
    );
}

fn schema_valid(path: &Path, schema: &str) {
    run_ok(
        Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .arg(path),
        "check-jsonschema",
    );
}

/// The `--flags` an example passes to imp-verify are all options of `imp-verify all`,
/// and it keeps the JSON, writes JUnit and compares with the previous JSON.
fn runs_imp_verify_nightly(text: &str) {
    runs_nightly_from(text, "imp-verify all");
}

/// As [`runs_imp_verify_nightly`], for the command that starts at `start`.
fn runs_nightly_from(text: &str, start: &str) {
    let help = imp_verify(&["all", "--help"]);
    let (help, _) = common::text(&help);
    let start = text.find(start).expect("the example runs imp-verify all");
    let end = start
        + text[start..]
            .find("--fail-on-regression")
            .expect("the example fails on regressions")
        + "--fail-on-regression".len();
    let flags: Vec<&str> = text[start..end]
        .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .filter(|w| w.starts_with("--"))
        .collect();
    assert!(flags.len() >= 5, "{flags:?}");
    for f in flags {
        assert!(help.contains(f), "`{f}` is not an option of imp-verify all");
    }
    for needed in ["--json", "--junit", "--baseline", "--fail-on-regression"] {
        assert!(text.contains(needed), "the example does not use {needed}");
    }
}

#[test]
fn the_github_actions_workflow_is_valid() {
    let p = example("github-actions.yml");
    yaml_is_well_formed(&p);
    schema_valid(&p, "vendor.github-workflows");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("schedule:") && text.contains("cron:"));
    runs_imp_verify_nightly(&text);
}

#[test]
fn the_gitlab_ci_job_is_valid() {
    let p = example("gitlab-ci.yml");
    yaml_is_well_formed(&p);
    schema_valid(&p, "vendor.gitlab-ci");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("junit: junit.xml"));
    assert!(text.contains("$CI_PIPELINE_SOURCE == \"schedule\""));
    runs_imp_verify_nightly(&text);
}

#[test]
fn the_jenkinsfile_runs_nightly_and_publishes() {
    // No Jenkinsfile linter is packaged for Debian or PyPI (Jenkins' own linter is a
    // request to a running controller): its structure and its imp-verify options are
    // checked instead.
    let text = std::fs::read_to_string(example("Jenkinsfile")).unwrap();
    for needed in [
        "pipeline {",
        "triggers { cron(",
        "copyArtifacts(",
        "junit testResults: 'junit.xml'",
        "archiveArtifacts artifacts: 'report.json",
    ] {
        assert!(text.contains(needed), "the Jenkinsfile lacks {needed}");
    }
    assert_eq!(
        text.matches('{').count(),
        text.matches('}').count(),
        "braces balance"
    );
    runs_imp_verify_nightly(&text);
}

#[test]
fn the_systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    for unit in ["imp-verify-nightly.service", "imp-verify-nightly.timer"] {
        std::fs::copy(example(unit), dir.path().join(unit)).unwrap();
    }
    // The service's Documentation= names the man page: the one `imp-verify man` writes.
    let man1 = dir.path().join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    let out = imp_verify(&["man", "--dir", man1.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let out = run_ok(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.path().join("imp-verify-nightly.timer"))
            .arg(dir.path().join("imp-verify-nightly.service"))
            .env("MANPATH", dir.path().join("man")),
        "systemd-analyze verify",
    );
    assert!(!out.contains("rror"), "{out}");
    let service = std::fs::read_to_string(example("imp-verify-nightly.service")).unwrap();
    runs_imp_verify_nightly(&service);
}

/// The jobs of the examples that use imp-verify's container image run the image of the
/// repository's Dockerfile (whose default target's entry point is the binary) as the
/// other jobs run the binary: GitHub's with `docker run` on the host's network, GitLab's
/// inside the image with its entry point set aside.
#[test]
fn the_image_jobs_run_the_tools_image() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let tool = &dockerfile[dockerfile.rfind("\nFROM ").expect("stages")..];
    assert!(
        tool.contains(" AS tool\n") && tool.contains("ENTRYPOINT [\"imp-verify\"]"),
        "{tool}"
    );

    let gh = std::fs::read_to_string(example("github-actions.yml")).unwrap();
    let job = &gh[gh
        .find("\n  verify-from-image:")
        .expect("the GitHub image job")..];
    assert!(job.contains("imp-verify:bookworm"), "{job}");
    let run = &job[job
        .find("docker run --rm --network host -v \"$PWD:/work\"")
        .expect("docker run")..];
    assert!(
        run.contains("\"$IMAGE\" \\\n            all --spec"),
        "{run}"
    );
    runs_nightly_from(job, "all --spec");
    assert!(job.contains("report_paths: junit.xml"));

    let gl = std::fs::read_to_string(example("gitlab-ci.yml")).unwrap();
    let job = &gl[gl
        .find("\nimp-verify-nightly-image:")
        .expect("the GitLab image job")..];
    assert!(
        job.contains("name: registry.example.com/uc/imp-verify:bookworm\n    entrypoint: [\"\"]"),
        "{job}"
    );
    runs_imp_verify_nightly(job);
    assert!(job.contains("junit: junit.xml"));
}
