//! What the nodes must refuse, and what they refuse of the tool, on the lab's real
//! Kamailio configured as an administrator would get it wrong or right:
//! - a TLS server that takes clients without a certificate (`require_certificate = no`,
//!   `verify_certificate = no`), and one that takes any certificate of the CA (no TLS
//!   peer subject check), each failing exactly the refusal checks of its node;
//! - Kamailio's own `permissions` module as IM&P's incoming ACL, tested both ways: a 403
//!   to the tool's requests names the ACL, the address the tool sent from and what to
//!   add, and the checks that wait for it are skipped naming it;
//! - a node that accepts a PUBLISH and never answers its refresh or removal costs
//!   `sip.publish` its own time plus the undo's budget, and a run deadline or an
//!   interrupt ends the run within the 1 s stop grace.

mod common;
use common::*;

use imp_verify_core::{Reason, RunOptions, Stage, Status};
use imp_verify_testlab::harness::{ev, get, spec_variant};
use imp_verify_testlab::{repo_root, Lab};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn each_tls_port_that_takes_a_client_it_must_refuse_fails_exactly_its_refusal_checks() {
    let lab = Lab::isolated();
    // imp2's TLS server takes any client, with or without a certificate.
    lab.edit_conf("imp2-sip/tls.cfg", |t| {
        t.replacen("verify_certificate = yes", "verify_certificate = no", 1)
            .replacen("require_certificate = yes", "require_certificate = no", 1)
    });
    // imp1 checks no TLS peer subject: any certificate of the lab CA is taken.
    lab.edit_conf("imp1-sip/kamailio.cfg", |t| {
        t.replace(
            "if (proto == TLS && $tls_peer_subject_cn != $null",
            "if (false && proto == TLS && $tls_peer_subject_cn != $null",
        )
    });
    for n in ["imp1-sip", "imp2-sip"] {
        lab.stop(n);
        lab.start(n);
    }
    let r = sip(&lab.spec(), Duration::from_secs(4)).await;
    let failed: BTreeSet<String> = r
        .iter()
        .filter(|c| c.outcome.status != Status::Pass)
        .map(|c| c.key.to_string())
        .collect();
    let want: BTreeSet<String> = [
        "sip.tls-refusal [tls imp1.lab.test:5061]",
        "sip.tls-refusal [tls imp2.lab.test:5061]",
        "sip.federation-refusal [imp1.lab.test:5061 (lab.test)]",
        "sip.federation-refusal [imp2.lab.test:5061 (lab.test)]",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(failed, want, "only the refusal checks of each node fail");

    // imp2 takes a client without a certificate, and serves it; CUCM's is still taken.
    let o = &get(&r, "sip.tls-refusal", "tls imp2.lab.test:5061").outcome;
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("takes a TLS client without a certificate and answers its OPTIONS 200 OK"),
        "{}",
        o.message
    );
    // Without verification Kamailio asks for no client certificate at all, so it cannot
    // tell the outsider either: both parts fail.
    assert!(
        o.message
            .contains("takes the certificate of the deployment's CA for outsider.lab.test"),
        "{}",
        o.message
    );
    let fix = o.remediation.as_deref().unwrap();
    assert!(
        fix.contains("Default Cisco SIP Proxy Peer Auth TLS Context")
            && fix.ends_with("(task C.11)"),
        "{fix}"
    );
    assert_eq!(
        get(&r, "sip.tls-peer", "tls imp2.lab.test:5061")
            .outcome
            .status,
        Status::Pass
    );
    let o = &get(
        &r,
        "sip.federation-refusal",
        "imp2.lab.test:5061 (lab.test)",
    )
    .outcome;
    assert!(o.remediation.as_deref().unwrap().ends_with("(task C.14)"));

    // imp1 refuses a client without a certificate, and takes the outsider's.
    let o = &get(&r, "sip.tls-refusal", "tls imp1.lab.test:5061").outcome;
    assert!(
        o.message.contains("takes the certificate of the deployment's CA for outsider.lab.test, which is not among the TLS peer subjects (cucm.lab.test, sip.sipfed.test)"),
        "{}",
        o.message
    );
    assert!(
        ev(o, "without_client_certificate").starts_with("refused"),
        "{:?}",
        o.evidence
    );
    // Both refusal checks of a node judged one look.
    let fed = &get(
        &r,
        "sip.federation-refusal",
        "imp1.lab.test:5061 (lab.test)",
    )
    .outcome;
    assert_eq!(ev(fed, "unlisted_subject"), ev(o, "unlisted_subject"));
}

/// Kamailio's permissions module as IM&P's incoming ACL on imp1: requests over UDP and
/// TCP only from the addresses of `incoming-acl` (group 1), others answered 403; TLS
/// peers are authenticated by their certificate instead.
fn with_incoming_acl(lab: &Lab) -> impl Fn(&str) -> String {
    let file = lab.dir.join("conf/imp1-sip/incoming-acl");
    move |t: &str| {
        t.replace(
            "loadmodule \"ctl.so\"\n",
            &format!(
                "loadmodule \"ctl.so\"\nloadmodule \"permissions.so\"\nmodparam(\"permissions\", \"address_file\", \"{}\")\n",
                file.display()
            ),
        )
        .replace(
            "    # SIP federation (task C.14): requests for the federated domain",
            "    # The incoming ACL: unauthenticated requests from the listed hosts only.\n    if (proto != TLS && !allow_source_address(\"1\")) {\n        sl_send_reply(\"403\", \"Forbidden\");\n        exit;\n    }\n    # SIP federation (task C.14): requests for the federated domain",
        )
    }
}

fn write_acl(lab: &Lab, hosts: &[String]) {
    let mut text = String::from("# group address mask port tag\n");
    for (i, h) in hosts.iter().enumerate() {
        text.push_str(&format!("1 {h} 32 0 entry{i}\n"));
    }
    std::fs::write(lab.dir.join("conf/imp1-sip/incoming-acl"), text).unwrap();
}

#[tokio::test]
async fn a_node_whose_incoming_acl_leaves_this_host_out_answers_403_and_the_report_names_it() {
    let lab = Lab::isolated();
    // The ACL lists CUCM and, first, this host (the lab starts and is asked from it).
    let cucm = lab.ip(4).to_string();
    write_acl(&lab, &[cucm.clone(), "127.0.0.1".into()]);
    lab.edit_conf("imp1-sip/kamailio.cfg", with_incoming_acl(&lab));
    lab.stop("imp1-sip");
    lab.start("imp1-sip");
    let dir = tempfile::tempdir().unwrap();
    let tcp_only = spec_variant(&lab, dir.path(), |t| {
        t.replace(
            "transports = [\"udp\", \"tcp\", \"tls\"]",
            "transports = [\"tcp\"]",
        )
    });
    let r = sip(&tcp_only, Duration::from_secs(4)).await;
    for c in r.iter().filter(|c| c.key.target.contains("imp1")) {
        assert_eq!(
            c.outcome.status,
            Status::Pass,
            "listed: {}: {}",
            c.key,
            c.outcome.message
        );
    }

    // The administrator's ACL without this host, reloaded as Kamailio reloads it.
    write_acl(&lab, &[cucm]);
    let out = kamcmd(&lab.dir, "imp1", &["permissions.addressReload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = sip(&tcp_only, Duration::from_secs(4)).await;
    let o = &get(&r, "sip.options", "tcp imp1.lab.test:5060").outcome;
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(
        o.message.contains("with 403 Forbidden: the node refuses this host (127.0.0.1), which its incoming ACL does not list"),
        "{}",
        o.message
    );
    let fix = o.remediation.as_deref().unwrap();
    assert!(
        fix.contains("add 127.0.0.1")
            && fix.contains("System > Security > Incoming ACL")
            && fix.ends_with("(task C.8)"),
        "{fix}"
    );
    assert_eq!(ev(o, "sent_from"), "127.0.0.1");
    assert_eq!(ev(o, "access_control"), "incoming ACL");
    // What waits for it is skipped, naming it; the other node is not concerned.
    let publish = &get(&r, "sip.publish", "tcp imp1.lab.test:5060").outcome;
    assert_eq!(publish.status, Status::Skip, "{}", publish.message);
    assert!(
        matches!(&publish.reason, Reason::Blocked { by, .. } if by.id == "sip.options" && by.target == "tcp imp1.lab.test:5060"),
        "{:?}",
        publish.reason
    );
    assert_eq!(
        get(&r, "sip.publish", "tcp imp2.lab.test:5060")
            .outcome
            .status,
        Status::Pass
    );
    // The federation's way out through imp1 is refused by imp1 itself, for the same reason.
    let out = &get(&r, "sip.federation-out", "imp1.lab.test -> sipfed.test").outcome;
    assert_eq!(out.status, Status::Fail, "{}", out.message);
    assert!(
        out.message
            .contains("(from imp1.lab.test itself): the node refuses this host (127.0.0.1)"),
        "{}",
        out.message
    );
    assert!(out.remediation.as_deref().unwrap().contains("Incoming ACL"));
}

/// A hostile node (tests/lab/hostile_sip.py) on 127.0.0.9, killed when dropped.
struct Hostile(Child, u16);

impl Hostile {
    fn start(mode: &str) -> Hostile {
        let port = std::net::TcpListener::bind("127.0.0.9:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/lab/hostile_sip.py"))
            .args(["127.0.0.9", &port.to_string(), mode])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready");
        Hostile(child, port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_node_that_never_answers_the_refresh_or_removal_costs_the_check_its_time_plus_the_undo_budget(
) {
    let lab = Lab::shared();
    let hostile = Hostile::start("publish-then-silent");
    let dir = tempfile::tempdir().unwrap();
    let spec = on_a_node_of_our_own(lab, dir.path(), hostile.1);
    let target = format!("tcp imp1.lab.test:{}", hostile.1);

    // --timeout 2s: the refresh gets no answer within the check's time (1.6 s); the
    // runner's undo tries the removal within its own budget, and says it could not.
    let options = RunOptions {
        check_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let bound = options.check_timeout + options.cleanup_timeout;
    let r = sip_with(&spec, options, CancellationToken::new()).await;
    let c = get(&r, "sip.publish", &target);
    let o = &c.outcome;
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(
        o.message.contains("refresh: no final response to PUBLISH after 1 transmission(s) within the check's time (1600 ms)"),
        "{}",
        o.message
    );
    assert!(!o.message.contains("timer F"), "{}", o.message);
    assert!(
        matches!(
            o.reason,
            Reason::TimedOut {
                stage: Some(Stage::SipTransaction),
                ..
            }
        ),
        "{:?}",
        o.reason
    );
    assert!(
        ev(o, "not_undone").contains("the publication and subscription of sip:alice@lab.test"),
        "{:?}",
        o.evidence
    );
    eprintln!(
        "sip.publish against a silent refresh, --timeout 2s: {:?} (bound {bound:?})",
        c.duration
    );
    assert!(
        c.duration < bound + Duration::from_millis(500),
        "{:?} (bound {bound:?})",
        c.duration
    );
    assert!(c.duration > Duration::from_millis(1600), "{:?}", c.duration);

    // --deadline 1.5s: the run ends within the stop grace (1 s) after it.
    let options = RunOptions {
        check_timeout: Duration::from_secs(10),
        deadline: Some(Duration::from_millis(1500)),
        ..Default::default()
    };
    let started = Instant::now();
    let r = sip_with(&spec, options, CancellationToken::new()).await;
    let took = started.elapsed();
    eprintln!("the run with --deadline 1.5s: {took:?}");
    assert!(took < Duration::from_millis(1500 + 1000 + 500), "{took:?}");
    let o = &get(&r, "sip.publish", &target).outcome;
    assert!(
        matches!(o.reason, Reason::Deadline { started: true }),
        "{:?}",
        o.reason
    );
    assert!(
        ev(o, "not_undone").contains("sip:alice@lab.test"),
        "{:?}",
        o.evidence
    );

    // An interrupt 1 s in: the same grace.
    let interrupt = CancellationToken::new();
    let i2 = interrupt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        i2.cancel();
    });
    let options = RunOptions {
        check_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let started = Instant::now();
    let r = sip_with(&spec, options, interrupt).await;
    let took = started.elapsed();
    eprintln!("the run interrupted at 1 s: {took:?}");
    assert!(took < Duration::from_millis(1000 + 1000 + 500), "{took:?}");
    let o = &get(&r, "sip.publish", &target).outcome;
    assert!(
        matches!(o.reason, Reason::Interrupted { started: true }),
        "{:?}",
        o.reason
    );
    drop(hostile);
}
