//! A run: the reports set up (their paths checked, the baseline read) before the first
//! check, the runner driven with the signals wired, the run analysed once, the reports
//! written, the exit code and the line that says why.

use crate::args::{ColorChoice, RunArgs};
use crate::exit::{self, Exit};
use crate::{prepare, signals};
use imp_verify_core::catalog;
use imp_verify_core::event::StopReason;
use imp_verify_core::Spec;
use imp_verify_core::{Area, Event, LoadMode, RunOptions};
use imp_verify_report::{
    Analysis, Baseline, Destination, HtmlReporter, HumanOptions, HumanReporter, JsonReporter,
    JunitReporter, ReportContext, Reporter, Thresholds,
};
use std::io::IsTerminal;
use std::path::Path;
use tokio_util::sync::CancellationToken;

pub fn run(path: &Path, args: RunArgs, area: Option<Area>) -> Result<(), Exit> {
    let (spec, plan, coverage) = prepare(path, &args.select, area, LoadMode::Full)?;

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
        return Err(exit::usage(format!(
            "nothing to check: {why} (see `imp-verify list --spec {}`)",
            path.display()
        )));
    }

    let (json, junit, html, on_stdout) = destinations(&args)?;
    let baseline = baseline(&args, &spec)?;
    let context = ReportContext {
        domains: spec.domains.clone(),
        baseline,
        coverage: Some(coverage),
    };

    let mut reporters = reporters(&args, &spec, [json, junit, html], on_stdout > 0);
    let options = RunOptions {
        check_timeout: args.timeout,
        deadline: args.deadline,
        retry_for: args.retry_for,
        concurrency: usize::from(args.concurrency),
        per_server: usize::from(args.per_server),
        ..RunOptions::default()
    };
    let runtime = crate::runtime()?;
    let secrets = spec.secret_values();
    let spec_path = spec.path.clone();
    let interrupt = CancellationToken::new();
    let started = runtime.block_on(async { signals::install(interrupt.clone()) });
    if let Err(e) = started {
        return Err(exit::usage(format!(
            "cannot install the signal handlers: {e}"
        )));
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

    // What the run means, worked out once for every report and the exit code.
    let analysis = Analysis::of(&report.results, &context);
    let mut write_failed = None;
    for r in reporters {
        match r.finish(&analysis) {
            Ok(()) => {}
            // A closed standard output (`| head`) ends that report quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                eprintln!("imp-verify: error: cannot write a report: {e}");
                write_failed = Some(e.to_string());
            }
        }
    }
    verdict(&args, &report, &analysis, write_failed)
}

type Destinations = (
    Option<Destination>,
    Option<Destination>,
    Option<Destination>,
    usize,
);

/// The reports' destinations, checked before the first check runs, and how many go to
/// standard output (one at most).
fn destinations(args: &RunArgs) -> Result<Destinations, Exit> {
    // Every report path is checked before the first check runs: a typo in a folder
    // name must not cost a whole run.
    let dest = |p: &Option<std::path::PathBuf>| p.as_deref().map(Destination::from);
    let (json, junit, html) = (dest(&args.json), dest(&args.junit), dest(&args.html));
    let on_stdout = [&json, &junit, &html]
        .into_iter()
        .flatten()
        .filter(|d| d.is_stdout())
        .count();
    if on_stdout > 1 {
        return Err(exit::usage(
            "only one report can go to standard output (`-`); nothing was checked",
        ));
    }
    for d in [&json, &junit, &html].into_iter().flatten() {
        if let Err(e) = d.check() {
            return Err(exit::usage(format!(
                "cannot write a report: {e}; nothing was checked"
            )));
        }
    }
    Ok((json, junit, html, on_stdout))
}

/// The baseline to compare with, read before the first check runs.
fn baseline(args: &RunArgs, spec: &Spec) -> Result<Option<Baseline>, Exit> {
    Ok(match &args.baseline {
        None => None,
        Some(b) => {
            let thresholds = Thresholds {
                slower_ratio: f64::from(args.regression_threshold) / 100.0,
                min_ms: f64::from(args.regression_min_ms),
                expiry_warning_days: f64::from(spec.tls.expiry_warning_days),
            };
            match Baseline::load(b, &spec.domains, thresholds) {
                Ok(b) => Some(b),
                Err(e) => return Err(exit::usage(format!("{e}; nothing was checked"))),
            }
        }
    })
}

/// The terminal report (on standard error when a report takes standard output) and the
/// reports asked for.
fn reporters(
    args: &RunArgs,
    spec: &Spec,
    [json, junit, html]: [Option<Destination>; 3],
    human_to_stderr: bool,
) -> Vec<Box<dyn Reporter>> {
    // With a report on standard output, the terminal report goes to standard error.
    let human_tty = if human_to_stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => imp_verify_report::use_color(human_tty),
    };
    let human_out: Box<dyn std::io::Write + Send> = if human_to_stderr {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(HumanReporter::new(
        human_out,
        HumanOptions {
            color,
            progress: !args.no_progress && std::io::stderr().is_terminal(),
            verbose: args.verbose,
            quiet: args.quiet,
            width: crate::width::columns(human_tty),
        },
    ))];
    if let Some(d) = json {
        reporters.push(Box::new(
            JsonReporter::new(d).with_domains(spec.domains.clone()),
        ));
    }
    if let Some(d) = junit {
        reporters.push(Box::new(JunitReporter::new(d)));
    }
    if let Some(d) = html {
        reporters.push(Box::new(
            HtmlReporter::new(d).with_domains(spec.domains.clone()),
        ));
    }

    reporters
}

/// The exit: interrupted, a report not written, failures, warnings under --strict,
/// regressions under --fail-on-regression; each with the line that says why.
fn verdict(
    args: &RunArgs,
    report: &imp_verify_core::RunReport,
    analysis: &Analysis,
    write_failed: Option<String>,
) -> Result<(), Exit> {
    let c = report.summary.counts;
    if report.summary.stopped == Some(StopReason::Interrupted) {
        return Err(Exit::new(
            signals::INTERRUPTED,
            "interrupted; the reports mark what did not finish",
        ));
    }
    if let Some(e) = write_failed {
        return Err(Exit::new(2, format!("a report could not be written: {e}")));
    }
    let mut why = Vec::new();
    if c.fail > 0 {
        why.push(format!("{} check(s) failed", c.fail));
    }
    if args.strict && c.warn > 0 {
        why.push(format!(
            "{} check(s) warned, and --strict makes warnings fail",
            c.warn
        ));
    }
    if args.fail_on_regression && analysis.regressions() > 0 {
        if let Some(ch) = &analysis.changes {
            why.push(exit::regressions(ch));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(Exit::new(1, why.join("; ")))
    }
}
