//! `xmpp.roster`: a test user's roster holds the contacts the spec lists (a contact list
//! migrated or imported when the users were set up). The roster is read (RFC 6121
//! §2.2), never changed.

use crate::scene::{by_deadline, Ended, Scene};
use crate::session::IqKind;
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
use tokio_xmpp::minidom::Element;

/// What the roster showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterFacts {
    /// Every contact on the roster (bare JIDs, lower case), with its subscription.
    pub items: Vec<(String, String)>,
}

/// The check: `uid`'s roster on its home node `node`.
pub async fn check(c: &XmppCtx, key: &CheckKey, uid: &str, node: &str, cx: CheckCtx) -> Outcome {
    let user = c.user(uid);
    let mut scene = Scene::new(c, &cx, key, ());
    let r = by_deadline(scene.deadline(), async {
        let s = scene.login(c, user, node).await?;
        let query = Element::builder("query", "jabber:iq:roster").build();
        let answer = scene
            .session(s)
            .iq(None, IqKind::Get, query)
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("the roster of {uid} could not be read: {e}"),
                    "Check the node's roster service",
                )
            })?;
        Ok(RosterFacts {
            items: answer
                .map(|q| {
                    q.children()
                        .filter_map(|i| {
                            let jid = i.attr("jid")?.to_ascii_lowercase();
                            Some((jid, i.attr("subscription").unwrap_or("none").to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    })
    .await;
    let expected = &user.contacts;
    scene
        .end(r)
        .await
        .judge(|e| judge(uid, node, expected, e, c.spec.workflow))
}

/// The verdict: every expected contact is on the roster.
pub fn judge(
    uid: &str,
    node: &str,
    expected: &[String],
    e: Ended<RosterFacts, ()>,
    w: Workflow,
) -> Outcome {
    let task = cite(w, &[Task::EndUsers, Task::LicenseUsers]);
    match e {
        Ended::Done(f) => {
            let missing: Vec<&String> = expected
                .iter()
                .filter(|c| !f.items.iter().any(|(j, _)| j == *c))
                .collect();
            let shown = f
                .items
                .iter()
                .map(|(j, s)| format!("{j} ({s})"))
                .collect::<Vec<_>>()
                .join(", ");
            let o = if missing.is_empty() {
                Outcome::pass(format!(
                    "{uid}'s roster on {node} holds the {} contact(s) the spec lists",
                    expected.len()
                ))
            } else {
                Outcome::fail(
                    format!(
                        "{uid}'s roster on {node} lacks {} of the {} contact(s) the spec lists: {}",
                        missing.len(),
                        expected.len(),
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("Import the user's contact list again (Bulk Administration: contact list import, or the migration of the users' contacts), or add the contacts in Jabber{task}"),
                )
            };
            o.with("expected", expected.join(", "))
                .with(
                    "roster",
                    if shown.is_empty() {
                        "empty".into()
                    } else {
                        shown
                    },
                )
                .metric("roster_items", f.items.len() as f64)
        }
        Ended::Failed(o) => o,
        Ended::TimedOut { budget, .. } => Outcome::fail(
            format!(
                "{uid}'s roster on {node} was not read within {} ms",
                budget.as_millis()
            ),
            format!("Check the node's XMPP services{task}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn facts(items: &[&str]) -> Ended<RosterFacts, ()> {
        Ended::Done(RosterFacts {
            items: items
                .iter()
                .map(|j| (j.to_string(), "both".into()))
                .collect(),
        })
    }

    #[test]
    fn missing_contacts_are_named_and_extra_ones_do_not_matter() {
        let want = vec!["carol@lab.test".to_string(), "dave@lab.test".to_string()];
        let ok = judge(
            "alice",
            "imp1",
            &want,
            facts(&["dave@lab.test", "carol@lab.test", "x@y"]),
            Workflow::A,
        );
        assert_eq!(ok.status, Status::Pass, "{}", ok.message);
        let bad = judge(
            "alice",
            "imp1",
            &want,
            facts(&["carol@lab.test"]),
            Workflow::C,
        );
        assert_eq!(bad.status, Status::Fail);
        assert!(
            bad.message
                .contains("lacks 1 of the 2 contact(s) the spec lists: dave@lab.test"),
            "{}",
            bad.message
        );
        assert!(bad.remediation.unwrap().ends_with("(task C.4)"));
    }
}
