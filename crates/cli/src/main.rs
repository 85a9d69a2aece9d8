//! The `imp-verify` command: parses arguments and wires the library crates together.

use clap::{Args, Parser, Subcommand, ValueEnum};
use imp_verify_core::catalog;
use imp_verify_core::event::StopReason;
use imp_verify_core::spec::ProcessEnv;
use imp_verify_core::{
    build_plan, Area, Event, LoadMode, Pattern, Plan, Probe, RunOptions, Selection, Spec,
};
use imp_verify_report::{HumanOptions, HumanReporter, JsonReporter, JunitReporter, Reporter};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod discover;
mod ha;

/// Verify a Cisco Unified CM IM and Presence deployment over the network.
///
/// imp-verify reads a deployment spec (what should hold: domains, clusters, nodes,
/// redundancy groups, LDAP, test users, SIP publish trunk, federation) and checks it
/// from the network, check by check, each keyed to the deployment workflow's task.
///
/// Exit codes: 0 no check failed (warnings allowed unless --strict), 1 at least one
/// check failed, 2 usage or spec error, 3 interrupted.
#[derive(Parser, Debug)]
#[command(name = "imp-verify", version, max_term_width = 100)]
struct Cli {
    /// The deployment spec.
    #[arg(
        long,
        global = true,
        default_value = "imp-verify.toml",
        value_name = "PATH"
    )]
    spec: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every check that applies to the spec's workflow.
    All(RunArgs),
    /// Run the service-port checks (TCP ports of each node).
    Services(RunArgs),
    /// Run the DNS checks.
    Dns(RunArgs),
    /// Run the TLS certificate checks.
    Tls(RunArgs),
    /// Run the LDAP checks.
    Ldap(RunArgs),
    /// Run the XMPP checks.
    Xmpp(RunArgs),
    /// Run the SIP checks.
    Sip(RunArgs),
    /// Run the high-availability checks: xmpp.ha, the service ports of every
    /// redundancy group's nodes, the SRV evidence of group completeness.
    Ha(RunArgs),
    /// List the checks: the whole table, or with --spec the checks a run would make.
    List {
        /// Print the whole check table even when a spec is there.
        #[arg(long)]
        catalog: bool,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Only validate the spec (syntax, fields, references, passwords available).
    CheckSpec,
    /// Write a first spec from a domain's DNS service records and its servers'
    /// certificates (never sends a credential); TODOs mark what DNS cannot say.
    Discover(discover::DiscoverArgs),
}

#[derive(Args, Debug, Clone, Default)]
struct SelectArgs {
    /// Run only checks matching: an id glob (`dns.srv.*`), `area:NAME` or `task:B.8`.
    /// Repeat or separate with commas.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    only: Vec<String>,
    /// Leave out checks matching (same patterns as --only).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    skip: Vec<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// Write the JSON report to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// The time one check has.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,
    /// The time the whole run has; checks still running then fail.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    deadline: Option<Duration>,
    /// Re-run failing checks until they pass or this window ends (deployments still settling).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    retry_for: Option<Duration>,
    /// How many checks may run at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Treat warnings as failures for the exit code.
    #[arg(long)]
    strict: bool,
    /// Show the evidence of passing checks too.
    #[arg(long, short)]
    verbose: bool,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
    /// Colour: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 10s or 2m: {e}"))
}

/// Every probe, in the order their checks are listed, sharing the run's network
/// toolkit (one resolver, one TLS inspector: the CA bundle read once).
fn probes(spec: &Spec) -> Vec<Box<dyn Probe>> {
    let net = imp_verify_net::Net::from_spec(spec);
    vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(imp_probe_tls::TlsProbe::new(net.clone())),
        Box::new(imp_probe_ldap::LdapProbe),
        Box::new(imp_probe_xmpp::XmppProbe),
        Box::new(imp_probe_sip::SipProbe::new(net)),
    ]
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (run_args, area) = match cli.command {
        Command::CheckSpec => return check_spec(&cli.spec),
        Command::Discover(a) => return discover::run(a),
        Command::List { catalog, select } => return list(&cli.spec, catalog, &select),
        Command::All(a) => (a, None),
        Command::Services(a) => (a, Some(Area::Services)),
        Command::Dns(a) => (a, Some(Area::Dns)),
        Command::Tls(a) => (a, Some(Area::Tls)),
        Command::Ldap(a) => (a, Some(Area::Ldap)),
        Command::Xmpp(a) => (a, Some(Area::Xmpp)),
        Command::Sip(a) => (a, Some(Area::Sip)),
        Command::Ha(a) => (a, Some(Area::Ha)),
    };
    run(&cli.spec, run_args, area)
}

/// Loads the spec (before any thread starts: a `password_env` variable is removed from
/// the environment once read) and prints its warnings.
fn load_spec(path: &Path, mode: LoadMode) -> Result<Spec, ExitCode> {
    let loaded = Spec::load_mode(path, mode, &ProcessEnv);
    if let Ok(spec) = &loaded {
        for w in &spec.warnings {
            eprintln!("{w}");
        }
    }
    loaded.map_err(|errors| {
        eprintln!("{errors}");
        eprintln!(
            "{}: {} error(s); nothing was checked",
            path.display(),
            errors.0.len()
        );
        ExitCode::from(2)
    })
}

fn selection(select: &SelectArgs, area: Option<Area>) -> Result<Selection, ExitCode> {
    let parse = |v: &[String]| -> Result<Vec<Pattern>, ExitCode> {
        v.iter()
            .filter(|s| !s.is_empty())
            .map(|s| Pattern::parse(s))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                eprintln!("imp-verify: error: {e}");
                ExitCode::from(2)
            })
    };
    Ok(Selection {
        areas: area.into_iter().collect(),
        only: parse(&select.only)?,
        skip: parse(&select.skip)?,
        ..Selection::default()
    })
}

/// The spec, and the plan of the checks selected in it.
fn prepare(
    path: &Path,
    select: &SelectArgs,
    area: Option<Area>,
    mode: LoadMode,
) -> Result<(Arc<Spec>, Plan), ExitCode> {
    let spec = Arc::new(load_spec(path, mode)?);
    let mut selection = selection(select, area)?;
    if area == Some(Area::Ha) {
        selection = ha::selection(&spec, selection);
    }
    let plan = build_plan(&spec, &probes(&spec), &selection).map_err(|e| {
        eprintln!("imp-verify: internal error: {e}");
        ExitCode::from(2)
    })?;
    Ok((spec, plan))
}

fn check_spec(path: &Path) -> ExitCode {
    match load_spec(path, LoadMode::Full) {
        Err(code) => code,
        Ok(spec) => {
            let nodes = spec.nodes().count();
            println!(
                "{}: valid (workflow {}: {}; {} cluster(s), {} node(s), {} test user(s), {} federation peer(s))",
                path.display(),
                spec.workflow,
                spec.workflow.title(),
                spec.clusters.len(),
                nodes,
                spec.test_users.len(),
                spec.federation.len()
            );
            ExitCode::SUCCESS
        }
    }
}

fn list(path: &Path, whole_catalog: bool, select: &SelectArgs) -> ExitCode {
    let explicit = std::env::args().any(|a| a == "--spec" || a.starts_with("--spec="));
    if whole_catalog || (!explicit && !path.exists()) {
        println!("{:<21} {:<9} {:<52} DESCRIPTION", "ID", "AREA", "TASKS");
        for c in catalog::CHECKS {
            println!(
                "{:<21} {:<9} {:<52} {}",
                c.id,
                c.area.as_str(),
                c.all_task_labels().join(" "),
                c.description
            );
        }
        return ExitCode::SUCCESS;
    }
    // Listing reads no password and no certificate: the structure is enough.
    let (spec, plan) = match prepare(path, select, None, LoadMode::Structure) {
        Ok(p) => p,
        Err(code) => return code,
    };
    println!(
        "{} check(s) for workflow {} ({}):",
        plan.checks.len(),
        spec.workflow,
        spec.workflow.title()
    );
    for info in plan.infos() {
        let after = if info.depends_on.is_empty() {
            String::new()
        } else {
            format!(
                "  after {}",
                info.depends_on
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        println!(
            "{:<24} {:<40} {}{}",
            info.key.id,
            info.key.target,
            info.tasks.join(" "),
            after
        );
    }
    ExitCode::SUCCESS
}

fn run(path: &Path, args: RunArgs, area: Option<Area>) -> ExitCode {
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

    let stdout_tty = std::io::stdout().is_terminal();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => imp_verify_report::use_color(stdout_tty),
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(HumanReporter::new(
        Box::new(std::io::stdout()),
        HumanOptions {
            color,
            progress: !args.no_progress && std::io::stderr().is_terminal(),
            verbose: args.verbose,
        },
    ))];
    if let Some(p) = &args.json {
        reporters.push(Box::new(JsonReporter::new(p.clone())));
    }
    if let Some(p) = &args.junit {
        reporters.push(Box::new(JunitReporter::new(p.clone())));
    }

    let options = RunOptions {
        check_timeout: args.timeout,
        deadline: args.deadline,
        retry_for: args.retry_for,
        concurrency: args.concurrency,
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
    let report = runtime.block_on(async move {
        let interrupt = CancellationToken::new();
        {
            let interrupt = interrupt.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    interrupt.cancel();
                }
            });
        }
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
    let (report, reporters) = report;
    let mut write_failed = false;
    for r in reporters {
        if let Err(e) = r.finish() {
            eprintln!("imp-verify: error: cannot write a report: {e}");
            write_failed = true;
        }
    }
    let c = report.summary.counts;
    if report.summary.stopped == Some(StopReason::Interrupted) {
        ExitCode::from(3)
    } else if write_failed {
        ExitCode::from(2)
    } else if c.fail > 0 || (args.strict && c.warn > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
