//! imp-verify's reports. Each is a [`Reporter`]: it consumes the runner's
//! [`Event`]s and, at [`Reporter::finish`], writes its output. The runner knows
//! nothing of them.
//!
//! - [`HumanReporter`]: the terminal report, grouped by workflow task, with a live
//!   progress line on stderr.
//! - [`JsonReporter`]: the JSON document described in `crates/report/JSON.md`.
//! - [`JunitReporter`]: JUnit XML (one testsuite an area, one testcase a check).
//!
//! Files are written with [`write_atomically`]: whole or not at all.
#![warn(missing_docs)]

mod human;
mod json;
mod junit;

pub use human::{HumanOptions, HumanReporter};
pub use json::JsonReporter;
pub use junit::JunitReporter;

use imp_verify_core::{CheckResult, Event, RunInfo, RunSummary};
use std::io::Write;
use std::path::Path;

/// A consumer of the runner's events.
pub trait Reporter: Send {
    /// Called for every event, in order.
    fn on_event(&mut self, event: &Event);
    /// Called once after the run (also after Ctrl-C): writes the output.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

/// Whether to colour the human report: only on a terminal, and never when `NO_COLOR`
/// is set to anything (<https://no-color.org>).
pub fn use_color(is_terminal: bool) -> bool {
    use_color_with(is_terminal, |k| std::env::var_os(k).is_some())
}

/// [`use_color`] with the environment lookup given (for tests).
pub fn use_color_with(is_terminal: bool, has_var: impl Fn(&str) -> bool) -> bool {
    is_terminal && !has_var("NO_COLOR")
}

/// Writes `bytes` to `path` whole or not at all: a temporary file in the same folder,
/// flushed to disk, then renamed over `path`. On error no partial file is left.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What every report collects from the events: the run, the results, the summary.
#[derive(Default)]
pub(crate) struct Collected {
    pub info: Option<RunInfo>,
    pub results: Vec<CheckResult>,
    pub summary: Option<RunSummary>,
}

impl Collected {
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted(info) => self.info = Some(info.clone()),
            Event::CheckFinished(r) => self.results.push(r.clone()),
            Event::RunFinished(s) => self.summary = Some(s.clone()),
            Event::CheckStarted { .. } | Event::CheckRetrying { .. } => {}
        }
    }

    /// The results in plan order (the order of `RunStarted`'s checks).
    pub fn ordered(&self) -> Vec<&CheckResult> {
        let mut v: Vec<&CheckResult> = self.results.iter().collect();
        if let Some(info) = &self.info {
            let pos = |r: &CheckResult| {
                info.checks
                    .iter()
                    .position(|c| c.key == r.key)
                    .unwrap_or(usize::MAX)
            };
            v.sort_by_key(|r| pos(r));
        }
        v
    }
}

/// Orders task references numerically: A.2 < A.10 < B.1.
pub(crate) fn task_order(task: &str) -> (String, u32) {
    let (w, n) = task.split_once('.').unwrap_or((task, "0"));
    (w.to_string(), n.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_and_terminals_only() {
        assert!(use_color_with(true, |_| false));
        assert!(!use_color_with(false, |_| false));
        assert!(!use_color_with(true, |k| k == "NO_COLOR"));
    }

    #[test]
    fn atomic_write_leaves_content_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomically(&p, b"{\"a\":1}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"a\":1}");
        write_atomically(&p, b"{\"a\":2}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"a\":2}");
        // Only the file itself is there: no temporary left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let missing = dir.path().join("no/such/folder/r.json");
        assert!(write_atomically(&missing, b"x").is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn a_failed_rename_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: rename fails after the temp was written.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"x").unwrap();
        assert!(write_atomically(&target, b"data").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["taken".to_string()]);
    }

    #[test]
    fn tasks_sort_numerically() {
        let mut v = vec!["A.10", "B.1", "A.2", "A.9"];
        v.sort_by_key(|t| task_order(t));
        assert_eq!(v, vec!["A.2", "A.9", "A.10", "B.1"]);
    }
}
