//! The XMPP probe against hostile servers (a scripted one after TLS, raw sockets before
//! it): each fails the login or the connect for its own reason, within the timeout.

mod support;

use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Reason, Stage, Status};
use imp_verify_testlab::harness::get;
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use support::{imp1_at, no_secret, xmpp_shared};

// On worker threads, as the binary runs its checks: a session parsing a flood does not
// hold the healthy node's logins up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_misbehave_after_tls_fail_the_login_within_the_timeout() {
    let lab = Lab::shared();
    for mode in [
        "close-mid-login",
        "stream-error",
        "enormous",
        "drip",
        "anonymous-only",
    ] {
        let mut server = std::process::Command::new("python3")
            .current_dir(imp_verify_testlab::repo_root())
            .args(["tests/lab/hostile_xmpp.py", mode, "127.0.0.9"])
            .arg(lab.dir.join("pki/imp1.lab.test.crt"))
            .arg(lab.dir.join("pki/imp1.lab.test.key"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = imp1_at(lab, dir.path(), port);
        let started = Instant::now();
        // 8 MiB of stanza take a debug build's XML parser a few seconds to read.
        let timeout = Duration::from_secs(if mode == "enormous" { 10 } else { 3 });
        let r = xmpp_shared(&spec, timeout).await;
        eprintln!("{mode}: {:?}", started.elapsed());
        let _ = server.kill();
        let _ = server.wait();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{mode}: {:?}",
            started.elapsed()
        );
        let c = get(&r, "xmpp.login", "alice on imp1.lab.test");
        // Within the check's time, and a margin for a loaded machine.
        assert!(
            c.duration < timeout + Duration::from_secs(1),
            "{mode}: {:?}",
            c.duration
        );
        assert_eq!(
            c.outcome.status,
            Status::Fail,
            "{mode}: {}",
            c.outcome.message
        );
        let m = &c.outcome.message;
        match mode {
            "close-mid-login" => assert!(
                m.contains("the server closed the connection during login"),
                "{m}"
            ),
            "stream-error" => assert!(m.contains("stream error InternalServerError"), "{m}"),
            // Bounded either way: the 8 MiB cap, or the check's time with what was sent
            // by then (a debug build parses a few MiB a second).
            "enormous" => assert!(
                m.contains("more than 8 MiB on one connection")
                    || (m.contains(
                        "stalled in waiting for the XMPP stream features (the server had sent"
                    ) && c.outcome.reason
                        == Reason::TimedOut {
                            after: Duration::from_secs(8),
                            stage: Some(Stage::StreamFeatures)
                        }),
                "{m}"
            ),
            // Never a login without the user's credentials.
            "anonymous-only" => {
                assert!(
                    m.contains(
                        "offers none of SCRAM-SHA-256, SCRAM-SHA-1, PLAIN to clients over TLS"
                    ),
                    "{m}"
                );
                assert!(
                    c.outcome
                        .evidence
                        .iter()
                        .any(|(k, v)| k == "offered_mechanisms" && v == "ANONYMOUS"),
                    "{:?}",
                    c.outcome.evidence
                );
            }
            _ => assert!(m.contains("within"), "{mode}: {m}"),
        }
        // The healthy node is untouched.
        let carol = get(&r, "xmpp.login", "carol on imp2.lab.test");
        assert_eq!(
            carol.outcome.status,
            Status::Pass,
            "{mode}: {}",
            carol.outcome.message
        );
        no_secret(lab, &r);
    }
}

/// A valid stream header from a server of lab.test.
const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='lab.test' id='1' version='1.0'>";

/// Plays `behaviour` to one client connection, before TLS.
fn misbehave(behaviour: &str, mut s: std::net::TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    let starttls = [HEADER, b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"].concat();
    let _ = match behaviour {
        "garbage" => s.write_all(b"\x16\x03\x01\x00\x05hello\x00\xff not xml at all"),
        "huge" => s.write_all(&[HEADER, b"<stream:features>", &vec![b'x'; 300_000]].concat()),
        "no-starttls" => s.write_all(&[HEADER, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"].concat()),
        // The header, then white space as keepalives, for ever: at full speed, or a
        // byte every 100 ms.
        "whitespace-flood" => s.write_all(HEADER).and_then(|_| loop {
            s.write_all(&[b' '; 65536])?;
        }),
        "whitespace-drip" => s.write_all(HEADER).and_then(|_| loop {
            std::thread::sleep(Duration::from_millis(100));
            s.write_all(b" ")?;
        }),
        // STARTTLS offered and accepted, then not a byte of the handshake.
        "stall-tls" => s.write_all(&starttls).and_then(|_| {
            let _ = s.read(&mut buf);
            s.write_all(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        }),
        _ => Ok(()),
    };
    std::thread::sleep(Duration::from_secs(30));
}

#[tokio::test]
async fn hostile_servers_fail_the_connect_within_the_timeout_for_what_they_did() {
    let lab = Lab::shared();
    let timeout = Duration::from_secs(2);
    for behaviour in [
        "garbage",
        "silence",
        "huge",
        "no-starttls",
        "whitespace-flood",
        "whitespace-drip",
        "stall-tls",
    ] {
        let listener = TcpListener::bind("127.0.0.9:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                std::thread::spawn(move || misbehave(behaviour, s));
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let spec = imp1_at(lab, dir.path(), port);
        let r = xmpp_shared(&spec, timeout).await;
        let c = get(&r, "xmpp.connect", "imp1.lab.test");
        // Within the check's time, and a margin for a loaded machine.
        assert!(
            c.duration < timeout + Duration::from_secs(1),
            "{behaviour}: {:?}",
            c.duration
        );
        assert_eq!(
            c.outcome.status,
            Status::Fail,
            "{behaviour}: {}",
            c.outcome.message
        );
        let m = &c.outcome.message;
        let budget = CheckCtx::standalone(timeout, Workflow::C).budget();
        let stalled = |stage| Reason::TimedOut {
            after: budget,
            stage: Some(stage),
        };
        match behaviour {
            "no-starttls" => assert!(m.contains("offers authentication without TLS"), "{m}"),
            "huge" => assert!(
                m.contains("65536 bytes during waiting for the XMPP stream features without the expected answer"),
                "{m}"
            ),
            "silence" => {
                assert!(m.contains("waiting for the XMPP stream header: not completed within 1600 ms (the server had sent nothing)"), "{m}");
                assert_eq!(c.outcome.reason, stalled(Stage::StreamHeader));
            }
            // It had answered the stream header: the features are what never came.
            "whitespace-flood" => assert!(
                m.contains("65536 bytes of white space during waiting for the XMPP stream features without the expected answer")
                    || m.contains("bytes during waiting for the XMPP stream features without the expected answer"),
                "{m}"
            ),
            "whitespace-drip" => {
                assert!(m.contains("waiting for the XMPP stream features: not completed within 1600 ms (the server had sent"), "{m}");
                assert!(!m.contains("stream header"), "{m}");
                assert_eq!(c.outcome.reason, stalled(Stage::StreamFeatures));
            }
            "stall-tls" => {
                assert!(m.contains("the TLS handshake: not completed within 1600 ms"), "{m}");
                assert!(!m.contains("STARTTLS within") && !m.contains("stream header"), "{m}");
                assert_eq!(c.outcome.reason, stalled(Stage::TlsHandshake));
            }
            _ => {
                assert!(m.contains("not the protocol's"), "{behaviour}: {m}");
                // The server's bytes are shown escaped, not as they came.
                assert!(m.contains("\\x16\\u{3}\\u{1}") || m.contains("\\u{16}"), "{m}");
            }
        }
        // Nobody logs in on a node that failed its connect.
        assert_eq!(
            get(&r, "xmpp.login", "alice on imp1.lab.test")
                .outcome
                .status,
            Status::Skip
        );
    }
}
