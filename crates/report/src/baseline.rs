//! `--baseline PREV.json`: what changed since an earlier JSON report of the same
//! deployment, check by check (matched by key), and which measured figures regressed.

use crate::json::{JsonCheck, JsonReport};
use imp_verify_core::Status;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// When a measured figure counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A time (`*_ms`) regresses when it grows by more than this share (0.5 = 50%)...
    pub slower_ratio: f64,
    /// ...and by at least this many milliseconds (no alarm for 1 ms becoming 12 ms on
    /// a busy machine).
    pub min_ms: f64,
    /// A certificate's `days_left` regresses when it falls below this margin (the
    /// spec's `expiry_warning_days`) and was not below it before.
    pub expiry_warning_days: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            slower_ratio: 0.5,
            min_ms: 50.0,
            expiry_warning_days: 30.0,
        }
    }
}

/// Why a baseline cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file cannot be read.
    #[error("cannot read the baseline {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a regular file, or larger than any report imp-verify writes.
    #[error("the baseline {path} is {what}, not a JSON report")]
    NotAReport {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        what: String,
    },
    /// It is not an imp-verify JSON report.
    #[error("the baseline {path} is not an imp-verify JSON report: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A report of a format this version does not know.
    #[error(
        "the baseline {path} is a JSON report of version {found}; this imp-verify reads version {}",
        crate::json::VERSION
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// A report of another deployment.
    #[error("the baseline {path} is a report of another deployment (domains {theirs}), not of this one (domains {ours}); give a report of this deployment, or no --baseline")]
    OtherDeployment {
        /// The file.
        path: PathBuf,
        /// The baseline's domains.
        theirs: String,
        /// This spec's domains.
        ours: String,
    },
}

/// The largest baseline read: far above the report of a 20-cluster deployment.
const MAX_BASELINE_BYTES: u64 = 256 << 20;

/// An earlier report to compare the run with.
#[derive(Debug, Clone)]
pub struct Baseline {
    path: PathBuf,
    report: JsonReport,
    thresholds: Thresholds,
}

impl Baseline {
    /// Reads the report at `path`, refusing one of a deployment whose domains are not
    /// `domains` (a report without domains, from an older imp-verify, is taken).
    pub fn load(
        path: &Path,
        domains: &[String],
        thresholds: Thresholds,
    ) -> Result<Baseline, BaselineError> {
        let read_error = |source| BaselineError::Read {
            path: path.to_path_buf(),
            source,
        };
        // A FIFO or a device would hang the run or fill the memory before it starts.
        let meta = std::fs::metadata(path).map_err(read_error)?;
        let not = |what: String| BaselineError::NotAReport {
            path: path.to_path_buf(),
            what,
        };
        if !meta.is_file() {
            return Err(not("not a regular file".into()));
        }
        if meta.len() > MAX_BASELINE_BYTES {
            return Err(not(format!(
                "{} bytes (more than {} MiB)",
                meta.len(),
                MAX_BASELINE_BYTES >> 20
            )));
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        let report: JsonReport =
            serde_json::from_str(&text).map_err(|source| BaselineError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        Baseline::from_report(path, report, domains, thresholds)
    }

    /// A baseline from a report already read.
    pub fn from_report(
        path: &Path,
        report: JsonReport,
        domains: &[String],
        thresholds: Thresholds,
    ) -> Result<Baseline, BaselineError> {
        if report.version != crate::json::VERSION {
            return Err(BaselineError::Version {
                path: path.to_path_buf(),
                found: report.version,
            });
        }
        let sorted = |v: &[String]| {
            let mut v: Vec<String> = v.iter().map(|d| d.to_ascii_lowercase()).collect();
            v.sort();
            v.dedup();
            v
        };
        if !report.domains.is_empty() && sorted(&report.domains) != sorted(domains) {
            return Err(BaselineError::OtherDeployment {
                path: path.to_path_buf(),
                theirs: report.domains.join(", "),
                ours: domains.join(", "),
            });
        }
        Ok(Baseline {
            path: path.to_path_buf(),
            report,
            thresholds,
        })
    }

    /// What changed from the baseline to a run's results (for the exit code).
    pub fn compare_results(&self, results: &[imp_verify_core::CheckResult]) -> Changes {
        let c = crate::Collected {
            results: results.to_vec(),
            ..Default::default()
        };
        let checks = results.iter().map(|r| crate::json::check(&c, r)).collect();
        self.compare(&JsonReport {
            version: crate::json::VERSION,
            spec: None,
            workflow: None,
            domains: Vec::new(),
            started_at: None,
            wall_ms: None,
            per_server_cap: None,
            stopped: None,
            summary: Default::default(),
            changes: None,
            coverage: None,
            checks,
        })
    }

    /// What changed from the baseline to `current`.
    pub fn compare(&self, current: &JsonReport) -> Changes {
        let before: HashMap<String, &JsonCheck> = self
            .report
            .checks
            .iter()
            .map(|c| (c.key_string(), c))
            .collect();
        let mut ch = Changes {
            baseline: BaselineRef {
                path: self.path.display().to_string(),
                started_at: self.report.started_at.clone(),
            },
            ..Changes::default()
        };
        // Every time measured in both runs: (key, metric, the baseline's median, now).
        let mut times: Vec<Time> = Vec::new();
        for now in &current.checks {
            let key = now.key_string();
            let Some(old) = before.get(&key) else {
                ch.new.push(CheckRef::of(now));
                continue;
            };
            let change = StatusChange {
                key: key.clone(),
                before: old.status,
                after: now.status,
                message: now.message.clone(),
            };
            match (old.status, now.status) {
                (Status::Fail, Status::Fail) => ch.still_failing.push(change),
                (_, Status::Fail) => ch.newly_failing.push(change),
                (Status::Fail, Status::Pass | Status::Warn) => ch.fixed.push(change),
                (Status::Pass, Status::Warn) => ch.newly_warning.push(change),
                (Status::Pass | Status::Warn, Status::Skip) => ch.newly_skipped.push(change),
                (a, b) if a != b => ch.other.push(change),
                _ => {}
            }
            for (metric, &after) in &now.metrics {
                let window = old.window(metric);
                let Some(was) = median(&window) else {
                    continue;
                };
                if metric == "days_left" {
                    let margin = self.thresholds.expiry_warning_days;
                    if was >= margin && after < margin {
                        ch.metric_regressions.push(MetricChange::new(
                            &key,
                            metric,
                            was,
                            after,
                            RegressionKind::CrossedExpiryMargin,
                            window.len(),
                        ));
                    }
                } else if metric.ends_with("_ms") {
                    times.push((key.clone(), metric.clone(), was, window.len(), after));
                }
            }
        }
        let (slowdown, slower) = self.slower_times(times);
        ch.slowdown = slowdown;
        ch.metric_regressions.extend(slower);
        let now: std::collections::HashSet<String> =
            current.checks.iter().map(|c| c.key_string()).collect();
        ch.removed = self
            .report
            .checks
            .iter()
            .filter(|c| !now.contains(&c.key_string()))
            .map(CheckRef::of)
            .collect();
        ch.regressions =
            ch.newly_failing.len() + ch.newly_warning.len() + ch.metric_regressions.len();
        ch
    }

    /// The times of `times` (key, metric, the baseline's median, its runs, now) that
    /// regressed against the run's own shift and spread, and that shift as a ratio.
    fn slower_times(&self, times: Vec<Time>) -> (f64, Vec<MetricChange>) {
        let mut out = Vec::new();
        // A busy machine (or network) slows every time of the run, a slow server only
        // its own. Each time's change is taken as z = ln((after + f) / (before + f)), f
        // the floor (so that 0.3 ms becoming 50 ms on a loaded machine is not a
        // thousandfold slowdown); the run's own shift is the median z, its spread the
        // median absolute deviation, and a time regresses when it moved away from the
        // rest by more than the ratio and three spreads, and by the floor at least.
        let f = self.thresholds.min_ms.max(1.0);
        let z: Vec<f64> = times
            .iter()
            .map(|(_, _, was, _, after)| ((after + f) / (was + f)).ln())
            .collect();
        let (shift, spread) = if z.len() >= MIN_TIMES_FOR_SLOWDOWN {
            let m = median(&z).unwrap_or(0.0);
            let dev: Vec<f64> = z.iter().map(|x| (x - m).abs()).collect();
            (m.max(0.0), 1.4826 * median(&dev).unwrap_or(0.0))
        } else {
            (0.0, 0.0)
        };
        let margin = (1.0 + self.thresholds.slower_ratio).ln().max(3.0 * spread);
        // A loaded machine also delays short exchanges by whole scheduling slices: the
        // added time must stand out from the others' as well, by three spreads.
        let d: Vec<f64> = times
            .iter()
            .map(|(_, _, was, _, after)| after - was)
            .collect();
        let (typical, jitter) = if d.len() >= MIN_TIMES_FOR_SLOWDOWN {
            let m = median(&d).unwrap_or(0.0);
            let dev: Vec<f64> = d.iter().map(|x| (x - m).abs()).collect();
            (m.max(0.0), 1.4826 * median(&dev).unwrap_or(0.0))
        } else {
            (0.0, 0.0)
        };
        let floor = self.thresholds.min_ms.max(3.0 * jitter);
        for ((key, metric, was, runs, after), z) in times.into_iter().zip(z) {
            if z - shift > margin && after - was - typical >= floor {
                out.push(MetricChange::new(
                    &key,
                    &metric,
                    was,
                    after,
                    RegressionKind::Slower,
                    runs,
                ));
            }
        }
        ((shift.exp() * 100.0).round() / 100.0, out)
    }

    /// The history each check of `results` carries into its report: the baseline's
    /// values of each metric, its own last, the latest [`HISTORY`] runs.
    pub fn history_of(&self, key: &str) -> BTreeMap<String, Vec<f64>> {
        let Some(old) = self.report.checks.iter().find(|c| c.key_string() == key) else {
            return BTreeMap::new();
        };
        old.metrics
            .keys()
            .map(|m| (m.clone(), old.window(m)))
            .collect()
    }
}

/// A time measured in both runs: key, metric, the baseline's median, its runs, now.
type Time = (String, String, f64, usize, f64);

/// How many runs a metric's history keeps (the baseline's median is taken over them).
pub const HISTORY: usize = 9;

/// With fewer times than this in both runs, the run's shift is not estimated (none).
const MIN_TIMES_FOR_SLOWDOWN: usize = 8;

/// The median of `v`, if any.
fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl JsonCheck {
    /// A metric's values over the runs this report knows: its history, then its own.
    fn window(&self, metric: &str) -> Vec<f64> {
        let mut w: Vec<f64> = self.history.get(metric).cloned().unwrap_or_default();
        if let Some(v) = self.metrics.get(metric) {
            w.push(*v);
        }
        let skip = w.len().saturating_sub(HISTORY);
        w.split_off(skip)
    }
}

impl MetricChange {
    fn new(
        key: &str,
        metric: &str,
        before: f64,
        after: f64,
        kind: RegressionKind,
        runs: usize,
    ) -> MetricChange {
        MetricChange {
            key: key.to_string(),
            metric: metric.to_string(),
            before,
            after,
            change_pct: (before != 0.0)
                .then(|| ((after - before) / before * 1000.0).round() / 10.0),
            kind,
            baseline_runs: runs,
        }
    }
}

/// Whether a time that was `expected` regressed to `after` on its own: by more than
/// the ratio and by the floor at least.
#[cfg(test)]
fn slower(t: &Thresholds, expected: f64, after: f64) -> bool {
    after - expected >= t.min_ms && after > expected * (1.0 + t.slower_ratio)
}

#[cfg(test)]
fn regression(t: &Thresholds, metric: &str, before: f64, after: f64) -> Option<RegressionKind> {
    if metric == "days_left" {
        let margin = t.expiry_warning_days;
        return (before >= margin && after < margin).then_some(RegressionKind::CrossedExpiryMargin);
    }
    (metric.ends_with("_ms") && slower(t, before, after)).then_some(RegressionKind::Slower)
}

/// Which baseline the changes are against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineRef {
    /// The file given as `--baseline`.
    pub path: String,
    /// When the baseline's run started.
    pub started_at: Option<String>,
}

/// A check whose verdict changed (or stayed failing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// `id [target]`.
    pub key: String,
    /// Its verdict in the baseline.
    pub before: Status,
    /// Its verdict now.
    pub after: Status,
    /// What it found now.
    pub message: String,
}

/// A check only one of the two runs made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRef {
    /// `id [target]`.
    pub key: String,
    /// Its verdict in the run that made it.
    pub status: Status,
}

impl CheckRef {
    fn of(c: &JsonCheck) -> CheckRef {
        CheckRef {
            key: c.key_string(),
            status: c.status,
        }
    }
}

/// How a figure regressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionKind {
    /// A time grew beyond the threshold.
    Slower,
    /// A certificate's days left fell below the expiry warning margin.
    CrossedExpiryMargin,
}

/// A measured figure that regressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricChange {
    /// `id [target]`.
    pub key: String,
    /// The metric, e.g. `im_rtt_ms`.
    pub metric: String,
    /// Its value in the baseline.
    pub before: f64,
    /// Its value now.
    pub after: f64,
    /// The change in percent of the baseline's value (null when that was 0).
    pub change_pct: Option<f64>,
    /// How it regressed.
    pub kind: RegressionKind,
    /// How many of the baseline's runs `before` is the median of (1: the baseline
    /// alone; its report keeps up to [`HISTORY`]).
    #[serde(default = "one")]
    pub baseline_runs: usize,
}

fn one() -> usize {
    1
}

fn unit() -> f64 {
    1.0
}

/// What changed since the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// The baseline.
    pub baseline: BaselineRef,
    /// Failing now, not before.
    pub newly_failing: Vec<StatusChange>,
    /// Warning now, passing before.
    pub newly_warning: Vec<StatusChange>,
    /// Failing before, passing or warning now.
    pub fixed: Vec<StatusChange>,
    /// Failing before and now.
    pub still_failing: Vec<StatusChange>,
    /// Passing or warning before, skipped now (blocked by a failure, see the root
    /// causes, or not run because the run stopped).
    pub newly_skipped: Vec<StatusChange>,
    /// Every other change of verdict (e.g. skip to pass, warn to pass).
    pub other: Vec<StatusChange>,
    /// Checks this run made and the baseline did not.
    pub new: Vec<CheckRef>,
    /// Checks the baseline made and this run did not.
    pub removed: Vec<CheckRef>,
    /// Figures beyond the thresholds.
    pub metric_regressions: Vec<MetricChange>,
    /// How much slower this run's times were than the baseline's, all together (the
    /// median of (after + floor) / (before + floor); 1 when not slower, or with fewer
    /// than 8 times): a busy machine slows every time, and each time is judged against
    /// the others' shift.
    #[serde(default = "unit")]
    pub slowdown: f64,
    /// Newly failing + newly warning + metric regressions (what `--fail-on-regression`
    /// fails on).
    pub regressions: usize,
}

#[cfg(test)]
#[path = "baseline_tests.rs"]
mod tests;
