//! The `imp-verify` command: parses arguments and wires the library crates together.

mod args;
mod discover;
mod ha;
mod run;
mod signals;

use args::{Cli, Command, SelectArgs, Shell};
use clap::{CommandFactory, Parser};
use imp_verify_core::catalog;
use imp_verify_core::spec::ProcessEnv;
use imp_verify_core::{build_plan, Area, LoadMode, Pattern, Plan, Probe, Selection, Spec};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Every probe, in the order their checks are listed, sharing the run's network
/// toolkit (one resolver, one TLS inspector: the CA bundle read once).
fn probes(spec: &Spec) -> Vec<Box<dyn Probe>> {
    let net = imp_verify_net::Net::from_spec(spec);
    vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(imp_probe_tls::TlsProbe::new(net.clone())),
        Box::new(imp_probe_ldap::LdapProbe::new(net.clone())),
        // Jabber's discovery path (CUCM's UDS), before its XMPP login.
        Box::new(imp_probe_uds::UdsProbe::new(net.clone())),
        // A refused XMPP login is explained by the directory: the LDAP probe's lookup.
        Box::new(imp_probe_xmpp::XmppProbe::new(
            net.clone(),
            Some(Arc::new(imp_probe_ldap::LdapDirectory::new(net.clone()))),
        )),
        Box::new(imp_probe_sip::SipProbe::new(net)),
    ]
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (run_args, area) = match cli.command {
        Command::CheckSpec => return check_spec(&cli.spec),
        Command::Discover(a) => return discover::run(a),
        Command::List { catalog, select } => return list(&cli.spec, catalog, &select),
        Command::Completions { shell } => return completions(shell),
        Command::Man { dir } => return man(dir.as_deref()),
        Command::All(a) => (a, None),
        Command::Services(a) => (a, Some(Area::Services)),
        Command::Dns(a) => (a, Some(Area::Dns)),
        Command::Tls(a) => (a, Some(Area::Tls)),
        Command::Ldap(a) => (a, Some(Area::Ldap)),
        Command::Xmpp(a) => (a, Some(Area::Xmpp)),
        Command::Sip(a) => (a, Some(Area::Sip)),
        Command::Ha(a) => (a, Some(Area::Ha)),
    };
    run::run(&cli.spec, run_args, area)
}

fn completions(shell: Shell) -> ExitCode {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "imp-verify",
        &mut std::io::stdout(),
    );
    ExitCode::SUCCESS
}

fn man(dir: Option<&Path>) -> ExitCode {
    let written = match dir {
        Some(d) => clap_mangen::generate_to(Cli::command(), d),
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imp-verify: error: cannot write the manual page: {e}");
            ExitCode::from(2)
        }
    }
}

/// Loads the spec (before any thread starts: a `password_env` variable is removed from
/// the environment once read) and prints its warnings.
pub(crate) fn load_spec(path: &Path, mode: LoadMode) -> Result<Spec, ExitCode> {
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
pub(crate) fn prepare(
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
                "{}: valid (workflow {}: {}; {} cluster(s), {} node(s), {} test user(s), {} federation peer(s), {} federated SIP domain(s))",
                path.display(),
                spec.workflow,
                spec.workflow.title(),
                spec.clusters.len(),
                nodes,
                spec.test_users.len(),
                spec.federation.len(),
                spec.sip_federation.len()
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
