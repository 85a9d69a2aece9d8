//! Access control and password policy on the lab's real OpenLDAP (variants of
//! `fixtures/lab/variants/openldap`, switched on in an isolated lab): a service account
//! that may read nothing, or only the base, is told apart from a missing base and a
//! filter that matches nothing; with the ppolicy overlay, a password reset by an
//! administrator must be changed (fails), an expiring one warns with the time left, a
//! locked account fails naming when the lock ends, and a wrong test password costs the
//! directory one failed bind in a run, not three (the account stays unlocked).

mod common;

use common::{
    admin_reads, admin_sets_password, binds, get, openldap_restore, openldap_variant,
    password_file, run, user_sets_password,
};
use imp_probe_ldap::look_up_test_user;
use imp_verify_core::{Status, UserVerdict};
use imp_verify_testlab::harness::{ev, spec_variant};
use imp_verify_testlab::Lab;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const BASE: &str = "ou=people,dc=lab,dc=test";

#[tokio::test]
async fn read_rights_are_told_apart_from_absence() {
    let lab = Lab::isolated();
    // The service account may read nothing under ou=people: its base is hidden.
    let healthy = openldap_variant(&lab, "svc-no-read");
    let r = run(&lab.spec(), T).await;
    let base = get(&r, "ldap.base", BASE);
    assert_eq!(base.status, Status::Fail);
    assert_eq!(
        base.message,
        "the search base ou=people,dc=lab,dc=test is missing or unreadable for the service account (noSuchObject (32))"
    );
    let fix = base.remediation.as_deref().unwrap();
    assert!(fix.contains("access to dn.subtree=\"ou=people,dc=lab,dc=test\" by dn.exact=\"cn=impverify-svc,ou=services,dc=lab,dc=test\" read"), "{fix}");
    let alice = get(&r, "ldap.user-auth", "alice");
    assert!(
        alice.message.starts_with("alice is not visible to the service account under ou=people,dc=lab,dc=test with (objectClass=inetOrgPerson): the search base"),
        "{}",
        alice.message
    );
    assert!(
        !alice.message.contains("not in the directory"),
        "{}",
        alice.message
    );
    openldap_restore(&lab, &healthy);

    // It may read the base entry, and nothing under it.
    openldap_variant(&lab, "svc-no-entries");
    let r = run(&lab.spec(), T).await;
    let base = get(&r, "ldap.base", BASE);
    assert_eq!(
        base.message,
        "the user filter (objectClass=inetOrgPerson) returns no entry under ou=people,dc=lab,dc=test: the service account may read nothing under ou=people,dc=lab,dc=test"
    );
    assert!(base
        .remediation
        .as_deref()
        .unwrap()
        .contains("sees no entry under it"));
    openldap_restore(&lab, &healthy);

    // Readable, and a filter that matches nothing: the filter is named, and the base
    // that does not exist names what the server matched.
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_variant(&lab, dir.path(), |t| {
        t.replace("(objectClass=inetOrgPerson)", "(employeeType=contractor)")
    });
    let r = run(&spec, T).await;
    let base = get(&r, "ldap.base", BASE);
    assert!(
        base.message.ends_with("the user filter (employeeType=contractor) matches nothing the service account may read under ou=people,dc=lab,dc=test"),
        "{}",
        base.message
    );
    assert!(base
        .remediation
        .as_deref()
        .unwrap()
        .starts_with("Correct the user filter"));
}

#[tokio::test]
async fn the_password_policy_is_in_the_verdicts_and_a_run_locks_nobody_out() {
    let lab = Lab::isolated();
    openldap_variant(&lab, "ppolicy");
    let dir = tempfile::tempdir().unwrap();
    let dn = |u: &str| format!("uid={u},ou=people,dc=lab,dc=test");
    // bob's password reset by an administrator (must change); carol changed hers (it
    // expires in 30 days, the policy warns 60 days ahead); dave locked out by three
    // mistyped passwords; alice's password in the spec is wrong.
    admin_sets_password(&lab, &dn("bob"), "Reset-by-admin-1");
    user_sets_password(&lab, &dn("carol"), &lab.secret("carol"), "Carols-own-2");
    for _ in 0..3 {
        assert!(!binds(&lab, &dn("dave"), "mistyped"));
    }
    assert!(
        !binds(&lab, &dn("dave"), &lab.secret("dave")),
        "dave is not locked"
    );
    let files: Vec<(String, std::path::PathBuf)> = [
        ("alice", "not-alices-password"),
        ("bob", "Reset-by-admin-1"),
        ("carol", "Carols-own-2"),
    ]
    .iter()
    .map(|(u, p)| {
        (
            format!("{}/secrets/{u}.password", lab.dir.display()),
            password_file(dir.path(), u, p),
        )
    })
    .collect();
    let spec = spec_variant(&lab, dir.path(), |t| {
        files.iter().fold(t, |t, (from, to)| {
            t.replace(from, &to.display().to_string())
        })
    });
    let r = run(&spec, T).await;

    let bob = get(&r, "ldap.user-auth", "bob");
    assert_eq!(bob.status, Status::Fail, "{}", bob.message);
    assert!(
        bob.message.starts_with("bob must change the password before using the directory (password policy changeAfterReset"),
        "{}",
        bob.message
    );
    assert!(bob
        .remediation
        .as_deref()
        .unwrap()
        .contains("Jabber sign-in will be refused"));
    let carol = get(&r, "ldap.user-auth", "carol");
    assert_eq!(carol.status, Status::Warn, "{}", carol.message);
    assert!(
        carol.message.contains("the password expires in 29 d 23 h"),
        "{}",
        carol.message
    );
    let dave = get(&r, "ldap.user-auth", "dave");
    assert_eq!(dave.status, Status::Fail);
    assert!(
        dave.message.starts_with(
            "dave's account is locked out (password policy accountLocked): locked since "
        ),
        "{}",
        dave.message
    );
    // The policy locks for 300 s: the lock ends within the next five minutes.
    assert!(
        dave.message.contains(" until ") && dave.message.ends_with(" min)"),
        "{}",
        dave.message
    );
    let alice = get(&r, "ldap.user-auth", "alice");
    assert!(
        alice
            .message
            .contains("alice's password is refused: invalidCredentials (49)"),
        "{}",
        alice.message
    );

    // The explanation of a refused XMPP login asks the directory through the run's
    // ledger: alice's refused password is not sent again.
    let spec = imp_verify_testlab::harness::load(&spec);
    let net = imp_verify_net::Net::from_spec(&spec);
    let ledger = imp_verify_core::credentials::Credentials::default();
    let auth = imp_verify_core::AuthLog::default();
    let first = look_up_test_user(&spec, &net, "alice", T, &auth, &ledger)
        .await
        .unwrap();
    assert_eq!(first, UserVerdict::WrongPassword { dn: dn("alice") });
    for _ in 0..3 {
        let again = look_up_test_user(&spec, &net, "alice", T, &auth, &ledger)
            .await
            .unwrap();
        assert!(
            matches!(again, UserVerdict::NotTried { dn: Some(ref d), .. } if *d == dn("alice")),
            "{again:?}"
        );
    }
    let alice_binds: Vec<_> = auth
        .attempts()
        .into_iter()
        .filter(|a| a.account == dn("alice"))
        .collect();
    assert_eq!(alice_binds.len(), 1, "{alice_binds:?}");
    // Two refusals in all (the run's and the first look-up's, each in its own ledger),
    // below the policy's three: alice is not locked, her own password still binds.
    assert_eq!(admin_reads(&lab, &dn("alice"), "pwdFailureTime").len(), 2);
    assert!(admin_reads(&lab, &dn("alice"), "pwdAccountLockedTime").is_empty());
    assert!(binds(&lab, &dn("alice"), &lab.secret("alice")));
    assert_eq!(ev(dave, "result_code"), "49 invalidCredentials");
}
