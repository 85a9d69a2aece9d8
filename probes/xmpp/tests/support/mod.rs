//! What the XMPP tests add to `imp_verify_testlab::harness`: the probes an XMPP run
//! plans (those whose checks XMPP's wait for, the port and SRV checks, included), one
//! run at a time on the shared lab, and the lab's spec with imp1's client port moved
//! to a test's own server.
#![allow(dead_code)]

use imp_probe_xmpp::XmppProbe;
use imp_verify_core::spec::Spec;
use imp_verify_core::{Area, CheckResult, Probe, RunOptions};
use imp_verify_testlab::harness;
use imp_verify_testlab::Lab;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The probes of an XMPP run: XMPP's, with the directory that explains a refused
/// login, and those whose checks XMPP's wait for.
pub fn probes(spec: &Arc<Spec>) -> Vec<Box<dyn Probe>> {
    let net = imp_verify_net::Net::from_spec(spec);
    vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(XmppProbe::new(
            net.clone(),
            Some(Arc::new(imp_probe_ldap::LdapDirectory::new(net))),
        )),
    ]
}

/// The XMPP checks of the spec at `spec`, through the real runner.
pub async fn xmpp(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    let spec = harness::load(spec);
    harness::run_areas(&spec, &probes(&spec), &[Area::Xmpp], timeout).await
}

/// The same, stopped early when `interrupt` fires (as Ctrl-C does).
pub async fn xmpp_until(
    spec: &Path,
    timeout: Duration,
    interrupt: CancellationToken,
) -> Vec<CheckResult> {
    let spec = harness::load(spec);
    let options = RunOptions {
        check_timeout: timeout,
        ..Default::default()
    };
    harness::run_with(&spec, &probes(&spec), &[Area::Xmpp], options, interrupt).await
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

/// The lab's spec with imp1's c2s moved to a (hostile) server on 127.0.0.9:`port`.
pub fn imp1_at(lab: &Lab, dir: &Path, port: u16) -> PathBuf {
    harness::spec_variant(lab, dir, |t| {
        t.replace(
            &format!("fqdn = \"imp1.lab.test\"\naddress = \"{}\"", lab.ip(2)),
            &format!("fqdn = \"imp1.lab.test\"\naddress = \"127.0.0.9\"\nports = {{ xmpp-c2s = {port} }}"),
        )
    })
}

/// No lab password in any of the results.
pub fn no_secret(lab: &Lab, r: &[CheckResult]) {
    lab.assert_no_secret_in(&format!("{r:?}"));
}

/// Switches variant `name` (`fixtures/lab/variants/prosody-NAME.cfg.lua`) on in the
/// Prosody of `node` (`imp1`, `imp2`), inside its `VirtualHost "lab.test"` section (in the
/// global one, replacing what it sets, for a variant that starts `-- scope: global`) and
/// with the lab's own modules on its plugin path, in place of any variant before; then
/// restarts it. `None` puts the node back as `lab up` rendered it.
pub fn prosody_variant(lab: &Lab, node: &str, name: Option<&str>) {
    let root = imp_verify_testlab::repo_root();
    let conf = lab.dir.join(format!("conf/{node}-xmpp/prosody.cfg.lua"));
    let healthy = conf.with_extension("lua.healthy");
    if !healthy.exists() {
        std::fs::copy(&conf, &healthy).unwrap();
    }
    let mut text = std::fs::read_to_string(&healthy).unwrap();
    if let Some(name) = name {
        let variant = root.join(format!("fixtures/lab/variants/prosody-{name}.cfg.lua"));
        let variant = std::fs::read_to_string(&variant)
            .unwrap_or_else(|e| panic!("{}: {e}", variant.display()));
        let modules = root.join("fixtures/lab/prosody-modules");
        let host = "VirtualHost \"lab.test\"\n";
        assert!(text.contains(host), "{}", conf.display());
        // A variant of the server's global options replaces them where the
        // configuration sets them (Prosody refuses an option set twice), and goes at
        // the end of the global section otherwise; the others go into the host's section.
        let placed = if variant.starts_with("-- scope: global") {
            let mut rest = Vec::new();
            for line in variant
                .lines()
                .filter(|l| !l.starts_with("--") && l.contains(" = "))
            {
                let option = line.split(" = ").next().unwrap_or_default();
                let set = text
                    .lines()
                    .find(|l| l.starts_with(&format!("{option} = ")))
                    .map(String::from);
                match set {
                    Some(old) => {
                        text = text.replacen(&old, &format!("{line} -- lab variant {name}"), 1)
                    }
                    None => rest.push(line),
                }
            }
            format!("-- lab variant {name}\n{}\n{host}", rest.join("\n"))
        } else {
            format!("{host}-- lab variant {name}\n{variant}\n")
        };
        text = format!(
            "plugin_paths = {{ \"{}\" }}\n{}",
            modules.display(),
            text.replacen(host, &placed, 1)
        );
    }
    std::fs::write(&conf, text).unwrap();
    lab.stop(&format!("{node}-xmpp"));
    lab.start(&format!("{node}-xmpp"));
}
