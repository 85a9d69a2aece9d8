//! The UDS probe against the lab's stand-in for CUCM's User Data Services (Apache httpd
//! on cucm.lab.test:8443 serving Cisco's documented responses, the user's own resource
//! behind a real bind to the lab's directory): the healthy lab passes; each fault of
//! Jabber's sign-in path gives its own verdict, on real servers in isolated labs.

use imp_probe_dns::DnsProbe;
use imp_probe_uds::UdsProbe;
use imp_verify_core::{Area, CheckResult, Probe, Reason, RunOptions, Status};
use imp_verify_testlab::harness::{
    ev, failed_binds, get, load, run_areas, run_with, spec_variant, spec_with_wrong_password,
};
use imp_verify_testlab::Lab;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

fn probes(spec: &imp_verify_core::Spec) -> Vec<Box<dyn Probe>> {
    let net = imp_verify_net::Net::from_spec(spec);
    vec![
        Box::new(DnsProbe::new(net.clone())),
        Box::new(UdsProbe::new(net)),
    ]
}

/// The DNS and UDS checks of `spec` (the DNS ones judge the records UDS's wait for).
async fn uds(spec: &Path, timeout: Duration) -> Vec<CheckResult> {
    let spec = load(spec);
    run_areas(&spec, &probes(&spec), &[Area::Dns, Area::Uds], timeout).await
}

fn status(r: &[CheckResult], id: &str, target: &str) -> Status {
    get(r, id, target).outcome.status
}

fn uds_of(r: &[CheckResult]) -> Vec<&CheckResult> {
    r.iter().filter(|c| c.key.id.starts_with("uds.")).collect()
}

/// The requests of the user's own resource the stand-in saw (its access log).
fn user_requests(lab: &Lab) -> usize {
    std::fs::read_to_string(lab.dir.join("logs/cucm-uds.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"GET /cucm-uds/user/"))
        .count()
}

#[tokio::test]
async fn the_healthy_lab_passes_jabbers_whole_discovery_path() {
    let lab = Lab::shared();
    let r = uds(&lab.spec(), Duration::from_secs(10)).await;
    let all = uds_of(&r);
    assert_eq!(
        all.len(),
        2 + 3 * USERS.len(),
        "{:?}",
        all.iter().map(|c| c.key.to_string()).collect::<Vec<_>>()
    );
    for c in &all {
        assert_eq!(c.outcome.status, Status::Pass, "{}: {:?}", c.key, c.outcome);
    }
    let https = &get(&r, "uds.https", "_cisco-uds._tcp.lab.test").outcome;
    assert_eq!(ev(https, "record"), "10 0 8443 cucm.lab.test.");
    assert!(ev(https, "certificate_names").contains("DNS:cucm.lab.test"));
    let version = &get(&r, "uds.version", "_cisco-uds._tcp.lab.test").outcome;
    assert_eq!(ev(version, "cucm_version"), "12.5.1");
    let home = &get(&r, "uds.cluster-user", "carol").outcome;
    assert_eq!(ev(home, "home_cluster"), "cucm.lab.test");
    assert_eq!(ev(home, "spec_cluster"), "lab-cluster");
    // The user's own resource, read with carol's own password: UDS names her node.
    let carol = &get(&r, "uds.user", "carol").outcome;
    assert_eq!(ev(carol, "user_name"), "carol");
    assert_eq!(ev(carol, "imp_server"), "imp2.lab.test");
    assert!(get(&r, "uds.cuplogin", "carol")
        .outcome
        .message
        .contains("leads carol to imp2.lab.test:8443"));
    lab.assert_no_secret_in(&format!("{r:?}"));
}

#[tokio::test]
async fn users_uds_does_not_know_or_homes_elsewhere_and_a_wrong_password_fail_each_their_way() {
    let lab = Lab::isolated();
    let www = lab.dir.join("conf/cucm-uds/www");
    let dir = tempfile::tempdir().unwrap();

    // bob is not in CUCM; carol is homed on a cluster the spec does not have.
    std::fs::remove_file(www.join("clusterUser/bob.xml")).unwrap();
    let carol = www.join("clusterUser/carol.xml");
    let text = std::fs::read_to_string(&carol).unwrap();
    std::fs::write(&carol, text.replace("cucm.lab.test", "cucm.elsewhere.test")).unwrap();
    let r = uds(&lab.spec(), Duration::from_secs(10)).await;
    let bob = &get(&r, "uds.cluster-user", "bob").outcome;
    assert_eq!(bob.status, Status::Fail, "{bob:?}");
    assert!(
        bob.message
            .contains("does not know bob (clusterUser: found=\"false\")"),
        "{}",
        bob.message
    );
    assert!(bob
        .remediation
        .as_ref()
        .unwrap()
        .contains("Home Cluster box"));
    let user = &get(&r, "uds.user", "bob").outcome;
    assert_eq!(user.status, Status::Skip);
    assert!(
        matches!(&user.reason, Reason::Blocked { by, .. } if by.to_string() == "uds.cluster-user [bob]")
    );
    let carol = &get(&r, "uds.cluster-user", "carol").outcome;
    assert_eq!(carol.status, Status::Fail);
    assert!(
        carol.message.contains(
            "homes carol on cucm.elsewhere.test, which is not a CUCM cluster of the spec"
        ),
        "{}",
        carol.message
    );
    for u in ["alice", "dave"] {
        assert_eq!(status(&r, "uds.user", u), Status::Pass, "{u}");
    }

    // alice's password is wrong in the spec: UDS answers 401, the directory sees one
    // failed bind of alice, and a run that retries does not send it again.
    let bad = spec_with_wrong_password(&lab, dir.path(), "alice");
    let alice = "uid=alice,ou=people,dc=lab,dc=test";
    let before = failed_binds(&lab, alice);
    let spec = load(&bad);
    let options = RunOptions {
        check_timeout: Duration::from_secs(8),
        retry_for: Some(Duration::from_secs(6)),
        retry_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let r = run_with(
        &spec,
        &probes(&spec),
        &[Area::Uds],
        options,
        CancellationToken::new(),
    )
    .await;
    let refused = get(&r, "uds.user", "alice");
    assert_eq!(
        refused.outcome.status,
        Status::Fail,
        "{:?}",
        refused.outcome
    );
    assert!(
        refused
            .outcome
            .message
            .contains("401 Unauthorized: UDS refused alice's password"),
        "{}",
        refused.outcome.message
    );
    assert_eq!(refused.attempts, 1, "a refused password was retried");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        failed_binds(&lab, alice) - before,
        1,
        "the directory saw one failed bind of alice"
    );
    lab.assert_no_secret_in(&format!("{r:?}"));
}

#[tokio::test]
async fn a_home_cluster_whose_certificate_does_not_name_it_gets_no_password() {
    let lab = Lab::isolated();
    let dir = tempfile::tempdir().unwrap();
    // The spec names the cluster's publisher cucm-pub.lab.test, an address of the CUCM
    // (its certificate names cucm.lab.test only), and UDS homes alice there.
    let cucm = lab.ip(4);
    lab.edit_zone("lab.test", |z| format!("{z}cucm-pub A {cucm}\n"));
    let spec = spec_variant(&lab, dir.path(), |s| {
        s.replace(
            "name = \"lab-cluster\"\n",
            "name = \"lab-cluster\"\ncucm_publisher = \"cucm-pub.lab.test\"\n",
        )
    });
    let alice = lab.dir.join("conf/cucm-uds/www/clusterUser/alice.xml");
    let text = std::fs::read_to_string(&alice).unwrap();
    std::fs::write(
        &alice,
        text.replace("cucm.lab.test:8443", "cucm-pub.lab.test:8443")
            .replace(">cucm.lab.test<", ">cucm-pub.lab.test<"),
    )
    .unwrap();
    let before = user_requests(&lab);
    let r = uds(&spec, Duration::from_secs(10)).await;
    assert_eq!(
        status(&r, "uds.cluster-user", "alice"),
        Status::Pass,
        "{:?}",
        get(&r, "uds.cluster-user", "alice").outcome
    );
    let o = &get(&r, "uds.user", "alice").outcome;
    assert_eq!(o.status, Status::Fail, "{o:?}");
    assert!(
        o.message
            .contains("the certificate does not name cucm-pub.lab.test"),
        "{}",
        o.message
    );
    assert!(
        o.message.ends_with("alice's password was not sent"),
        "{}",
        o.message
    );
    assert_eq!(status(&r, "uds.user", "bob"), Status::Pass);
    // bob's request came; alice's never did.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        user_requests(&lab) - before,
        3,
        "the stand-in saw a request of alice's resource"
    );
}

#[tokio::test]
async fn the_record_missing_uds_down_silent_or_with_another_hosts_certificate() {
    let lab = Lab::isolated();
    let spec = lab.spec();
    let conf = "cucm-uds/apache2.conf";

    // The certificate of another host (imp1's, of the same CA).
    lab.edit_conf(conf, |c| {
        c.replace("pki/cucm.lab.test.", "pki/imp1.lab.test.")
    });
    lab.stop("cucm-uds");
    lab.start("cucm-uds");
    let before = user_requests(&lab);
    let r = uds(&spec, Duration::from_secs(10)).await;
    let https = &get(&r, "uds.https", "_cisco-uds._tcp.lab.test").outcome;
    assert_eq!(https.status, Status::Fail);
    assert!(
        https
            .message
            .contains("the certificate does not name cucm.lab.test (it names DNS:imp1.lab.test"),
        "{}",
        https.message
    );
    assert!(https
        .remediation
        .as_ref()
        .unwrap()
        .contains("CUCM Tomcat certificate"));
    for u in USERS {
        assert_eq!(status(&r, "uds.user", u), Status::Skip, "{u}");
        assert_eq!(status(&r, "uds.cuplogin", u), Status::Pass, "{u}");
    }
    assert_eq!(
        user_requests(&lab),
        before,
        "a password went to the wrong host"
    );
    lab.edit_conf(conf, |c| {
        c.replace("pki/imp1.lab.test.", "pki/cucm.lab.test.")
    });

    // UDS down.
    lab.stop("cucm-uds");
    let r = uds(&spec, Duration::from_secs(10)).await;
    let down = &get(&r, "uds.https", "_cisco-uds._tcp.lab.test").outcome;
    assert_eq!(down.status, Status::Fail);
    assert!(
        down.message.contains("connection refused"),
        "{}",
        down.message
    );
    assert!(down
        .remediation
        .as_ref()
        .unwrap()
        .contains("Cisco User Data Services"));
    assert_eq!(
        status(&r, "uds.version", "_cisco-uds._tcp.lab.test"),
        Status::Skip
    );

    // Something takes the connection and never answers: the handshake is named.
    let silent = std::net::TcpListener::bind((lab.ip(4), 8443)).unwrap();
    let r = uds(&spec, Duration::from_secs(2)).await;
    let slow = &get(&r, "uds.https", "_cisco-uds._tcp.lab.test").outcome;
    assert_eq!(slow.status, Status::Fail);
    assert!(
        matches!(
            slow.reason,
            Reason::TimedOut {
                stage: Some(imp_verify_core::Stage::TlsHandshake),
                ..
            }
        ),
        "{:?}",
        slow
    );
    drop(silent);
    lab.start("cucm-uds");

    // The record missing: the DNS check fails, UDS's are blocked by it, and Jabber's
    // other path, _cuplogin._tcp, still leads each user to its node.
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_cisco-uds._tcp"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = uds(&spec, Duration::from_secs(10)).await;
    assert_eq!(
        status(&r, "dns.srv.cisco-uds", "_cisco-uds._tcp.lab.test"),
        Status::Fail
    );
    let blocked = &get(&r, "uds.https", "_cisco-uds._tcp.lab.test").outcome;
    assert!(
        matches!(&blocked.reason, Reason::Blocked { by, .. } if by.id == "dns.srv.cisco-uds"),
        "{blocked:?}"
    );
    let alice = &get(&r, "uds.cuplogin", "alice").outcome;
    assert_eq!(alice.status, Status::Pass, "{alice:?}");
    assert!(alice.message.contains("without _cisco-uds._tcp.lab.test, Jabber finds IM and Presence through _cuplogin._tcp.lab.test leads alice to imp1.lab.test:8443"), "{}", alice.message);
    // And without _cuplogin._tcp either, Jabber finds nothing.
    lab.edit_zone("lab.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_cuplogin._tcp"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = uds(&spec, Duration::from_secs(10)).await;
    let none = &get(&r, "uds.cuplogin", "alice").outcome;
    assert_eq!(none.status, Status::Fail);
    assert!(
        none.message.contains("Cannot find services automatically"),
        "{}",
        none.message
    );
}

#[tokio::test]
async fn with_samba_ad_as_the_directory_the_user_resource_binds_to_active_directory() {
    let lab = match Lab::isolated_samba_ad() {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let r = uds(&lab.spec(), Duration::from_secs(10)).await;
    for c in uds_of(&r) {
        assert_eq!(c.outcome.status, Status::Pass, "{}: {:?}", c.key, c.outcome);
    }
    // The stand-in found dave by sAMAccountName and bound as his AD entry.
    let log = std::fs::read_to_string(lab.dir.join("logs/cucm-uds.log")).unwrap_or_default();
    assert!(
        log.contains("dave \"GET /cucm-uds/user/dave HTTP/1.1\" 200"),
        "{log}"
    );
    lab.assert_no_secret_in(&format!("{r:?}"));
}
