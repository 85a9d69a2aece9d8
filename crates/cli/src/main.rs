//! The `imp-verify` command: parses arguments and wires the library crates together.

mod args;
mod discover;
mod exit;
mod ha;
mod out;
mod run;
mod signals;
mod width;

use args::{Cli, Command, SelectArgs, Shell};
use clap::{CommandFactory, Parser};
use exit::Exit;
use imp_verify_core::catalog;
use imp_verify_core::coverage::Coverage;
use imp_verify_core::spec::ProcessEnv;
use imp_verify_core::{build_plan, Area, LoadMode, Pattern, Plan, Probe, Selection, Spec};
use out::Out;
use std::io::IsTerminal;
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
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version (on standard output, a closed one ignored) end 0.
            let _ = e.print();
            if !e.use_stderr() {
                return ExitCode::SUCCESS;
            }
            return Exit::new(2, "the command line is not valid (see above)").finish();
        }
    };
    let ended = match cli.command {
        Command::CheckSpec(s) => check_spec(&s.spec),
        Command::Discover(a) => discover::run(a),
        Command::List {
            catalog,
            select,
            spec,
        } => list(&spec.spec, catalog, &select),
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(dir.as_deref()),
        Command::SpecReference { example } => spec_reference(example),
        Command::All(a) => run_area(a, None),
        Command::Services(a) => run_area(a, Some(Area::Services)),
        Command::Dns(a) => run_area(a, Some(Area::Dns)),
        Command::Tls(a) => run_area(a, Some(Area::Tls)),
        Command::Ldap(a) => run_area(a, Some(Area::Ldap)),
        Command::Xmpp(a) => run_area(a, Some(Area::Xmpp)),
        Command::Sip(a) => run_area(a, Some(Area::Sip)),
        Command::Ha(a) => run_area(a, Some(Area::Ha)),
    };
    match ended {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.finish(),
    }
}

fn run_area(a: args::RunArgs, area: Option<Area>) -> Result<(), Exit> {
    let path = a.spec.spec.clone();
    run::run(&path, a, area)
}

/// The async runtime of a command that goes onto the network.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| exit::usage(format!("cannot start the async runtime: {e}")))
}

fn completions(shell: Shell) -> Result<(), Exit> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "imp-verify", &mut text);
    let mut text = String::from_utf8_lossy(&text).into_owned();
    if matches!(shell, clap_complete::Shell::Bash) {
        // clap_complete names the functions' cases of a hyphenated binary
        // `imp__subcmd__verify__subcmd__all` but sets `imp__verify__subcmd__all`: every
        // option after a subcommand would go uncompleted. One spelling for both.
        text = text.replace("imp__subcmd__verify__", "imp__verify__");
        text = bash_patterns(&text);
    }
    Out::stdout().text(&text)
}

/// Adds to the bash script the completion of `--only` and `--skip` patterns (`area:`,
/// `task:` of every workflow, check ids), `:` in a word included.
fn bash_patterns(script: &str) -> String {
    let mut words: Vec<String> = Area::ALL
        .iter()
        .map(|a| format!("area:{}", a.as_str()))
        .collect();
    words.extend(catalog::TASKS.iter().map(|t| format!("task:{}", t.label)));
    words.extend(catalog::CHECKS.iter().map(|c| c.id.to_string()));
    let function = format!(
        r#"_imp_verify_patterns() {{
    local line="${{COMP_LINE:0:COMP_POINT}}"
    local word="${{line##* }}"
    local before="${{line% *}}"
    case "${{before##* }}" in
        --only|--skip) ;;
        *) return 1 ;;
    esac
    COMPREPLY=( $(compgen -W "{}" -- "$word") )
    # bash completes the part after the last `:` of the word.
    local head="${{word%"${{word##*:}}"}}"
    local i
    for i in "${{!COMPREPLY[@]}}"; do
        COMPREPLY[$i]="${{COMPREPLY[$i]#"$head"}}"
    done
    return 0
}}

"#,
        words.join(" ")
    );
    let hook = "    COMPREPLY=()\n";
    let with_hook = script.replacen(
        hook,
        "    COMPREPLY=()\n    _imp_verify_patterns && return 0\n",
        1,
    );
    format!("{function}{with_hook}")
}

fn man(dir: Option<&Path>) -> Result<(), Exit> {
    match dir {
        Some(d) => {
            let failed = |e: std::io::Error| {
                exit::usage(format!(
                    "cannot write the manual pages into {}: {e}",
                    d.display()
                ))
            };
            clap_mangen::generate_to(Cli::command(), d).map_err(failed)?;
            // The spec's reference: `man 5 imp-verify.toml`.
            let page = imp_verify_core::spec::reference::man_page(env!("CARGO_PKG_VERSION"));
            std::fs::write(d.join("imp-verify.toml.5"), page).map_err(failed)
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| exit::usage(format!("cannot render the manual page: {e}")))?;
            Out::stdout().bytes(&page)
        }
    }
}

fn spec_reference(example: bool) -> Result<(), Exit> {
    let text = if example {
        imp_verify_core::spec::reference::example_toml()
    } else {
        imp_verify_core::spec::reference::text()
    };
    Out::stdout().text(&text)
}

/// Loads the spec (before any thread starts: a `password_env` variable is removed from
/// the environment once read) and prints its warnings.
pub(crate) fn load_spec(path: &Path, mode: LoadMode) -> Result<Spec, Exit> {
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
        Exit::said(2)
    })
}

/// The selection the command line asks for. `--only area:ha` (like `imp-verify ha`)
/// asks for the high-availability checks, which are of other areas.
fn selection(spec: &Spec, select: &SelectArgs, area: Option<Area>) -> Result<Selection, Exit> {
    let parse = |v: &[String]| -> Result<Vec<Pattern>, Exit> {
        v.iter()
            .filter(|s| !s.is_empty())
            .map(|s| Pattern::parse(s))
            .collect::<Result<_, _>>()
            .map_err(exit::usage)
    };
    let mut only = parse(&select.only)?;
    let ha_only = only.iter().any(|p| matches!(p, Pattern::Area(Area::Ha)));
    only.retain(|p| !matches!(p, Pattern::Area(Area::Ha)));
    let selection = Selection {
        areas: area.into_iter().collect(),
        only,
        skip: parse(&select.skip)?,
        ..Selection::default()
    };
    Ok(if area == Some(Area::Ha) || ha_only {
        ha::selection(spec, selection)
    } else {
        selection
    })
}

/// The spec, the plan of the checks selected in it (less those its coverage leaves
/// out), and that coverage.
pub(crate) fn prepare(
    path: &Path,
    select: &SelectArgs,
    area: Option<Area>,
    mode: LoadMode,
) -> Result<(Arc<Spec>, Plan, Coverage), Exit> {
    let spec = Arc::new(load_spec(path, mode)?);
    let selection = selection(&spec, select, area)?;
    let mut plan = build_plan(&spec, &probes(&spec), &selection)
        .map_err(|e| exit::usage(format!("internal error: {e}")))?;
    let coverage = Coverage::of(&spec);
    coverage.leave_out(&mut plan);
    Ok((spec, plan, coverage))
}

fn check_spec(path: &Path) -> Result<(), Exit> {
    let spec = load_spec(path, LoadMode::Full)?;
    let coverage = Coverage::of(&spec);
    // What the spec leaves unverified, as warnings: a valid spec can still prove little.
    for g in &coverage.gaps {
        eprintln!("{}: warning: {}", path.display(), g.line());
    }
    let none = coverage.tasks_not_verified();
    if !none.is_empty() {
        eprintln!(
            "{}: warning: tasks of workflow {} no check verifies with this spec: {}",
            path.display(),
            spec.workflow,
            none.join(", ")
        );
    }
    let nodes = spec.nodes().count();
    Out::stdout().line(&format!(
        "{}: valid (workflow {}: {}; {} cluster(s), {} node(s), {} test user(s), {} federation peer(s), {} federated SIP domain(s))",
        path.display(),
        spec.workflow,
        spec.workflow.title(),
        spec.clusters.len(),
        nodes,
        spec.test_users.len(),
        spec.federation.len(),
        spec.sip_federation.len()
    ))
}

fn list(path: &Path, whole_catalog: bool, select: &SelectArgs) -> Result<(), Exit> {
    let explicit = std::env::args().any(|a| a == "--spec" || a.starts_with("--spec="));
    let width = width::columns(std::io::stdout().is_terminal());
    let mut out = Out::stdout();
    if whole_catalog || (!explicit && !path.exists()) {
        let rows: Vec<[String; 4]> = catalog::CHECKS
            .iter()
            .map(|c| {
                [
                    c.id.to_string(),
                    c.area.as_str().to_string(),
                    c.all_task_labels().join(" "),
                    c.description.to_string(),
                ]
            })
            .collect();
        return out.table(["ID", "AREA", "TASKS", "DESCRIPTION"], &rows, width);
    }
    // Listing reads no password and no certificate: the structure is enough.
    let (spec, plan, coverage) = prepare(path, select, None, LoadMode::Structure)?;
    out.line(&format!(
        "{} check(s) for workflow {} ({}):",
        plan.checks.len(),
        spec.workflow,
        spec.workflow.title()
    ))?;
    let rows: Vec<[String; 4]> = plan
        .infos()
        .into_iter()
        .map(|info| {
            let after = if info.depends_on.is_empty() {
                String::new()
            } else {
                format!(
                    "after {}",
                    info.depends_on
                        .iter()
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            [
                info.key.id.to_string(),
                info.key.target.clone(),
                info.tasks.join(" "),
                after,
            ]
        })
        .collect();
    out.rows(&rows, width)?;
    for g in &coverage.gaps {
        out.line(&format!("not verified: {}", g.line()))?;
    }
    Ok(())
}
