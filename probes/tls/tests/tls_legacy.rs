//! What only a tolerant look can tell, against real servers on 127.0.0.9: OpenLDAP's
//! slapd (Debian builds it with GnuTLS) with a 1024-bit key or only CBC suites, and
//! OpenSSL's `s_server` still accepting TLS 1.0 or offering only CBC suites.

use imp_probe_tls::{inspect_endpoint, Expectation, Start, TlsCheck, TlsEndpoint, Verdicts};
use imp_verify_core::spec::{Service, Spec};
use imp_verify_core::Status;
use imp_verify_net::tls::rustls::AlertDescription;
use imp_verify_net::tls::{Ended, HandshakeFailure, SeenBy};
use imp_verify_net::Net;
use imp_verify_testlab::harness::ev as evidence;
use imp_verify_testlab::{repo_root, Lab};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Certificates for imp1.lab.test signed by the shared lab's CA (`good`, `rsa1024`...),
/// made once in the lab's folder (they go with its CA).
fn certs(lab: &Lab) -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = lab.dir.join("test-certs/tls-legacy");
        if !dir.join("rsa1024.crt").exists() {
            let tmp = tempfile::tempdir_in(&lab.dir).unwrap();
            let ok = Command::new(repo_root().join("fixtures/tls/make-bad-certs"))
                .arg(tmp.path())
                .arg(lab.dir.join("pki/ca.crt"))
                .arg(lab.dir.join("pki/ca.key"))
                .arg("imp1.lab.test")
                .status()
                .unwrap();
            assert!(ok.success());
            std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
            let _ = std::fs::rename(tmp.keep(), &dir);
        }
        dir
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.9:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    /// Its TLS port (LDAPS, or s_server's).
    port: u16,
    /// slapd's plain LDAP port (StartTLS).
    ldap_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP connection to 127.0.0.9:`port`, through the toolkit (within a second).
async fn tcp(port: u16) -> Result<TcpStream, imp_verify_net::ConnectError> {
    let addr = SocketAddr::from(([127, 0, 0, 9], port));
    imp_verify_net::connect(addr, tokio::time::Instant::now() + Duration::from_secs(1)).await
}

fn wait_listening(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// slapd (GnuTLS) with this certificate and GnuTLS priority string, LDAPS and LDAP
/// (StartTLS) on 127.0.0.9; no database: the TLS layer is what is judged.
fn slapd(dir: &Path, kind: &str, priority: &str) -> Server {
    let conf_dir = tempfile::tempdir().unwrap().keep();
    let conf = conf_dir.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "pidfile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\nTLSCipherSuite {priority}\n",
            conf_dir.join("slapd.pid").display(),
            dir.join(format!("{kind}.crt")).display(),
            dir.join(format!("{kind}.key")).display(),
        ),
    )
    .unwrap();
    let (port, ldap_port) = (free_port(), free_port());
    let slapd = ["/usr/sbin/slapd", "slapd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("slapd");
    let mut child = Command::new(slapd)
        .args(["-d", "0", "-f"])
        .arg(&conf)
        .arg("-h")
        .arg(format!(
            "ldaps://127.0.0.9:{port}/ ldap://127.0.0.9:{ldap_port}/"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child);
    wait_listening(ldap_port, &mut child);
    Server {
        child,
        port,
        ldap_port,
    }
}

/// `openssl s_server` with this certificate and these options on 127.0.0.9.
fn s_server(dir: &Path, kind: &str, options: &[&str]) -> Server {
    let port = free_port();
    let mut child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.9:{port}"))
        .arg("-cert")
        .arg(dir.join(format!("{kind}.crt")))
        .arg("-key")
        .arg(dir.join(format!("{kind}.key")))
        .args(options)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child);
    Server {
        child,
        port,
        ldap_port: 0,
    }
}

fn endpoint(service: Service, port: u16, start: Start) -> TlsEndpoint {
    TlsEndpoint {
        service,
        host: "imp1.lab.test".into(),
        port,
        address: Some("127.0.0.9".parse().unwrap()),
        start,
        server_name: "imp1.lab.test".into(),
        expect: Expectation {
            dns_names: vec!["imp1.lab.test".into()],
            xmpp_domain: None,
            client_auth: false,
            task: "A.10",
        },
        client: None,
    }
}

fn net(lab: &Lab) -> std::sync::Arc<Net> {
    Net::from_spec(&Spec::load(&lab.spec()).unwrap())
}

async fn judged(net: &Net, ep: &TlsEndpoint) -> Verdicts {
    let facts = inspect_endpoint(net, ep, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", ep.target()));
    imp_probe_tls::judge(&net.tls, &facts, &ep.expect)
}

fn passes(v: &Verdicts, checks: &[TlsCheck]) {
    for c in checks {
        let o = v.get(*c);
        assert_eq!(o.status, Status::Pass, "{}: {}", c.id(), o.message);
    }
}

/// GnuTLS cannot sign rustls' first choice (RSA-PSS with SHA-512) with a 1024-bit key,
/// and closes the connection before sending its certificate: only the tolerant look
/// reads it.
#[tokio::test]
async fn a_gnutls_directory_with_a_1024_bit_key_is_judged_through_the_tolerant_look() {
    let lab = Lab::shared();
    let dir = certs(lab);
    let server = slapd(dir, "rsa1024", "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1");
    let net = net(lab);

    // The modern handshake alone: the server ended it, without an alert, before the
    // certificate was kept.
    let tcp = tcp(server.port).await.unwrap();
    let e = net
        .tls
        .handshake(tcp, "imp1.lab.test", None)
        .await
        .err()
        .unwrap();
    assert_eq!(e.ended, Ended::ServerClosed);
    assert_eq!(e.kind, HandshakeFailure::ClosedDuringHandshake);
    assert!(e.facts.is_none());

    for ep in [
        endpoint(Service::Ldaps, server.port, Start::Direct),
        endpoint(Service::Ldap, server.ldap_port, Start::Ldap),
    ] {
        let facts = inspect_endpoint(&net, &ep, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            matches!(facts.seen_by, SeenBy::TolerantLook { .. }),
            "{:?}",
            facts.seen_by
        );
        let v = imp_probe_tls::judge(&net.tls, &facts, &ep.expect);
        let strength = v.get(TlsCheck::Strength);
        assert_eq!(strength.status, Status::Fail, "{}", strength.message);
        assert!(
            strength.message.contains("weak key (RSA 1024 bits"),
            "{}",
            strength.message
        );
        assert!(strength
            .remediation
            .as_deref()
            .unwrap()
            .contains("RSA 2048"));
        assert_eq!(evidence(strength, "lowest_version"), "TLSv1.2");
        let chain = v.get(TlsCheck::Chain);
        assert_eq!(chain.status, Status::Fail, "{}", chain.message);
        for text in [
            "could only be read through a tolerant look",
            "the server closed the connection during the handshake, without an alert",
            "chains to the deployment's CA",
        ] {
            assert!(
                chain.message.contains(text),
                "{text:?} in {}",
                chain.message
            );
        }
        passes(&v, &[TlsCheck::Names, TlsCheck::Validity, TlsCheck::Usage]);
    }
}

/// OpenSSL (at security level 0) and Debian's slapd by default still accept TLS 1.0.
#[tokio::test]
async fn servers_that_accept_tls_1_0_fail_strength_with_their_lowest_version() {
    let lab = Lab::shared();
    let dir = certs(lab);
    let net = net(lab);
    let openssl = s_server(dir, "good", &["-cipher", "DEFAULT:@SECLEVEL=0"]);
    let gnutls = slapd(dir, "good", "NORMAL");
    for ep in [
        endpoint(Service::Https, openssl.port, Start::Direct),
        endpoint(Service::Ldap, gnutls.ldap_port, Start::Ldap),
    ] {
        let v = judged(&net, &ep).await;
        let strength = v.get(TlsCheck::Strength);
        assert_eq!(strength.status, Status::Fail, "{}", strength.message);
        assert!(
            strength
                .message
                .contains("the server accepts TLSv1.0 and TLSv1.1"),
            "{}",
            strength.message
        );
        assert_eq!(evidence(strength, "lowest_version"), "TLSv1.0");
        assert!(evidence(strength, "offered_TLSv1.0").starts_with("accepted"));
        assert!(
            strength
                .remediation
                .as_deref()
                .unwrap()
                .contains("Disable TLS 1.0 and TLS 1.1"),
            "{strength:?}"
        );
        // The modern handshake succeeded: the certificate itself is fine.
        passes(
            &v,
            &[
                TlsCheck::Chain,
                TlsCheck::Names,
                TlsCheck::Validity,
                TlsCheck::Usage,
            ],
        );
    }
}

/// A server that speaks TLS 1.0 only: the modern handshake finds no version in common,
/// and the certificate is still judged through the tolerant look.
#[tokio::test]
async fn a_server_speaking_only_tls_1_0_is_judged_through_the_tolerant_look() {
    let lab = Lab::shared();
    let dir = certs(lab);
    let net = net(lab);
    let server = s_server(dir, "good", &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let ep = endpoint(Service::Https, server.port, Start::Direct);
    let facts = inspect_endpoint(&net, &ep, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(facts.handshake_failure, Some(HandshakeFailure::NoModernTls));
    assert!(
        matches!(facts.seen_by, SeenBy::TolerantLook { version, .. } if version.name() == "TLSv1.0"),
        "{:?}",
        facts.seen_by
    );
    let v = imp_probe_tls::judge(&net.tls, &facts, &ep.expect);
    let strength = v.get(TlsCheck::Strength);
    assert_eq!(strength.status, Status::Fail);
    for text in [
        "neither TLS 1.2 nor TLS 1.3",
        "the server accepts TLSv1.0 (deprecated by RFC 8996; lowest version TLSv1.0)",
    ] {
        assert!(
            strength.message.contains(text),
            "{text:?} in {}",
            strength.message
        );
    }
    assert_eq!(evidence(strength, "lowest_version"), "TLSv1.0");
    let chain = v.get(TlsCheck::Chain);
    assert_eq!(chain.status, Status::Fail);
    assert!(
        chain
            .message
            .contains("could only be read through a tolerant look")
            && chain.message.contains("the server chose TLSv1.0"),
        "{}",
        chain.message
    );
    passes(&v, &[TlsCheck::Names, TlsCheck::Validity, TlsCheck::Usage]);
}

/// A directory (GnuTLS) and an OpenSSL server offering only CBC suites: the modern
/// handshake (AEAD suites only) is refused with an alert, and the tolerant look shows
/// the suite the server chose.
#[tokio::test]
async fn servers_offering_only_cbc_suites_are_named_as_such() {
    let lab = Lab::shared();
    let dir = certs(lab);
    let net = net(lab);
    let gnutls = slapd(
        dir,
        "good",
        "NONE:+VERS-TLS1.2:+AES-128-CBC:+AES-256-CBC:+SHA1:+SHA256:+ECDHE-RSA:+RSA:+COMP-NULL:+SIGN-ALL:+CURVE-ALL:+CTYPE-X509",
    );
    let openssl = s_server(
        dir,
        "good",
        &[
            "-cipher",
            "AES128-SHA",
            "-no_tls1_3",
            "-no_tls1",
            "-no_tls1_1",
        ],
    );
    // slapd ends a failed handshake without letting GnuTLS send its alert; OpenSSL
    // sends handshake_failure.
    for (ep, ended) in [
        (
            endpoint(Service::Ldap, gnutls.ldap_port, Start::Ldap),
            "the server closed the connection during the handshake, without an alert",
        ),
        (
            endpoint(Service::Https, openssl.port, Start::Direct),
            "the server ended the handshake with the alert handshake_failure (40)",
        ),
    ] {
        let tcp_ep = ep.target();
        let v = judged(&net, &ep).await;
        let strength = v.get(TlsCheck::Strength);
        assert_eq!(
            strength.status,
            Status::Fail,
            "{tcp_ep}: {}",
            strength.message
        );
        assert!(
            strength.message.contains("offers only CBC cipher suites"),
            "{}",
            strength.message
        );
        assert!(
            strength.message.contains("_CBC_SHA"),
            "{}",
            strength.message
        );
        assert!(strength.remediation.as_deref().unwrap().contains("AEAD"));
        assert_eq!(evidence(strength, "lowest_version"), "TLSv1.2");
        let chain = v.get(TlsCheck::Chain);
        assert_eq!(chain.status, Status::Fail, "{}", chain.message);
        assert!(chain.message.contains(ended), "{tcp_ep}: {}", chain.message);
        passes(&v, &[TlsCheck::Names, TlsCheck::Validity, TlsCheck::Usage]);
    }

    // The alert is typed, not read from text.
    let tcp = tcp(openssl.port).await.unwrap();
    let e = net
        .tls
        .handshake(tcp, "imp1.lab.test", None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        e.ended,
        Ended::ServerAlert(AlertDescription::HandshakeFailure)
    );
}

/// A server that prefers CBC but also has AEAD suites is not called CBC-only, even when
/// only the tolerant look could read its certificate (here: a 1024-bit key).
#[tokio::test]
async fn a_server_preferring_cbc_but_offering_aead_is_not_called_cbc_only() {
    let lab = Lab::shared();
    let dir = certs(lab);
    let net = net(lab);
    let server = slapd(
        dir,
        "rsa1024",
        "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-AES-128-GCM:-AES-256-GCM:-CHACHA20-POLY1305:+AES-128-CBC:+AES-128-GCM:%SERVER_PRECEDENCE",
    );
    let ep = endpoint(Service::Ldaps, server.port, Start::Direct);
    let facts = inspect_endpoint(&net, &ep, Duration::from_secs(5))
        .await
        .unwrap();
    match &facts.seen_by {
        SeenBy::TolerantLook {
            suite, only_cbc, ..
        } => {
            assert!(suite.name.contains("_CBC_"), "{suite:?}");
            assert!(!only_cbc);
        }
        other => panic!("{other:?}"),
    }
    let v = imp_probe_tls::judge(&net.tls, &facts, &ep.expect);
    let strength = v.get(TlsCheck::Strength);
    assert_eq!(strength.status, Status::Fail);
    assert!(
        strength.message.contains("RSA 1024 bits"),
        "{}",
        strength.message
    );
    assert!(!strength.message.contains("CBC"), "{}", strength.message);
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
