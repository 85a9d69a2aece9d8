//! What the LDAP probe's lab tests share beyond `imp_verify_testlab::harness`: the
//! probes an LDAP run needs, and changing the lab's OpenLDAP as its administrator.
#![allow(dead_code)]

use imp_probe_ldap::LdapProbe;
use imp_verify_core::{Area, CheckResult, Outcome, Probe};
use imp_verify_testlab::{harness, Lab};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs the LDAP checks of the spec at `spec` through the real runner, each attempt
/// with `timeout` (the port checks they wait for are planned, and deselected).
pub async fn run(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    let spec = harness::load(spec);
    let net = imp_verify_net::Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(LdapProbe::new(net)),
    ];
    harness::run_areas(&spec, &probes, &[Area::Ldap], timeout).await
}

/// The outcome of check `id` on `target`.
pub fn get<'a>(r: &'a [CheckResult], id: &str, target: &str) -> &'a Outcome {
    &harness::get(r, id, target).outcome
}

/// The `ldap.bind` that sent the service account's refused password, after asserting
/// that every other server's bind did not send it again but named that refusal (the
/// run's ledger: at most one refusal per account).
pub fn refused_bind(r: &[CheckResult]) -> &Outcome {
    let binds = harness::all(r, "ldap.bind");
    let sent: Vec<_> = binds
        .iter()
        .filter(|c| !c.outcome.evidence.iter().any(|(k, _)| k == "refused_by"))
        .collect();
    assert_eq!(
        sent.len(),
        1,
        "one bind sends the refused password: {binds:?}"
    );
    let first = sent[0];
    for c in binds.iter().filter(|c| c.key != first.key) {
        assert_eq!(
            harness::ev(&c.outcome, "refused_by"),
            first.key.to_string(),
            "{}",
            c.outcome.message
        );
        assert!(
            c.outcome.message.contains("was not tried"),
            "{}",
            c.outcome.message
        );
    }
    &first.outcome
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
