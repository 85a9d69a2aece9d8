//! Helpers shared by the LDAP probe's lab tests.
#![allow(dead_code)]

use imp_probe_ldap::LdapProbe;
use imp_verify_core::spec::Spec;
use imp_verify_core::{CheckCtx, Outcome, Probe};
use imp_verify_testlab::Lab;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// (check id, target, outcome) of every planned check.
pub type Results = Vec<(String, String, Outcome)>;

/// Runs every check the LDAP probe plans for `spec`, each with `timeout`.
pub async fn run(spec: &Path, timeout: Duration) -> Results {
    let spec = Arc::new(Spec::load(spec).unwrap_or_else(|e| panic!("{e}")));
    let probe = LdapProbe::new(imp_verify_net::Net::from_spec(&spec));
    let runs = probe.plan(&spec).into_iter().map(|c| async move {
        let o = (c.run)(CheckCtx::standalone(
            timeout,
            imp_verify_core::spec::Workflow::C,
        ))
        .await;
        (c.key.id.to_string(), c.key.target.clone(), o)
    });
    futures::future::join_all(runs).await
}

/// The outcome of check `id` on `target`.
pub fn get<'a>(r: &'a Results, id: &str, target: &str) -> &'a Outcome {
    &r.iter()
        .find(|(i, t, _)| i == id && t == target)
        .unwrap_or_else(|| panic!("no {id} [{target}]"))
        .2
}

/// An evidence value of an outcome.
pub fn ev<'a>(o: &'a Outcome, key: &str) -> &'a str {
    o.evidence
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {:?}", o.evidence))
}

/// A copy of the lab's spec with `edit` applied, in `dir`.
pub fn spec_variant(lab: &Lab, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(lab.spec()).unwrap();
    let p = dir.join("spec.toml");
    std::fs::write(&p, edit(text)).unwrap();
    p
}

/// Runs ldapmodify as the lab's OpenLDAP administrator.
pub fn ldapmodify(lab: &Lab, ldif: &str) {
    let mut child = Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &format!("ldaps://{}", lab.ip(1)),
            "-D",
            "cn=admin,dc=lab,dc=test",
            "-y",
        ])
        .arg(lab.dir.join("secrets/ldap-admin.password"))
        .env("LDAPTLS_CACERT", lab.dir.join("pki/ca.crt"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "ldapmodify failed for:\n{ldif}"
    );
}
