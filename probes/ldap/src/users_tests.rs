//! Unit tests of the user look-ups and their judges.

use super::*;
use crate::testing::{ev, spec};
use imp_verify_core::Status;

fn found(refusal: Option<Refusal>) -> UserFacts {
    UserFacts::Bound(Box::new(DirectoryUser::Found {
        dn: "CN=Ann,OU=people,DC=corp,DC=test".into(),
        bind_rc: refusal.as_ref().map_or(0, |r| r.code.value()),
        bind_text: String::new(),
        took: Duration::from_millis(2),
        refusal,
        policy: PolicyState::default(),
        lock: None,
    }))
}

#[test]
fn the_user_binding_as_its_own_entry_passes() {
    let s = spec("userid@domain", "mail");
    let o = judge_user_auth(&s, "ann", found(None));
    assert_eq!(o.status, Status::Pass);
    assert_eq!(
        o.message,
        "ann authenticates with its own password as CN=Ann,OU=people,DC=corp,DC=test"
    );
    let r = Refusal {
        code: ResultCode::InvalidCredentials,
        ad: Some(AdReason::Disabled),
        diagnostic: "... data 533, v1db1".into(),
        referrals: vec![],
    };
    let o = judge_user_auth(&s, "ann", found(Some(r)));
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("the account is disabled (Active Directory data 533)"),
        "{}",
        o.message
    );
}

#[test]
fn another_users_entry_is_named_and_never_bound_as() {
    let s = spec("userid@domain", "mail");
    let o = judge_user_auth(
        &s,
        "ben",
        UserFacts::WrongEntry {
            dn: "CN=Ann,OU=people,DC=corp,DC=test".into(),
            carried: vec!["ann".into()],
        },
    );
    assert_eq!(o.status, Status::Fail);
    assert_eq!(o.message, "the directory answered the look-up of ben with CN=Ann,OU=people,DC=corp,DC=test, whose sAMAccountName is ann: not ben's entry, so its password was not sent");
    assert_eq!(ev(&o, "returned_dn"), "CN=Ann,OU=people,DC=corp,DC=test");
    let o = judge_user_auth(
        &s,
        "ann",
        UserFacts::Ambiguous(vec!["CN=a1".into(), "CN=a2".into()]),
    );
    assert!(
        o.message
            .contains("more than one entry with sAMAccountName=ann"),
        "{}",
        o.message
    );
    let v = Visibility {
        base: visibility::BaseSeen::Readable,
        anything: true,
    };
    let o = judge_user_auth(&s, "ann", UserFacts::NotVisible(v));
    assert_eq!(o.message, "ann is not visible to the service account under OU=people,DC=corp,DC=test with (objectClass=inetOrgPerson)");
    let v = Visibility {
        base: visibility::BaseSeen::Readable,
        anything: false,
    };
    let o = judge_user_auth(&s, "ann", UserFacts::NotVisible(v));
    assert!(
        o.message
            .ends_with(": the service account may read nothing under OU=people,DC=corp,DC=test"),
        "{}",
        o.message
    );
    assert!(o.remediation.unwrap().contains("read access"));
}
