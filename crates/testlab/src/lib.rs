//! Test support for imp-verify: the lab of real servers (`fixtures/lab/lab`).
//!
//! - [`Lab::shared`]: the default lab (127.0.0.20-29, state in `target/lab`; another
//!   checkout working beside this one sets `IMPV_LAB_BASE` and `IMPV_LAB_DIR`), brought
//!   up once per test process (idempotent across processes too) and left running. Tests
//!   only read from it.
//! - [`Lab::isolated`]: a lab of its own on a free block of loopback addresses, with its
//!   own state folder, for tests that inject faults (stop a server, edit a zone, swap a
//!   certificate). It goes down when dropped.
//! - [`topology`]: the lab's topology, one table for every profile, from which the lab's
//!   configs, zones, spec and `docker-compose.yml` are written (the `imp-verify-lab`
//!   binary serves it to `fixtures/lab/lab`).

#![warn(missing_docs)]

pub mod harness;
pub mod topology;

use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| p.join("fixtures/lab/lab").is_file() || p.join("DEVELOPERS.md").is_file())
        .expect("the crate lives inside the repository")
        .to_path_buf()
}

/// Where the machine-wide lab locks live.
fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("imp-verify-lab-locks")
}

/// A running lab.
pub struct Lab {
    /// The lab's state folder (certificates, secrets, configs, logs, `lab.toml`).
    pub dir: PathBuf,
    /// The last octet of its first address: hosts are 127.0.0.(base + n).
    pub base: u8,
    /// The profile it was brought up with (`IMPV_LAB_DIRECTORY`, `IMPV_LAB_XMPP`,
    /// `IMPV_LAB_USERS`).
    env: Vec<(&'static str, String)>,
    owned: bool,
    _lock: Option<File>,
}

impl Lab {
    /// The shared default lab, up (brought up by the first caller).
    pub fn shared() -> &'static Lab {
        static LAB: OnceLock<Lab> = OnceLock::new();
        LAB.get_or_init(|| {
            let base = std::env::var("IMPV_LAB_BASE")
                .ok()
                .and_then(|b| b.parse().ok())
                .unwrap_or(20);
            let dir = std::env::var_os("IMPV_LAB_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target/lab"));
            // Isolated labs of any checkout keep off a shared lab's addresses.
            let _ = std::fs::create_dir_all(lock_dir());
            let _ = std::fs::write(lock_dir().join(format!("base-{base}.shared")), b"");
            let lab = Lab {
                dir,
                base,
                env: Vec::new(),
                owned: false,
                _lock: None,
            };
            lab.up();
            lab
        })
    }

    /// A lab of the caller's own, on free addresses; `lab down` when dropped. Its
    /// directory is OpenLDAP whatever the environment's `IMPV_LAB_DIRECTORY` (which
    /// chooses the shared lab's).
    pub fn isolated() -> Lab {
        Self::isolated_with(vec![("IMPV_LAB_DIRECTORY", "openldap".into())])
    }

    /// An isolated lab whose directory is Samba AD (`IMPV_LAB_DIRECTORY=samba-ad`), or
    /// why it cannot run here (its Debian packages are absent).
    pub fn isolated_samba_ad() -> Result<Lab, String> {
        samba_ad_available()?;
        Ok(Self::isolated_with(vec![(
            "IMPV_LAB_DIRECTORY",
            "samba-ad".into(),
        )]))
    }

    /// An isolated lab whose IM&P nodes are ejabberd (`IMPV_LAB_XMPP=ejabberd`, one
    /// ejabberd cluster of the two nodes) and whose directory is OpenLDAP; `lab up`
    /// installs Debian's ejabberd if it is missing.
    pub fn isolated_ejabberd() -> Lab {
        Self::isolated_with(vec![
            ("IMPV_LAB_DIRECTORY", "openldap".into()),
            ("IMPV_LAB_XMPP", "ejabberd".into()),
        ])
    }

    /// An isolated lab whose IM&P nodes are ejabberd and whose directory is Samba AD, or
    /// why it cannot run here (Samba's Debian packages are absent).
    pub fn isolated_samba_ad_ejabberd() -> Result<Lab, String> {
        samba_ad_available()?;
        Ok(Self::isolated_with(vec![
            ("IMPV_LAB_DIRECTORY", "samba-ad".into()),
            ("IMPV_LAB_XMPP", "ejabberd".into()),
        ]))
    }

    /// An isolated lab whose OpenLDAP directory holds `n` people (`IMPV_LAB_USERS`):
    /// the 30 of `people.tsv` and generated ones.
    pub fn isolated_with_users(n: u32) -> Lab {
        Self::isolated_with(vec![
            ("IMPV_LAB_DIRECTORY", "openldap".into()),
            ("IMPV_LAB_USERS", n.to_string()),
        ])
    }

    /// An isolated lab of the scale profile (`IMPV_LAB_SCALE=CxN`, fixtures/lab/scale.sh):
    /// C clusters of N IM&P nodes. Only deployments that fit a block of ten addresses
    /// (`2 + C * (N + 1) <= 10`, e.g. `2x2`); larger ones are `scripts/bench --scale`'s.
    pub fn isolated_scale(shape: &str) -> Lab {
        Self::isolated_with(vec![
            ("IMPV_LAB_DIRECTORY", "openldap".into()),
            ("IMPV_LAB_SCALE", shape.into()),
        ])
    }

    fn isolated_with(mut env: Vec<(&'static str, String)>) -> Lab {
        // Prosody serves the IM&P nodes unless the caller asks for ejabberd, whatever the
        // environment's IMPV_LAB_XMPP (which chooses the shared lab's).
        if !env.iter().any(|(k, _)| *k == "IMPV_LAB_XMPP") {
            env.push(("IMPV_LAB_XMPP", "prosody".into()));
        }
        // Locks are machine-wide (several checkouts may test at once); state is per checkout.
        let locks = lock_dir();
        std::fs::create_dir_all(&locks).expect("create the lab lock folder");
        let states = repo_root().join("target/labs");
        std::fs::create_dir_all(&states).expect("create target/labs");
        // Blocks of ten addresses: 30-39, ... 220-229 (20-29 is the shared lab, 230-239
        // is tests/lab/run's). When every block is taken (other checkouts testing at the
        // same time), wait for one to come free rather than fail.
        let waited = std::time::Instant::now();
        loop {
            if let Some(lab) = Self::try_isolated(&locks, &states, &env) {
                return lab;
            }
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(1800),
                "no free block of loopback addresses for another lab (all of 30..229 in use for 30 minutes)"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    fn try_isolated(locks: &Path, states: &Path, env: &[(&'static str, String)]) -> Option<Lab> {
        let env = env.to_vec();
        for base in (30..=220u8).step_by(10) {
            if locks.join(format!("base-{base}.shared")).exists() {
                continue;
            }
            let lock_path = locks.join(format!("base-{base}.lock"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .expect("open a lab lock file");
            if file.try_lock().is_err() {
                continue;
            }
            // A profile's lab keeps its own folder (a provisioned domain is worth keeping).
            let dir = match env.iter().find(|(k, _)| *k == "IMPV_LAB_DIRECTORY") {
                _ if env.iter().any(|(k, _)| *k == "IMPV_LAB_SCALE") => {
                    states.join(format!("lab-{base}-scale"))
                }
                Some((_, d)) if d != "openldap" => states.join(format!("lab-{base}-{d}")),
                _ => states.join(format!("lab-{base}")),
            };
            let lab = Lab {
                dir,
                base,
                env,
                owned: true,
                _lock: Some(file),
            };
            // A previous test process may have died with this lab up; and whatever an
            // earlier test changed (zones, directory, configs) must not leak into this
            // one: only the certificates and passwords are kept (they take time to make).
            let _ = lab.run(&["down"]);
            for part in ["conf", "data", "run", "logs", "lab.toml"] {
                let p = lab.dir.join(part);
                let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
            }
            lab.up();
            return Some(lab);
        }
        None
    }

    fn up(&self) {
        let out = self.run(&["up"]);
        assert!(
            out.status.success(),
            "`fixtures/lab/lab up` failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `fixtures/lab/lab ARGS` for this lab (serialised across processes).
    pub fn run(&self, args: &[&str]) -> Output {
        std::fs::create_dir_all(self.dir.parent().expect("state dir has a parent")).ok();
        let lock = self.dir.with_extension("cmd.lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .expect("open the lab command lock");
        lock_file.lock().expect("lock the lab command lock");
        let mut cmd = Command::new(repo_root().join("fixtures/lab/lab"));
        cmd.args(args)
            .env("IMPV_LAB_DIR", &self.dir)
            .env("IMPV_LAB_BASE", self.base.to_string());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run fixtures/lab/lab");
        drop(lock_file);
        out
    }

    /// Runs a lab command that must succeed.
    pub fn must(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`lab {}` failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops one server (dns, ldap, imp1-xmpp, imp2-xmpp, imp1-sip, imp2-sip, cucm-sip,
    /// partner-xmpp, partner-sip).
    pub fn stop(&self, server: &str) {
        self.must(&["stop", server]);
    }

    /// Starts one server again.
    pub fn start(&self, server: &str) {
        self.must(&["start", server]);
    }

    /// Rewrites a zone file of this lab (`lab.test`, `partner.test`, `sipfed.test`,
    /// `0.0.127.in-addr.arpa`) with `edit`, raises its SOA serial and reloads the server.
    pub fn edit_zone(&self, zone: &str, edit: impl Fn(&str) -> String) {
        let path = self.dir.join("conf/zones").join(format!("{zone}.zone"));
        let text = std::fs::read_to_string(&path).expect("read the zone file");
        let mut out = String::new();
        for line in edit(&text).lines() {
            if line.contains(" SOA ") {
                let mut parts: Vec<String> = line.split_whitespace().map(String::from).collect();
                let serial: u64 = parts[4].parse().expect("a numeric serial");
                parts[4] = (serial + 1).to_string();
                out.push_str(&parts.join(" "));
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        std::fs::write(&path, out).expect("write the zone file");
        self.must(&["reload", "dns"]);
    }

    /// Rewrites a rendered config of this lab (`conf/<rel>`, e.g. `imp1-sip/kamailio.cfg`)
    /// with `edit`; `edit` must change it. Restart the server (`stop`, `start`) to apply.
    pub fn edit_conf(&self, rel: &str, edit: impl Fn(&str) -> String) {
        let path = self.dir.join("conf").join(rel);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let new = edit(&text);
        assert_ne!(new, text, "the edit of {rel} changed nothing");
        std::fs::write(&path, new).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The spec describing this lab.
    pub fn spec(&self) -> PathBuf {
        self.dir.join("lab.toml")
    }

    /// The address of host `n` of the lab (0 dns, 1 ldap, 2 imp1, 3 imp2, 4 cucm, 5 partner,
    /// 6 partner-sip: [`topology`]'s numbering; [`Lab::address`] names them).
    pub fn ip(&self, n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, self.base + n))
    }

    /// The lab's topology (its profile's servers, hosts, certificates, zones, spec).
    pub fn topology(&self) -> topology::Topology {
        let var = |k: &str| {
            self.env
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        let profile = topology::Profile {
            directory: var("IMPV_LAB_DIRECTORY")
                .and_then(|d| topology::Directory::parse(d).ok())
                .unwrap_or(topology::Directory::OpenLdap),
            xmpp: var("IMPV_LAB_XMPP")
                .and_then(|x| topology::Xmpp::parse(x).ok())
                .unwrap_or(topology::Xmpp::Prosody),
            scale: var("IMPV_LAB_SCALE").and_then(|s| topology::Scale::parse(s).ok()),
        };
        topology::Topology::new(self.base, profile).expect("a lab that is up has a valid topology")
    }

    /// The address of the topology's host `name` (`ns`, `ldap`, `imp1`, `imp2`, `cucm`,
    /// `partner`, `sipfed`).
    pub fn address(&self, name: &str) -> IpAddr {
        let t = self.topology();
        let n = t
            .host(name)
            .unwrap_or_else(|| panic!("the lab has no host {name}"));
        IpAddr::V4(t.ip(n))
    }

    /// A password the lab generated (`alice`, `ldap-service`, ...).
    pub fn secret(&self, name: &str) -> String {
        let p = self.dir.join("secrets").join(format!("{name}.password"));
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim_end()
            .to_string()
    }

    /// Panics if `output` (a report, an outcome's debug text...) contains any of the
    /// lab's passwords.
    pub fn assert_no_secret_in(&self, output: &str) {
        for s in self.all_secrets() {
            assert!(!output.contains(&s), "a lab password appears in an output");
        }
    }

    /// Every password the lab generated, to check that no output contains one.
    pub fn all_secrets(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("secrets")) {
            for e in entries.flatten() {
                if let Ok(s) = std::fs::read_to_string(e.path()) {
                    let s = s.trim_end().to_string();
                    if !s.is_empty() {
                        v.push(s);
                    }
                }
            }
        }
        v
    }
}

/// The Debian packages of the lab's samba-ad profile; `Err` names those missing.
pub fn samba_ad_available() -> Result<(), String> {
    let wanted = [
        "samba",
        "samba-ad-dc",
        "samba-ad-provision",
        "samba-dsdb-modules",
        "winbind",
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the samba-ad lab profile needs the Debian packages {} (`IMPV_LAB_DIRECTORY=samba-ad fixtures/lab/lab install`)",
            missing.join(", ")
        ))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.owned {
            let _ = self.run(&["down"]);
        }
    }
}
