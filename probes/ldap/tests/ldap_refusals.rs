//! What the directory must refuse, on the lab's real slapd: healthy, a cleartext simple
//! bind is refused before its credentials are judged, anonymous clients read nothing,
//! and the service account may not write; each variant of
//! `fixtures/lab/variants/openldap` an administrator could leave (cleartext binds
//! allowed, anonymous reads, a service account with write access) fails, or warns,
//! exactly the check that names it, for the reason it names, and nothing is written.

mod common;

use common::{admin_reads, get, openldap_restore, openldap_variant, run};
use imp_verify_core::{CheckResult, Status};
use imp_verify_testlab::harness::ev;
use imp_verify_testlab::Lab;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const CLEARTEXT: &str = "ldap://ldap.lab.test:389";
const SERVERS: [&str; 2] = ["ldaps://ldap.lab.test:636", "ldap://ldap.lab.test:389"];
const REFUSALS: [&str; 3] = [
    "ldap.cleartext-bind",
    "ldap.anonymous-read",
    "ldap.read-only",
];

/// The refusal checks other than `except` all pass.
fn others_pass(r: &[CheckResult], except: &str) {
    for c in r
        .iter()
        .filter(|c| REFUSALS.contains(&c.key.id) && c.key.id != except)
    {
        assert_eq!(
            c.outcome.status,
            Status::Pass,
            "{}: {}",
            c.key,
            c.outcome.message
        );
    }
}

#[tokio::test]
async fn the_healthy_directory_refuses_what_it_must() {
    let lab = Lab::shared();
    let r = run(&lab.spec(), T).await;
    let c = get(&r, "ldap.cleartext-bind", CLEARTEXT);
    assert_eq!(c.status, Status::Pass, "{}", c.message);
    assert_eq!(
        c.message,
        "ldap://ldap.lab.test:389 refuses a simple bind in cleartext: confidentialityRequired (13)"
    );
    for s in SERVERS {
        let a = get(&r, "ldap.anonymous-read", s);
        assert_eq!(a.status, Status::Pass, "{}", a.message);
        let w = get(&r, "ldap.read-only", s);
        assert_eq!(w.status, Status::Pass, "{}", w.message);
        assert!(
            w.message
                .ends_with("(insufficientAccessRights (50)): read-only"),
            "{}",
            w.message
        );
    }
    lab.assert_no_secret_in(&format!("{r:?}"));
}

#[tokio::test]
async fn each_door_left_open_fails_the_check_that_names_it() {
    let lab = Lab::isolated();
    let svc = "cn=impverify-svc,ou=services,dc=lab,dc=test";
    let cn_before = admin_reads(&lab, svc, "cn");

    let healthy = openldap_variant(&lab, "cleartext");
    let r = run(&lab.spec(), T).await;
    let c = get(&r, "ldap.cleartext-bind", CLEARTEXT);
    assert_eq!(c.status, Status::Fail, "{}", c.message);
    assert!(
        c.message.starts_with("ldap://ldap.lab.test:389 takes simple binds in cleartext: a bind with a made-up DN and password was judged on its credentials (invalidCredentials (49))"),
        "{}",
        c.message
    );
    assert!(c
        .remediation
        .as_deref()
        .unwrap()
        .contains("security simple_bind=128"));
    others_pass(&r, "ldap.cleartext-bind");
    openldap_restore(&lab, &healthy);

    openldap_variant(&lab, "anonymous-read");
    let r = run(&lab.spec(), T).await;
    for s in SERVERS {
        let a = get(&r, "ldap.anonymous-read", s);
        assert_eq!(a.status, Status::Fail, "{}", a.message);
        assert!(
            a.message
                .contains("an anonymous client reads the entries under ou=people,dc=lab,dc=test"),
            "{}",
            a.message
        );
        assert!(a
            .remediation
            .as_deref()
            .unwrap()
            .contains("by anonymous auth"));
    }
    others_pass(&r, "ldap.anonymous-read");
    openldap_restore(&lab, &healthy);

    openldap_variant(&lab, "svc-write");
    let r = run(&lab.spec(), T).await;
    for s in SERVERS {
        let w = get(&r, "ldap.read-only", s);
        assert_eq!(w.status, Status::Warn, "{}", w.message);
        assert!(
            w.message.contains("the service account could write"),
            "{}",
            w.message
        );
        assert_eq!(ev(w, "result_code"), "20 attributeOrValueExists");
        assert!(w
            .remediation
            .as_deref()
            .unwrap()
            .contains(&format!("by dn.exact=\"{svc}\" read")));
    }
    others_pass(&r, "ldap.read-only");
    // Nothing was written.
    assert_eq!(admin_reads(&lab, svc, "cn"), cn_before);
    openldap_restore(&lab, &healthy);
}
