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
        let mut times: Vec<(String, String, f64, usize, f64)> = Vec::new();
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
        ch.slowdown = (shift.exp() * 100.0).round() / 100.0;
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
                ch.metric_regressions.push(MetricChange::new(
                    &key,
                    &metric,
                    was,
                    after,
                    RegressionKind::Slower,
                    runs,
                ));
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

    fn report(checks: Vec<(&str, f64, Vec<f64>)>) -> JsonReport {
        let checks = checks
            .into_iter()
            .map(|(key, ms, history)| JsonCheck {
                key: key.to_string(),
                id: "xmpp.login".into(),
                area: "xmpp".into(),
                target: key.to_string(),
                tasks: vec![],
                status: Status::Pass,
                message: String::new(),
                evidence: vec![],
                remediation: None,
                start_ms: None,
                duration_ms: ms,
                attempts: 1,
                requires: vec![],
                metrics: [("login_ms".to_string(), ms)].into_iter().collect(),
                history: if history.is_empty() {
                    BTreeMap::new()
                } else {
                    [("login_ms".to_string(), history)].into_iter().collect()
                },
                reason: None,
            })
            .collect();
        JsonReport {
            version: crate::json::VERSION,
            spec: None,
            workflow: None,
            domains: vec![],
            started_at: None,
            wall_ms: None,
            per_server_cap: None,
            stopped: None,
            summary: Default::default(),
            changes: None,
            coverage: None,
            checks,
        }
    }

    fn baseline(r: JsonReport) -> Baseline {
        Baseline::from_report(Path::new("b.json"), r, &[], Thresholds::default()).unwrap()
    }

    #[test]
    fn a_busy_machine_slows_every_time_and_is_no_regression() {
        let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
        let idle = report(keys.iter().map(|k| (k.as_str(), 90.0, vec![])).collect());
        // Everything three times slower, one a little more: the machine, not a server.
        let mut busy: Vec<(&str, f64, Vec<f64>)> =
            keys.iter().map(|k| (k.as_str(), 270.0, vec![])).collect();
        busy[0].1 = 330.0;
        let ch = baseline(idle.clone()).compare(&report(busy));
        assert_eq!(ch.slowdown, 2.29);
        assert!(
            ch.metric_regressions.is_empty(),
            "{:?}",
            ch.metric_regressions
        );
        // Without the run's slowdown, all twelve would have regressed.
        assert!(slower(&Thresholds::default(), 90.0, 270.0));
        // One server 500 ms slower, the rest as before: that one regresses.
        let mut slow: Vec<(&str, f64, Vec<f64>)> =
            keys.iter().map(|k| (k.as_str(), 92.0, vec![])).collect();
        slow[3].1 = 590.0;
        let ch = baseline(idle).compare(&report(slow));
        assert_eq!(
            ch.metric_regressions.len(),
            1,
            "{:?}",
            ch.metric_regressions
        );
        assert_eq!(ch.metric_regressions[0].key, "k3");
        assert_eq!(ch.regressions, 1);
    }

    #[test]
    fn a_loaded_machine_adds_delay_to_short_times_and_is_no_regression() {
        // As measured on the lab under stress-ng: sub-millisecond connects take 50 to
        // 240 ms, longer exchanges two to three times as long.
        let idle = [
            0.3, 0.6, 10.2, 26.9, 30.2, 66.5, 82.3, 112.9, 213.0, 423.8, 925.0, 14.4,
        ];
        let busy = [
            51.1, 107.6, 239.2, 188.3, 152.9, 325.1, 212.3, 325.1, 470.0, 1328.7, 2100.0, 102.0,
        ];
        let keys: Vec<String> = (0..idle.len()).map(|i| format!("k{i}")).collect();
        let b = baseline(report(
            keys.iter()
                .zip(idle)
                .map(|(k, v)| (k.as_str(), v, vec![]))
                .collect(),
        ));
        let ch = b.compare(&report(
            keys.iter()
                .zip(busy)
                .map(|(k, v)| (k.as_str(), v, vec![]))
                .collect(),
        ));
        assert!(
            ch.metric_regressions.is_empty(),
            "{:?}",
            ch.metric_regressions
        );
        // The same idle machine, one server's exchanges 500 ms late: that one regresses.
        let mut late = idle;
        late[8] += 500.0;
        let late: Vec<f64> = late.iter().map(|v| v * 1.05).collect();
        let ch = b.compare(&report(
            keys.iter()
                .zip(late)
                .map(|(k, v)| (k.as_str(), v, vec![]))
                .collect(),
        ));
        let got: Vec<&str> = ch
            .metric_regressions
            .iter()
            .map(|m| m.key.as_str())
            .collect();
        assert_eq!(got, ["k8"]);
    }

    #[test]
    fn the_baseline_is_the_median_of_the_runs_its_report_keeps() {
        // Last night was an outlier (200 ms); the nights before were 100.
        let b = baseline(report(vec![("k", 200.0, vec![100.0, 100.0, 101.0, 99.0])]));
        assert_eq!(
            b.history_of("k")["login_ms"],
            [100.0, 100.0, 101.0, 99.0, 200.0]
        );
        let ch = b.compare(&report(vec![("k", 190.0, vec![])]));
        let m = &ch.metric_regressions[0];
        assert_eq!((m.before, m.baseline_runs), (100.0, 5));
        // The history is bounded.
        let long = baseline(report(vec![("k", 1.0, vec![1.0; 20])]));
        assert_eq!(long.history_of("k")["login_ms"].len(), HISTORY);
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
