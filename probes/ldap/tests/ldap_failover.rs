//! Directory failover as CUCM and IM&P do it, on the lab's real slapd: with LDAPS
//! stopped (slapd listening on StartTLS's port only), each server keeps its own
//! `ldap.connect` and `ldap.bind`, and the content checks run once, through the first
//! server that binds (StartTLS), saying so; with no server up they are skipped, naming
//! every server's failure.

mod common;

use common::{get, run};
use imp_verify_core::{Reason, Status};
use imp_verify_testlab::harness::{ev, wait_listening};
use imp_verify_testlab::Lab;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const LDAPS: &str = "ldaps://ldap.lab.test:636";
const STARTTLS: &str = "ldap://ldap.lab.test:389";

/// The lab's slapd, started by the test with the StartTLS listener only (the lab's own
/// is stopped first); killed by its PID when dropped.
struct StartTlsOnly(Child);

impl StartTlsOnly {
    fn start(lab: &Lab) -> StartTlsOnly {
        lab.stop("ldap");
        let child = Command::new("slapd")
            .args(["-d", "0", "-f"])
            .arg(lab.dir.join("conf/slapd.conf"))
            .args(["-h", &format!("ldap://{}:389/", lab.ip(1))])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        wait_listening((lab.ip(1), 389).into(), Duration::from_secs(20));
        StartTlsOnly(child)
    }
}

impl Drop for StartTlsOnly {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_content_checks_fail_over_to_the_first_server_that_binds() {
    let lab = Lab::isolated();
    let slapd = StartTlsOnly::start(&lab);
    let r = run(&lab.spec(), T).await;
    let connect = get(&r, "ldap.connect", LDAPS);
    assert_eq!(connect.status, Status::Fail);
    assert!(
        connect.message.contains("connection refused")
            || connect.message.contains("Connection refused"),
        "{}",
        connect.message
    );
    assert_eq!(get(&r, "ldap.bind", LDAPS).status, Status::Skip);
    assert_eq!(get(&r, "ldap.bind", STARTTLS).status, Status::Pass);
    for (id, target) in [
        ("ldap.base", "ou=people,dc=lab,dc=test"),
        ("ldap.sync", "ou=people,dc=lab,dc=test"),
        ("ldap.mapping", "ou=people,dc=lab,dc=test"),
        ("ldap.user-auth", "alice"),
        ("ldap.contact-search", "bob"),
    ] {
        let o = get(&r, id, target);
        assert_eq!(o.status, Status::Pass, "{id}: {}", o.message);
        assert!(
            o.message.ends_with("(through ldap://ldap.lab.test:389, the first directory server whose service account binds)"),
            "{id}: {}",
            o.message
        );
        assert_eq!(ev(o, "served_by"), STARTTLS);
    }

    // No server up: the content checks are skipped, naming both servers' binds.
    drop(slapd);
    let r = run(&lab.spec(), Duration::from_secs(3)).await;
    let base = get(&r, "ldap.base", "ou=people,dc=lab,dc=test");
    assert_eq!(base.status, Status::Skip);
    assert_eq!(
        base.message,
        "blocked: none of its alternatives passed: ldap.bind [ldaps://ldap.lab.test:636], which was skipped; ldap.bind [ldap://ldap.lab.test:389], which was skipped"
    );
    assert!(matches!(base.reason, Reason::Blocked { .. }));
    lab.start("ldap");
}
