//! The SIP probe against the lab's real Kamailio nodes, through the one harness of
//! `imp_verify_testlab`: every check passes on the healthy trunk; a stopped node,
//! subjects that do not match, an untrusted client certificate and hostile servers each
//! fail for their own reason; the run's cleanup leaves nothing behind.
//! (Refusals, the incoming ACL and a node that never answers a removal: sip_refusals.rs.)

mod common;
use common::*;

use imp_verify_core::{Reason, Status};
use imp_verify_testlab::harness::{ev, get, spec_variant, ForeignCa};
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn every_sip_check_passes_on_the_lab() {
    let lab = Lab::shared();
    let r = sip(&lab.spec(), Duration::from_secs(10)).await;
    assert_eq!(
        r.len(),
        2 * 3 + 2 + 2 + 2 + 2 + 1 + 4 + 2,
        "2 nodes x 3 transports, 2 TLS peers, 2 TLS refusals, 2 publish, 2 e2e, 1 gateway; SIP federation: mutual TLS, out through 2 nodes, in, 2 federation ports' refusals"
    );
    for c in &r {
        assert_eq!(
            c.outcome.status,
            Status::Pass,
            "{}: {}",
            c.key,
            c.outcome.message
        );
    }
    let udp = get(&r, "sip.options", "udp imp1.lab.test:5060");
    assert_eq!(ev(&udp.outcome, "status_line"), "SIP/2.0 200 OK");
    assert!(udp.outcome.metrics.contains_key("options_ms"));
    let publish = get(&r, "sip.publish", "tls imp1.lab.test:5061");
    for step in ["publish", "refresh", "remove"] {
        assert_eq!(
            ev(&publish.outcome, &format!("{step}_status")),
            "SIP/2.0 200 OK",
            "{step}"
        );
    }
    assert_ne!(
        ev(&publish.outcome, "publish_sip_etag"),
        ev(&publish.outcome, "refresh_sip_etag"),
        "a refresh gets a new entity tag"
    );
    let e2e = get(&r, "sip.presence-e2e", "tls imp2.lab.test:5061");
    assert!(e2e.outcome.metrics["presence_propagation_ms"] > 0.0);
    let state = ev(&e2e.outcome, "notify_state");
    assert!(state.starts_with("open (imp-verify "), "{state}");
    let changed = ev(&e2e.outcome, "changed_state");
    assert!(changed.starts_with("closed (imp-verify "), "{changed}");
    assert_eq!(
        ev(&e2e.outcome, "final_notify"),
        "Subscription-State: terminated"
    );
    let gw = get(&r, "sip.presence-gateway", "tcp cucm.lab.test:5060");
    assert_eq!(ev(&gw.outcome, "server"), "lab-cucm-sip");

    // The TLS ports refuse a client without a certificate at the handshake, and the
    // lab CA's certificate for outsider.lab.test with 403, as IM&P's TLS peer subjects do.
    for (id, target) in [
        ("sip.tls-refusal", "tls imp1.lab.test:5061"),
        ("sip.federation-refusal", "imp2.lab.test:5061 (lab.test)"),
    ] {
        let o = &get(&r, id, target).outcome;
        let bare = ev(o, "without_client_certificate");
        assert!(
            bare.starts_with("refused: the server requires a client certificate"),
            "{id}: {bare}"
        );
        assert_eq!(
            ev(o, "unlisted_subject"),
            "outsider.lab.test: refused: the session was taken, its OPTIONS answered 403 Forbidden",
            "{id}"
        );
    }
}

#[tokio::test]
async fn without_an_unlisted_certificate_the_refusal_checks_say_what_to_add() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_variant(lab, dir.path(), |t| {
        t.lines()
            .filter(|l| !l.starts_with("unlisted_client_"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = sip(&spec, Duration::from_secs(10)).await;
    let o = &get(&r, "sip.tls-refusal", "tls imp2.lab.test:5061").outcome;
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(
        o.message
            .ends_with("a certificate with an unlisted subject was not tried"),
        "{}",
        o.message
    );
    assert!(
        ev(o, "not_tested").contains("`unlisted_client_cert` and `unlisted_client_key` of [tls]"),
        "{:?}",
        o.evidence
    );
}

#[tokio::test]
async fn publish_and_presence_work_over_udp_and_tcp_too() {
    let lab = Lab::shared();
    for transport in ["udp", "tcp"] {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_variant(lab, dir.path(), |t| {
            t.replace(
                "transports = [\"udp\", \"tcp\", \"tls\"]",
                &format!("transports = [\"{transport}\"]"),
            )
        });
        let r = sip(&spec, Duration::from_secs(10)).await;
        for node in ["imp1", "imp2"] {
            let target = format!("{transport} {node}.lab.test:5060");
            for id in ["sip.publish", "sip.presence-e2e"] {
                let c = get(&r, id, &target);
                assert_eq!(
                    c.outcome.status,
                    Status::Pass,
                    "{}: {}",
                    c.key,
                    c.outcome.message
                );
            }
        }
        let gw = get(
            &r,
            "sip.presence-gateway",
            &format!("{transport} cucm.lab.test:5060"),
        );
        assert_eq!(gw.outcome.status, Status::Pass, "{}", gw.outcome.message);
    }
}

#[tokio::test]
async fn a_refused_publish_an_unauthorized_watcher_and_a_stopped_gateway_fail_for_their_own_reasons(
) {
    let lab = Lab::isolated();
    // imp1's SIP proxy no longer passes PUBLISH to the presence engine.
    lab.edit_conf("imp1-sip/kamailio.cfg", |t| {
        t.replace(
            "    if (is_method(\"PUBLISH|SUBSCRIBE\")) {",
            "    if (is_method(\"PUBLISH\")) {\n        append_to_reply(\"Allow: OPTIONS, SUBSCRIBE, NOTIFY\\r\\n\");\n        sl_send_reply(\"405\", \"Method Not Allowed\");\n        exit;\n    }\n    if (is_method(\"SUBSCRIBE\")) {",
        )
    });
    // imp2's presence engine no longer authorizes watchers by itself: subscriptions stay pending.
    lab.edit_conf("imp2-sip/kamailio.cfg", pending_watchers);
    for n in ["imp1-sip", "imp2-sip", "cucm-sip"] {
        lab.stop(n);
    }
    lab.start("imp1-sip");
    lab.start("imp2-sip");
    let started = Instant::now();
    let r = sip(&lab.spec(), Duration::from_secs(4)).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    let publish = &get(&r, "sip.publish", "tls imp1.lab.test:5061").outcome;
    assert_eq!(publish.status, Status::Fail, "{}", publish.message);
    assert!(
        publish.message.contains(
            "PUBLISH sip:alice@lab.test SIP/2.0` answered SIP/2.0 405 Method Not Allowed"
        ),
        "{}",
        publish.message
    );
    let fix = publish.remediation.as_deref().unwrap();
    assert!(
        fix.contains("refuses the method") && fix.contains("C.8"),
        "{fix}"
    );
    let e2e = &get(&r, "sip.presence-e2e", "tls imp1.lab.test:5061").outcome;
    assert_eq!(e2e.status, Status::Skip, "{}", e2e.message);
    assert!(e2e.message.contains("sip.publish"), "{}", e2e.message);
    assert_eq!(
        get(&r, "sip.options", "tls imp1.lab.test:5061")
            .outcome
            .status,
        Status::Pass
    );

    assert_eq!(
        get(&r, "sip.publish", "tls imp2.lab.test:5061")
            .outcome
            .status,
        Status::Pass
    );
    let e2e = &get(&r, "sip.presence-e2e", "tls imp2.lab.test:5061").outcome;
    assert_eq!(e2e.status, Status::Fail, "{}", e2e.message);
    assert!(
        e2e.message
            .contains("no NOTIFY carrying the published state")
            && e2e.message.contains("within the check's time (3200 ms)"),
        "{}",
        e2e.message
    );
    assert!(
        ev(e2e, "other_notifies").contains("pending"),
        "{}",
        ev(e2e, "other_notifies")
    );
    // What the check made was removed although it failed: by the run's cleanup, within
    // its own budget, so nothing is named as left behind and the node holds nothing.
    assert!(
        !e2e.evidence.iter().any(|(k, _)| k == "not_undone"),
        "{:?}",
        e2e.evidence
    );
    let left = publications(&lab, "imp2");
    assert!(!left.contains("alice"), "left behind:\n{left}");

    let gw = &get(&r, "sip.presence-gateway", "tcp cucm.lab.test:5060").outcome;
    assert_eq!(gw.status, Status::Fail, "{}", gw.message);
    assert!(
        gw.message.contains("presence gateway cucm.lab.test:5060")
            && gw.message.contains("refused"),
        "{}",
        gw.message
    );
    assert!(gw
        .remediation
        .as_deref()
        .unwrap()
        .contains("Presence > Gateways"));
}

#[tokio::test]
async fn a_stopped_node_fails_its_own_targets_only() {
    let lab = Lab::isolated();
    lab.stop("imp2-sip");
    let started = Instant::now();
    let r = sip(&lab.spec(), Duration::from_secs(4)).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    for t in ["udp", "tcp", "tls"] {
        let port = if t == "tls" { 5061 } else { 5060 };
        let down = &get(&r, "sip.options", &format!("{t} imp2.lab.test:{port}")).outcome;
        assert_eq!(down.status, Status::Fail, "{t}: {}", down.message);
        assert!(
            down.remediation.as_deref().unwrap().contains("C.8"),
            "{:?}",
            down.remediation
        );
        let up = &get(&r, "sip.options", &format!("{t} imp1.lab.test:{port}")).outcome;
        assert_eq!(up.status, Status::Pass, "{t}: {}", up.message);
    }
    let tcp = &get(&r, "sip.options", "tcp imp2.lab.test:5060").outcome;
    assert!(
        tcp.message.contains("cannot connect") && tcp.message.contains("refused"),
        "{}",
        tcp.message
    );
    // The refusal check waits for the TLS peer check, which the stopped node fails.
    let refusal = &get(&r, "sip.tls-refusal", "tls imp2.lab.test:5061").outcome;
    assert_eq!(refusal.status, Status::Skip, "{}", refusal.message);
    assert!(matches!(&refusal.reason, Reason::Blocked { by, .. } if by.id == "sip.tls-peer"));
}

#[tokio::test]
async fn subjects_that_do_not_match_and_an_untrusted_client_certificate_fail_the_tls_peer() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let wrong_subjects = spec_variant(lab, dir.path(), |t| {
        t.replace(
            "tls_peer_subjects = [\"imp1.lab.test\", \"imp2.lab.test\"]",
            "tls_peer_subjects = [\"imp9.lab.test\"]",
        )
    });
    let r = sip(&wrong_subjects, Duration::from_secs(10)).await;
    let peer = &get(&r, "sip.tls-peer", "tls imp1.lab.test:5061").outcome;
    assert_eq!(peer.status, Status::Fail);
    assert!(
        peer.message
            .contains("matches none of the TLS peer subjects imp9.lab.test"),
        "{}",
        peer.message
    );

    // A client certificate from a CA the nodes do not trust.
    let other = tempfile::tempdir().unwrap();
    let foreign = ForeignCa::new(other.path(), "foreign").issue("cucm.lab.test");
    let dir2 = tempfile::tempdir().unwrap();
    let untrusted = spec_variant(lab, dir2.path(), |t| {
        t.replace(
            &format!("{}/pki/cucm.lab.test.crt", lab.dir.display()),
            &foreign.cert.display().to_string(),
        )
        .replace(
            &format!("{}/pki/cucm.lab.test.key", lab.dir.display()),
            &foreign.key.display().to_string(),
        )
    });
    let r = sip(&untrusted, Duration::from_secs(10)).await;
    let peer = &get(&r, "sip.tls-peer", "tls imp2.lab.test:5061").outcome;
    assert_eq!(peer.status, Status::Fail);
    assert!(
        peer.message
            .contains("does not accept the trunk's client certificate"),
        "{}",
        peer.message
    );
    let tls = &get(&r, "sip.options", "tls imp2.lab.test:5061").outcome;
    assert_eq!(tls.status, Status::Fail, "{}", tls.message);
    // UDP and TCP do not use the certificate.
    assert_eq!(
        get(&r, "sip.options", "tcp imp2.lab.test:5060")
            .outcome
            .status,
        Status::Pass
    );
}

#[tokio::test]
async fn hostile_tcp_servers_fail_within_the_timeout_without_panic() {
    let lab = Lab::shared();
    for behaviour in ["garbage", "silence", "drip", "huge", "not-ours"] {
        let listener = TcpListener::bind("127.0.0.9:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut s in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                match behaviour {
                    "garbage" => {
                        let _ = s.write_all(b"\x00\x01\x02 HTTP/1.1 200 OK\r\n\r\n");
                    }
                    "drip" => {
                        for b in b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x;branch=nope\r\n"
                            .iter()
                            .cycle()
                            .take(400)
                        {
                            if s.write_all(&[*b]).is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    "huge" => {
                        let _ = s.write_all(b"SIP/2.0 200 OK\r\nContent-Length: 999999999\r\n\r\n");
                    }
                    "not-ours" => {
                        // A final response of another transaction: ignored, then silence.
                        let _ = s.write_all(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-someone-else\r\nCall-ID: other@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
                    }
                    _ => {}
                }
                held.push(s);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let spec = on_a_node_of_our_own(lab, dir.path(), port);
        let started = Instant::now();
        let r = sip(&spec, Duration::from_secs(2)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{behaviour}: {:?}",
            started.elapsed()
        );
        let c = &get(&r, "sip.options", &format!("tcp imp1.lab.test:{port}")).outcome;
        assert_eq!(c.status, Status::Fail, "{behaviour}: {}", c.message);
        let m = &c.message;
        match behaviour {
            "garbage" => assert!(m.contains("malformed"), "{m}"),
            "huge" => assert!(m.contains("announcing"), "{m}"),
            _ => {
                assert!(
                    m.contains("no final response to OPTIONS"),
                    "{behaviour}: {m}"
                );
                // The check's own time ended the wait (1.6 s of 2 s), not timer F (32 s).
                assert!(
                    m.contains("within the check's time (1600 ms)"),
                    "{behaviour}: {m}"
                );
                assert!(!m.contains("timer F"), "{behaviour}: {m}");
                assert!(
                    matches!(c.reason, Reason::TimedOut { .. }),
                    "{:?}",
                    c.reason
                );
            }
        }
    }
}

#[tokio::test]
async fn an_interrupted_run_leaves_no_publication_or_subscription_behind() {
    let lab = Lab::isolated();
    // imp2's presence engine keeps subscriptions pending: sip.presence-e2e waits for a
    // NOTIFY that never comes, holding a publication and a subscription, when the run
    // is interrupted.
    lab.edit_conf("imp2-sip/kamailio.cfg", pending_watchers);
    lab.stop("imp2-sip");
    lab.start("imp2-sip");
    let interrupt = CancellationToken::new();
    let i2 = interrupt.clone();
    let held = {
        let dir = lab.dir.clone();
        move || publications_in(&dir, "imp2").contains("alice")
    };
    let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        // Interrupt once the check holds its publication.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if held() {
                seen2.store(true, std::sync::atomic::Ordering::SeqCst);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        i2.cancel();
    });
    let r = sip_until(&lab.spec(), Duration::from_secs(20), interrupt).await;
    let e2e = &get(&r, "sip.presence-e2e", "tls imp2.lab.test:5061").outcome;
    assert_eq!(e2e.status, Status::Skip, "{}", e2e.message);
    assert!(e2e.message.contains("interrupted"), "{}", e2e.message);
    assert!(
        !e2e.evidence.iter().any(|(k, _)| k == "not_undone"),
        "{:?}",
        e2e.evidence
    );
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        "the publication was never seen held"
    );
    // The node holds nothing of the tool's any more: the runner removed it.
    let left = publications(&lab, "imp2");
    assert!(!left.contains("alice"), "left behind:\n{left}");
    // And the next run starts from a clean node.
    let r = sip(&lab.spec(), Duration::from_secs(4)).await;
    assert_eq!(
        get(&r, "sip.publish", "tls imp2.lab.test:5061")
            .outcome
            .status,
        Status::Pass
    );
}

#[tokio::test]
async fn every_sip_check_passes_on_the_ejabberd_and_samba_ad_profiles_too() {
    // The lab's other profiles change the XMPP servers and the directory, and their
    // spec (lab-samba-ad.toml); the SIP trunk, its refusals and SIP federation must
    // pass all the same.
    let lab = match Lab::isolated_samba_ad_ejabberd() {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let r = sip(&lab.spec(), Duration::from_secs(10)).await;
    assert_eq!(r.len(), 21, "as on the default profile");
    for c in &r {
        assert_eq!(
            c.outcome.status,
            Status::Pass,
            "{}: {}",
            c.key,
            c.outcome.message
        );
    }
    let o = &get(&r, "sip.tls-refusal", "tls imp1.lab.test:5061").outcome;
    assert!(
        ev(o, "unlisted_subject").starts_with("outsider.lab.test: refused"),
        "{:?}",
        o.evidence
    );
}
