//! imp-verify's reports. Each is a [`Reporter`]: it consumes the runner's
//! [`Event`]s and, at [`Reporter::finish`], writes its output. The runner knows
//! nothing of them.
//!
//! - [`HumanReporter`]: the terminal report, grouped by workflow task, with a live
//!   progress line on stderr.
//! - [`JsonReporter`]: the JSON document described in `crates/report/JSON.md`.
//! - [`JunitReporter`]: JUnit XML (one testsuite an area, one testcase a check).
//! - [`HtmlReporter`]: one self-contained HTML page (workflow, checks, timeline).
//!
//! What the run means (root causes, changes since a [`Baseline`], exposures, coverage)
//! is worked out once, as an [`Analysis`], and handed to every reporter's `finish`.
//! Files are written with [`write_atomically`]: whole or not at all.
#![warn(missing_docs)]

mod analysis;
mod baseline;
mod files;
mod html;
mod html_findings;
mod human;
mod json;
mod junit;
mod roots;
mod text;

pub use analysis::{exposures_phrase, Analysis, Exposure, ReportContext};
pub use baseline::{
    Baseline, BaselineError, BaselineRef, Changes, CheckRef, MetricChange, RegressionKind,
    StatusChange, Thresholds,
};
pub use files::{check_writable, write_atomically, Destination};
pub use html::HtmlReporter;
pub use human::{HumanOptions, HumanReporter};
pub use json::{JsonCheck, JsonEvidence, JsonReport, JsonReporter, JsonSummary};
pub use junit::JunitReporter;
pub use roots::RootCause;

use imp_verify_core::{CheckKey, CheckResult, Event, RunInfo, RunSummary};
use std::collections::HashMap;
use std::time::Duration;

/// A consumer of the runner's events.
pub trait Reporter: Send {
    /// Called for every event, in order.
    fn on_event(&mut self, event: &Event);
    /// Called once after the run (also after Ctrl-C) with the run's [`Analysis`]:
    /// writes the output.
    fn finish(self: Box<Self>, analysis: &Analysis) -> std::io::Result<()>;
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

/// What every report collects from the events: the run, the results, the summary.
#[derive(Default)]
pub(crate) struct Collected {
    pub info: Option<RunInfo>,
    pub results: Vec<CheckResult>,
    pub summary: Option<RunSummary>,
    /// When each check that ran started, from the run's start.
    pub started: HashMap<CheckKey, Duration>,
    /// Each planned check's position in the plan.
    pub index: HashMap<CheckKey, usize>,
}

impl Collected {
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted(info) => {
                self.index = info
                    .checks
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.key.clone(), i))
                    .collect();
                self.info = Some(info.clone());
            }
            Event::CheckFinished(r) => self.results.push(r.clone()),
            Event::RunFinished(s) => self.summary = Some(s.clone()),
            Event::CheckStarted { key, at } => {
                self.started.insert(key.clone(), *at);
            }
            Event::CheckRetrying { .. } => {}
        }
    }

    /// The prerequisites of a check, as planned.
    pub fn requires(&self, key: &CheckKey) -> &[CheckKey] {
        match (&self.info, self.index.get(key)) {
            (Some(info), Some(&i)) => &info.checks[i].depends_on,
            _ => &[],
        }
    }

    /// The results in plan order (the order of `RunStarted`'s checks).
    pub fn ordered(&self) -> Vec<&CheckResult> {
        let mut v: Vec<&CheckResult> = self.results.iter().collect();
        v.sort_by_key(|r| self.index.get(&r.key).copied().unwrap_or(usize::MAX));
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
    fn tasks_sort_numerically() {
        let mut v = vec!["A.10", "B.1", "A.2", "A.9"];
        v.sort_by_key(|t| task_order(t));
        assert_eq!(v, vec!["A.2", "A.9", "A.10", "B.1"]);
    }
}
