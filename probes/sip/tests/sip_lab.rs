//! The SIP probe against the lab's real Kamailio nodes: every check passes on the
//! healthy trunk; a stopped node, subjects that do not match, an untrusted client
//! certificate and hostile servers each fail for their own reason.

use imp_probe_sip::SipProbe;
use imp_verify_core::plan::{build_plan, Selection};
use imp_verify_core::spec::Spec;
use imp_verify_core::{run, CheckResult, Probe, RunOptions, Status};
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn sip(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    sip_until(spec, timeout, CancellationToken::new()).await
}

/// The SIP checks of `spec`, stopped early when `interrupt` fires.
async fn sip_until(
    spec: &Path,
    timeout: Duration,
    interrupt: CancellationToken,
) -> Vec<CheckResult> {
    let spec = Arc::new(Spec::load(spec).unwrap_or_else(|e| panic!("{e}")));
    // The probes whose checks SIP's wait for are planned too (a prerequisite no probe
    // plans is refused), and deselected: only the SIP checks run.
    let net = imp_verify_net::Net::from_spec(&spec);
    let probes: Vec<Box<dyn Probe>> = vec![
        Box::new(imp_probe_services::ServicesProbe::new(net.clone())),
        Box::new(imp_probe_dns::DnsProbe::new(net.clone())),
        Box::new(SipProbe::new(net)),
    ];
    let only_sip = Selection {
        areas: vec![imp_verify_core::Area::Sip],
        ..Selection::default()
    };
    let plan = build_plan(&spec, &probes, &only_sip).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let options = RunOptions {
        check_timeout: timeout,
        ..Default::default()
    };
    run(
        plan,
        spec.path.clone(),
        options,
        spec.secret_values(),
        interrupt,
        tx,
    )
    .await
    .results
}

fn get<'a>(r: &'a [CheckResult], id: &str, target: &str) -> &'a CheckResult {
    r.iter()
        .find(|c| c.key.id == id && c.key.target == target)
        .unwrap_or_else(|| panic!("no {id} [{target}]"))
}

fn variant(lab: &Lab, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, edit(std::fs::read_to_string(lab.spec()).unwrap())).unwrap();
    p
}

#[tokio::test]
async fn every_sip_check_passes_on_the_lab() {
    let lab = Lab::shared();
    let r = sip(&lab.spec(), Duration::from_secs(10)).await;
    assert_eq!(
        r.len(),
        2 * 3 + 2 + 2 + 2 + 1 + 4,
        "2 nodes x 3 transports, 2 TLS peers, 2 publish, 2 e2e, 1 gateway; SIP federation: mutual TLS, out through 2 nodes, in"
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
    assert!(udp
        .outcome
        .evidence
        .iter()
        .any(|(k, v)| k == "status_line" && v == "SIP/2.0 200 OK"));
    assert!(udp.outcome.metrics.contains_key("options_ms"));
    let publish = get(&r, "sip.publish", "tls imp1.lab.test:5061");
    for step in ["publish", "refresh", "remove"] {
        assert_eq!(
            ev(publish, &format!("{step}_status")),
            "SIP/2.0 200 OK",
            "{step}"
        );
    }
    assert_ne!(
        ev(publish, "publish_sip_etag"),
        ev(publish, "refresh_sip_etag"),
        "a refresh gets a new entity tag"
    );
    let e2e = get(&r, "sip.presence-e2e", "tls imp2.lab.test:5061");
    assert!(e2e.outcome.metrics["presence_propagation_ms"] > 0.0);
    assert!(
        ev(e2e, "notify_state").starts_with("open (imp-verify "),
        "{}",
        ev(e2e, "notify_state")
    );
    assert!(
        ev(e2e, "changed_state").starts_with("closed (imp-verify "),
        "{}",
        ev(e2e, "changed_state")
    );
    assert_eq!(ev(e2e, "final_notify"), "Subscription-State: terminated");
    let gw = get(&r, "sip.presence-gateway", "tcp cucm.lab.test:5060");
    assert_eq!(ev(gw, "server"), "lab-cucm-sip");
}

fn ev<'a>(c: &'a CheckResult, key: &str) -> &'a str {
    c.outcome
        .evidence
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{}: no evidence {key}: {:?}", c.key, c.outcome.evidence))
}

#[tokio::test]
async fn publish_and_presence_work_over_udp_and_tcp_too() {
    let lab = Lab::shared();
    for transport in ["udp", "tcp"] {
        let dir = tempfile::tempdir().unwrap();
        let spec = variant(lab, dir.path(), |t| {
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
                    "{id} [{target}]: {}",
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
    lab.edit_conf("imp2-sip/kamailio.cfg", |t| t.replace(
            "modparam(\"presence_xml\", \"force_active\", 1)",
            "modparam(\"presence_xml\", \"force_active\", 0)\nmodparam(\"presence_xml\", \"integrated_xcap_server\", 1)",
        ));
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

    let publish = get(&r, "sip.publish", "tls imp1.lab.test:5061");
    assert_eq!(
        publish.outcome.status,
        Status::Fail,
        "{}",
        publish.outcome.message
    );
    assert!(
        publish.outcome.message.contains(
            "PUBLISH sip:alice@lab.test SIP/2.0` answered SIP/2.0 405 Method Not Allowed"
        ),
        "{}",
        publish.outcome.message
    );
    let fix = publish.outcome.remediation.as_deref().unwrap();
    assert!(
        fix.contains("refuses the method") && fix.contains("C.8"),
        "{fix}"
    );
    let e2e = get(&r, "sip.presence-e2e", "tls imp1.lab.test:5061");
    assert_eq!(e2e.outcome.status, Status::Skip, "{}", e2e.outcome.message);
    assert!(
        e2e.outcome.message.contains("sip.publish"),
        "{}",
        e2e.outcome.message
    );
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
    let e2e = get(&r, "sip.presence-e2e", "tls imp2.lab.test:5061");
    assert_eq!(e2e.outcome.status, Status::Fail, "{}", e2e.outcome.message);
    assert!(
        e2e.outcome
            .message
            .contains("no NOTIFY carrying the published state"),
        "{}",
        e2e.outcome.message
    );
    assert!(
        ev(e2e, "other_notifies").contains("pending"),
        "{}",
        ev(e2e, "other_notifies")
    );
    // What the check made was removed although it failed.
    assert_eq!(ev(e2e, "unsubscribe_status"), "SIP/2.0 200 OK");
    assert_eq!(ev(e2e, "remove_status"), "SIP/2.0 200 OK");

    let gw = get(&r, "sip.presence-gateway", "tcp cucm.lab.test:5060");
    assert_eq!(gw.outcome.status, Status::Fail, "{}", gw.outcome.message);
    assert!(
        gw.outcome
            .message
            .contains("presence gateway cucm.lab.test:5060")
            && gw.outcome.message.contains("refused"),
        "{}",
        gw.outcome.message
    );
    assert!(gw
        .outcome
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
        let down = get(&r, "sip.options", &format!("{t} imp2.lab.test:{port}"));
        assert_eq!(
            down.outcome.status,
            Status::Fail,
            "{t}: {}",
            down.outcome.message
        );
        assert!(
            down.outcome.remediation.as_deref().unwrap().contains("C.8"),
            "{:?}",
            down.outcome.remediation
        );
        let up = get(&r, "sip.options", &format!("{t} imp1.lab.test:{port}"));
        assert_eq!(
            up.outcome.status,
            Status::Pass,
            "{t}: {}",
            up.outcome.message
        );
    }
    let tcp = get(&r, "sip.options", "tcp imp2.lab.test:5060");
    assert!(
        tcp.outcome.message.contains("cannot connect") && tcp.outcome.message.contains("refused"),
        "{}",
        tcp.outcome.message
    );
}

#[tokio::test]
async fn subjects_that_do_not_match_and_an_untrusted_client_certificate_fail_the_tls_peer() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let wrong_subjects = variant(lab, dir.path(), |t| {
        t.replace(
            "tls_peer_subjects = [\"imp1.lab.test\", \"imp2.lab.test\"]",
            "tls_peer_subjects = [\"imp9.lab.test\"]",
        )
    });
    let r = sip(&wrong_subjects, Duration::from_secs(10)).await;
    let peer = get(&r, "sip.tls-peer", "tls imp1.lab.test:5061");
    assert_eq!(peer.outcome.status, Status::Fail);
    assert!(
        peer.outcome
            .message
            .contains("matches none of the TLS peer subjects imp9.lab.test"),
        "{}",
        peer.outcome.message
    );

    // A client certificate from a CA the nodes do not trust.
    let other = tempfile::tempdir().unwrap();
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=cucm.lab.test",
        ])
        .arg("-keyout")
        .arg(other.path().join("c.key"))
        .arg("-out")
        .arg(other.path().join("c.crt"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let dir2 = tempfile::tempdir().unwrap();
    let untrusted = variant(lab, dir2.path(), |t| {
        t.replace(
            &format!("{}/pki/cucm.lab.test.crt", lab.dir.display()),
            &other.path().join("c.crt").display().to_string(),
        )
        .replace(
            &format!("{}/pki/cucm.lab.test.key", lab.dir.display()),
            &other.path().join("c.key").display().to_string(),
        )
    });
    let r = sip(&untrusted, Duration::from_secs(10)).await;
    let peer = get(&r, "sip.tls-peer", "tls imp2.lab.test:5061");
    assert_eq!(peer.outcome.status, Status::Fail);
    assert!(
        peer.outcome
            .message
            .contains("does not accept the trunk's client certificate"),
        "{}",
        peer.outcome.message
    );
    let tls = get(&r, "sip.options", "tls imp2.lab.test:5061");
    assert_eq!(tls.outcome.status, Status::Fail, "{}", tls.outcome.message);
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
        let spec = variant(lab, dir.path(), |t| {
            t.replace(
                &format!("fqdn = \"imp1.lab.test\"\naddress = \"{}\"", lab.ip(2)),
                &format!("fqdn = \"imp1.lab.test\"\naddress = \"127.0.0.9\"\nports = {{ sip-tcp = {port} }}"),
            )
            .replace("transports = [\"udp\", \"tcp\", \"tls\"]", "transports = [\"tcp\"]")
        });
        let started = Instant::now();
        let r = sip(&spec, Duration::from_secs(2)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{behaviour}: {:?}",
            started.elapsed()
        );
        let c = get(&r, "sip.options", &format!("tcp imp1.lab.test:{port}"));
        assert_eq!(
            c.outcome.status,
            Status::Fail,
            "{behaviour}: {}",
            c.outcome.message
        );
        let m = &c.outcome.message;
        match behaviour {
            "garbage" => assert!(m.contains("malformed"), "{m}"),
            "huge" => assert!(m.contains("announcing"), "{m}"),
            _ => assert!(
                m.contains("no final response to OPTIONS"),
                "{behaviour}: {m}"
            ),
        }
    }
}

/// What a node's presence engine holds in memory (its publications), as its control
/// socket lists them.
fn publications(lab: &Lab, node: &str) -> String {
    let socket = lab.dir.join(format!("run/{node}-sip.ctl"));
    let out = Command::new("kamcmd")
        .arg("-s")
        .arg(format!("unix:{}", socket.display()))
        .arg("presence.presentity_list")
        .output()
        .expect("kamcmd runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn an_interrupted_run_leaves_no_publication_or_subscription_behind() {
    let lab = Lab::isolated();
    // imp2's presence engine keeps subscriptions pending: sip.presence-e2e waits for a
    // NOTIFY that never comes, holding a publication and a subscription, when the run
    // is interrupted.
    lab.edit_conf("imp2-sip/kamailio.cfg", |t| {
        t.replace(
            "modparam(\"presence_xml\", \"force_active\", 1)",
            "modparam(\"presence_xml\", \"force_active\", 0)\nmodparam(\"presence_xml\", \"integrated_xcap_server\", 1)",
        )
    });
    lab.stop("imp2-sip");
    lab.start("imp2-sip");
    let interrupt = CancellationToken::new();
    let i2 = interrupt.clone();
    let held = {
        let dir = lab.dir.clone();
        move || {
            Command::new("kamcmd")
                .arg("-s")
                .arg(format!("unix:{}", dir.join("run/imp2-sip.ctl").display()))
                .arg("presence.presentity_list")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("alice"))
                .unwrap_or(false)
        }
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
    let e2e = get(&r, "sip.presence-e2e", "tls imp2.lab.test:5061");
    assert_eq!(e2e.outcome.status, Status::Skip, "{}", e2e.outcome.message);
    assert!(
        e2e.outcome.message.contains("interrupted"),
        "{}",
        e2e.outcome.message
    );
    assert!(
        !e2e.outcome.evidence.iter().any(|(k, _)| k == "not_undone"),
        "{:?}",
        e2e.outcome.evidence
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
