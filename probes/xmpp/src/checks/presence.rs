//! `xmpp.presence`: a watcher subscribes to a test user's presence and sees the user's
//! session become available, go away and come back. The subscription is approved by
//! the watched user (RFC 6121 §3.1), or by the server itself, as IM&P does under a
//! presence policy that lets users see others' availability without being asked: then
//! the watcher gets `subscribed` and the watched session's presence without the watched
//! user seeing a request. The verdict says which policy it saw. Leftover roster items
//! of an earlier (interrupted) run are cleared first, and the check's own are removed
//! at its end, whatever happens.

use crate::scene::{by_deadline, seen_evidence, Created, Ended, Scene};
use crate::session::SessionLost;
use crate::stanzas::ms;
use crate::XmppCtx;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
use std::time::{Duration, Instant};
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::presence::{Presence, Show, Type as PresenceType};
use tokio_xmpp::Stanza;

/// The steps of a presence exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceStage {
    /// Logging the users in.
    LoggingIn,
    /// Removing the roster items of an earlier run.
    Clearing,
    /// Waiting for the subscription request to reach the watched user (or for the
    /// server to approve it by itself).
    Request,
    /// Waiting for the approved subscription to bring the watched session's presence.
    Approved,
    /// Waiting for the watcher to see the change to away.
    Away,
    /// Waiting for the watcher to see the change back to available.
    Back,
}

impl PresenceStage {
    /// The step, as the verdict of a timeout names it.
    pub fn describe(self) -> &'static str {
        match self {
            PresenceStage::LoggingIn => "logging in",
            PresenceStage::Clearing => "clearing the roster items of an earlier run",
            PresenceStage::Request => {
                "waiting for the subscription request to reach the watched user (or for the server to approve it itself)"
            }
            PresenceStage::Approved => {
                "waiting for the approved subscription to bring the watched user's presence"
            }
            PresenceStage::Away => "waiting for the watcher to see the change to away",
            PresenceStage::Back => "waiting for the watcher to see the change back to available",
        }
    }

    /// Whether the exchange itself had begun (the subscription or the changes).
    pub fn in_exchange(self) -> bool {
        matches!(
            self,
            PresenceStage::Request
                | PresenceStage::Approved
                | PresenceStage::Away
                | PresenceStage::Back
        )
    }
}

/// Who approved a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// The watched user's client got the request and approved it.
    ByUser,
    /// The server approved it by itself: the watcher was approved before any request
    /// reached the watched user.
    ByServer,
}

impl Approval {
    /// `approved by the watched user`, `approved by the server (the watched user was not
    /// asked)`.
    pub fn describe(self) -> &'static str {
        match self {
            Approval::ByUser => "approved by the watched user",
            Approval::ByServer => "approved by the server (the watched user was not asked)",
        }
    }
}

/// What one watch showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watched {
    /// Who approved the subscription.
    pub approval: Approval,
    /// From going away to the watcher seeing it.
    pub away: Duration,
    /// From coming back to the watcher seeing it.
    pub back: Duration,
}

/// What to fix when a presence exchange stalls at `stage`.
pub fn hint(stage: PresenceStage, task: &str) -> String {
    match stage {
        PresenceStage::Request => format!("The server never delivered the subscription request to the watched user, nor approved it itself: check the presence subscription policy (Presence > Settings: whether users must approve, privacy and blocked contacts of the watched user) and the Cisco Presence Engine (task {task})"),
        PresenceStage::Approved => format!("The subscription was approved, but the watcher never got the watched user's presence: check the Cisco Presence Engine and the Cisco XCP Router on the node (task {task})"),
        PresenceStage::Away | PresenceStage::Back => format!("The subscription works, but availability changes do not reach the watcher: check the Cisco Presence Engine (task {task})"),
        PresenceStage::LoggingIn | PresenceStage::Clearing => format!("Check the presence engine and the users' presence subscriptions on the node (task {task})"),
    }
}

/// The cluster-communication task of the workflow (A.7, B.7, C.7; D.1 for IM-only).
pub fn comm_task(w: Workflow) -> String {
    imp_verify_core::catalog::first_label(
        w,
        &[
            imp_verify_core::catalog::Task::VerifyCluster,
            imp_verify_core::catalog::Task::LicenseUsers,
        ],
    )
    .to_string()
}

/// Clears the roster items between the users of sessions `a` and `b` that an earlier
/// (interrupted) run may have left (a leftover subscription keeps a new request from
/// reaching the contact), and registers their removal for the end of the scene.
pub async fn prepare_pair<S: Copy>(scene: &mut Scene<S>, a: usize, b: usize, stage: S) {
    scene.at(stage);
    let of_a = Created::RosterItem {
        by: a,
        contact: scene.session(b).bare(),
    };
    let of_b = Created::RosterItem {
        by: b,
        contact: scene.session(a).bare(),
    };
    for item in [&of_a, &of_b] {
        // A failure to clear is not the verdict: the exchange shows what matters.
        let _ = scene.clear(item).await;
    }
    scene.will_remove(of_a);
    scene.will_remove(of_b);
}

/// What the watcher got when the server approved by itself.
enum FromServer {
    /// `subscribed` from the watched user's bare JID.
    Subscribed,
    /// The watched session's presence itself.
    Available,
}

/// The watcher's sign that the server approved its request by itself.
fn approved_by_server(s: &Stanza, bare: &BareJid, full: &Jid) -> Option<FromServer> {
    let Stanza::Presence(p) = s else { return None };
    let from = p.from.as_ref()?;
    if p.type_ == PresenceType::Subscribed && from.to_bare() == *bare {
        Some(FromServer::Subscribed)
    } else if p.type_ == PresenceType::None && from == full {
        Some(FromServer::Available)
    } else {
        None
    }
}

/// Session `watcher` of the scene subscribes to the user of session `watched`; the
/// watched user approves, or the server does by itself; the watcher then sees that
/// very session (its full JID) become available, go away and come back. `stage` names
/// each step for the scene. [`prepare_pair`] comes first.
pub async fn watch<S: Copy>(
    scene: &mut Scene<S>,
    watched: usize,
    watcher: usize,
    stage: impl Fn(PresenceStage) -> S,
) -> Result<Watched, SessionLost> {
    let a_bare = scene.session(watched).bare();
    let b_bare = scene.session(watcher).bare();
    scene.at(stage(PresenceStage::Request));
    let (a, b) = scene.two(watched, watcher);
    let a_full = Jid::from(a.jid().clone());
    b.send(Presence::new(PresenceType::Subscribe).with_to(a_bare.clone()))
        .await?;
    // A subscription request carries the user's bare JID (RFC 6121 §3.1.2).
    let request = Jid::from(b_bare.clone());
    let asked = a.presence_from(&request, |p| p.type_ == PresenceType::Subscribe);
    // Only what comes after the request: a presence of the watched session read
    // before (a subscription an earlier run left) is no approval.
    let by_server = b.wait_for_new(|s| approved_by_server(s, &a_bare, &a_full));
    let (approval, seen_available) = tokio::select! {
        r = asked => { r?; (Approval::ByUser, false) }
        r = by_server => (Approval::ByServer, matches!(r?, FromServer::Available)),
    };
    scene.at(stage(PresenceStage::Approved));
    let (a, b) = scene.two(watched, watcher);
    if approval == Approval::ByUser {
        a.send(Presence::new(PresenceType::Subscribed).with_to(b_bare))
            .await?;
    }
    if !seen_available {
        b.presence_from(&a_full, |p| p.type_ == PresenceType::None)
            .await?;
    }
    let (away, back) = changes(scene, watched, watcher, &a_full, stage).await?;
    Ok(Watched {
        approval,
        away,
        back,
    })
}

/// The watched session goes away and comes back; the times until the watcher sees each.
async fn changes<S: Copy>(
    scene: &mut Scene<S>,
    watched: usize,
    watcher: usize,
    a_full: &Jid,
    stage: impl Fn(PresenceStage) -> S,
) -> Result<(Duration, Duration), SessionLost> {
    scene.at(stage(PresenceStage::Away));
    let (a, b) = scene.two(watched, watcher);
    let t0 = Instant::now();
    a.send(Presence::new(PresenceType::None).with_show(Show::Away))
        .await?;
    b.presence_from(a_full, |p| {
        p.type_ == PresenceType::None && p.show == Some(Show::Away)
    })
    .await?;
    let to_away = t0.elapsed();
    scene.at(stage(PresenceStage::Back));
    let (a, b) = scene.two(watched, watcher);
    let t1 = Instant::now();
    a.send(Presence::new(PresenceType::None)).await?;
    b.presence_from(a_full, |p| {
        p.type_ == PresenceType::None && p.show.is_none()
    })
    .await?;
    Ok((to_away, t1.elapsed()))
}

/// The check: `watcher` sees `watched` on `node`.
pub async fn check(
    c: &XmppCtx,
    key: &CheckKey,
    watched: &str,
    watcher: &str,
    node: &str,
    cx: CheckCtx,
) -> Outcome {
    let mut scene = Scene::new(c, &cx, key, PresenceStage::LoggingIn);
    let r = by_deadline(scene.deadline(), async {
        let a = scene.login(c, c.user(watched), node).await?;
        let b = scene.login(c, c.user(watcher), node).await?;
        prepare_pair(&mut scene, a, b, PresenceStage::Clearing).await;
        watch(&mut scene, a, b, |s| s).await.map_err(|e| {
            Outcome::fail(
                e.to_string(),
                format!(
                    "Check the node's presence engine (task {})",
                    comm_task(c.spec.workflow)
                ),
            )
        })
    })
    .await;
    let task = comm_task(c.spec.workflow);
    scene
        .end(r)
        .await
        .judge(|e| judge(watched, watcher, &task, e))
        .with("node", node)
}

/// The verdict.
pub fn judge(
    watched: &str,
    watcher: &str,
    task: &str,
    e: Ended<Watched, PresenceStage>,
) -> Outcome {
    match e {
        Ended::Done(w) => Outcome::pass(format!(
            "{watcher} sees {watched} go away and come back ({:.1} ms and {:.1} ms); the subscription was {}",
            w.away.as_secs_f64() * 1000.0,
            w.back.as_secs_f64() * 1000.0,
            w.approval.describe()
        ))
        .with("subscription_approval", w.approval.describe())
        .metric("presence_away_ms", ms(w.away))
        .metric("presence_back_ms", ms(w.back)),
        Ended::Failed(o) => o,
        Ended::TimedOut {
            stage,
            budget,
            seen,
        } => Outcome::fail(
            format!(
                "{watcher} did not see {watched}'s availability within {} ms: stuck {}",
                budget.as_millis(),
                stage.describe()
            ),
            hint(stage, task),
        )
        .with("presence_seen", seen_evidence(&seen)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_names_its_step_and_the_fix_for_it() {
        let o = judge(
            "alice",
            "bob",
            "C.7",
            Ended::TimedOut {
                stage: PresenceStage::Request,
                budget: Duration::from_millis(3200),
                seen: vec![],
            },
        );
        assert!(o.message.contains(
            "within 3200 ms: stuck waiting for the subscription request to reach the watched user (or for the server to approve it itself)"
        ));
        assert!(o.remediation.unwrap().contains(
            "never delivered the subscription request to the watched user, nor approved it itself"
        ));
        assert!(hint(PresenceStage::Back, "A.7").contains("availability changes do not reach"));
        assert!(o
            .evidence
            .iter()
            .any(|(k, v)| k == "presence_seen" && v == "none"));
    }

    #[test]
    fn the_verdict_says_who_approved_the_subscription() {
        for (approval, said) in [
            (Approval::ByUser, "approved by the watched user"),
            (
                Approval::ByServer,
                "approved by the server (the watched user was not asked)",
            ),
        ] {
            let o = judge(
                "alice",
                "bob",
                "C.7",
                Ended::Done(Watched {
                    approval,
                    away: Duration::from_millis(3),
                    back: Duration::from_millis(4),
                }),
            );
            assert!(
                o.message.ends_with(&format!("the subscription was {said}")),
                "{}",
                o.message
            );
            assert!(o
                .evidence
                .iter()
                .any(|(k, v)| k == "subscription_approval" && v == said));
        }
    }

    #[test]
    fn the_server_approving_is_told_by_subscribed_or_the_watched_session_itself() {
        let bare: BareJid = "alice@lab.test".parse().unwrap();
        let full: Jid = "alice@lab.test/r1".parse().unwrap();
        let other: Jid = "alice@lab.test/r2".parse().unwrap();
        let presence = |t, from: &Jid| Stanza::Presence(Presence::new(t).with_from(from.clone()));
        let bare_jid = Jid::from(bare.clone());
        assert!(matches!(
            approved_by_server(&presence(PresenceType::Subscribed, &bare_jid), &bare, &full),
            Some(FromServer::Subscribed)
        ));
        assert!(matches!(
            approved_by_server(&presence(PresenceType::None, &full), &bare, &full),
            Some(FromServer::Available)
        ));
        // Another session of the same user, or an acknowledgement, is not it.
        assert!(approved_by_server(&presence(PresenceType::None, &other), &bare, &full).is_none());
        assert!(approved_by_server(
            &presence(PresenceType::Unavailable, &bare_jid),
            &bare,
            &full
        )
        .is_none());
    }
}
