//! The command line: commands, options, their ranges and examples.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Verify a Cisco Unified CM IM and Presence deployment over the network.
///
/// imp-verify reads a deployment spec (what should hold: domains, clusters, nodes,
/// redundancy groups, LDAP, test users, SIP publish trunk, federation) and checks it
/// from the network, check by check, each keyed to the deployment workflow's task.
///
/// Exit codes: 0 no check failed (warnings allowed unless --strict), 1 at least one
/// check failed (or, with --fail-on-regression, something regressed since the
/// baseline), 2 usage or spec error, or a report cannot be written, 3 interrupted
/// (Ctrl-C, SIGTERM, SIGHUP; the reports are still written).
#[derive(Parser, Debug)]
#[command(name = "imp-verify", version, max_term_width = 100, after_help = EXAMPLES_MAIN)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The spec of the commands that read one (and only of those: `discover`,
/// `completions`, `man` and `spec-reference` refuse `--spec`).
#[derive(Args, Debug, Clone)]
pub struct SpecArg {
    /// The deployment spec.
    #[arg(long, default_value = "imp-verify.toml", value_name = "PATH")]
    pub spec: PathBuf,
}

const EXAMPLES_MAIN: &str = "\
Examples:
  imp-verify check-spec --spec deployment.toml
  imp-verify all --spec deployment.toml --json report.json --junit junit.xml --html report.html
  imp-verify all --spec deployment.toml --baseline last-night.json --fail-on-regression";

const EXAMPLE_ALL: &str = "\
Examples:
  imp-verify all --spec deployment.toml --json report.json --junit junit.xml --html report.html
  imp-verify all --spec deployment.toml --json tonight.json --baseline last-night.json
  imp-verify all --only task:C.10 --skip 'dns.srv.*' --quiet
  imp-verify all --retry-for 5m     # a deployment still settling";

macro_rules! area_example {
    ($area:literal) => {
        concat!(
            "Example:\n  imp-verify ",
            $area,
            " --spec deployment.toml --json ",
            $area,
            ".json"
        )
    };
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every check that applies to the spec's workflow.
    #[command(after_help = EXAMPLE_ALL)]
    All(RunArgs),
    /// Run the service-port checks (TCP ports of each node).
    #[command(after_help = area_example!("services"))]
    Services(RunArgs),
    /// Run the DNS checks.
    #[command(after_help = area_example!("dns"))]
    Dns(RunArgs),
    /// Run the TLS certificate checks.
    #[command(after_help = area_example!("tls"))]
    Tls(RunArgs),
    /// Run the LDAP checks.
    #[command(after_help = area_example!("ldap"))]
    Ldap(RunArgs),
    /// Run the XMPP checks.
    #[command(after_help = area_example!("xmpp"))]
    Xmpp(RunArgs),
    /// Run the SIP checks.
    #[command(after_help = area_example!("sip"))]
    Sip(RunArgs),
    /// Run the high-availability checks: xmpp.ha, the service ports of every
    /// redundancy group's nodes, the SRV evidence of group completeness.
    #[command(after_help = area_example!("ha"))]
    Ha(RunArgs),
    /// List the checks: the whole table, or with --spec the checks a run would make.
    #[command(
        after_help = "Examples:\n  imp-verify list --catalog\n  imp-verify list --spec deployment.toml --only area:xmpp"
    )]
    List {
        /// Print the whole check table even when a spec is there.
        #[arg(long)]
        catalog: bool,
        #[command(flatten)]
        select: SelectArgs,
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Only validate the spec (syntax, fields, references, passwords available), and
    /// say what it leaves unverified.
    #[command(after_help = "Example:\n  imp-verify check-spec --spec deployment.toml")]
    CheckSpec(SpecArg),
    /// Print every field of the deployment spec: its meaning and its default.
    #[command(
        after_help = "Examples:\n  imp-verify spec-reference | less\n  imp-verify spec-reference --example > deployment.toml   # the commented example spec"
    )]
    SpecReference {
        /// Print the commented example spec (example.toml) instead.
        #[arg(long)]
        example: bool,
    },
    /// Write a first spec from a domain's DNS service records and its servers'
    /// certificates (never sends a credential); TODOs mark what DNS cannot say.
    #[command(
        after_help = "Example:\n  imp-verify discover example.com --dns-server 10.0.0.53 --out deployment.toml"
    )]
    Discover(crate::discover::DiscoverArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  imp-verify completions bash > /etc/bash_completion.d/imp-verify\n  imp-verify completions zsh > \"${fpath[1]}/_imp-verify\"\n  imp-verify completions fish > ~/.config/fish/completions/imp-verify.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff), or write a page per command into a folder.
    #[command(
        after_help = "Examples:\n  imp-verify man > /usr/local/share/man/man1/imp-verify.1\n  imp-verify man --dir /usr/local/share/man/man1   # imp-verify.1, imp-verify-all.1, ..."
    )]
    Man {
        /// Write imp-verify.1 and one page per command (imp-verify-all.1, ...) here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The shells completions are made for.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug, Clone, Default)]
pub struct SelectArgs {
    /// Run only checks matching: an id glob (`dns.srv.*`), `area:NAME` or `task:B.8`.
    /// Repeat or separate with commas.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Leave out checks matching (same patterns as --only).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub skip: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArg,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Write the JSON report to this file (`-`: standard output; the terminal report
    /// then goes to standard error).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write a JUnit XML report to this file (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML page of the run to this file (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Compare with an earlier JSON report of the same deployment: newly failing,
    /// fixed, still failing, new and removed checks, metric regressions.
    #[arg(long, value_name = "PREV.json")]
    pub baseline: Option<PathBuf>,
    /// Exit 1 when something regressed since the baseline (a check newly failing or
    /// warning, a time beyond --regression-threshold, a certificate crossing the
    /// expiry warning margin), even if no check failed.
    #[arg(long, requires = "baseline")]
    pub fail_on_regression: bool,
    /// How much slower (in percent) a measured time (round trip, propagation, login)
    /// may get before it counts as a regression...
    #[arg(long, default_value_t = 50, value_name = "PERCENT",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub regression_threshold: u32,
    /// ...and by how many milliseconds at least.
    #[arg(long, default_value_t = 50, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(0..=3_600_000))]
    pub regression_min_ms: u32,
    /// The time one check has (100ms to 1h).
    #[arg(long, default_value = "10s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,
    /// The time the whole run has; checks still running then fail.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub deadline: Option<Duration>,
    /// Re-run failing checks until they pass or this window ends (deployments still settling).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub retry_for: Option<Duration>,
    /// How many checks may run at once (1 to 1024).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// How many checks may run against one server at once (1 to 256): a large
    /// deployment's run never floods one DNS or directory server.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub per_server: u16,
    /// Treat warnings as failures for the exit code.
    #[arg(long)]
    pub strict: bool,
    /// Show the evidence of passing checks too.
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only failures, warnings, the changes since the baseline, the root causes
    /// and the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// No live progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// Colour: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 10s or 2m: {e}"))
}

/// The range a check's timeout may take.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(3600);

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if TIMEOUT_RANGE.contains(&d) {
        Ok(d)
    } else {
        Err(format!("`{s}` is outside 100ms..=1h"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn timeouts_outside_the_range_are_refused() {
        assert!(parse_timeout("99ms").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("100ms").is_ok());
        assert!(parse_timeout("1h").is_ok());
        assert!(parse_timeout("61m").is_err());
        assert!(parse_timeout("100000000000h").is_err());
    }
}
