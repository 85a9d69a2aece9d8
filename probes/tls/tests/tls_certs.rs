//! The TLS probe against real TLS servers: the lab's (every check passes), OpenSSL's
//! `s_server` serving a certificate wrong in one way (each check fails for its own
//! reason), a lab node given an expired certificate, and a server that never answers.

use imp_probe_services::ServicesProbe;
use imp_probe_tls::{
    inspect_endpoint, Expectation, Start, TlsCheck, TlsEndpoint, TlsProbe, Verdicts,
};
use imp_verify_core::spec::Service;
use imp_verify_core::{Area, CheckResult, Probe, Reason, Stage, Status};
use imp_verify_net::Net;
use imp_verify_testlab::harness::{self, ev};
use imp_verify_testlab::{repo_root, Lab};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The TLS checks of the spec at `spec` through the runner (their port checks planned,
/// not run), `timeout` each.
async fn run_tls(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    let spec = harness::load(spec);
    let net = Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(ServicesProbe::new(net.clone())),
        Box::new(TlsProbe::new(net)),
    ];
    harness::run_areas(&spec, &probes, &[Area::Tls], timeout).await
}

/// Certificates for imp1.lab.test, each wrong in one way, signed by the shared lab's CA.
fn bad_certs(lab: &Lab) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new(repo_root().join("fixtures/tls/make-bad-certs"))
        .arg(dir.path())
        .arg(lab.dir.join("pki/ca.crt"))
        .arg(lab.dir.join("pki/ca.key"))
        .arg("imp1.lab.test")
        .status()
        .unwrap();
    assert!(ok.success());
    dir
}

/// `openssl s_server` on 127.0.0.9 with this certificate; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// TLS 1.2 and 1.3 only, so that each certificate fails only its own check.
fn serve(dir: &Path, kind: &str) -> Server {
    serve_with(dir, kind, &["-no_tls1", "-no_tls1_1"])
}

fn serve_with(dir: &Path, kind: &str, extra: &[&str]) -> Server {
    let port = TcpListener::bind("127.0.0.9:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.9:{port}"),
        ])
        .arg("-cert")
        .arg(dir.join(format!("{kind}.crt")))
        .arg("-key")
        .arg(dir.join(format!("{kind}.key")))
        // Serve even what a modern default refuses (1024-bit keys, SHA-1): that is the point.
        .args(["-cipher", "DEFAULT@SECLEVEL=0"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port }
}

fn endpoint(port: u16) -> TlsEndpoint {
    TlsEndpoint {
        // Not SIP: s_server answers no SIP request after the handshake.
        service: Service::Https,
        host: "imp1.lab.test".into(),
        port,
        address: Some("127.0.0.9".parse().unwrap()),
        start: Start::Direct,
        server_name: "imp1.lab.test".into(),
        expect: Expectation {
            dns_names: vec!["imp1.lab.test".into()],
            xmpp_domain: None,
            client_auth: true,
            task: "A.10",
        },
        client: None,
    }
}

async fn judge(lab: &Lab, dir: &Path, kind: &str) -> Verdicts {
    let net = Net::from_spec(&harness::load(&lab.spec()));
    let server = serve(dir, kind);
    let ep = endpoint(server.port);
    let facts = inspect_endpoint(&net, &ep, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    imp_probe_tls::judge(&net.tls, &facts, &ep.expect)
}

/// Every check passes except `failing`, which has `status` and a message containing `text`.
fn only(v: &Verdicts, failing: &[(TlsCheck, Status, &str)]) {
    for (check, o) in v.iter() {
        let id = check.id();
        match failing.iter().find(|(f, _, _)| *f == check) {
            Some((_, status, text)) => {
                assert_eq!(o.status, *status, "{id}: {}", o.message);
                assert!(
                    o.message.contains(text),
                    "{id}: expected {text:?} in {:?}",
                    o.message
                );
                assert!(o.remediation.is_some(), "{id} has no fix");
                assert!(
                    o.evidence.iter().any(|(k, _)| k == "sha256"),
                    "{id} shows no fingerprint"
                );
            }
            None => assert_eq!(o.status, Status::Pass, "{id}: {}", o.message),
        }
    }
}

#[tokio::test]
async fn each_bad_certificate_fails_its_own_check() {
    let lab = Lab::shared();
    let dir = bad_certs(lab);
    let d = dir.path();
    only(&judge(lab, d, "good").await, &[]);
    only(
        &judge(lab, d, "expired").await,
        &[(TlsCheck::Validity, Status::Fail, "the certificate expired")],
    );
    only(
        &judge(lab, d, "notyet").await,
        &[(TlsCheck::Validity, Status::Fail, "not valid yet")],
    );
    only(
        &judge(lab, d, "expiring").await,
        &[(
            TlsCheck::Validity,
            Status::Warn,
            "day(s) (warning margin 30)",
        )],
    );
    only(
        &judge(lab, d, "selfsigned").await,
        &[(TlsCheck::Chain, Status::Fail, "self-signed")],
    );
    only(
        &judge(lab, d, "foreign").await,
        &[(
            TlsCheck::Chain,
            Status::Fail,
            "issuer (O=somebody else, CN=Foreign CA) is not the deployment's CA",
        )],
    );
    only(
        &judge(lab, d, "wrongname").await,
        &[(
            TlsCheck::Names,
            Status::Fail,
            "does not cover DNS name imp1.lab.test",
        )],
    );
    only(
        &judge(lab, d, "noclientauth").await,
        &[(
            TlsCheck::Usage,
            Status::Fail,
            "lacks the extended key usage clientAuth",
        )],
    );
    // SHA-1 is refused by the chain verifier too: both say so.
    only(
        &judge(lab, d, "sha1").await,
        &[
            (
                TlsCheck::Strength,
                Status::Fail,
                "weak signature algorithm (sha1WithRSAEncryption)",
            ),
            (TlsCheck::Chain, Status::Fail, "does not verify"),
        ],
    );
    // A 1024-bit key cannot even sign the handshake for rustls: judged all the same.
    let v = judge(lab, d, "rsa1024").await;
    let s = v.get(TlsCheck::Strength);
    assert_eq!(s.status, Status::Fail);
    assert!(
        s.message.contains("weak key (RSA 1024 bits"),
        "{}",
        s.message
    );
    assert_eq!(v.get(TlsCheck::Names).status, Status::Pass);
    assert_eq!(v.get(TlsCheck::Validity).status, Status::Pass);
}

#[tokio::test]
async fn every_tls_check_passes_on_the_lab_and_an_expired_node_certificate_fails() {
    let lab = Lab::isolated();
    let all = run_tls(&lab.spec(), Duration::from_secs(5)).await;
    assert_eq!(all.len(), 45, "9 endpoints x 5 checks");
    for r in &all {
        let o = &r.outcome;
        assert_eq!(o.status, Status::Pass, "{}: {}", r.key, o.message);
        if r.key.id == "tls.strength" {
            // Every lab server refuses TLS 1.0 and 1.1 and accepts 1.2.
            assert_eq!(
                ev(o, "lowest_version"),
                "TLSv1.2",
                "{}: {:?}",
                r.key,
                o.evidence
            );
        }
    }

    // imp2's Kamailio gets an expired certificate (same CA, same name).
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new(repo_root().join("fixtures/tls/make-bad-certs"))
        .arg(dir.path())
        .arg(lab.dir.join("pki/ca.crt"))
        .arg(lab.dir.join("pki/ca.key"))
        .arg("imp2.lab.test")
        .status()
        .unwrap();
    assert!(ok.success());
    let tls_cfg = lab.dir.join("conf/imp2-sip/tls.cfg");
    let cfg = std::fs::read_to_string(&tls_cfg).unwrap();
    let pki = lab.dir.join("pki").display().to_string();
    let cfg = cfg
        .replace(
            &format!("{pki}/imp2.lab.test.crt"),
            &dir.path().join("expired.crt").display().to_string(),
        )
        .replace(
            &format!("{pki}/imp2.lab.test.key"),
            &dir.path().join("expired.key").display().to_string(),
        );
    std::fs::write(&tls_cfg, cfg).unwrap();
    lab.stop("imp2-sip");
    lab.start("imp2-sip");
    let all = run_tls(&lab.spec(), Duration::from_secs(5)).await;
    for r in &all {
        let (id, target, o) = (r.key.id, &r.key.target, &r.outcome);
        if id == "tls.validity" && target == "sip-tls imp2.lab.test:5061" {
            assert_eq!(o.status, Status::Fail, "{}", o.message);
            assert!(o.message.contains("expired"), "{}", o.message);
        } else {
            assert_eq!(o.status, Status::Pass, "{id} [{target}]: {}", o.message);
        }
    }
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_fails_within_the_timeout() {
    let lab = Lab::shared();
    let listener = TcpListener::bind("127.0.0.9:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, reads nothing, says nothing; counts connections.
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let spec_path: PathBuf = dir.path().join("spec.toml");
    std::fs::write(
        &spec_path,
        format!(
            "workflow = \"B\"\ndomains = [\"lab.test\"]\n[tls]\nca_bundle = \"{}\"\n[[clusters]]\nname = \"c\"\ndomain = \"lab.test\"\n\
             [[clusters.nodes]]\nfqdn = \"imp1.lab.test\"\naddress = \"127.0.0.9\"\nrole = \"imp\"\nservices = [\"sip-tls\", \"xmpp-c2s\"]\nports = {{ sip-tls = {port}, xmpp-c2s = {port} }}\n",
            lab.dir.join("pki/ca.crt").display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let outcomes = run_tls(&spec_path, Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // Five checks an endpoint, four connections an endpoint (the handshake, the
    // tolerant look, the TLS 1.0 and 1.1 ClientHellos), all bounded by the one budget.
    assert_eq!(outcomes.len(), 10);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 8);
    let chain = |target: &str| &harness::get(&outcomes, "tls.chain", target).outcome;
    let sip = chain(&format!("sip-tls imp1.lab.test:{port}"));
    assert_eq!(sip.status, Status::Fail);
    assert!(
        sip.message.contains("no TLS handshake with imp1.lab.test:"),
        "{}",
        sip.message
    );
    assert!(sip.message.contains("within 800 ms"), "{}", sip.message);
    assert!(
        sip.message.contains("did not answer the handshake"),
        "{}",
        sip.message
    );
    // The probe's own time ran out, in the handshake: a timeout, named at its stage.
    assert!(
        matches!(sip.reason, Reason::TimedOut { after, stage: Some(Stage::TlsHandshake) } if after.as_millis() == 800),
        "{:?}",
        sip.reason
    );
    // The ClientHellos of the tolerant look and of old versions got no answer either.
    for version in ["TLSv1.0", "TLSv1.1", "TLSv1.2"] {
        let seen = sip
            .evidence
            .iter()
            .find(|(k, _)| *k == format!("offered_{version}"))
            .map(|(_, v)| v.as_str());
        assert_eq!(
            seen,
            Some(format!("not known: no answer to a {version} ClientHello within 800 ms").as_str()),
            "{:?}",
            sip.evidence
        );
    }
    let xmpp = chain(&format!("xmpp-c2s imp1.lab.test:{port}"));
    assert_eq!(xmpp.status, Status::Fail);
    assert!(
        xmpp.message.contains("XMPP STARTTLS with imp1.lab.test:"),
        "{}",
        xmpp.message
    );
    assert!(
        xmpp.message.contains("not done within 800 ms"),
        "{}",
        xmpp.message
    );
    assert!(
        matches!(
            xmpp.reason,
            Reason::TimedOut {
                stage: Some(Stage::StartTls),
                ..
            }
        ),
        "{:?}",
        xmpp.reason
    );
    assert!(
        xmpp.remediation
            .as_deref()
            .unwrap()
            .contains("through STARTTLS"),
        "{xmpp:?}"
    );
    for r in &outcomes {
        if r.key.id != "tls.chain" {
            let o = &r.outcome;
            assert_eq!(o.status, Status::Skip, "{}: {}", r.key, o.message);
            assert!(o.message.contains("see tls.chain"), "{}", o.message);
            assert!(
                matches!(o.reason, Reason::NotObservable { .. }),
                "{:?}",
                o.reason
            );
        }
    }
}

#[test]
fn the_lab_node_certificate_shows_its_xmpp_identities() {
    use imp_verify_net::tls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let lab = Lab::shared();
    let der = CertificateDer::from_pem_file(lab.dir.join("pki/imp1.lab.test.crt")).unwrap();
    let v = imp_verify_net::tls::view(&der).unwrap();
    assert_eq!(
        v.names.dns,
        [
            "imp1.lab.test",
            "lab.test",
            "conference.lab.test",
            "imp-cluster.lab.test"
        ]
    );
    assert_eq!(v.names.ip, [lab.ip(2).to_string()]);
    assert_eq!(v.names.xmpp_addr, ["lab.test"]);
    assert_eq!(
        v.names.srv_name,
        ["_xmpp-client.lab.test", "_xmpp-server.lab.test"]
    );
    assert_eq!(v.key, "RSA 2048 bits");
    assert_eq!(v.signature, "sha256WithRSAEncryption");
    assert!(v.server_auth && v.client_auth && v.key_ok && v.signature_ok && !v.self_signed);
    assert_eq!(v.sha256.len(), 32 * 3 - 1);
}

#[tokio::test]
async fn a_server_without_tls_1_2_fails_strength_and_chain_saying_so() {
    // A self-signed certificate the spec trusts (its own CA bundle): no lab is needed.
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            // Well beyond the 30-day expiry warning: 30 days warned as soon as a
            // second passed (29 days and some hours left).
            "-days",
            "365",
            "-subj",
            "/CN=imp1.lab.test",
            "-addext",
            "subjectAltName=DNS:imp1.lab.test",
        ])
        .arg("-keyout")
        .arg(dir.path().join("old.key"))
        .arg("-out")
        .arg(dir.path().join("old.crt"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let server = serve_with(dir.path(), "old", &["-tls1_1"]);
    let spec_dir = tempfile::tempdir().unwrap();
    let spec_path = spec_dir.path().join("spec.toml");
    std::fs::write(
        &spec_path,
        format!(
            "workflow = \"B\"\ndomains = [\"lab.test\"]\n[tls]\nca_bundle = \"{}\"\n[[clusters]]\nname = \"c\"\ndomain = \"lab.test\"\n\
             [[clusters.nodes]]\nfqdn = \"imp1.lab.test\"\naddress = \"127.0.0.9\"\nrole = \"imp\"\nservices = [\"sip-tls\"]\nports = {{ sip-tls = {} }}\n",
            dir.path().join("old.crt").display(),
            server.port
        ),
    )
    .unwrap();
    let outcomes = run_tls(&spec_path, Duration::from_secs(5)).await;
    // The certificate is still read, through the tolerant look (the server answers a
    // TLS 1.2 ClientHello with a TLS 1.1 ServerHello): the other checks judge it.
    for r in &outcomes {
        let (id, o) = (r.key.id, &r.outcome);
        match id {
            "tls.chain" | "tls.strength" => {
                assert_eq!(o.status, Status::Fail, "{id}: {}", o.message);
                assert!(
                    o.message.contains("neither TLS 1.2 nor TLS 1.3"),
                    "{id}: {}",
                    o.message
                );
                assert!(
                    o.remediation.as_deref().unwrap().contains("task B.11"),
                    "{id}: {o:?}"
                );
            }
            _ => assert_eq!(o.status, Status::Pass, "{id}: {}", o.message),
        }
    }
    let strength = &harness::all(&outcomes, "tls.strength")[0].outcome;
    assert!(
        strength.message.contains("the server accepts TLSv1.1"),
        "{}",
        strength.message
    );
    assert!(
        strength
            .evidence
            .contains(&("lowest_version".into(), "TLSv1.1".into())),
        "{:?}",
        strength.evidence
    );
}

/// Whether something listens on 127.0.0.9:`port` (the kernel's socket table says so;
/// asking by connecting would be a connection of the test's own).
fn listening(port: u16) -> bool {
    let want = format!("0900007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == want && f[3] == "0A"
        })
}
