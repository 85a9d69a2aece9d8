//! The XMPP probe against the lab's real Prosody nodes (LDAP-backed logins): every
//! check passes on the healthy lab; a wrong password, an unknown user, a stopped node
//! and hostile servers each fail for their own reason; no password in any outcome.

mod support;

use imp_verify_core::Status;
use imp_verify_testlab::harness::{get, spec_variant as variant};
use imp_verify_testlab::Lab;
use std::time::{Duration, Instant};
use support::{no_secret, xmpp, xmpp_shared};

#[tokio::test]
async fn every_xmpp_check_passes_on_the_lab() {
    let lab = Lab::shared();
    let r = xmpp_shared(&lab.spec(), Duration::from_secs(10)).await;
    assert_eq!(r.len(), 2 + 4 + 4 + 2 + 2 + 2 + 1 + 1 + 6 + 3, "2 nodes, 4 logins, 4 failover logins, 2 IM, 2 presence and 2 group chat pairs, 1 federated domain, 1 roster (alice's contact list), 3 client-port refusals a node, the s2s ports of 2 nodes and the partner");
    for c in &r {
        assert_eq!(
            c.outcome.status,
            Status::Pass,
            "{}: {}",
            c.key,
            c.outcome.message
        );
    }
    // What the nodes refuse, read from what they offer: STARTTLS required, PLAIN only
    // after TLS (allowed: the lab authenticates against LDAP), no registration, no
    // stream for another domain, no server without a certificate.
    let tls = get(&r, "xmpp.c2s-tls", "imp1.lab.test");
    assert!(tls.outcome.message.contains("requires STARTTLS before authentication and offers no SASL mechanism before TLS; after TLS: PLAIN (allowed: the spec has an [ldap] directory"), "{}", tls.outcome.message);
    let reg = get(&r, "xmpp.c2s-registration", "imp2.lab.test");
    assert!(
        reg.outcome
            .message
            .contains("refuses in-band registration before authentication (service-unavailable)"),
        "{}",
        reg.outcome.message
    );
    let dom = get(&r, "xmpp.c2s-domain", "imp1.lab.test");
    assert!(
        dom.outcome.message.contains(
            "refuses a stream for imp-verify.invalid, a domain it does not serve (<host-unknown/>"
        ),
        "{}",
        dom.outcome.message
    );
    for target in ["imp1.lab.test", "partner.test"] {
        let s2s = get(&r, "xmpp.s2s-security", target);
        assert!(
            s2s.outcome.message.contains(
                "requires TLS and refuses a server without a certificate (<not-authorized/>"
            ),
            "{target}: {}",
            s2s.outcome.message
        );
    }
    // The lab's Prosody leaves the approval to the watched user.
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert!(
        p.outcome
            .message
            .ends_with("the subscription was approved by the watched user"),
        "{}",
        p.outcome.message
    );
    let im = get(&r, "xmpp.im", "alice to bob on imp1.lab.test");
    assert!(im.outcome.metrics.contains_key("im_rtt_ms"));
    // The lab's nodes authenticate against LDAP: PLAIN (inside TLS) is what they offer.
    let login = get(&r, "xmpp.login", "alice on imp1.lab.test");
    assert!(
        login
            .outcome
            .evidence
            .iter()
            .any(|(k, v)| k == "sasl_mechanism" && v == "PLAIN"),
        "{:?}",
        login.outcome.evidence
    );
    // Prosody at its default room locking: the new room was configured as an instant
    // room (XEP-0045 §10.1.2) before the second user joined.
    let muc = get(&r, "xmpp.muc", "alice and bob on imp1.lab.test");
    assert!(
        muc.outcome
            .evidence
            .iter()
            .any(|(k, v)| k == "room_configured" && v.starts_with("instant room")),
        "{:?}",
        muc.outcome.evidence
    );
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert!(
        p.outcome.metrics.contains_key("presence_away_ms")
            && p.outcome.metrics.contains_key("presence_back_ms")
    );
    let fed = get(&r, "xmpp.federation", "partner.test");
    for m in [
        "federation_out_ms",
        "federation_back_ms",
        "federation_presence_away_ms",
        "federation_presence_away_reverse_ms",
    ] {
        assert!(
            fed.outcome.metrics.contains_key(m),
            "{m}: {:?}",
            fed.outcome.metrics
        );
    }
    assert!(
        fed.outcome
            .message
            .contains("each sees the other's availability change"),
        "{}",
        fed.outcome.message
    );
    no_secret(lab, &r);
}

/// The lab's spec with a second cluster: the partner server (its own domain) plays a
/// cluster of the deployment, erin its test user; no federation section.
fn two_clusters(lab: &Lab, t: String) -> String {
    let t = t.replace(
        "domains = [\"lab.test\"]",
        "domains = [\"lab.test\", \"partner.test\"]",
    );
    let t = &t[..t.find("[[federation]]").expect("the lab spec federates")];
    format!(
        "{t}\n[[clusters]]\nname = \"partner-cluster\"\ndomain = \"partner.test\"\n\n[[clusters.nodes]]\nfqdn = \"xmpp.partner.test\"\naddress = \"{}\"\nrole = \"imp\"\nservices = [\"xmpp-c2s\", \"xmpp-s2s\"]\n\n[[test_users]]\nuser_id = \"erin\"\nhome_node = \"xmpp.partner.test\"\npassword_file = \"{}\"\n",
        lab.ip(5),
        lab.dir.join("secrets/erin.password").display()
    )
}

#[tokio::test]
async fn users_of_two_clusters_exchange_messages_and_presence() {
    let lab = Lab::shared();
    let dir = tempfile::tempdir().unwrap();
    let spec = variant(lab, dir.path(), |t| two_clusters(lab, t));
    let r = xmpp_shared(&spec, Duration::from_secs(10)).await;
    let ic = get(
        &r,
        "xmpp.intercluster",
        "alice (lab-cluster) and erin (partner-cluster)",
    );
    assert_eq!(ic.outcome.status, Status::Pass, "{}", ic.outcome.message);
    for m in [
        "intercluster_out_ms",
        "intercluster_back_ms",
        "intercluster_presence_away_ms",
        "intercluster_presence_back_reverse_ms",
    ] {
        assert!(ic.outcome.metrics[m] > 0.0, "{m}");
    }
    // The partner's server keeps hashed passwords: its user logs in with SCRAM, the
    // server's signature verified.
    let erin = get(&r, "xmpp.login", "erin on xmpp.partner.test");
    assert!(
        erin.outcome
            .evidence
            .iter()
            .any(|(k, v)| k == "sasl_mechanism" && v.starts_with("SCRAM-SHA-")),
        "{:?}",
        erin.outcome.evidence
    );
    assert_eq!(
        r.iter().filter(|c| c.key.id == "xmpp.intercluster").count(),
        1,
        "one pair of clusters"
    );
    // One cluster only: no intercluster check at all.
    assert!(xmpp_shared(&lab.spec(), Duration::from_secs(10))
        .await
        .iter()
        .all(|c| c.key.id != "xmpp.intercluster"));
}

#[tokio::test]
async fn a_watched_user_who_never_gets_the_request_fails_presence_on_its_timeout() {
    let lab = Lab::isolated();
    let ca = lab.dir.join("pki/ca.crt");
    let pw = lab.dir.join("secrets/alice.password");
    // alice blocks bob (XEP-0191): the server drops bob's subscription request silently.
    let out = std::process::Command::new("python3")
        .current_dir(imp_verify_testlab::repo_root())
        .args([
            "tests/lab/xmpp.py",
            "block",
            &lab.ip(2).to_string(),
            "lab.test",
            "alice",
        ])
        .arg(&pw)
        .arg(&ca)
        .arg("bob@lab.test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let r = xmpp(&lab.spec(), Duration::from_secs(4)).await;
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert_eq!(p.outcome.status, Status::Fail, "{}", p.outcome.message);
    assert!(
        p.outcome.message.contains(
            "within 3200 ms: stuck waiting for the subscription request to reach the watched user"
        ),
        "{}",
        p.outcome.message
    );
    let fix = p.outcome.remediation.as_deref().unwrap();
    assert!(
        fix.contains("never delivered the subscription request") && fix.contains("C.7"),
        "{fix}"
    );
    // What alice's client got meanwhile (the federation check's request from erin, as
    // it runs at the same time), but nothing from bob.
    let seen = p
        .outcome
        .evidence
        .iter()
        .find(|(k, _)| k == "presence_seen")
        .map(|(_, v)| v.as_str());
    assert!(
        seen.is_some_and(|v| !v.contains("bob@")),
        "{:?}",
        p.outcome.evidence
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // The other node's pair is the control.
    assert_eq!(
        get(&r, "xmpp.presence", "dave sees carol on imp2.lab.test")
            .outcome
            .status,
        Status::Pass
    );
}

#[tokio::test]
async fn federation_fails_with_the_servers_reason_when_s2s_cannot_find_the_peer() {
    let lab = Lab::isolated();
    // partner.test's s2s records go: lab.test's server cannot reach it (its clients still can).
    lab.edit_zone("partner.test", |z| {
        z.lines()
            .filter(|l| !l.starts_with("_xmpp-server._tcp"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let fed = get(&r, "xmpp.federation", "partner.test");
    assert_eq!(fed.outcome.status, Status::Fail, "{}", fed.outcome.message);
    let m = &fed.outcome.message;
    assert!(
        m.contains("(outbound)") && m.contains("remote-server-not-found"),
        "{m}"
    );
    assert!(fed.outcome.remediation.as_deref().unwrap().contains("C.14"));
    // Everything inside the domain still works.
    assert_eq!(
        get(&r, "xmpp.im", "alice to bob on imp1.lab.test")
            .outcome
            .status,
        Status::Pass
    );
    // The same server, as a second cluster: the intercluster check fails for the same reason.
    let dir = tempfile::tempdir().unwrap();
    let spec = variant(&lab, dir.path(), |t| two_clusters(&lab, t));
    let r = xmpp(&spec, Duration::from_secs(10)).await;
    let ic = get(
        &r,
        "xmpp.intercluster",
        "alice (lab-cluster) and erin (partner-cluster)",
    );
    assert_eq!(ic.outcome.status, Status::Fail, "{}", ic.outcome.message);
    assert!(
        ic.outcome
            .message
            .contains("outbound failed: the server bounced it: remote-server-not-found"),
        "{}",
        ic.outcome.message
    );
    assert!(ic.outcome.remediation.as_deref().unwrap().contains("C.13"));
}

#[tokio::test]
async fn a_stopped_federated_server_is_named_and_the_local_side_of_s2s_asked() {
    let lab = Lab::isolated();
    lab.stop("partner-xmpp");
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let fed = get(&r, "xmpp.federation", "partner.test");
    assert_eq!(fed.outcome.status, Status::Fail, "{}", fed.outcome.message);
    let m = &fed.outcome.message;
    assert!(m.contains("partner.test's XMPP server does not take the federated contact's login (erin@partner.test on partner.test: cannot connect to"), "{m}");
    assert!(m.contains("cannot reach it over s2s either: a message to erin@partner.test bounced with remote-server-not-found"), "{m}");
    assert!(
        fed.outcome
            .evidence
            .iter()
            .any(|(k, v)| k == "s2s_probe" && v == "bounced: remote-server-not-found"),
        "{:?}",
        fed.outcome.evidence
    );
    assert!(fed.outcome.remediation.as_deref().unwrap().contains("C.14"));
    // Inside the domain all is well.
    assert_eq!(
        get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test")
            .outcome
            .status,
        Status::Pass
    );
}

#[tokio::test]
async fn a_stopped_node_fails_its_connect_blocks_failover_onto_it_and_its_users_fail_over_to_the_peer(
) {
    let lab = Lab::isolated();
    lab.stop("imp2-xmpp");
    let r = xmpp(&lab.spec(), Duration::from_secs(5)).await;
    let c = get(&r, "xmpp.connect", "imp2.lab.test");
    assert_eq!(c.outcome.status, Status::Fail);
    assert!(
        c.outcome.message.contains("cannot connect to"),
        "{}",
        c.outcome.message
    );
    for target in ["alice on imp2.lab.test", "bob on imp2.lab.test"] {
        let ha = get(&r, "xmpp.ha", target);
        assert_eq!(ha.outcome.status, Status::Skip, "{target}");
        assert!(
            ha.outcome
                .message
                .contains("blocked by xmpp.connect [imp2.lab.test]"),
            "{}",
            ha.outcome.message
        );
    }
    assert_eq!(
        get(&r, "xmpp.login", "alice on imp1.lab.test")
            .outcome
            .status,
        Status::Pass
    );
    let im = get(&r, "xmpp.im", "alice to bob on imp1.lab.test");
    assert_eq!(im.outcome.status, Status::Pass, "{}", im.outcome.message);
    let ha = get(&r, "xmpp.ha", "carol on imp1.lab.test");
    assert_eq!(ha.outcome.status, Status::Pass, "{}", ha.outcome.message);
}

#[tokio::test]
async fn group_chat_fails_when_the_node_has_no_muc_service() {
    let lab = Lab::isolated();
    let cfg = lab.dir.join("conf/imp1-xmpp/prosody.cfg.lua");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let without: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("Component \"conference.")
                && !l.trim_start().starts_with("muc_room_locking")
                && !l.trim_start().starts_with("restrict_room_creation")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(text, without, "the MUC component was in the config");
    std::fs::write(&cfg, without).unwrap();
    lab.stop("imp1-xmpp");
    lab.start("imp1-xmpp");
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let muc = get(&r, "xmpp.muc", "alice and bob on imp1.lab.test");
    assert_eq!(muc.outcome.status, Status::Fail, "{}", muc.outcome.message);
    assert!(
        muc.outcome.message.contains("lists no group chat service"),
        "{}",
        muc.outcome.message
    );
    // The other node still has its service.
    let other = get(&r, "xmpp.muc", "carol and dave on imp2.lab.test");
    assert_eq!(
        other.outcome.status,
        Status::Pass,
        "{}",
        other.outcome.message
    );
}

#[tokio::test]
async fn every_xmpp_check_passes_on_the_samba_ad_profile() {
    let lab = match Lab::isolated_samba_ad() {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    // Prosody authenticates the AD users (sAMAccountName) against Samba; the refusal
    // checks read the same offers as with OpenLDAP.
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    for c in &r {
        assert_eq!(
            c.outcome.status,
            Status::Pass,
            "{}: {}",
            c.key,
            c.outcome.message
        );
    }
    for id in [
        "xmpp.c2s-tls",
        "xmpp.c2s-registration",
        "xmpp.c2s-domain",
        "xmpp.s2s-security",
        "xmpp.login",
    ] {
        assert!(r.iter().any(|c| c.key.id == id), "no {id}");
    }
    no_secret(&lab, &r);
}
