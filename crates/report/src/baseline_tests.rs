//! The baseline comparison's unit tests.
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
