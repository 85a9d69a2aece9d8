//! The presence judges, driven with synthetic sessions and failures.

use super::session::Failure;
use super::{publish, SessionView};
use crate::ctx::TrunkTarget;
use crate::error::{ConnError, SipError, WaitEnd};
use crate::message::SipResponse;
use imp_verify_core::spec::{Transport, Workflow};
use imp_verify_core::{Reason, Stage, Status};
use std::time::Duration;

fn view(transport: Transport) -> SessionView {
    SessionView {
        target: TrunkTarget {
            transport,
            host: "imp1.lab.test".into(),
            port: 5060,
        },
        peer: "127.0.0.22:5060".parse().unwrap(),
        local: "127.0.0.1:41000".parse().unwrap(),
        presentity: "sip:alice@lab.test".into(),
        tls_peer: Some("cucm.lab.test".into()),
        evidence: vec![("publish_status".into(), "SIP/2.0 200 OK".into())],
        passed_over: Vec::new(),
        strays: Vec::new(),
        strays_more: 0,
        budget: Duration::from_millis(1600),
    }
}

fn answered(code: u16, reason: &str) -> Failure {
    Failure::Answered {
        step: "publish",
        method: "PUBLISH",
        request_line: "PUBLISH sip:alice@lab.test SIP/2.0".into(),
        response: SipResponse {
            code,
            reason: reason.into(),
            call_id: "c".into(),
            cseq: "1 PUBLISH".into(),
            branch: "b".into(),
            server: String::new(),
        },
    }
}

#[test]
fn a_publish_that_went_through_passes_with_its_evidence() {
    let o = publish::judge(&Ok(1.5), &view(Transport::Tls), Workflow::B);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(
        o.message.contains("over tls: published, refreshed"),
        "{}",
        o.message
    );
    assert!(o
        .evidence
        .contains(&("publish_status".into(), "SIP/2.0 200 OK".into())));
    assert_eq!(o.metrics["publish_ms"], 1.5);
}

#[test]
fn a_refused_method_and_a_refused_host_are_told_apart() {
    let o = publish::judge(
        &Err(answered(405, "Method Not Allowed")),
        &view(Transport::Tcp),
        Workflow::B,
    );
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message.contains(
            "`PUBLISH sip:alice@lab.test SIP/2.0` answered SIP/2.0 405 Method Not Allowed"
        ),
        "{}",
        o.message
    );
    assert!(o.remediation.unwrap().contains("refuses the method"));

    let o = publish::judge(
        &Err(answered(403, "Forbidden")),
        &view(Transport::Tcp),
        Workflow::B,
    );
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("answered SIP/2.0 403 Forbidden: the node refuses this host (127.0.0.1)"),
        "{}",
        o.message
    );
    let fix = o.remediation.as_deref().unwrap();
    assert!(
        fix.contains("Incoming ACL") && fix.ends_with("(task B.8)"),
        "{fix}"
    );
    assert!(o
        .evidence
        .contains(&("sent_from".into(), "127.0.0.1".into())));

    let o = publish::judge(
        &Err(answered(403, "Forbidden")),
        &view(Transport::Tls),
        Workflow::B,
    );
    assert!(
        o.message
            .contains("the node refuses the TLS peer cucm.lab.test"),
        "{}",
        o.message
    );
    assert!(o.remediation.unwrap().ends_with("(task B.11)"));
}

#[test]
fn a_refresh_the_node_never_answers_is_the_checks_own_time_not_timer_f() {
    let f = Failure::Exchange {
        step: "refresh",
        error: SipError::Conn(ConnError::NoFinalResponse {
            method: "PUBLISH",
            sent: 1,
            ended: WaitEnd::Budget(Duration::from_millis(1600)),
        }),
    };
    let o = publish::judge(&Err(f), &view(Transport::Tcp), Workflow::C);
    assert_eq!(o.status, Status::Fail);
    assert!(o.message.contains("refresh: no final response to PUBLISH after 1 transmission(s) within the check's time (1600 ms)"), "{}", o.message);
    assert_eq!(
        o.reason,
        Reason::TimedOut {
            after: Duration::from_millis(1600),
            stage: Some(Stage::SipTransaction)
        }
    );
    assert!(o.remediation.unwrap().contains("(see sip.options)"));
}

#[test]
fn a_watcher_that_sees_nothing_points_at_the_presence_engine() {
    let f = Failure::Notify("no NOTIFY carrying the published state (note `x`) arrived within the check's time (1600 ms)".into());
    let o = super::e2e::judge(&Err(f), &view(Transport::Tls), Workflow::B);
    assert_eq!(o.status, Status::Fail);
    assert_eq!(
        o.reason,
        Reason::Verdict,
        "a NOTIFY that never came is the finding"
    );
    assert!(o
        .remediation
        .unwrap()
        .contains("does not pass the published phone state"));
}
