//! `xmpp.intercluster`: a test user of one cluster and one of another exchange messages
//! both ways and see each other's availability change (task B.13/C.13).

use super::converse::{converse, Conversation, ConverseStage, Direction, Leg, Trouble};
use crate::scene::{seen_evidence, within, Ended, Scene};
use crate::Ctx;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome};

/// Who takes part: user ids, JIDs, clusters.
pub struct Pair<'a> {
    pub a_id: &'a str,
    pub b_id: &'a str,
    pub a_jid: String,
    pub b_jid: String,
    pub a_cluster: String,
    pub b_cluster: String,
}

/// The check.
pub async fn check(c: &Ctx, a_id: &str, b_id: &str, cx: CheckCtx) -> Outcome {
    let (a, b) = (c.user(a_id), c.user(b_id));
    let (a_node, b_node) = (a.home_node.get_ref().clone(), b.home_node.get_ref().clone());
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
    let mut scene = Scene::new(&cx, ConverseStage::LoggingIn);
    let step = scene.budget() / 4;
    let r = within(scene.deadline(), async {
        let x = scene.login(c, a, &a_node, step).await?;
        let y = scene.login(c, b, &b_node, step).await?;
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
    if w == Workflow::B {
        "B.13"
    } else {
        "C.13"
    }
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
                "{} ({}) and {} ({}) exchange messages ({:.1} ms, {:.1} ms) and see each other's availability change",
                p.a_jid,
                p.a_cluster,
                p.b_jid,
                p.b_cluster,
                conv.out.as_secs_f64() * 1000.0,
                conv.back.as_secs_f64() * 1000.0
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
