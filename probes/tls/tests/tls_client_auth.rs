//! SIP TLS with mutual authentication against the lab's Kamailio (it requires a client
//! certificate signed by the lab CA): with the trunk's certificate every check passes;
//! without one, or with a certificate the server does not trust, tls.chain fails saying
//! the server refused the client — even under TLS 1.3, where the refusal arrives after
//! the client considers the handshake done — and the server's certificate is still judged.

use imp_probe_services::ServicesProbe;
use imp_probe_tls::TlsProbe;
use imp_verify_core::{Area, CheckResult, Probe, Status};
use imp_verify_net::Net;
use imp_verify_testlab::harness::{self, ForeignCa};
use imp_verify_testlab::Lab;
use std::path::Path;
use std::time::Duration;

/// The SIP TLS endpoints' checks of the lab's spec with the trunk's certificate `cert`
/// (none: the trunk goes without TLS, and the nodes' SIP TLS port is still checked),
/// through the runner.
async fn sip_tls(lab: &Lab, dir: &Path, cert: Option<(&Path, &Path)>) -> Vec<CheckResult> {
    let path = harness::spec_variant(lab, dir, |text| {
        text.lines()
            .filter(|l| !l.starts_with("client_cert") && !l.starts_with("client_key"))
            .map(|l| {
                if l.starts_with("transports") && cert.is_none() {
                    // The spec requires the certificate for a TLS trunk.
                    "transports = [\"udp\", \"tcp\"]\n".to_string()
                } else if l.starts_with("srv_name") {
                    match cert {
                        Some((c, k)) => format!(
                            "{l}\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
                            c.display(),
                            k.display()
                        ),
                        None => format!("{l}\n"),
                    }
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    });
    let spec = harness::load(&path);
    let net = Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(ServicesProbe::new(net.clone())),
        Box::new(TlsProbe::new(net)),
    ];
    harness::run_areas(&spec, &probes, &[Area::Tls], Duration::from_secs(5))
        .await
        .into_iter()
        .filter(|r| r.key.target.starts_with("sip-tls "))
        .collect()
}

#[tokio::test]
async fn sip_tls_without_the_trunk_certificate_fails_the_chain_check_and_still_judges_the_server() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let results = sip_tls(lab, dir.path(), None).await;
    assert_eq!(results.len(), 10, "2 nodes x 5 checks");
    for r in &results {
        let (id, target, o) = (r.key.id, &r.key.target, &r.outcome);
        if id == "tls.chain" {
            assert_eq!(o.status, Status::Fail, "{target}: {}", o.message);
            assert!(
                o.message.contains("requires a client certificate"),
                "{target}: {}",
                o.message
            );
            let fix = o.remediation.as_deref().unwrap_or_default();
            assert!(
                fix.contains("client certificate") && fix.contains("C.11"),
                "{fix}"
            );
        } else {
            assert_eq!(o.status, Status::Pass, "{id} [{target}]: {}", o.message);
        }
    }
}

#[tokio::test]
async fn sip_tls_with_a_client_certificate_the_server_does_not_trust_fails() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    // CUCM's name, from a CA the lab's SIP nodes do not trust.
    let cucm = ForeignCa::new(dir.path(), "Elsewhere CA").issue("cucm.lab.test");
    let results = sip_tls(lab, dir.path(), Some((&cucm.cert, &cucm.key))).await;
    assert_eq!(results.len(), 10, "2 nodes x 5 checks");
    for r in &results {
        let (id, target, o) = (r.key.id, &r.key.target, &r.outcome);
        if id == "tls.chain" {
            assert_eq!(o.status, Status::Fail, "{target}: {}", o.message);
            assert!(
                o.message.contains("refused the client certificate"),
                "{target}: {}",
                o.message
            );
        } else {
            assert_eq!(o.status, Status::Pass, "{id} [{target}]: {}", o.message);
        }
    }
}
