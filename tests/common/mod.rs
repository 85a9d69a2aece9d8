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
