//! SIP TLS with mutual authentication against the lab's Kamailio (it requires a client
//! certificate signed by the lab CA): with the trunk's certificate every check passes;
//! without one, or with a certificate the server does not trust, tls.chain fails saying
//! the server refused the client — even under TLS 1.3, where the refusal arrives after
//! the client considers the handshake done — and the server's certificate is still judged.

use imp_probe_tls::TlsProbe;
use imp_verify_core::spec::Spec;
use imp_verify_core::{CheckCtx, Outcome, Probe, Status};
use imp_verify_testlab::Lab;
use std::sync::Arc;
use std::time::Duration;

async fn sip_tls(spec: Spec) -> Vec<(&'static str, String, Outcome)> {
    let spec = Arc::new(spec);
    let runs = TlsProbe::new(imp_verify_net::Net::from_spec(&spec))
        .plan(&spec)
        .into_iter()
        .filter(|c| c.key.target.starts_with("sip-tls "))
        .map(|c| async move {
            let o = (c.run)(CheckCtx::standalone(
                Duration::from_secs(5),
                imp_verify_core::spec::Workflow::C,
            ))
            .await;
            (c.key.id, c.key.target.clone(), o)
        });
    futures::future::join_all(runs).await
}

fn spec_with_trunk_cert(lab: &Lab, cert: Option<(&str, &str)>) -> Spec {
    let text = std::fs::read_to_string(lab.spec()).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("client_cert") && !l.starts_with("client_key"))
        .map(|l| {
            if l.starts_with("transports") && cert.is_none() {
                // The spec requires the certificate for a TLS trunk: the trunk goes
                // without TLS, and the nodes' SIP TLS port is still checked.
                "transports = [\"udp\", \"tcp\"]\n".to_string()
            } else if l.starts_with("srv_name") {
                match cert {
                    Some((c, k)) => format!("{l}\nclient_cert = \"{c}\"\nclient_key = \"{k}\"\n"),
                    None => format!("{l}\n"),
                }
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.toml");
    std::fs::write(&path, text).unwrap();
    // Passwords are read at load time; the folder may go afterwards.
    Spec::load(&path).unwrap()
}

#[tokio::test]
async fn sip_tls_without_the_trunk_certificate_fails_the_chain_check_and_still_judges_the_server() {
    let lab = Lab::shared();
    let results = sip_tls(spec_with_trunk_cert(lab, None)).await;
    assert_eq!(results.len(), 10, "2 nodes x 5 checks");
    for (id, target, o) in &results {
        if *id == "tls.chain" {
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
    let (crt, key) = (dir.path().join("self.crt"), dir.path().join("self.key"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "30",
            "-subj",
            "/CN=cucm.lab.test",
        ])
        .args(["-addext", "extendedKeyUsage=clientAuth,serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let spec = spec_with_trunk_cert(lab, Some((crt.to_str().unwrap(), key.to_str().unwrap())));
    let results = sip_tls(spec).await;
    for (id, target, o) in &results {
        if *id == "tls.chain" {
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
