//! `xmpp.im`: a message from one test user of a node to another arrives, to the very
//! session it was sent to (a full JID: another session of the same user neither takes
//! it nor counts), with its round-trip time.

use crate::scene::{by_deadline, Ended, Scene};
use crate::session::SessionLost;
use crate::stanzas::{has_body, ms, token_message, unique_token};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
use std::time::{Duration, Instant};
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::message::MessageType;

/// What the exchange showed.
#[derive(Debug, Clone, Copy)]
pub struct ImFacts {
    /// The message arrived with the body sent.
    pub same_body: bool,
    /// From sending to receiving.
    pub rtt: Duration,
}

/// The check: `from` sends `to` a message on `node`.
pub async fn check(
    c: &XmppCtx,
    key: &CheckKey,
    from: &str,
    to: &str,
    node: &str,
    cx: CheckCtx,
) -> Outcome {
    let mut scene = Scene::new(c, &cx, key, ());
    let r = by_deadline(scene.deadline(), async {
        let s = scene.login(c, c.user(from), node).await?;
        let r = scene.login(c, c.user(to), node).await?;
        let (sender, receiver) = scene.two(s, r);
        let token = unique_token("im");
        let sent = Instant::now();
        sender
            .send(token_message(
                Jid::from(receiver.jid().clone()),
                MessageType::Chat,
                &token,
            ))
            .await
            .map_err(|e| Outcome::fail(format!("sending failed: {e}"), "Check the node"))?;
        let m = receiver
            .message_with_id(&token)
            .await
            .map_err(|e| lost(to, e))?;
        Ok(ImFacts {
            same_body: has_body(&m, &token),
            rtt: sent.elapsed(),
        })
    })
    .await;
    scene
        .end(r)
        .await
        .judge(|e| judge(from, to, node, e, c.spec.workflow))
}

fn lost(to: &str, e: SessionLost) -> Outcome {
    Outcome::fail(
        format!("{to}'s stream ended before the message arrived ({e})"),
        "Check the node's XMPP router",
    )
}

/// The verdict.
pub fn judge(from: &str, to: &str, node: &str, e: Ended<ImFacts, ()>, w: Workflow) -> Outcome {
    let task = cite(w, &[Task::VerifyCluster, Task::LicenseUsers]);
    match e {
        Ended::Done(f) if f.same_body => Outcome::pass(format!(
            "a message from {from} reached {to} on {node} in {:.1} ms",
            f.rtt.as_secs_f64() * 1000.0
        ))
        .metric("im_rtt_ms", ms(f.rtt)),
        Ended::Done(_) => Outcome::fail(
            format!("the message from {from} reached {to} with another body"),
            format!("Check the node's message handling{task}"),
        ),
        Ended::Failed(o) => o,
        Ended::TimedOut { budget, .. } => Outcome::fail(
            format!("a message from {from} did not reach {to} on {node} within {} ms", budget.as_millis()),
            format!("Check that IM is routed within the cluster (Cisco XCP Router) and that both users are assigned and online{task}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    #[test]
    fn the_message_must_arrive_with_its_own_body() {
        let f = |same_body| ImFacts {
            same_body,
            rtt: Duration::from_millis(12),
        };
        let ok = judge("alice", "bob", "imp1", Ended::Done(f(true)), Workflow::A);
        assert_eq!(ok.status, Status::Pass);
        assert_eq!(ok.metrics["im_rtt_ms"], 12.0);
        assert_eq!(
            judge("alice", "bob", "imp1", Ended::Done(f(false)), Workflow::A).status,
            Status::Fail
        );
        let t = judge(
            "alice",
            "bob",
            "imp1",
            Ended::TimedOut {
                stage: (),
                budget: Duration::from_secs(8),
                seen: vec![],
            },
            Workflow::A,
        );
        assert!(t
            .message
            .contains("did not reach bob on imp1 within 8000 ms"));
    }
}
