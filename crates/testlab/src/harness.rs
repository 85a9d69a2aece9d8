//! The one harness the probe and end-to-end tests share: run probes' checks through
//! the real runner (prerequisites, skips, timeouts, cleanup), find a result, read its
//! evidence, write a variant of a spec (one with a wrong password), count the
//! directory's failed binds, make certificates of a CA the lab does not
//! trust.
//!
//! It knows no probe: a test hands it the probes it needs (those whose checks the
//! area's checks wait for included, since a prerequisite no probe plans is refused).

use crate::Lab;
use imp_verify_core::plan::{build_plan, Selection};
use imp_verify_core::spec::Spec;
use imp_verify_core::{run, Area, CheckResult, Outcome, Probe, RunOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Loads a spec, panicking with its errors (a test's spec must be valid).
pub fn load(spec: &Path) -> Arc<Spec> {
    Arc::new(Spec::load(spec).unwrap_or_else(|e| panic!("{e}")))
}

/// Runs the checks of `areas` (every area when empty) that `probes` plan for `spec`
/// through the real runner, each attempt with `timeout`.
pub async fn run_areas(
    spec: &Arc<Spec>,
    probes: &[Box<dyn Probe>],
    areas: &[Area],
    timeout: Duration,
) -> Vec<CheckResult> {
    let options = RunOptions {
        check_timeout: timeout,
        ..Default::default()
    };
    run_with(spec, probes, areas, options, CancellationToken::new()).await
}

/// [`run_areas`] with the run's options and an interrupt (as Ctrl-C fires it).
pub async fn run_with(
    spec: &Arc<Spec>,
    probes: &[Box<dyn Probe>],
    areas: &[Area],
    options: RunOptions,
    interrupt: CancellationToken,
) -> Vec<CheckResult> {
    let selection = Selection {
        areas: areas.to_vec(),
        ..Selection::default()
    };
    let plan = build_plan(spec, probes, &selection).unwrap_or_else(|e| panic!("{e}"));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    run(
        plan,
        spec.path.clone(),
        options,
        spec.secret_values(),
        interrupt,
        tx,
    )
    .await
    .results
}

/// The result of check `id` on `target`.
pub fn get<'a>(results: &'a [CheckResult], id: &str, target: &str) -> &'a CheckResult {
    results
        .iter()
        .find(|c| c.key.id == id && c.key.target == target)
        .unwrap_or_else(|| {
            let keys: Vec<String> = results.iter().map(|r| r.key.to_string()).collect();
            panic!("no {id} [{target}] among {keys:?}")
        })
}

/// Every result of check `id`.
pub fn all<'a>(results: &'a [CheckResult], id: &str) -> Vec<&'a CheckResult> {
    results.iter().filter(|c| c.key.id == id).collect()
}

/// An evidence value of an outcome (panics, listing the evidence, when it is absent).
pub fn ev<'a>(o: &'a Outcome, key: &str) -> &'a str {
    o.evidence
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {:?}", o.evidence))
}

/// A copy of the lab's spec with `edit` applied, written to `dir/spec.toml`.
pub fn spec_variant(lab: &Lab, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(lab.spec()).expect("read the lab's spec");
    let p = dir.join("spec.toml");
    std::fs::write(&p, edit(text)).expect("write the spec variant");
    p
}

/// Waits until something listens on TCP `addr` (a server a test started itself),
/// panicking after `within`.
pub fn wait_listening(addr: std::net::SocketAddr, within: Duration) {
    let until = std::time::Instant::now() + within;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            std::time::Instant::now() < until,
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The failed binds of `dn` in the lab's slapd log (loglevel stats): each
/// `BIND dn="..."` whose `RESULT tag=97` on the same connection and operation is
/// `err=49`. What the directory itself saw, whichever check sent the password.
pub fn failed_binds(lab: &Lab, dn: &str) -> usize {
    let text = std::fs::read_to_string(lab.dir.join("logs/ldap.log")).unwrap_or_default();
    let mut binds = std::collections::HashSet::new();
    let mut failed = 0;
    for line in text.lines() {
        let Some(at) = line.find("conn=") else {
            continue;
        };
        let rest = &line[at..];
        let mut words = rest.split_whitespace();
        let (Some(conn), Some(op)) = (words.next(), words.next()) else {
            continue;
        };
        let key = format!("{conn} {op}");
        if rest.contains(&format!("BIND dn=\"{dn}\"")) {
            binds.insert(key);
        } else if rest.contains("RESULT tag=97 err=49") && binds.contains(&key) {
            failed += 1;
        }
    }
    failed
}

/// A copy of the lab's spec in `dir` in which `user`'s password file is one of `dir`
/// holding a wrong password (mode 0600, so the spec raises no warning about it).
pub fn spec_with_wrong_password(lab: &Lab, dir: &Path, user: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let wrong = dir.join(format!("{user}.wrong-password"));
    std::fs::write(&wrong, format!("not-{user}s-password\n")).expect("write the wrong password");
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600))
        .expect("make the wrong password file private");
    let right = lab.dir.join(format!("secrets/{user}.password"));
    let text = std::fs::read_to_string(lab.spec()).expect("read the lab's spec");
    let edited = text.replace(&*right.to_string_lossy(), &wrong.to_string_lossy());
    assert_ne!(edited, text, "the lab spec names {}", right.display());
    let p = dir.join("wrong-password.toml");
    std::fs::write(&p, edited).expect("write the spec variant");
    p
}

/// A certificate and key a test made (`cert`, `key`: PEM files).
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A certificate authority of a test's own, which the lab does not trust.
#[derive(Debug, Clone)]
pub struct ForeignCa {
    dir: PathBuf,
    /// The CA's own certificate and key.
    pub ca: Issued,
}

impl ForeignCa {
    /// A new CA (`/CN=<name>`) in `dir`.
    pub fn new(dir: &Path, name: &str) -> ForeignCa {
        let ca = Issued {
            cert: dir.join(format!("{name}-ca.crt")),
            key: dir.join(format!("{name}-ca.key")),
        };
        openssl(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
                .args(["-days", "365", "-subj", &format!("/CN={name}")])
                .arg("-keyout")
                .arg(&ca.key)
                .arg("-out")
                .arg(&ca.cert),
        );
        ForeignCa {
            dir: dir.to_path_buf(),
            ca,
        }
    }

    /// A leaf certificate for `cn` (also its DNS name), for server and client use,
    /// signed by this CA and valid a year.
    pub fn issue(&self, cn: &str) -> Issued {
        let leaf = Issued {
            cert: self.dir.join(format!("{cn}.crt")),
            key: self.dir.join(format!("{cn}.key")),
        };
        let csr = self.dir.join(format!("{cn}.csr"));
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "rsa:2048", "-nodes"])
                .args(["-subj", &format!("/CN={cn}")])
                .arg("-keyout")
                .arg(&leaf.key)
                .arg("-out")
                .arg(&csr),
        );
        let ext = self.dir.join(format!("{cn}.ext"));
        std::fs::write(
            &ext,
            format!("subjectAltName=DNS:{cn}\nextendedKeyUsage=serverAuth,clientAuth\n"),
        )
        .expect("write the extensions");
        openssl(
            Command::new("openssl")
                .args(["x509", "-req", "-sha256", "-days", "365"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(&self.ca.cert)
                .arg("-CAkey")
                .arg(&self.ca.key)
                .arg("-CAcreateserial")
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&leaf.cert),
        );
        leaf
    }
}

fn openssl(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
