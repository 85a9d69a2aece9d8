//! A password a server refused is sent by no other check of the run (issue 28), against
//! the lab's real Prosody nodes and OpenLDAP: a wrong password costs the directory one
//! refusal, the look-up that explains it does not bind with it, and a node that refuses
//! a user whose password another accepted is told from a wrong password.

mod support;

use imp_verify_core::{CheckResult, Status};
use imp_verify_testlab::harness::{failed_binds, get, spec_variant as variant};
use imp_verify_testlab::Lab;
use std::time::Duration;
use support::{no_secret, xmpp, xmpp_shared};

/// Of a user's two logins (`xmpp.login` on the home node, `xmpp.ha` on the peer), the
/// one whose password a server refused first, and the other, which did not send it.
fn first_refusal<'a>(
    r: &'a [CheckResult],
    a: (&str, &str),
    b: (&str, &str),
) -> (&'a CheckResult, &'a CheckResult) {
    let (a, b) = (get(r, a.0, a.1), get(r, b.0, b.1));
    let not_sent = |c: &CheckResult| {
        c.outcome
            .message
            .contains("not logged in: the password was refused earlier in this run by")
    };
    match (not_sent(a), not_sent(b)) {
        (false, true) => (a, b),
        (true, false) => (b, a),
        _ => panic!(
            "one login refused, the other not sent:\n{}\n{}",
            a.outcome.message, b.outcome.message
        ),
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_are_refused_once_and_block_what_needs_them() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wrong.password"), "certainly-not-bobs").unwrap();
    let spec = variant(lab, dir.path(), |t| {
        let t = t.replace(
            &format!("{}/secrets/bob.password", lab.dir.display()),
            &dir.path().join("wrong.password").display().to_string(),
        );
        format!(
            "{t}\n[[test_users]]\nuser_id = \"zed\"\nhome_node = \"imp2.lab.test\"\npassword_file = \"{}\"\n",
            dir.path().join("wrong.password").display()
        )
    });
    let bob_dn = "uid=bob,ou=people,dc=lab,dc=test";
    let before = failed_binds(lab, bob_dn);
    let r = xmpp_shared(&spec, Duration::from_secs(10)).await;
    // bob's password went to one node (which bound to the directory with it, as IM&P
    // does), once: the directory was not asked with it again, and the other login
    // did not send it.
    let (sent, other) = first_refusal(
        &r,
        ("xmpp.login", "bob on imp1.lab.test"),
        ("xmpp.ha", "bob on imp2.lab.test"),
    );
    assert_eq!(sent.outcome.status, Status::Fail);
    assert!(
        sent.outcome.message.contains("SASL not-authorized: the password is wrong, or the account does not exist or is not enabled for IM and Presence (the directory has uid=bob,ou=people,dc=lab,dc=test); the directory was not asked with the password again"),
        "{}",
        sent.outcome.message
    );
    assert_eq!(other.outcome.status, Status::Fail);
    assert!(
        other.outcome.message.contains(&format!(
            "refused earlier in this run by {} (SASL not-authorized",
            sent.key
        )),
        "{}",
        other.outcome.message
    );
    assert_eq!(
        failed_binds(lab, bob_dn) - before,
        1,
        "the directory saw bob's wrong password more than once"
    );
    // An account the directory does not have is named as such, with the service account's search.
    let (zed, _) = first_refusal(
        &r,
        ("xmpp.login", "zed on imp2.lab.test"),
        ("xmpp.ha", "zed on imp1.lab.test"),
    );
    assert!(
        zed.outcome.message.contains("SASL not-authorized: the account does not exist: the directory has no zed under ou=people,dc=lab,dc=test"),
        "{}",
        zed.outcome.message
    );
    assert!(zed
        .outcome
        .remediation
        .as_deref()
        .unwrap()
        .contains("Add the user to the directory"));
    let im = get(&r, "xmpp.im", "alice to bob on imp1.lab.test");
    assert_eq!(im.outcome.status, Status::Skip);
    assert!(
        im.outcome
            .message
            .contains("blocked by xmpp.login [bob on imp1.lab.test], which failed"),
        "{}",
        im.outcome.message
    );
    assert_eq!(
        get(&r, "xmpp.login", "alice on imp1.lab.test")
            .outcome
            .status,
        Status::Pass
    );
    no_secret(lab, &r);
}

#[tokio::test]
async fn a_user_the_directory_accepts_but_the_node_refuses_and_a_directory_down_are_told_apart() {
    let lab = Lab::isolated();
    // imp1 authenticates only users with an attribute nobody has: its "IM and Presence
    // enabled" set is empty, while the directory still takes every password.
    lab.edit_conf("imp1-xmpp/prosody.cfg.lua", |t| {
        assert!(t.contains("ldap_filter = \"(uid=$user)\""));
        t.replace(
            "ldap_filter = \"(uid=$user)\"",
            "ldap_filter = \"(&(uid=$user)(employeeType=im-and-presence))\"",
        )
    });
    lab.stop("imp1-xmpp");
    lab.start("imp1-xmpp");
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let login = get(&r, "xmpp.login", "alice on imp1.lab.test");
    let ha = get(&r, "xmpp.ha", "alice on imp2.lab.test");
    assert_eq!(login.outcome.status, Status::Fail);
    let m = &login.outcome.message;
    if ha.outcome.status == Status::Pass {
        // imp2 took alice's password first: imp1's refusal is of the user, not of the
        // password, and the password stays usable in the run.
        assert!(m.contains("SASL not-authorized, though a server accepted the same password earlier in this run: IM and Presence refuses the user itself on imp1.lab.test"), "{m}");
        assert!(login
            .outcome
            .remediation
            .as_deref()
            .unwrap()
            .contains("licensed and enabled for IM and Presence"));
    } else {
        // imp1 refused it first: nothing else sends it in this run.
        assert!(m.contains("(the directory has uid=alice,ou=people,dc=lab,dc=test); the directory was not asked with the password again"), "{m}");
        assert!(
            ha.outcome
                .message
                .contains("refused earlier in this run by xmpp.login [alice on imp1.lab.test]"),
            "{}",
            ha.outcome.message
        );
    }
    // carol's home node is healthy: she logs in there, unless imp1 refused her
    // password first (her failover login there), which nothing then sends again.
    let carol = get(&r, "xmpp.login", "carol on imp2.lab.test");
    assert!(
        carol.outcome.status == Status::Pass
            || carol
                .outcome
                .message
                .contains("refused earlier in this run by xmpp.ha [carol on imp1.lab.test]"),
        "{}",
        carol.outcome.message
    );

    // The directory stops: the nodes refuse everyone, and the check says why it cannot tell more.
    lab.stop("ldap");
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let (carol, _) = first_refusal(
        &r,
        ("xmpp.login", "carol on imp2.lab.test"),
        ("xmpp.ha", "carol on imp1.lab.test"),
    );
    assert_eq!(carol.outcome.status, Status::Fail);
    let m = &carol.outcome.message;
    assert!(
        m.contains("SASL not-authorized, and the directory could not be asked (ldaps://ldap.lab.test:636: cannot connect to "),
        "{m}"
    );
    assert!(carol
        .outcome
        .remediation
        .as_deref()
        .unwrap()
        .contains("See ldap.connect and ldap.bind"));
    assert!(carol
        .outcome
        .evidence
        .iter()
        .any(|(k, v)| k == "directory" && v.starts_with("not asked")));
    no_secret(&lab, &r);
}
