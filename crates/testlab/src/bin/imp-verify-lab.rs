//! `imp-verify-lab`: the lab's topology for `fixtures/lab/lab` (and the compose twin).
//!
//! ```text
//! imp-verify-lab table   [PROFILE]   the server table: name addresses kind ready sockets...
//! imp-verify-lab env     [PROFILE]   the hosts' addresses as shell exports
//! imp-verify-lab certs   [PROFILE]   certificates: name<TAB>cn<TAB>eku<TAB>subjectAltName
//! imp-verify-lab secrets [PROFILE]   the secrets' names
//! imp-verify-lab people  [PROFILE]   test users besides people.tsv: uid<TAB>domain<TAB>phone
//! imp-verify-lab users   [PROFILE]   the spec's test users: uid<TAB>FQDN of its home node
//! imp-verify-lab render  [PROFILE] --dir DIR [--relative]   configs, zones, lab.toml
//! imp-verify-lab compose             docker-compose.yml
//! PROFILE: --base N --directory openldap|samba-ad --xmpp prosody|ejabberd [--scale CxN]
//! ```

use imp_verify_testlab::topology::spec::SpecPaths;
use imp_verify_testlab::topology::{self, Directory, Profile, Scale, Topology, Xmpp};
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    base: u8,
    profile: Profile,
    dir: Option<PathBuf>,
    relative: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        base: 20,
        profile: Profile::default(),
        dir: None,
        relative: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => {
                let v = value()?;
                a.base = v.parse().map_err(|_| {
                    format!("IMPV_LAB_BASE must be a number from 1 to 245 (got '{v}')")
                })?;
            }
            "--directory" => {
                a.profile.directory = Directory::parse(&value()?).map_err(|e| e.to_string())?
            }
            "--xmpp" => a.profile.xmpp = Xmpp::parse(&value()?).map_err(|e| e.to_string())?,
            "--scale" => {
                let v = value()?;
                if !v.is_empty() {
                    a.profile.scale = Some(Scale::parse(&v).map_err(|e| e.to_string())?);
                }
            }
            "--dir" => a.dir = Some(PathBuf::from(value()?)),
            "--relative" => a.relative = true,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(a)
}

fn run(cmd: &str, args: &[String]) -> Result<String, String> {
    if cmd == "compose" {
        return Ok(topology::compose::compose_file());
    }
    let a = parse(args)?;
    let t = Topology::new(a.base, a.profile).map_err(|e| e.to_string())?;
    Ok(match cmd {
        "table" => t.table(),
        "env" => t.env(),
        "certs" => t
            .certs
            .iter()
            .map(|c| format!("{}\t{}\t{}\t{}\n", c.name, c.cn, c.eku, c.san))
            .collect(),
        "secrets" => t.secrets.iter().map(|s| format!("{s}\n")).collect(),
        "people" => t
            .people
            .iter()
            .map(|p| format!("{}\t{}\t{}\n", p.uid, p.domain, p.phone))
            .collect(),
        "users" => t
            .deployment
            .users
            .iter()
            .map(|u| format!("{}\t{}\n", u.id, u.home))
            .collect(),
        "render" => {
            let dir = a.dir.ok_or("render needs --dir")?;
            // The lab script names its templates; the repository's otherwise (a binary
            // in an image has no repository where it was built).
            let templates = std::env::var_os("IMPV_LAB_TEMPLATES")
                .map(PathBuf::from)
                .unwrap_or_else(|| imp_verify_testlab::repo_root().join("fixtures/lab/templates"));
            let paths = if a.relative {
                SpecPaths::relative()
            } else {
                SpecPaths::under(&dir)
            };
            let serial = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1);
            topology::write_all(&t, &dir, &templates, &paths, serial).map_err(|e| e.to_string())?;
            String::new()
        }
        _ => return Err(format!("unknown command {cmd}")),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: imp-verify-lab table|env|certs|secrets|people|users|render|compose [--base N --directory D --xmpp X --scale CxN --dir DIR --relative]");
        return ExitCode::from(2);
    };
    match run(cmd, rest) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lab: {e}");
            ExitCode::from(2)
        }
    }
}
