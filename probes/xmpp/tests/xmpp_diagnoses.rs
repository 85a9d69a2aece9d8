//! Failures that must name their real cause, against the lab's real servers: a group
//! chat service that refuses a join (its condition, and a fix that fits it), and a
//! federated domain that cannot reach back (the direction as seen from the local user).

mod support;

use imp_verify_core::Status;
use imp_verify_testlab::harness::get;
use imp_verify_testlab::Lab;
use std::time::Duration;
use support::xmpp;

#[tokio::test]
async fn a_group_chat_service_that_refuses_the_room_is_named_with_its_condition() {
    let lab = Lab::isolated();
    // Only the service's administrators may create rooms (Prosody answers not-allowed).
    lab.edit_conf("imp1-xmpp/prosody.cfg.lua", |t| {
        assert!(t.contains("restrict_room_creation = false"));
        t.replace(
            "restrict_room_creation = false",
            "restrict_room_creation = true",
        )
    });
    lab.stop("imp1-xmpp");
    lab.start("imp1-xmpp");
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let muc = get(&r, "xmpp.muc", "alice and bob on imp1.lab.test");
    assert_eq!(muc.outcome.status, Status::Fail, "{}", muc.outcome.message);
    assert!(
        muc.outcome
            .message
            .contains("(the room's creator): not-allowed"),
        "{}",
        muc.outcome.message
    );
    let fix = muc.outcome.remediation.as_deref().unwrap();
    assert!(fix.contains("who may create rooms"), "{fix}");
    assert!(muc
        .outcome
        .evidence
        .iter()
        .any(|(k, v)| k == "join_error" && v == "not-allowed"));
    // The other node's service is untouched.
    assert_eq!(
        get(&r, "xmpp.muc", "carol and dave on imp2.lab.test")
            .outcome
            .status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_partner_that_cannot_reach_the_local_domain_fails_the_inbound_direction() {
    let lab = Lab::isolated();
    // lab.test's s2s records go: partner.test cannot find lab.test's servers, while
    // lab.test still finds partner.test's.
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_xmpp-server._tcp "))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let fed = get(&r, "xmpp.federation", "partner.test");
    assert_eq!(fed.outcome.status, Status::Fail, "{}", fed.outcome.message);
    let m = &fed.outcome.message;
    assert!(
        m.contains("a message from erin@partner.test to alice@lab.test did not come across from partner.test to lab.test (inbound)"),
        "{m}"
    );
    assert!(!m.contains("to partner.test's side"), "{m}");
    let fix = fed.outcome.remediation.as_deref().unwrap();
    assert!(
        fix.contains("from partner.test to lab.test") && fix.contains("C.14"),
        "{fix}"
    );
}
