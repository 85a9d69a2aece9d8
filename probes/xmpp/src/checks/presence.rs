//! `xmpp.presence`: a watcher subscribes to a test user's presence, the user approves,
//! and the watcher sees the user's session become available, go away and come back.
//! Leftover roster items of an earlier (interrupted) run are cleared first, and the
//! check's own are removed at its end, whatever happens.

use crate::scene::{seen_evidence, within, Ended, Scene, Undo};
use crate::session::SessionError;
use crate::stanzas::ms;
use crate::Ctx;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome};
use std::time::{Duration, Instant};
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::presence::{Presence, Show, Type as PresenceType};

/// The steps of a presence exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceStage {
    /// Logging the users in.
    LoggingIn,
    /// Removing the roster items of an earlier run.
    Clearing,
    /// Waiting for the subscription request to reach the watched user.
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
                "waiting for the subscription request to reach the watched user"
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

/// What to fix when a presence exchange stalls at `stage`.
pub fn hint(stage: PresenceStage, task: &str) -> String {
    match stage {
        PresenceStage::Request => format!("The server never delivered the subscription request to the watched user: check the presence subscription policy (Presence > Settings: whether users must approve, privacy and blocked contacts of the watched user) and the Cisco Presence Engine (task {task})"),
        PresenceStage::Approved => format!("The watched user approved, but the watcher never got their presence: check the Cisco Presence Engine and the Cisco XCP Router on the node (task {task})"),
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
    let undo_a = Undo::Unroster {
        by: a,
        contact: scene.session(b).bare(),
    };
    let undo_b = Undo::Unroster {
        by: b,
        contact: scene.session(a).bare(),
    };
    for u in [&undo_a, &undo_b] {
        // A failure to clear is not the verdict: the exchange shows what matters.
        let _ = scene.clear(u).await;
    }
    scene.will_undo(undo_a);
    scene.will_undo(undo_b);
}

/// Session `watcher` of the scene subscribes to the user of session `watched`, who
/// approves; the watcher then sees that very session (its full JID) become available,
/// go away and come back: the two propagation times. `stage` names each step for the
/// scene. [`prepare_pair`] comes first.
pub async fn watch<S: Copy>(
    scene: &mut Scene<S>,
    watched: usize,
    watcher: usize,
    stage: impl Fn(PresenceStage) -> S,
) -> Result<(Duration, Duration), SessionError> {
    let a_bare = scene.session(watched).bare();
    let b_bare = scene.session(watcher).bare();
    scene.at(stage(PresenceStage::Request));
    let (a, b) = scene.two(watched, watcher);
    let a_full = Jid::from(a.jid().clone());
    b.send(Presence::new(PresenceType::Subscribe).with_to(a_bare.clone()))
        .await?;
    // A subscription request carries the user's bare JID (RFC 6121 §3.1.2).
    a.presence_from(&Jid::from(b_bare.clone()), |p| {
        p.type_ == PresenceType::Subscribe
    })
    .await?;

    scene.at(stage(PresenceStage::Approved));
    let (a, b) = scene.two(watched, watcher);
    a.send(Presence::new(PresenceType::Subscribed).with_to(b_bare))
        .await?;
    b.presence_from(&a_full, |p| p.type_ == PresenceType::None)
        .await?;

    scene.at(stage(PresenceStage::Away));
    let (a, b) = scene.two(watched, watcher);
    let t0 = Instant::now();
    a.send(Presence::new(PresenceType::None).with_show(Show::Away))
        .await?;
    b.presence_from(&a_full, |p| {
        p.type_ == PresenceType::None && p.show == Some(Show::Away)
    })
    .await?;
    let to_away = t0.elapsed();

    scene.at(stage(PresenceStage::Back));
    let (a, b) = scene.two(watched, watcher);
    let t1 = Instant::now();
    a.send(Presence::new(PresenceType::None)).await?;
    b.presence_from(&a_full, |p| {
        p.type_ == PresenceType::None && p.show.is_none()
    })
    .await?;
    Ok((to_away, t1.elapsed()))
}

/// The check: `watcher` sees `watched` on `node`.
pub async fn check(c: &Ctx, watched: &str, watcher: &str, node: &str, cx: CheckCtx) -> Outcome {
    let mut scene = Scene::new(&cx, PresenceStage::LoggingIn);
    let step = scene.budget() / 4;
    let r = within(scene.deadline(), async {
        let a = scene.login(c, c.user(watched), node, step).await?;
        let b = scene.login(c, c.user(watcher), node, step).await?;
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
    e: Ended<(Duration, Duration), PresenceStage>,
) -> Outcome {
    match e {
        Ended::Done((away, back)) => Outcome::pass(format!(
            "{watcher} sees {watched} go away and come back ({:.1} ms and {:.1} ms)",
            away.as_secs_f64() * 1000.0,
            back.as_secs_f64() * 1000.0
        ))
        .metric("presence_away_ms", ms(away))
        .metric("presence_back_ms", ms(back)),
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
            "within 3200 ms: stuck waiting for the subscription request to reach the watched user"
        ));
        assert!(o
            .remediation
            .unwrap()
            .contains("never delivered the subscription request"));
        assert!(hint(PresenceStage::Back, "A.7").contains("availability changes do not reach"));
        assert!(o
            .evidence
            .iter()
            .any(|(k, v)| k == "presence_seen" && v == "none"));
    }
}
