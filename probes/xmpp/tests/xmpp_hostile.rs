//! The XMPP probe against hostile servers (a scripted one after TLS, raw sockets before
//! it): each fails the login or the connect for its own reason, within the timeout.

mod common;

use common::{get, imp1_at, no_secret, xmpp_shared};
use imp_verify_core::Status;
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

#[tokio::test]
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
            "enormous" => assert!(m.contains("more than 8 MiB on one connection"), "{m}"),
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
        assert_eq!(
            get(&r, "xmpp.login", "carol on imp2.lab.test")
                .outcome
                .status,
            Status::Pass,
            "{mode}"
        );
        no_secret(lab, &r);
    }
}

#[tokio::test]
async fn hostile_servers_fail_the_connect_within_the_timeout() {
    let lab = Lab::shared();
    for behaviour in ["garbage", "silence", "huge", "no-starttls"] {
        let listener = TcpListener::bind("127.0.0.9:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = match behaviour {
                    "garbage" => s.write_all(b"\x16\x03\x01\x00\x05hello\x00\xff not xml at all"),
                    "huge" => s.write_all(&[b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><stream:features>".as_slice(), &vec![b'x'; 300_000]].concat()),
                    "no-starttls" => s.write_all(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='lab.test' id='1' version='1.0'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"),
                    _ => Ok(()),
                };
                held.push(s);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let spec = imp1_at(lab, dir.path(), port);
        let started = Instant::now();
        let r = xmpp_shared(&spec, Duration::from_secs(2)).await;
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{behaviour}: {:?}",
            started.elapsed()
        );
        let c = get(&r, "xmpp.connect", "imp1.lab.test");
        assert_eq!(
            c.outcome.status,
            Status::Fail,
            "{behaviour}: {}",
            c.outcome.message
        );
        let m = &c.outcome.message;
        match behaviour {
            "no-starttls" => assert!(m.contains("offers authentication without TLS"), "{m}"),
            "huge" => assert!(m.contains("without the expected answer"), "{m}"),
            "silence" => assert!(m.contains("within"), "{m}"),
            _ => assert!(
                m.contains("not the protocol's") || m.contains("closed"),
                "{behaviour}: {m}"
            ),
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
