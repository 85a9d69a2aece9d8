//! Shared helpers of the end-to-end tests: run the built `imp-verify` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_imp-verify"))
}

/// Runs `imp-verify ARGS` and returns what it did.
pub fn imp_verify(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run imp-verify")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// The repository's root.
pub fn root() -> PathBuf {
    imp_verify_testlab::repo_root()
}

/// Reads a JSON report.
pub fn json(path: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&s).expect("the JSON report parses")
}

/// The checks of a JSON report with this id.
pub fn checks<'a>(report: &'a serde_json::Value, id: &str) -> Vec<&'a serde_json::Value> {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

/// What a run of the binary that writes a JSON report did.
pub struct Run {
    /// Its exit code.
    pub code: i32,
    /// The JSON report it wrote.
    pub report: serde_json::Value,
    /// Its standard output and error, one after the other (for assertion messages).
    pub out: String,
}

/// Runs `imp-verify ARGS --json <a temporary file>` and reads the report.
pub fn run_json(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let mut all = args.to_vec();
    all.extend(["--json", path.to_str().unwrap()]);
    let output = imp_verify(&all);
    let (o, e) = text(&output);
    Run {
        code: code(&output),
        report: json(&path),
        out: format!("{o}{e}"),
    }
}
