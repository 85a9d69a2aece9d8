//! `--baseline PREV.json`: what changed since an earlier JSON report of the same
//! deployment, check by check (matched by key), and which measured figures regressed.

use crate::json::{JsonCheck, JsonReport};
use imp_verify_core::Status;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
                let Some(&was) = old.metrics.get(metric) else {
                    continue;
                };
                if let Some(kind) = regression(&self.thresholds, metric, was, after) {
                    ch.metric_regressions.push(MetricChange {
                        key: key.clone(),
                        metric: metric.clone(),
                        before: was,
                        after,
                        change_pct: (was != 0.0)
                            .then(|| ((after - was) / was * 1000.0).round() / 10.0),
                        kind,
                    });
                }
            }
        }
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
}

fn regression(t: &Thresholds, metric: &str, before: f64, after: f64) -> Option<RegressionKind> {
    if metric == "days_left" {
        let margin = t.expiry_warning_days;
        return (before >= margin && after < margin).then_some(RegressionKind::CrossedExpiryMargin);
    }
    if metric.ends_with("_ms")
        && after - before >= t.min_ms
        && after > before * (1.0 + t.slower_ratio)
    {
        return Some(RegressionKind::Slower);
    }
    None
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
    /// Newly failing + newly warning + metric regressions (what `--fail-on-regression`
    /// fails on).
    pub regressions: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_regress_beyond_ratio_and_floor_only() {
        let t = Thresholds::default();
        assert_eq!(
            regression(&t, "im_rtt_ms", 40.0, 100.0),
            Some(RegressionKind::Slower)
        );
        // Many times slower, but only by 15 ms.
        assert_eq!(regression(&t, "options_ms", 1.0, 16.0), None);
        // 40% slower: within the ratio.
        assert_eq!(regression(&t, "login_ms", 200.0, 280.0), None);
        // Faster is never a regression.
        assert_eq!(regression(&t, "login_ms", 100.0, 10.0), None);
        // Counts are not times.
        assert_eq!(regression(&t, "entries", 10.0, 100.0), None);
    }

    #[test]
    fn days_left_regresses_when_crossing_the_margin() {
        let t = Thresholds::default();
        assert_eq!(
            regression(&t, "days_left", 31.0, 29.0),
            Some(RegressionKind::CrossedExpiryMargin)
        );
        assert_eq!(regression(&t, "days_left", 29.0, 28.0), None);
        assert_eq!(regression(&t, "days_left", 300.0, 299.0), None);
    }
}
