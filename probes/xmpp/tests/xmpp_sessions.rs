//! Checks that share test users, against the lab's real Prosody: another session of the
//! same user neither satisfies a check's wait nor takes its message; a subscription
//! left by an interrupted run does not stall the next one; a check's roster items and
//! rooms are gone after it, passed or failed.

mod support;

use imp_probe_xmpp::checks::presence::{prepare_pair, watch};
use imp_probe_xmpp::login::{login_test_user, Accounting, LoginResult};
use imp_probe_xmpp::scene::Scene;
use imp_probe_xmpp::session::IqKind;
use imp_probe_xmpp::wire::stream::Steps;
use imp_probe_xmpp::{Session, XmppCtx};
use imp_verify_core::spec::Spec;
use imp_verify_core::{CheckCtx, CheckKey, StageCell, Status};
use imp_verify_testlab::harness::get;
use imp_verify_testlab::Lab;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{xmpp, xmpp_until};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::message::MessageType;
use tokio_xmpp::parsers::presence::{Presence, Show, Type as PresenceType};
use tokio_xmpp::Stanza;

fn ctx(lab: &Lab) -> XmppCtx {
    XmppCtx::new(&Arc::new(Spec::load(&lab.spec()).unwrap()))
}

/// The key the tests' own scenes and logins go by.
fn key() -> CheckKey {
    CheckKey::new("xmpp.presence", "a test's own scene")
}

fn cx() -> CheckCtx {
    CheckCtx::standalone(Duration::from_secs(20), imp_verify_core::spec::Workflow::C)
}

async fn online(c: &XmppCtx, uid: &str, node: &str) -> Session {
    let steps = Steps::new(
        Instant::now() + Duration::from_secs(5),
        StageCell::default(),
    );
    let acct = Accounting::of(&cx(), &key());
    match login_test_user(c, c.user(uid), node, &acct, &steps).await {
        LoginResult::Online(o) => o.session,
        LoginResult::Failed(e) => panic!("{uid} on {node}: {e}"),
    }
}

/// The items of the user's roster: (JID, subscription).
async fn roster(c: &XmppCtx, uid: &str) -> Vec<(String, String)> {
    let mut s = online(c, uid, "imp1.lab.test").await;
    let q = Element::builder("query", "jabber:iq:roster").build();
    let items = s.iq(None, IqKind::Get, q).await.unwrap().unwrap();
    s.close(Instant::now() + Duration::from_secs(1)).await;
    items
        .children()
        .map(|i| {
            (
                i.attr("jid").unwrap_or_default().to_string(),
                i.attr("subscription").unwrap_or("none").to_string(),
            )
        })
        .collect()
}

/// alice blocks bob (`block`) or unblocks him (XEP-0191), from a session of her own.
async fn alice_blocks_bob(c: &XmppCtx, block: bool) {
    let verb = if block { "block" } else { "unblock" };
    let mut s = online(c, "alice", "imp1.lab.test").await;
    let el: Element =
        format!("<{verb} xmlns='urn:xmpp:blocking'><item jid='bob@lab.test'/></{verb}>")
            .parse()
            .unwrap();
    s.iq(None, IqKind::Set, el).await.unwrap();
    s.close(Instant::now() + Duration::from_secs(1)).await;
}

/// Neither alice's nor bob's roster holds the other: nothing of a check is left.
async fn assert_no_pair_left(c: &XmppCtx) {
    assert!(!roster(c, "bob")
        .await
        .iter()
        .any(|(j, _)| j == "alice@lab.test"));
    assert!(!roster(c, "alice")
        .await
        .iter()
        .any(|(j, _)| j == "bob@lab.test"));
}

/// The outcome names nothing it could not undo.
fn assert_all_undone(o: &imp_verify_core::Outcome) {
    assert!(
        !o.evidence.iter().any(|(k, _)| k == "not_undone"),
        "{:?}",
        o.evidence
    );
}

#[tokio::test]
async fn another_session_of_the_same_user_neither_satisfies_nor_disturbs_a_check() {
    let lab = Lab::isolated();
    let c = ctx(&lab);
    let node = "imp1.lab.test";

    // The wait itself: bob watches one of alice's two sessions; the other going away
    // arrives at bob, and does not count.
    let mut scene = Scene::new(&c, &cx(), &key(), ());
    let a1 = scene.login(&c, c.user("alice"), node).await.unwrap();
    let a2 = scene.login(&c, c.user("alice"), node).await.unwrap();
    let b = scene.login(&c, c.user("bob"), node).await.unwrap();
    prepare_pair(&mut scene, a1, b, ()).await;
    watch(&mut scene, a1, b, |_| ()).await.unwrap();
    let a1_jid = Jid::from(scene.session(a1).jid().clone());
    let a2_jid = Jid::from(scene.session(a2).jid().clone());
    scene
        .session(a2)
        .send(Presence::new(PresenceType::None).with_show(Show::Away))
        .await
        .unwrap();
    let away = |p: &Presence| p.show == Some(Show::Away);
    let wrong = tokio::time::timeout(
        Duration::from_millis(1500),
        scene.session(b).presence_from(&a1_jid, away),
    )
    .await;
    assert!(
        wrong.is_err(),
        "the other session's change satisfied the wait"
    );
    tokio::time::timeout(
        Duration::from_secs(2),
        scene.session(b).presence_from(&a2_jid, away),
    )
    .await
    .expect("the other session's change did reach bob")
    .unwrap();
    let ending = scene
        .end(Some(Ok::<(), imp_verify_core::Outcome>(())))
        .await;
    assert!(ending.not_undone.is_empty(), "{:?}", ending.not_undone);

    // The whole run, while alice and bob each have another session that the server
    // prefers (priority 127): every check passes, and bob's other session gets none of
    // the checks' messages (a message to the bare JID would go to it).
    let mut others = Vec::new();
    for uid in ["alice", "bob"] {
        let mut s = online(&c, uid, node).await;
        s.send(Presence::new(PresenceType::None).with_priority(127))
            .await
            .unwrap();
        others.push(s);
    }
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
    let chat = tokio::time::timeout(
        Duration::from_millis(500),
        others[1].wait_for(
            |s| match s {
                Stanza::Message(m) if m.type_ == MessageType::Chat => Some(m.clone()),
                _ => None,
            },
            |_, _| {},
        ),
    )
    .await;
    assert!(chat.is_err(), "bob's other session got {chat:?}");
    for s in others {
        s.close(Instant::now() + Duration::from_secs(1)).await;
    }
    // The group chat checks destroyed their rooms.
    let mut s = online(&c, "alice", node).await;
    let rooms = s
        .iq(
            Some("conference.lab.test".parse().unwrap()),
            IqKind::Get,
            Element::builder("query", "http://jabber.org/protocol/disco#items").build(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        !rooms.children().any(|i| i
            .attr("jid")
            .is_some_and(|j| j.starts_with("imp-verify-room"))),
        "{rooms:?}"
    );
    s.close(Instant::now() + Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_subscription_left_by_an_interrupted_run_does_not_stall_the_next_and_checks_clean_up_also_on_failure(
) {
    let lab = Lab::isolated();
    let c = ctx(&lab);
    let node = "imp1.lab.test";
    // An interrupted run: bob subscribed to alice, then the sessions vanish (no teardown).
    let mut scene = Scene::new(&c, &cx(), &key(), ());
    let a = scene.login(&c, c.user("alice"), node).await.unwrap();
    let b = scene.login(&c, c.user("bob"), node).await.unwrap();
    prepare_pair(&mut scene, a, b, ()).await;
    watch(&mut scene, a, b, |_| ()).await.unwrap();
    drop(scene);
    let left = roster(&c, "bob").await;
    assert!(
        left.iter()
            .any(|(j, s)| j == "alice@lab.test" && (s == "to" || s == "both")),
        "the leftover subscription is there: {left:?}"
    );

    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert_eq!(p.outcome.status, Status::Pass, "{}", p.outcome.message);
    assert_no_pair_left(&c).await;

    // alice blocks bob (XEP-0191): the presence check fails on its timeout, and its
    // roster items are removed all the same.
    alice_blocks_bob(&c, true).await;
    let r = xmpp(&lab.spec(), Duration::from_secs(4)).await;
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert_eq!(p.outcome.status, Status::Fail, "{}", p.outcome.message);
    assert!(
        p.outcome
            .message
            .contains("stuck waiting for the subscription request"),
        "{}",
        p.outcome.message
    );
    assert_all_undone(&p.outcome);
    assert_no_pair_left(&c).await;
}

#[tokio::test]
async fn an_interrupted_run_leaves_no_roster_item_behind_and_the_next_run_passes() {
    let lab = Lab::isolated();
    let c = ctx(&lab);
    // alice blocks bob (XEP-0191): the presence check holds its roster items and waits
    // for a subscription request that never comes, when the run is interrupted.
    alice_blocks_bob(&c, true).await;

    let interrupt = tokio_util::sync::CancellationToken::new();
    let stop = interrupt.clone();
    let watcher = ctx(&lab);
    tokio::spawn(async move {
        // Interrupt once bob's roster holds alice: the check has created its state.
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if roster(&watcher, "bob")
                .await
                .iter()
                .any(|(j, _)| j == "alice@lab.test")
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let r = xmpp_until(&lab.spec(), Duration::from_secs(30), interrupt).await;
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert_eq!(p.outcome.status, Status::Skip, "{}", p.outcome.message);
    assert!(
        p.outcome.message.contains("interrupted"),
        "{}",
        p.outcome.message
    );
    assert_all_undone(&p.outcome);
    // The run's cleanup logged in anew and removed what the check had created.
    assert_no_pair_left(&c).await;

    // Unblocked, the next run passes.
    alice_blocks_bob(&c, false).await;
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let p = get(&r, "xmpp.presence", "bob sees alice on imp1.lab.test");
    assert_eq!(p.outcome.status, Status::Pass, "{}", p.outcome.message);
    let m = get(&r, "xmpp.muc", "alice and bob on imp1.lab.test");
    assert_eq!(m.outcome.status, Status::Pass, "{}", m.outcome.message);
}

/// Established TCP connections to `ip`:`port` on this machine (from /proc/net/tcp).
fn connections_to(ip: std::net::IpAddr, port: u16) -> usize {
    let std::net::IpAddr::V4(v4) = ip else {
        panic!("the lab is on IPv4 loopback")
    };
    let o = v4.octets();
    let remote = format!(
        "{:02X}{:02X}{:02X}{:02X}:{port:04X}",
        o[3], o[2], o[1], o[0]
    );
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(2) == Some(&remote.as_str()) && f.get(3) == Some(&"01")
        })
        .count()
}

#[tokio::test]
async fn a_session_whose_server_restarts_reports_it_and_never_logs_in_again_by_itself() {
    let lab = Lab::isolated();
    let c = ctx(&lab);
    let mut s = online(&c, "alice", "imp1.lab.test").await;
    assert_eq!(
        connections_to(lab.ip(2), 5222),
        1,
        "the session's connection"
    );
    lab.stop("imp1-xmpp");
    lab.start("imp1-xmpp");
    // The session ends with its connection: an error for the check that owns it.
    let r = tokio::time::timeout(Duration::from_secs(5), s.wait_for(|_| Some(()), |_, _| {})).await;
    assert!(
        matches!(r, Ok(Err(_))),
        "the session noticed the end of its stream"
    );
    // A reconnecting client would be back within a few seconds (tokio-xmpp retries
    // after 1 s, 2 s, 4 s...).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        connections_to(lab.ip(2), 5222),
        0,
        "nothing logged in again"
    );
    drop(s);
}

#[tokio::test]
async fn the_roster_check_names_a_missing_contact_and_never_changes_the_roster() {
    let lab = Lab::isolated();
    let c = ctx(&lab);
    // `lab up` seeds alice's contact list (carol, dave), as the spec lists it.
    let seeded = roster(&c, "alice").await;
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let check = get(&r, "xmpp.roster", "alice on imp1.lab.test");
    assert_eq!(
        check.outcome.status,
        Status::Pass,
        "{}",
        check.outcome.message
    );
    let mut after = roster(&c, "alice").await;
    let mut before = seeded.clone();
    before.sort();
    after.sort();
    assert_eq!(before, after, "the check changed the roster");

    // dave is no longer on alice's roster: the check fails naming him.
    let mut s = online(&c, "alice", "imp1.lab.test").await;
    let remove: Element =
        "<query xmlns='jabber:iq:roster'><item jid='dave@lab.test' subscription='remove'/></query>"
            .parse()
            .unwrap();
    s.iq(None, IqKind::Set, remove).await.unwrap();
    s.close(Instant::now() + Duration::from_secs(1)).await;
    let r = xmpp(&lab.spec(), Duration::from_secs(10)).await;
    let check = get(&r, "xmpp.roster", "alice on imp1.lab.test");
    assert_eq!(
        check.outcome.status,
        Status::Fail,
        "{}",
        check.outcome.message
    );
    assert!(
        check
            .outcome
            .message
            .contains("lacks 1 of the 2 contact(s) the spec lists: dave@lab.test"),
        "{}",
        check.outcome.message
    );
    assert!(
        check
            .outcome
            .remediation
            .as_deref()
            .unwrap()
            .ends_with("(task C.4)"),
        "{:?}",
        check.outcome.remediation
    );
}
