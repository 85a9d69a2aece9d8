//! Diagnoses against the lab's real OpenLDAP, reconfigured as other directories are:
//! a server size limit (partial contact-search results pass with a note; a sync cut by
//! it says so), a referral for a base the server does not hold (named, with where it
//! points), a user without mail under the userid@domain scheme (ldap.mapping warns,
//! saying what it breaks), a large directory read in pages with no cap; and a hostile
//! server whose bytes ldap3 cannot decode (one line, no panic on stderr).

mod common;

use common::{get, ldapmodify, run};
use imp_verify_core::Status;
use imp_verify_testlab::harness::{ev, spec_variant};
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn size_limits_referrals_and_a_missing_mail_are_named() {
    let lab = Lab::isolated();
    // Three more people whose names start as alice's; dave loses his mail.
    for n in ["Two", "Three", "Four"] {
        let uid = format!("alice{}", n.to_lowercase());
        ldapmodify(&lab, &format!(
            "dn: uid={uid},ou=people,dc=lab,dc=test\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Alice {n}\nsn: {n}\ndisplayName: Alice {n}\nmail: {uid}@lab.test\ntelephoneNumber: +1 408 555 09{}\n",
            n.len()
        ));
    }
    ldapmodify(
        &lab,
        "dn: uid=dave,ou=people,dc=lab,dc=test\nchangetype: modify\ndelete: mail\n",
    );
    let r = run(&lab.spec(), T).await;
    let mapping = get(&r, "ldap.mapping", "ou=people,dc=lab,dc=test");
    assert_eq!(mapping.status, Status::Warn, "{}", mapping.message);
    assert!(
        mapping
            .message
            .contains("dave (uid=dave,ou=people,dc=lab,dc=test) has no mail (mail)"),
        "{}",
        mapping.message
    );
    assert!(
        mapping.message.contains("URI dialing"),
        "{}",
        mapping.message
    );
    assert_eq!(
        get(&r, "ldap.sync", "ou=people,dc=lab,dc=test").status,
        Status::Pass
    );

    // The directory caps what the service account gets at 2 entries a search, and
    // refers searches outside its naming context to another server.
    lab.edit_conf("slapd.conf", |t| {
        t.replace("size.prtotal=unlimited", "size=2").replace(
            "modulepath",
            "referral        ldap://dc2.other.test/\nmodulepath",
        )
    });
    lab.stop("ldap");
    lab.start("ldap");
    let r = run(&lab.spec(), T).await;
    let search = get(&r, "ldap.contact-search", "alice");
    assert_eq!(search.status, Status::Pass, "{}", search.message);
    assert!(
        search.message.contains(
            "the search by display-name prefix returned partial results (a size limit), as Jabber shows them"
        ),
        "{}",
        search.message
    );
    assert!(
        ev(search, "searches").contains("partial: the server's size limit stopped it at 2 entries"),
        "{search:?}"
    );
    // Every search of the check has the limit, not only the first.
    assert_eq!(ev(search, "size_limit"), "50");
    let sync = get(&r, "ldap.sync", "ou=people,dc=lab,dc=test");
    assert_eq!(sync.status, Status::Fail, "{}", sync.message);
    assert!(
        sync.message
            .contains("the 2 entries the server returned before its size limit stopped the search"),
        "{}",
        sync.message
    );
    assert_eq!(ev(sync, "result_code"), "4 sizeLimitExceeded");

    let dir = tempfile::tempdir().unwrap();
    let other = spec_variant(&lab, dir.path(), |t| {
        t.replace(
            "base = \"ou=people,dc=lab,dc=test\"",
            "base = \"ou=people,dc=other,dc=test\"",
        )
    });
    let r = run(&other, T).await;
    let base = get(&r, "ldap.base", "ou=people,dc=other,dc=test");
    assert_eq!(base.status, Status::Fail);
    assert!(
        base.message
            .contains("does not hold the search base ou=people,dc=other,dc=test: referral (10) to ldap://dc2.other.test/"),
        "{}",
        base.message
    );
    assert!(!base.message.contains("unknown"), "{}", base.message);
    assert!(ev(base, "referral").starts_with("ldap://dc2.other.test/"));
}

#[tokio::test]
async fn a_directory_larger_than_a_page_is_read_whole() {
    let lab = Lab::isolated_with_users(1234);
    let r = run(&lab.spec(), T).await;
    for id in ["ldap.base", "ldap.sync", "ldap.mapping"] {
        let o = get(&r, id, "ou=people,dc=lab,dc=test");
        assert_eq!(o.status, Status::Pass, "{id}: {}", o.message);
    }
    let sync = get(&r, "ldap.sync", "ou=people,dc=lab,dc=test");
    assert_eq!(sync.metrics["entries"], 1234.0);
    assert!(get(&r, "ldap.mapping", "ou=people,dc=lab,dc=test")
        .message
        .contains("among 1234 entries"));
    // A duplicate among the generated people, far beyond the first page, is found.
    ldapmodify(&lab, "dn: uid=user0001200,ou=people,dc=lab,dc=test\nchangetype: modify\nreplace: mail\nmail: user0000007@lab.test\n");
    let r = run(&lab.spec(), T).await;
    let mapping = get(&r, "ldap.mapping", "ou=people,dc=lab,dc=test");
    assert_eq!(mapping.status, Status::Fail);
    assert!(
        mapping.message.contains("duplicate directory URI (mail) user0000007@lab.test on uid=user0000007,ou=people,dc=lab,dc=test and uid=user0001200,ou=people,dc=lab,dc=test"),
        "{}",
        mapping.message
    );
}

/// A server that answers its first request with an empty LDAPMessage (`30 00`): ldap3
/// panics decoding it. Run in a child process so that its stderr can be read.
#[tokio::test]
async fn undecodable_server_bytes_make_one_line_and_no_panic_on_stderr() {
    if std::env::var_os("IMPV_UNDECODABLE_CHILD").is_some() {
        return undecodable_child().await;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "undecodable_server_bytes_make_one_line_and_no_panic_on_stderr",
            "--nocapture",
        ])
        .env("IMPV_UNDECODABLE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("CHILD OK"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stdout.contains("panicked"), "{stdout}");
}

async fn undecodable_child() {
    let lab = Lab::shared();
    let listener = TcpListener::bind("127.0.0.9:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(&[0x30, 0x00]);
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_variant(lab, dir.path(), |t| {
        t.replace(
            "url = \"ldap://ldap.lab.test:389\"\nstarttls = true",
            &format!("url = \"ldap://127.0.0.9:{port}\"\nstarttls = true"),
        )
    });
    let r = run(&spec, Duration::from_secs(3)).await;
    let c = get(&r, "ldap.connect", &format!("ldap://127.0.0.9:{port}"));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.message
            .contains("the server sent an undecodable LDAP message"),
        "{}",
        c.message
    );
    assert!(!c.message.contains('\n'));
    println!("CHILD OK");
}
