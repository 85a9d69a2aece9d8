//! The LDAP probe against the lab's real OpenLDAP: every check passes on the healthy
//! directory; each fails for its own reason when the service password, the CA, the
//! base, a user, an attribute, a mail or a user password is wrong; a hostile server
//! fails the connection within its timeout. No password appears in any outcome.

mod common;

use common::{get, ldapmodify, refused_bind, run};
use imp_verify_core::{CheckResult, Status};
use imp_verify_testlab::harness::{spec_variant, ForeignCa};
use imp_verify_testlab::Lab;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn no_secret(lab: &Lab, r: &[CheckResult]) {
    lab.assert_no_secret_in(&format!("{r:?}"));
}

#[tokio::test]
async fn every_ldap_check_passes_on_the_lab() {
    let lab = Lab::shared();
    let r = run(&lab.spec(), Duration::from_secs(10)).await;
    assert_eq!(
        r.len(),
        2 * 4 + 1 + 3 + 4 * 2,
        "2 servers x (connect, bind, anonymous-read, read-only), 1 cleartext endpoint, base/sync/mapping, 4 users x (auth, search)"
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
    let sync = get(&r, "ldap.sync", "ou=people,dc=lab,dc=test");
    assert_eq!(sync.metrics["entries"], 30.0);
    assert!(get(&r, "ldap.contact-search", "alice")
        .metrics
        .contains_key("search_ms"));
    no_secret(lab, &r);
}

#[tokio::test]
async fn a_wrong_service_password_an_untrusted_ca_and_a_missing_base_fail_where_they_should() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wrong.password"), "not-the-password").unwrap();
    let wrong_pw = spec_variant(lab, dir.path(), |t| {
        t.replace(
            &format!("{}/secrets/ldap-service.password", lab.dir.display()),
            &dir.path().join("wrong.password").display().to_string(),
        )
    });
    let r = run(&wrong_pw, Duration::from_secs(10)).await;
    let bind = refused_bind(&r);
    assert_eq!(bind.status, Status::Fail);
    assert!(
        bind.message.contains("invalidCredentials (49)"),
        "{}",
        bind.message
    );
    assert_eq!(
        get(&r, "ldap.connect", "ldaps://ldap.lab.test:636").status,
        Status::Pass
    );
    no_secret(lab, &r);

    // Another CA: the directory's certificate does not verify.
    let other = tempfile::tempdir().unwrap();
    let foreign_ca = ForeignCa::new(other.path(), "Other CA");
    let dir2 = tempfile::tempdir().unwrap();
    let foreign = spec_variant(lab, dir2.path(), |t| {
        t.replace(
            &format!("{}/pki/ca.crt", lab.dir.display()),
            &foreign_ca.ca.cert.display().to_string(),
        )
    });
    let r = run(&foreign, Duration::from_secs(10)).await;
    for server in ["ldaps://ldap.lab.test:636", "ldap://ldap.lab.test:389"] {
        let c = get(&r, "ldap.connect", server);
        assert_eq!(c.status, Status::Fail, "{server}");
        assert!(
            c.message.contains("not signed by the deployment's CA"),
            "{}",
            c.message
        );
        assert!(
            c.remediation.as_deref().unwrap().contains("task C.6"),
            "{:?}",
            c.remediation
        );
    }

    // Cleartext, allowed by the spec: the connection warns; the server refuses the bind.
    let dir4 = tempfile::tempdir().unwrap();
    let clear = spec_variant(lab, dir4.path(), |t| {
        t.replace(
            "url = \"ldap://ldap.lab.test:389\"\nstarttls = true",
            "url = \"ldap://ldap.lab.test:389\"\nallow_cleartext = true",
        )
    });
    let r = run(&clear, Duration::from_secs(10)).await;
    let c = get(&r, "ldap.connect", "ldap://ldap.lab.test:389");
    assert_eq!(c.status, Status::Warn, "{}", c.message);
    assert!(c.message.contains("answers in cleartext"), "{}", c.message);
    let b = get(&r, "ldap.bind", "ldap://ldap.lab.test:389");
    assert_eq!(b.status, Status::Fail);
    assert!(
        b.message.contains("confidentialityRequired (13)"),
        "{}",
        b.message
    );

    let dir3 = tempfile::tempdir().unwrap();
    let no_base = spec_variant(lab, dir3.path(), |t| {
        t.replace(
            "base = \"ou=people,dc=lab,dc=test\"",
            "base = \"ou=nobody,dc=lab,dc=test\"",
        )
    });
    let r = run(&no_base, Duration::from_secs(10)).await;
    let base = get(&r, "ldap.base", "ou=nobody,dc=lab,dc=test");
    assert_eq!(base.status, Status::Fail);
    assert!(
        base.message.contains("is missing or unreadable for the service account (noSuchObject (32); the server matched dc=lab,dc=test)"),
        "{}",
        base.message
    );
}

#[tokio::test]
async fn directory_faults_fail_sync_mapping_and_user_auth() {
    let lab = Lab::isolated();
    // bob is gone; carol lost her phone; dave got alice's mail.
    ldapmodify(
        &lab,
        "dn: uid=bob,ou=people,dc=lab,dc=test\nchangetype: delete\n",
    );
    ldapmodify(
        &lab,
        "dn: uid=carol,ou=people,dc=lab,dc=test\nchangetype: modify\ndelete: telephoneNumber\n",
    );
    ldapmodify(&lab, "dn: uid=dave,ou=people,dc=lab,dc=test\nchangetype: modify\nreplace: mail\nmail: alice@lab.test\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wrong.password"), "not-alices-password").unwrap();
    let spec = spec_variant(&lab, dir.path(), |t| {
        t.replace(
            &format!("{}/secrets/alice.password", lab.dir.display()),
            &dir.path().join("wrong.password").display().to_string(),
        )
    });
    let r = run(&spec, Duration::from_secs(10)).await;

    let sync = get(&r, "ldap.sync", "ou=people,dc=lab,dc=test");
    assert_eq!(sync.status, Status::Fail);
    assert!(
        sync.message
            .contains("1 of the expected users is not visible to the service account")
            && sync.message.ends_with(": bob"),
        "{}",
        sync.message
    );
    assert_eq!(sync.metrics["entries"], 29.0);

    let mapping = get(&r, "ldap.mapping", "ou=people,dc=lab,dc=test");
    assert_eq!(mapping.status, Status::Fail);
    assert!(
        mapping
            .message
            .contains("carol (uid=carol,ou=people,dc=lab,dc=test) has no phone (telephoneNumber)"),
        "{}",
        mapping.message
    );
    assert!(mapping.message.contains("duplicate directory URI (mail) alice@lab.test on uid=alice,ou=people,dc=lab,dc=test and uid=dave,ou=people,dc=lab,dc=test"), "{}", mapping.message);

    let alice = get(&r, "ldap.user-auth", "alice");
    assert_eq!(alice.status, Status::Fail);
    assert!(
        alice
            .message
            .contains("alice's password is refused: invalidCredentials (49)"),
        "{}",
        alice.message
    );
    let bob = get(&r, "ldap.user-auth", "bob");
    assert_eq!(bob.status, Status::Fail);
    assert!(
        bob.message
            .contains("bob is not visible to the service account"),
        "{}",
        bob.message
    );
    assert_eq!(get(&r, "ldap.user-auth", "carol").status, Status::Pass);

    let search = get(&r, "ldap.contact-search", "carol");
    assert_eq!(search.status, Status::Fail);
    assert!(
        search
            .message
            .contains("carol has no phone number to search by"),
        "{}",
        search.message
    );
    assert_eq!(get(&r, "ldap.contact-search", "alice").status, Status::Pass);
    no_secret(&lab, &r);
}

#[tokio::test]
async fn a_hostile_directory_fails_the_connection_within_the_timeout() {
    let lab = Lab::shared();
    for behaviour in ["garbage", "silence"] {
        let listener = TcpListener::bind("127.0.0.9:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut s in listener.incoming().flatten() {
                if behaviour == "garbage" {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0xde, 0xad]);
                    let _ = s.write_all(&vec![0x41; 64 * 1024]);
                }
                held.push(s);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let spec = spec_variant(lab, dir.path(), |t| {
            let t = t.replace(
                "url = \"ldaps://ldap.lab.test:636\"",
                &format!("url = \"ldaps://127.0.0.9:{port}\""),
            );
            t.replace(
                "url = \"ldap://ldap.lab.test:389\"\nstarttls = true",
                &format!("url = \"ldap://127.0.0.9:{port}\"\nstarttls = true"),
            )
        });
        let started = Instant::now();
        let r = run(&spec, Duration::from_secs(2)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{behaviour}: took {:?}",
            started.elapsed()
        );
        for c in r.iter().filter(|c| c.key.id == "ldap.connect") {
            assert_eq!(
                c.outcome.status,
                Status::Fail,
                "{behaviour} {}: {}",
                c.key,
                c.outcome.message
            );
        }
    }
}
