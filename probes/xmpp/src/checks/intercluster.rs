//! `xmpp.intercluster`: a test user of one cluster and one of another exchange messages
//! both ways and see each other's availability change (task B.13/C.13).

use super::converse::{converse, Conversation, ConverseStage, Direction, Leg, Trouble};
use crate::scene::{by_deadline, seen_evidence, Ended, Scene};
use crate::XmppCtx;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};

/// Who takes part: user ids, JIDs, clusters.
pub struct Pair<'a> {
    /// The first user's id.
    pub a_id: &'a str,
    /// The second user's id.
    pub b_id: &'a str,
    /// The first user's JID.
    pub a_jid: String,
    /// The second user's JID.
    pub b_jid: String,
    /// The first user's cluster.
    pub a_cluster: String,
    /// The second user's cluster.
    pub b_cluster: String,
}

/// The check.
pub async fn check(c: &XmppCtx, key: &CheckKey, a_id: &str, b_id: &str, cx: CheckCtx) -> Outcome {
    let (a, b) = (c.user(a_id), c.user(b_id));
    let (a_node, b_node) = (a.home_node.clone(), b.home_node.clone());
    let cluster_of = |node: &str| {
        c.spec
            .node(node)
            .map(|(cl, _)| cl.name.clone())
            .unwrap_or_default()
    };
    let pair = Pair {
        a_id,
        b_id,
        a_jid: c.spec.jid_of(a),
        b_jid: c.spec.jid_of(b),
        a_cluster: cluster_of(&a_node),
        b_cluster: cluster_of(&b_node),
    };
    let mut scene = Scene::new(c, &cx, key, ConverseStage::LoggingIn);
    let r = by_deadline(scene.deadline(), async {
        let x = scene.login(c, a, &a_node).await?;
        let y = scene.login(c, b, &b_node).await?;
        converse(&mut scene, x, y)
            .await
            .map_err(|(leg, why)| leg_failure(&pair, leg, &why, task(c.spec.workflow)))
    })
    .await;
    scene
        .end(r)
        .await
        .judge(|e| judge(&pair, task(c.spec.workflow), e))
        .with(
            "clusters",
            format!("{}, {}", pair.a_cluster, pair.b_cluster),
        )
        .with("nodes", format!("{a_node}, {b_node}"))
}

fn task(w: Workflow) -> &'static str {
    imp_verify_core::catalog::first_label(
        w,
        &[
            imp_verify_core::catalog::Task::Intercluster,
            imp_verify_core::catalog::Task::VerifyCluster,
        ],
    )
}

/// The verdict on a failed leg.
pub fn leg_failure(p: &Pair, leg: Leg, why: &Trouble, task: &str) -> Outcome {
    let (a, b) = (&p.a_jid, &p.b_jid);
    let what = match leg {
        Leg::Message(d) => d.name().to_string(),
        Leg::Presence(Direction::Outbound) => format!("{b} watching {a}'s presence"),
        Leg::Presence(Direction::Inbound) => format!("{a} watching {b}'s presence"),
    };
    Outcome::fail(
        format!("between {a} ({}) and {b} ({}): {what} failed: {why}", p.a_cluster, p.b_cluster),
        format!("Check the intercluster peering of both clusters (Presence > Inter-Clustering: peer address, AXL credentials, sync status) and that the Cisco XCP Router runs on every node; both clusters must know each other's users (task {task})"),
    )
}

/// The verdict.
pub fn judge(p: &Pair, task: &str, e: Ended<Conversation, ConverseStage>) -> Outcome {
    match e {
        Ended::Done(conv) => conv.metrics(
            Outcome::pass(format!(
                "{} ({}) and {} ({}) exchange messages ({:.1} ms, {:.1} ms) and see each other's availability change (subscriptions {})",
                p.a_jid,
                p.a_cluster,
                p.b_jid,
                p.b_cluster,
                conv.out.as_secs_f64() * 1000.0,
                conv.back.as_secs_f64() * 1000.0,
                conv.approvals()
            )),
            "intercluster",
        ),
        Ended::Failed(o) => o,
        Ended::TimedOut { stage, budget, seen } => Outcome::fail(
            format!(
                "{} ({}) and {} ({}) did not complete within {} ms: stuck {}",
                p.a_id,
                p.a_cluster,
                p.b_id,
                p.b_cluster,
                budget.as_millis(),
                stage.describe()
            ),
            format!("Check the intercluster peering of both clusters and the Cisco XCP Router on their nodes (task {task})"),
        )
        .with("presence_seen", seen_evidence(&seen)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionLost;
    use std::time::Duration;

    fn pair() -> Pair<'static> {
        Pair {
            a_id: "alice",
            b_id: "erin",
            a_jid: "alice@lab.test".into(),
            b_jid: "erin@partner.test".into(),
            a_cluster: "lab-cluster".into(),
            b_cluster: "partner-cluster".into(),
        }
    }

    #[test]
    fn a_failed_leg_is_named_with_its_direction_and_a_stall_with_its_step() {
        let bounce = Trouble::Bounced("remote-server-not-found".into());
        let o = leg_failure(&pair(), Leg::Message(Direction::Outbound), &bounce, "C.13");
        assert!(
            o.message
                .contains("outbound failed: the server bounced it: remote-server-not-found"),
            "{}",
            o.message
        );
        let o = leg_failure(
            &pair(),
            Leg::Presence(Direction::Inbound),
            &Trouble::Presence(SessionLost::Ended),
            "B.13",
        );
        assert!(
            o.message.contains(
                "alice@lab.test watching erin@partner.test's presence failed: the stream ended"
            ),
            "{}",
            o.message
        );
        assert!(o.remediation.unwrap().contains("B.13"));
        let t = judge(
            &pair(),
            "C.13",
            Ended::TimedOut {
                stage: ConverseStage::Message(Direction::Inbound),
                budget: Duration::from_secs(8),
                seen: vec![],
            },
        );
        assert!(
            t.message.contains(
                "did not complete within 8000 ms: stuck waiting for a message to cross inbound"
            ),
            "{}",
            t.message
        );
    }
}
