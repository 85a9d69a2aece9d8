//! `imp-verify discover DOMAIN`: a first spec from the domain's DNS and certificates.

use crate::exit::{self, Exit};
use clap::Args;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DiscoverArgs {
    /// The IM domain, like example.com.
    domain: String,
    /// The DNS server to ask, `ip` or `ip:port` (default: the system resolver).
    #[arg(long, value_name = "ADDR", value_parser = parse_server)]
    dns_server: Option<SocketAddr>,
    /// Write the spec to this file (default: standard output).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Overwrite the file if it exists.
    #[arg(long)]
    force: bool,
    /// The time each network step has (a DNS question, a connection and its handshake).
    #[arg(long, default_value = "5s", value_parser = crate::args::parse_duration, value_name = "DURATION")]
    timeout: Duration,
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("`{s}` is not a DNS server address (`ip` or `ip:port`)"))
}

fn refuse_existing(path: &Path) -> Exit {
    exit::usage(format!(
        "{} exists; not overwritten (use --force to replace it)",
        path.display()
    ))
}

pub fn run(args: DiscoverArgs) -> Result<(), Exit> {
    if let Some(out) = &args.out {
        if out.exists() && !args.force {
            return Err(refuse_existing(out));
        }
    }
    let runtime = crate::runtime()?;
    let opts = imp_verify_discover::Options {
        domain: args.domain.clone(),
        dns_server: args.dns_server,
        timeout: args.timeout,
    };
    let terminal = std::io::stderr().is_terminal();
    let progress = move |step: &str| {
        if terminal {
            eprintln!("discover: {step}");
        }
    };
    let found = match runtime.block_on(imp_verify_discover::discover(&opts, &progress)) {
        Ok(d) => d,
        Err(e) => return Err(Exit::new(1, format!("discover: {e}"))),
    };
    let mut command = format!("imp-verify discover {}", found.domain);
    if let Some(s) = args.dns_server {
        command.push_str(&format!(" --dns-server {s}"));
    }
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let text = imp_verify_discover::render::spec(&found, &command, &now);
    let summary = imp_verify_discover::summary(&found);
    match &args.out {
        None => {
            crate::out::Out::stdout().text(&text)?;
            eprintln!("imp-verify: discover: {summary}");
        }
        Some(out) => {
            // Whole or not at all: a temporary file beside it, then a rename.
            let tmp = out.with_extension("toml.tmp");
            if let Err(e) = std::fs::write(&tmp, &text) {
                return Err(exit::usage(format!("cannot write {}: {e}", tmp.display())));
            }
            if out.exists() && !args.force {
                let _ = std::fs::remove_file(&tmp);
                return Err(refuse_existing(out));
            }
            if let Err(e) = std::fs::rename(&tmp, out) {
                let _ = std::fs::remove_file(&tmp);
                return Err(exit::usage(format!("cannot write {}: {e}", out.display())));
            }
            eprintln!(
                "imp-verify: discover: wrote {}: {summary}; it is valid as written: `imp-verify all --spec {}` runs what it allows and names what is not verified; fill in its TODOs for the rest",
                out.display(),
                out.display()
            );
        }
    }
    Ok(())
}
