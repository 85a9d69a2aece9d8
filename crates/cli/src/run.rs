//! A run: the reports set up (their paths checked, the baseline read) before the first
//! check, the runner driven with the signals wired, the reports written, the exit code.

use crate::args::{ColorChoice, RunArgs};
use crate::{prepare, signals};
use imp_verify_core::catalog;
use imp_verify_core::event::StopReason;
use imp_verify_core::{Area, Event, LoadMode, RunOptions};
use imp_verify_report::{
    check_writable, Baseline, HtmlReporter, HumanOptions, HumanReporter, JsonReporter,
    JunitReporter, ReportContext, Reporter, Thresholds,
};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("imp-verify: error: {msg}");
    ExitCode::from(2)
}

pub fn run(path: &Path, args: RunArgs, area: Option<Area>) -> ExitCode {
    let (spec, plan) = match prepare(path, &args.select, area, LoadMode::Full) {
        Ok(p) => p,
        Err(code) => return code,
    };

    if plan.checks.is_empty() {
        // A run that checks nothing must not look like a run that found nothing wrong.
        let why = match area {
            Some(a) if a != Area::Ha && !catalog::CHECKS.iter().any(|c| c.area == a) => {
                format!("the {a} area has no checks yet")
            }
            _ => format!(
                "no check of the selection applies to workflow {} ({})",
                spec.workflow,
                spec.workflow.title()
            ),
        };
        eprintln!(
            "imp-verify: nothing to check: {why} (see `imp-verify list --spec {}`)",
            path.display()
        );
        return ExitCode::from(2);
    }

    // Every report path is checked before the first check runs: a typo in a folder
    // name must not cost a whole run.
    for p in [&args.json, &args.junit, &args.html].into_iter().flatten() {
        if let Err(e) = check_writable(p) {
            return usage_error(format!("cannot write a report: {e}; nothing was checked"));
        }
    }
    let baseline = match &args.baseline {
        None => None,
        Some(b) => {
            let thresholds = Thresholds {
                slower_ratio: f64::from(args.regression_threshold) / 100.0,
                min_ms: f64::from(args.regression_min_ms),
                expiry_warning_days: f64::from(spec.tls.expiry_warning_days),
            };
            match Baseline::load(b, &spec.domains, thresholds) {
                Ok(b) => Some(b),
                Err(e) => return usage_error(format!("{e}; nothing was checked")),
            }
        }
    };
    let context = Arc::new(ReportContext {
        domains: spec.domains.clone(),
        baseline,
    });

    let stdout_tty = std::io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => imp_verify_report::use_color(stdout_tty),
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(
        HumanReporter::new(
            Box::new(std::io::stdout()),
            HumanOptions {
                color,
                progress: !args.no_progress && std::io::stderr().is_terminal(),
                verbose: args.verbose,
                quiet: args.quiet,
            },
        )
        .with_context(context.clone()),
    )];
    if let Some(p) = &args.json {
        reporters.push(Box::new(
            JsonReporter::new(p.clone()).with_context(context.clone()),
        ));
    }
    if let Some(p) = &args.junit {
        reporters.push(Box::new(JunitReporter::new(p.clone())));
    }
    if let Some(p) = &args.html {
        reporters.push(Box::new(
            HtmlReporter::new(p.clone()).with_context(context.clone()),
        ));
    }

    let options = RunOptions {
        check_timeout: args.timeout,
        deadline: args.deadline,
        retry_for: args.retry_for,
        concurrency: usize::from(args.concurrency),
        per_server: usize::from(args.per_server),
        ..RunOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("imp-verify: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let secrets = spec.secret_values();
    let spec_path = spec.path.clone();
    let interrupt = CancellationToken::new();
    let started = runtime.block_on(async { signals::install(interrupt.clone()) });
    if let Err(e) = started {
        return usage_error(format!("cannot install the signal handlers: {e}"));
    }
    let (report, reporters) = runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let consumer = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                for r in reporters.iter_mut() {
                    r.on_event(&ev);
                }
            }
            reporters
        });
        let report = imp_verify_core::run(plan, spec_path, options, secrets, interrupt, tx).await;
        let reporters = consumer.await.expect("the report consumer does not panic");
        (report, reporters)
    });
    let mut write_failed = false;
    for r in reporters {
        if let Err(e) = r.finish() {
            eprintln!("imp-verify: error: cannot write a report: {e}");
            write_failed = true;
        }
    }
    let regressed = args.fail_on_regression
        && context
            .baseline
            .as_ref()
            .is_some_and(|b| b.compare_results(&report.results).regressions > 0);
    let c = report.summary.counts;
    if report.summary.stopped == Some(StopReason::Interrupted) {
        ExitCode::from(signals::INTERRUPTED)
    } else if write_failed {
        ExitCode::from(2)
    } else if c.fail > 0 || (args.strict && c.warn > 0) || regressed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
