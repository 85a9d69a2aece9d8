//! IM and Presence's own behaviours, reproduced on the real Prosody by the lab's own
//! modules (`fixtures/lab/prosody-modules`): presence subscriptions the server approves
//! by itself (the presence policy that lets users see others' availability without
//! being asked), and the login redirect (`see-other-host` to the node that serves the
//! user). The checks pass under both policies and say which they saw; a redirect is
//! followed once, to a verified connection, and the serving node is named.

mod support;

use imp_verify_core::Status;
use imp_verify_testlab::harness::{ev, get};
use imp_verify_testlab::Lab;
use std::time::Duration;
use support::{no_secret, prosody_variant, xmpp};

#[tokio::test]
async fn subscriptions_the_server_approves_pass_and_say_so() {
    let lab = Lab::isolated();
    prosody_variant(&lab, "imp1", Some("auto-approve-federation"));
    prosody_variant(&lab, "imp2", Some("auto-approve"));
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    for target in [
        "bob sees alice on imp1.lab.test",
        "dave sees carol on imp2.lab.test",
    ] {
        let p = get(&r, "xmpp.presence", target);
        assert_eq!(
            p.outcome.status,
            Status::Pass,
            "{target}: {}",
            p.outcome.message
        );
        assert!(
            p.outcome.message.ends_with(
                "the subscription was approved by the server (the watched user was not asked)"
            ),
            "{}",
            p.outcome.message
        );
        assert_eq!(
            ev(&p.outcome, "subscription_approval"),
            "approved by the server (the watched user was not asked)"
        );
    }
    // erin (partner.test) watching alice: imp1 approves requests from partner.test by
    // itself; alice watching erin: partner.test's server leaves it to erin.
    let fed = get(&r, "xmpp.federation", "partner.test");
    assert_eq!(fed.outcome.status, Status::Pass, "{}", fed.outcome.message);
    assert_eq!(
        ev(&fed.outcome, "subscription_approval"),
        "outbound: approved by the server (the watched user was not asked); inbound: approved by the watched user"
    );
    no_secret(&lab, &r);
}

#[tokio::test]
async fn a_login_redirect_is_followed_once_and_the_serving_node_named() {
    let lab = Lab::isolated();
    // imp1 sends alice and carol on to imp2; imp2 sends bob home to imp1, and carol
    // back to imp1.
    prosody_variant(&lab, "imp1", Some("redirect-imp1"));
    prosody_variant(&lab, "imp2", Some("redirect-imp2"));
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;

    // alice's home in the spec is imp1; imp2, the other node of her redundancy group,
    // serves her: a warning naming both.
    let alice = get(&r, "xmpp.login", "alice on imp1.lab.test");
    assert_eq!(
        alice.outcome.status,
        Status::Warn,
        "{}",
        alice.outcome.message
    );
    assert!(alice.outcome.message.starts_with("alice is served by imp2.lab.test, not by its home node imp1.lab.test: imp1.lab.test sent alice on to imp2.lab.test (see-other-host), the other node of redundancy group prg-1; it logs in there with PLAIN"), "{}", alice.outcome.message);
    assert_eq!(ev(&alice.outcome, "served_by"), "imp2.lab.test");
    assert_eq!(ev(&alice.outcome, "redirected_by"), "imp1.lab.test");
    assert!(alice
        .outcome
        .remediation
        .as_deref()
        .unwrap()
        .contains("Assign Presence Users"));

    // bob's failover login on imp2 is sent home to imp1: imp2 knows him.
    let bob = get(&r, "xmpp.ha", "bob on imp2.lab.test");
    assert_eq!(bob.outcome.status, Status::Pass, "{}", bob.outcome.message);
    assert!(bob.outcome.message.starts_with("imp2.lab.test sent bob on to imp1.lab.test (see-other-host), its home node, and bob logs in there"), "{}", bob.outcome.message);

    // carol is sent from imp2 to imp1 and back: followed once only.
    let carol = get(&r, "xmpp.login", "carol on imp2.lab.test");
    assert_eq!(
        carol.outcome.status,
        Status::Fail,
        "{}",
        carol.outcome.message
    );
    assert!(carol.outcome.message.contains("redirected to imp1.lab.test and from there again to imp2.lab.test (followed once only)"), "{}", carol.outcome.message);

    // No redirect, no change: dave logs in on imp2 as always.
    let dave = get(&r, "xmpp.login", "dave on imp2.lab.test");
    assert_eq!(
        dave.outcome.status,
        Status::Pass,
        "{}",
        dave.outcome.message
    );
    assert!(dave
        .outcome
        .evidence
        .iter()
        .all(|(k, _)| k != "redirected_by"));
    no_secret(&lab, &r);
}
