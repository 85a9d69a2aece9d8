//! What the SIP lab tests share: the SIP area run through the testlab harness (with the
//! probes whose checks SIP's wait for), the presence engine's memory read through its
//! control socket, and the spec and config variants the tests switch on.
#![allow(dead_code)]

use imp_probe_sip::SipProbe;
use imp_verify_core::{Area, CheckResult, Probe, RunOptions};
use imp_verify_testlab::harness::{load, run_with, spec_variant};
use imp_verify_testlab::Lab;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The probes of a SIP run: the port and SRV checks SIP's checks wait for are planned
/// too (a prerequisite no probe plans is refused), and deselected by the area.
fn probes(spec: &imp_verify_core::Spec) -> Vec<Box<dyn Probe>> {
    let net = imp_verify_net::Net::from_spec(spec);
    vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(SipProbe::new(net)),
    ]
}

/// The SIP checks of `spec`, each with `timeout`.
pub async fn sip(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    sip_until(spec, timeout, CancellationToken::new()).await
}

/// The SIP checks of `spec`, stopped early when `interrupt` fires.
pub async fn sip_until(
    spec: &Path,
    timeout: Duration,
    interrupt: CancellationToken,
) -> Vec<CheckResult> {
    let options = RunOptions {
        check_timeout: timeout,
        ..Default::default()
    };
    sip_with(spec, options, interrupt).await
}

/// The SIP checks of `spec` with the run's options.
pub async fn sip_with(
    spec: &Path,
    options: RunOptions,
    interrupt: CancellationToken,
) -> Vec<CheckResult> {
    let spec = load(spec);
    run_with(&spec, &probes(&spec), &[Area::Sip], options, interrupt).await
}

/// What a node's presence engine holds in memory (its publications), as its control
/// socket lists them.
pub fn publications(lab: &Lab, node: &str) -> String {
    publications_in(&lab.dir, node)
}

/// [`publications`] of the lab in `dir`.
pub fn publications_in(dir: &Path, node: &str) -> String {
    let out = kamcmd(dir, node, &["presence.presentity_list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kamcmd ARGS` on a node's control socket.
pub fn kamcmd(dir: &Path, node: &str, args: &[&str]) -> std::process::Output {
    Command::new("kamcmd")
        .arg("-s")
        .arg(format!(
            "unix:{}",
            dir.join(format!("run/{node}-sip.ctl")).display()
        ))
        .args(args)
        .output()
        .expect("kamcmd runs")
}

/// A node's presence engine that no longer authorizes watchers by itself: subscriptions
/// stay pending (an edit of its kamailio.cfg).
pub fn pending_watchers(t: &str) -> String {
    t.replace(
        "modparam(\"presence_xml\", \"force_active\", 1)",
        "modparam(\"presence_xml\", \"force_active\", 0)\nmodparam(\"presence_xml\", \"integrated_xcap_server\", 1)",
    )
}

/// A spec whose imp1 is a server of the test's own on 127.0.0.9:`port`, the trunk over
/// TCP only.
pub fn on_a_node_of_our_own(lab: &Lab, dir: &Path, port: u16) -> PathBuf {
    spec_variant(lab, dir, |t| {
        t.replace(
            &format!("fqdn = \"imp1.lab.test\"\naddress = \"{}\"", lab.ip(2)),
            &format!(
                "fqdn = \"imp1.lab.test\"\naddress = \"127.0.0.9\"\nports = {{ sip-tcp = {port} }}"
            ),
        )
        .replace(
            "transports = [\"udp\", \"tcp\", \"tls\"]",
            "transports = [\"tcp\"]",
        )
    })
}
