//! What the XMPP lab tests share: running the probe through the real runner, finding a
//! result, and variants of the lab's spec.
#![allow(dead_code)]

use imp_probe_xmpp::XmppProbe;
use imp_verify_core::plan::{build_plan, Selection};
use imp_verify_core::spec::Spec;
use imp_verify_core::{run, CheckResult, Probe, RunOptions};
use imp_verify_testlab::Lab;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the XMPP checks of a spec through the real runner (prerequisites, skips).
pub async fn xmpp(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    xmpp_until(spec, timeout, CancellationToken::new()).await
}

/// The same, stopped early when `interrupt` fires (as Ctrl-C does).
pub async fn xmpp_until(
    spec: &Path,
    timeout: Duration,
    interrupt: CancellationToken,
) -> Vec<CheckResult> {
    let spec = Arc::new(Spec::load(spec).unwrap_or_else(|e| panic!("{e}")));
    // The probes whose checks XMPP's wait for (the port and SRV checks) are planned
    // too (a prerequisite no probe plans is refused), and deselected.
    let net = imp_verify_net::Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(XmppProbe::new(
            net.clone(),
            Some(Arc::new(imp_probe_ldap::LdapDirectory::new(net))),
        )),
    ];
    let only_xmpp = Selection {
        areas: vec![imp_verify_core::Area::Xmpp],
        ..Selection::default()
    };
    let plan = build_plan(&spec, &probes, &only_xmpp).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let options = RunOptions {
        check_timeout: timeout,
        ..Default::default()
    };
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

pub fn get<'a>(r: &'a [CheckResult], id: &str, target: &str) -> &'a CheckResult {
    r.iter()
        .find(|c| c.key.id == id && c.key.target == target)
        .unwrap_or_else(|| panic!("no {id} [{target}]"))
}

pub fn variant(lab: &Lab, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, edit(std::fs::read_to_string(lab.spec()).unwrap())).unwrap();
    p
}

/// The lab's spec with imp1's c2s moved to a (hostile) server on 127.0.0.9:`port`.
pub fn imp1_at(lab: &Lab, dir: &Path, port: u16) -> PathBuf {
    variant(lab, dir, |t| {
        t.replace(
            &format!("fqdn = \"imp1.lab.test\"\naddress = \"{}\"", lab.ip(2)),
            &format!("fqdn = \"imp1.lab.test\"\naddress = \"127.0.0.9\"\nports = {{ xmpp-c2s = {port} }}"),
        )
    })
}

pub fn no_secret(lab: &Lab, r: &[CheckResult]) {
    lab.assert_no_secret_in(&format!("{r:?}"));
}

/// Runs on the shared lab one at a time: two runs at once with the same test users
/// would clear each other's roster items (each run clears the leftovers of earlier ones
/// before its presence exchanges), as two administrators running the tool at the same
/// time with the same test users would.
static SHARED_RUNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`xmpp`] on the shared lab, one run at a time.
pub async fn xmpp_shared(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    let _one = SHARED_RUNS.lock().await;
    xmpp(spec, timeout).await
}
