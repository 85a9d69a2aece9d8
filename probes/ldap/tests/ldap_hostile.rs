//! The LDAP probe against directory servers that misbehave on purpose (written in
//! `common/hostile.rs`, on loopback): a 2 GiB BER length, endless entries, a huge
//! attribute value, a server answering bob's look-up with alice's entry, and servers
//! that stop answering. Each check ends with a true reason within its time; memory is
//! measured by `scripts/bench --ldap-hostile` (from outside the process), not here.

mod common;

use common::hostile::{serve, Behaviour, Hostile};
use common::{get, run};
use imp_verify_core::{CheckResult, Reason, Stage, Status};
use imp_verify_testlab::harness::{ev, spec_variant};
use imp_verify_testlab::Lab;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(3);
/// How much later than its timeout a check may end on a loaded machine (the runner's
/// own cut is at the timeout; the probe's steps end at 80% of it).
const MARGIN: Duration = Duration::from_secs(1);

/// The lab's spec with its two directory servers replaced by `h` (cleartext, allowed),
/// and `extra` added to `[ldap]`.
fn spec_for(lab: &Lab, dir: &std::path::Path, h: &Hostile, extra: &str) -> PathBuf {
    spec_variant(lab, dir, |t| {
        t.replace(
            "[[ldap.servers]]\nurl = \"ldaps://ldap.lab.test:636\"\n\n[[ldap.servers]]\nurl = \"ldap://ldap.lab.test:389\"\nstarttls = true",
            &format!("{extra}\n[[ldap.servers]]\nurl = \"ldap://{}\"\nallow_cleartext = true", h.addr),
        )
    })
}

async fn run_against(b: Behaviour, extra: &str) -> (Vec<CheckResult>, Duration, Hostile, String) {
    let lab = Lab::shared();
    let h = serve(b);
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(lab, dir.path(), &h, extra);
    let started = Instant::now();
    let r = run(&spec, T).await;
    let took = started.elapsed();
    let url = format!("ldap://{}", h.addr);
    (r, took, h, url)
}

fn assert_within(r: &[CheckResult], took: Duration) {
    assert!(took < 3 * (T + MARGIN), "the run took {took:?}");
    for c in r {
        assert!(
            c.duration <= T + MARGIN,
            "{} took {:?}: {}",
            c.key,
            c.duration,
            c.outcome.message
        );
    }
}

#[tokio::test]
async fn a_length_of_2_gib_ends_the_session_at_its_header() {
    let (r, took, _h, url) = run_against(Behaviour::HugeLength, "").await;
    let c = get(&r, "ldap.connect", &url);
    assert_eq!(c.status, Status::Fail, "{}", c.message);
    assert!(
        c.message
            .ends_with("the server announced a message of 2147483647 bytes (limit 4194304)"),
        "{}",
        c.message
    );
    assert_eq!(c.reason, Reason::Verdict);
    // At once, not at the end of the check's time.
    let d = imp_verify_testlab::harness::get(&r, "ldap.connect", &url).duration;
    assert!(d < Duration::from_secs(1), "took {d:?}");
    assert_within(&r, took);
}

#[tokio::test]
async fn a_huge_value_is_refused_by_the_message_limit_or_the_value_limit() {
    // 100 MB: the announced length is over the message limit.
    let (r, took, _h, url) = run_against(Behaviour::HugeValue(100 << 20), "").await;
    let c = get(&r, "ldap.connect", &url);
    assert!(
        c.message
            .contains("the server announced a message of 104857"),
        "{}",
        c.message
    );
    assert!(
        c.message.ends_with("bytes (limit 4194304)"),
        "{}",
        c.message
    );
    assert_within(&r, took);
    // 1 MiB in a message the limit lets through: the value itself is refused.
    let (r, took, _h, url) = run_against(Behaviour::HugeValue(1 << 20), "").await;
    let c = get(&r, "ldap.connect", &url);
    assert!(
        c.message.ends_with(
            "the server sent a value of 1048576 bytes for the attribute displayName (limit 262144)"
        ),
        "{}",
        c.message
    );
    assert_within(&r, took);
    // The spec's own limit.
    let (r, _, _h, url) =
        run_against(Behaviour::HugeValue(100_000), "max_message_bytes = 65536").await;
    let c = get(&r, "ldap.connect", &url);
    assert!(c.message.ends_with("bytes (limit 65536)"), "{}", c.message);
}

#[tokio::test]
async fn endless_entries_are_counted_and_the_read_ends_in_its_time() {
    let (r, took, _h, url) = run_against(Behaviour::EndlessEntries, "").await;
    // The root DSE search takes one entry: the second is abandoned.
    assert_eq!(get(&r, "ldap.connect", &url).status, Status::Warn);
    let base = get(&r, "ldap.base", "ou=people,dc=lab,dc=test");
    assert_eq!(base.status, Status::Fail, "{}", base.message);
    assert!(
        base.message
            .starts_with("the user search was still under way after "),
        "{}",
        base.message
    );
    assert!(
        matches!(
            base.reason,
            Reason::TimedOut {
                stage: Some(Stage::LdapSearch),
                ..
            }
        ),
        "{:?}",
        base.reason
    );
    // A look-up takes two entries: more than one is ambiguous.
    let alice = get(&r, "ldap.user-auth", "alice");
    assert!(
        alice.message.contains("more than one entry with uid=alice"),
        "{}",
        alice.message
    );
    assert_within(&r, took);
}

#[tokio::test]
async fn a_look_up_of_bob_answered_with_alices_entry_fails_and_sends_no_password_for_it() {
    let (r, took, h, _url) = run_against(Behaviour::AlwaysAlice, "").await;
    let bob = get(&r, "ldap.user-auth", "bob");
    assert_eq!(bob.status, Status::Fail, "{}", bob.message);
    assert_eq!(
        bob.message,
        "the directory answered the look-up of bob with uid=alice,ou=people,dc=lab,dc=test, whose uid is alice: not bob's entry, so its password was not sent"
    );
    assert_eq!(ev(bob, "returned_dn"), "uid=alice,ou=people,dc=lab,dc=test");
    assert_eq!(get(&r, "ldap.user-auth", "alice").status, Status::Pass);
    let binds = h.binds.lock().unwrap().clone();
    let users: Vec<&String> = binds
        .iter()
        .filter(|d| !d.starts_with("cn=impverify-svc"))
        .collect();
    assert_eq!(
        users,
        vec!["uid=alice,ou=people,dc=lab,dc=test"],
        "{binds:?}"
    );
    assert_within(&r, took);
}

#[tokio::test]
async fn servers_that_stop_answering_time_out_in_the_step_they_stalled() {
    let (r, took, _h, url) = run_against(Behaviour::Silent, "").await;
    let c = get(&r, "ldap.connect", &url);
    assert!(
        matches!(
            c.reason,
            Reason::TimedOut {
                stage: Some(Stage::LdapSearch),
                ..
            }
        ),
        "{:?}: {}",
        c.reason,
        c.message
    );
    assert_within(&r, took);
    let (r, took, _h, _url) = run_against(Behaviour::SilentSearches, "").await;
    for (id, target) in [
        ("ldap.base", "ou=people,dc=lab,dc=test"),
        ("ldap.user-auth", "alice"),
    ] {
        let o = get(&r, id, target);
        assert_eq!(o.status, Status::Fail);
        assert!(
            matches!(o.reason, Reason::TimedOut { stage: Some(Stage::LdapSearch), after } if after < T),
            "{id}: {:?}: {}",
            o.reason,
            o.message
        );
    }
    assert_within(&r, took);
}
