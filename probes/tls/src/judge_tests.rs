//! The judges driven with synthetic facts.

use super::*;
use imp_verify_net::tls::{Names, VersionAnswer, Versions};

fn cert(names: Names) -> CertView {
    CertView {
        subject: "CN=imp1.lab.test".into(),
        cn: Some("imp1.lab.test".into()),
        issuer: "CN=Lab CA".into(),
        serial: "01".into(),
        not_before: 0,
        not_after: 4_000_000_000,
        names,
        sha256: "AA".into(),
        server_auth: true,
        client_auth: true,
        has_eku: true,
        key: "RSA 2048 bits".into(),
        key_ok: true,
        signature: "sha256WithRSAEncryption".into(),
        signature_ok: true,
        self_signed: false,
    }
}

fn xmpp(srv: &'static str) -> Expectation {
    Expectation {
        dns_names: vec!["imp1.lab.test".into()],
        xmpp_domain: Some(("lab.test".into(), srv)),
        client_auth: false,
        task: "C.11",
    }
}

fn names(dns: &[&str], xmpp_addr: &[&str], srv_name: &[&str]) -> Names {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    Names {
        dns: v(dns),
        ip: vec![],
        xmpp_addr: v(xmpp_addr),
        srv_name: v(srv_name),
    }
}

#[test]
fn the_xmpp_domain_is_covered_by_dns_xmpp_addr_or_the_right_srv_name() {
    let ok = |n: Names, srv| judge_names(&cert(n), &xmpp(srv)).status;
    use imp_verify_core::Status::{Fail, Pass};
    assert_eq!(
        ok(
            names(&["imp1.lab.test", "lab.test"], &[], &[]),
            "_xmpp-client"
        ),
        Pass
    );
    assert_eq!(
        ok(
            names(&["imp1.lab.test"], &["lab.test"], &[]),
            "_xmpp-client"
        ),
        Pass
    );
    assert_eq!(
        ok(
            names(&["imp1.lab.test"], &[], &["_xmpp-client.lab.test"]),
            "_xmpp-client"
        ),
        Pass
    );
    // An SRVName is for one service only (RFC 4985, RFC 7590).
    assert_eq!(
        ok(
            names(&["imp1.lab.test"], &[], &["_xmpp-client.lab.test"]),
            "_xmpp-server"
        ),
        Fail
    );
    // A wildcard covers the node but not the domain itself.
    assert_eq!(ok(names(&["*.lab.test"], &[], &[]), "_xmpp-client"), Fail);
    // The domain alone does not name the node.
    let o = judge_names(
        &cert(names(&["lab.test"], &["lab.test"], &[])),
        &xmpp("_xmpp-client"),
    );
    assert_eq!(o.status, Fail);
    assert!(
        o.message.contains("DNS name imp1.lab.test"),
        "{}",
        o.message
    );
    assert!(!o.message.contains("XMPP domain"), "{}", o.message);
    let o = judge_names(
        &cert(names(&["imp1.lab.test"], &[], &[])),
        &xmpp("_xmpp-server"),
    );
    assert!(o.message.contains("the XMPP domain lab.test (as DNS name, id-on-xmppAddr or SRVName _xmpp-server.lab.test)"), "{}", o.message);
    assert!(o.remediation.as_deref().unwrap().contains("task C.11"));
}

fn facts(version: &str, versions: Vec<(Version, VersionAnswer)>, seen_by: SeenBy) -> TlsFacts {
    TlsFacts {
        server_name: "imp1.lab.test".into(),
        chain: vec![],
        version: version.into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        verify_error: None,
        handshake_error: None,
        handshake_failure: None,
        protocol: match version {
            "TLSv1_3" => Some(Version::Tls1_3),
            _ => Some(Version::Tls1_2),
        },
        seen_by,
        versions: Some(Versions { answers: versions }),
    }
}

#[test]
fn strength_weighs_the_lowest_version_and_cbc_only_suites() {
    use imp_verify_core::Status::{Fail, Pass};
    use imp_verify_net::tls::legacy::suite;
    use imp_verify_net::tls::{Refusal, VersionAnswer as A};
    let refused = || A::Refused(Refusal::OtherVersion(0x0303));
    let gcm = suite(0xc02f);
    let ev = |o: &Outcome, k: &str| {
        o.evidence
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let v = cert(names(&["imp1.lab.test"], &[], &[]));

    // TLS 1.3 negotiated, 1.0 and 1.1 refused, 1.2 accepted: lowest 1.2, a pass.
    let f = facts(
        "TLSv1_3",
        vec![
            (Version::Tls1_0, refused()),
            (Version::Tls1_1, A::Unknown("no answer".into())),
            (Version::Tls1_2, A::Accepted(gcm)),
        ],
        SeenBy::Handshake,
    );
    let o = judge_strength(&f, &v, "C.11");
    assert_eq!(o.status, Pass, "{}", o.message);
    assert_eq!(ev(&o, "lowest_version").as_deref(), Some("TLSv1.2"));

    // TLS 1.3 only: lowest 1.3.
    let f = facts(
        "TLSv1_3",
        vec![(Version::Tls1_0, refused()), (Version::Tls1_2, refused())],
        SeenBy::Handshake,
    );
    let o = judge_strength(&f, &v, "C.11");
    assert_eq!(ev(&o, "lowest_version").as_deref(), Some("TLSv1.3"));

    // TLS 1.1 accepted: a failure naming it, whatever else is right.
    let f = facts(
        "TLSv1_3",
        vec![
            (Version::Tls1_0, refused()),
            (Version::Tls1_1, A::Accepted(suite(0xc013))),
            (Version::Tls1_2, A::Accepted(gcm)),
        ],
        SeenBy::Handshake,
    );
    let o = judge_strength(&f, &v, "C.11");
    assert_eq!(o.status, Fail);
    assert!(
        o.message.contains("the server accepts TLSv1.1 ("),
        "{}",
        o.message
    );
    assert!(!o.message.contains("certificate"), "{}", o.message);
    assert!(o
        .remediation
        .as_deref()
        .unwrap()
        .contains("Disable TLS 1.0 and TLS 1.1"));
    assert_eq!(ev(&o, "lowest_version").as_deref(), Some("TLSv1.1"));

    // Read through the tolerant look, which the server answered with a CBC suite.
    let mut f = facts(
        "TLSv1_2",
        vec![(Version::Tls1_2, A::Accepted(suite(0x002f)))],
        SeenBy::TolerantLook {
            suite: suite(0x002f),
            version: Version::Tls1_2,
            only_cbc: true,
        },
    );
    f.handshake_error = Some("the server closed the connection".into());
    let o = judge_strength(&f, &v, "C.11");
    assert_eq!(o.status, Fail);
    assert!(
        o.message.contains("only CBC cipher suites")
            && o.message.contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{}",
        o.message
    );
    // ... and a server that chose CBC but also accepts AEAD suites is not CBC-only.
    f.seen_by = SeenBy::TolerantLook {
        suite: suite(0x002f),
        version: Version::Tls1_2,
        only_cbc: false,
    };
    assert_eq!(judge_strength(&f, &v, "C.11").status, Pass);
}

#[test]
fn a_close_after_the_handshake_is_told_as_a_possibility_not_a_refusal() {
    let mut f = facts("TLSv1_3", vec![], SeenBy::Handshake);
    f.handshake_failure = Some(HandshakeFailure::ClosedAfterHandshake);
    let fix = handshake_fix(&f, "C.11");
    assert!(fix.starts_with("See the node's log for why it closed the session: if it refuses the client certificate"), "{fix}");
    // An alert refusing the certificate is the server's own word: the fix says so.
    f.handshake_failure = Some(HandshakeFailure::ClientCertificateRefused);
    assert!(handshake_fix(&f, "C.11").starts_with("Present a client certificate the server trusts"));
    assert_eq!(
        imp_verify_net::tls::CLOSED_AFTER_HANDSHAKE,
        "the server closed the connection after the handshake, without answering the first request; the node may refuse the client certificate: see its log"
    );
}
