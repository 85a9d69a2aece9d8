//! `xmpp.muc`: an ad hoc room on the node's group chat service, created as XEP-0045
//! says (a new room is locked until its owner configures it, §10.1.1: the creator
//! accepts the default configuration with the instant-room form, §10.1.2), joined by a
//! second user, a message to both, then destroyed (also when the check fails).

use crate::scene::{by_deadline, Created, Ended, Scene};
use crate::session::{IqFailure, IqKind, Session, SessionLost};
use crate::stanzas::{self, has_body, ms, token_message, unique_token};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
use std::time::{Duration, Instant};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::message::MessageType;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};
use tokio_xmpp::Stanza;

/// The steps of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MucStage {
    /// Logging the users in.
    LoggingIn,
    /// Finding the group chat service (XEP-0030).
    Discovering,
    /// The first user entering a new room.
    Creating,
    /// Submitting the instant-room form.
    Configuring,
    /// The second user entering.
    SecondJoining,
    /// Waiting for the message at both users.
    GroupMessage,
    /// Destroying the room.
    Destroying,
}

impl MucStage {
    /// The step, as the verdict of a timeout names it.
    pub fn describe(self) -> &'static str {
        match self {
            MucStage::LoggingIn => "logging in",
            MucStage::Discovering => "discovering the group chat service",
            MucStage::Creating => "creating the room",
            MucStage::Configuring => "configuring the new room (instant room)",
            MucStage::SecondJoining => "the second user joining",
            MucStage::GroupMessage => "waiting for the group message",
            MucStage::Destroying => "destroying the room",
        }
    }
}

/// Why the group chat failed.
#[derive(Debug)]
pub enum MucFailure {
    /// Service discovery of the domain found no group chat service: the items it listed.
    NoService(String, Vec<String>),
    /// A discovery request failed: to whom, and how.
    Discovery(String, IqFailure),
    /// The room refused a join: the occupant JID, the creator or not, the error.
    JoinRefused {
        /// The occupant JID (room/nick) asked for.
        occupant: Jid,
        /// Whether it was the creator's join.
        creating: bool,
        /// The room's error, when it sent a readable one.
        error: Option<Box<StanzaError>>,
    },
    /// The service refused the instant-room form.
    ConfigRefused(IqFailure),
    /// The room could not be destroyed.
    DestroyRefused(IqFailure),
    /// A session failed.
    Session(SessionLost),
}

impl From<SessionLost> for MucFailure {
    fn from(e: SessionLost) -> Self {
        MucFailure::Session(e)
    }
}

/// What a passing exchange showed.
#[derive(Debug, Clone)]
pub struct MucFacts {
    /// The group chat service.
    pub service: String,
    /// Whether the room was created locked (status 201) and configured by the check.
    pub configured: bool,
    /// From sending the message to both users having it.
    pub rtt: Duration,
}

async fn find_service(s: &mut Session, domain: &str) -> Result<String, MucFailure> {
    let domain_jid: Jid = domain
        .parse()
        .map_err(|_| MucFailure::NoService(domain.to_string(), vec![]))?;
    let items = s
        .iq(
            Some(domain_jid),
            IqKind::Get,
            Element::builder("query", stanzas::NS_DISCO_ITEMS).build(),
        )
        .await
        .map_err(|e| MucFailure::Discovery(domain.to_string(), e))?
        .unwrap_or_else(|| Element::builder("query", stanzas::NS_DISCO_ITEMS).build());
    let mut seen = Vec::new();
    for item in items.children().filter(|c| c.name() == "item") {
        let Some(jid) = item.attr("jid") else {
            continue;
        };
        seen.push(jid.to_string());
        let Ok(item_jid) = jid.parse::<Jid>() else {
            continue;
        };
        let info = s
            .iq(
                Some(item_jid),
                IqKind::Get,
                Element::builder("query", stanzas::NS_DISCO_INFO).build(),
            )
            .await
            .map_err(|e| MucFailure::Discovery(jid.to_string(), e))?;
        let is_muc = info.is_some_and(|i| {
            i.children().any(|c| {
                c.name() == "identity"
                    && c.attr("category") == Some("conference")
                    && c.attr("type") == Some("text")
            })
        });
        if is_muc {
            return Ok(jid.to_string());
        }
    }
    Err(MucFailure::NoService(domain.to_string(), seen))
}

/// Joins `occupant` (room/nick): whether the room was just created (status 201).
async fn join(s: &mut Session, occupant: &Jid, creating: bool) -> Result<bool, MucFailure> {
    let mut p = Presence::new(PresenceType::None).with_to(occupant.clone());
    p.payloads
        .push(Element::builder("x", stanzas::NS_MUC).build());
    s.send(p).await?;
    // The room's answer: an error from the occupant JID asked for, or the user's own
    // presence in the room (status 110; the service may have changed the nickname).
    let room = occupant.to_bare();
    let own = s
        .wait_for(
            |st| match st {
                Stanza::Presence(p)
                    if p.from.as_ref() == Some(occupant)
                        || (p.from.as_ref().map(|f| f.to_bare()) == Some(room.clone())
                            && p.type_ != PresenceType::Error
                            && has_status(p, "110")) =>
                {
                    Some(p.clone())
                }
                _ => None,
            },
            |_, _| {},
        )
        .await?;
    if own.type_ == PresenceType::Error {
        let error = own
            .payloads
            .iter()
            .find(|e| e.name() == "error")
            .and_then(|e| StanzaError::try_from(e.clone()).ok())
            .map(Box::new);
        return Err(MucFailure::JoinRefused {
            occupant: occupant.clone(),
            creating,
            error,
        });
    }
    Ok(has_status(&own, "201"))
}

/// Whether a room presence carries XEP-0045 status `code`.
fn has_status(p: &Presence, code: &str) -> bool {
    p.payloads
        .iter()
        .filter(|x| x.is("x", stanzas::NS_MUC_USER))
        .any(|x| {
            x.children()
                .any(|c| c.name() == "status" && c.attr("code") == Some(code))
        })
}

/// XEP-0045 §10.1.2: the owner accepts the default configuration (an empty submitted
/// form), which unlocks the room.
async fn make_instant(s: &mut Session, room: &Jid) -> Result<(), MucFailure> {
    s.iq(Some(room.clone()), IqKind::Set, stanzas::instant_room())
        .await
        .map(|_| ())
        .map_err(MucFailure::ConfigRefused)
}

/// The check: `a_id` creates a room, `b_id` joins, both get a message.
pub async fn check(
    c: &XmppCtx,
    key: &CheckKey,
    a_id: &str,
    b_id: &str,
    node: &str,
    cx: CheckCtx,
) -> Outcome {
    let domain = c
        .spec
        .node(node)
        .map(|(cl, _)| cl.domain.clone())
        .unwrap_or_default();
    let mut scene = Scene::new(c, &cx, key, MucStage::LoggingIn);
    let r = by_deadline(scene.deadline(), async {
        let a = scene.login(c, c.user(a_id), node).await?;
        let b = scene.login(c, c.user(b_id), node).await?;
        play(&mut scene, a, b, a_id, b_id, &domain)
            .await
            .map_err(|f| judge_failure(&f, c.spec.workflow))
    })
    .await;
    scene
        .end(r)
        .await
        .judge(|e| judge(a_id, b_id, node, e, c.spec.workflow))
        .with("node", node)
}

async fn play(
    scene: &mut Scene<MucStage>,
    a: usize,
    b: usize,
    a_id: &str,
    b_id: &str,
    domain: &str,
) -> Result<MucFacts, MucFailure> {
    scene.at(MucStage::Discovering);
    let service = find_service(scene.session(a), domain).await?;
    let token = unique_token("room").to_ascii_lowercase();
    let jid = |s: String| {
        s.parse::<Jid>()
            .map_err(|_| MucFailure::NoService(domain.to_string(), vec![service.clone()]))
    };
    let room = jid(format!("{token}@{service}"))?;
    let (a_nick, b_nick) = (
        jid(format!("{token}@{service}/{a_id}"))?,
        jid(format!("{token}@{service}/{b_id}"))?,
    );
    scene.at(MucStage::Creating);
    let created = join(scene.session(a), &a_nick, true).await?;
    let destroy = Created::Room {
        by: a,
        room: room.clone(),
    };
    scene.will_remove(destroy.clone());
    if created {
        scene.at(MucStage::Configuring);
        make_instant(scene.session(a), &room).await?;
    }
    scene.at(MucStage::SecondJoining);
    join(scene.session(b), &b_nick, false).await?;
    scene.at(MucStage::GroupMessage);
    let sent = Instant::now();
    scene
        .session(a)
        .send(token_message(room.clone(), MessageType::Groupchat, &token))
        .await?;
    let got = |st: &Stanza| match st {
        Stanza::Message(m)
            if m.type_ == MessageType::Groupchat
                && m.from.as_ref().map(|f| f.to_bare()) == Some(room.to_bare())
                && has_body(m, &token) =>
        {
            Some(())
        }
        _ => None,
    };
    let (x, y) = scene.two(a, b);
    tokio::try_join!(x.wait_for(got, |_, _| {}), y.wait_for(got, |_, _| {}))?;
    let rtt = sent.elapsed();
    scene.at(MucStage::Destroying);
    scene
        .remove_now(&destroy)
        .await
        .map_err(MucFailure::DestroyRefused)?;
    Ok(MucFacts {
        service,
        configured: created,
        rtt,
    })
}

/// The verdict on a failure.
pub fn judge_failure(f: &MucFailure, w: Workflow) -> Outcome {
    with_task(judge_failure_of(f), w)
}

/// Ends the fix of `o` with the workflow's cluster-communication task.
fn with_task(mut o: Outcome, w: Workflow) -> Outcome {
    if let Some(fix) = o.remediation.as_mut() {
        fix.push_str(&cite(w, &[Task::VerifyCluster]));
    }
    o
}

fn judge_failure_of(f: &MucFailure) -> Outcome {
    const SERVICE: &str = "Check the node's group chat (Text Conference Manager) service";
    match f {
        MucFailure::NoService(domain, items) => Outcome::fail(
            format!(
                "service discovery of {domain} lists no group chat service (items: {})",
                if items.is_empty() { "none".to_string() } else { items.join(", ") }
            ),
            "Enable group chat on the node: start the Cisco XCP Text Conference Manager and publish its service",
        ),
        MucFailure::Discovery(to, e) => Outcome::fail(format!("service discovery: {to} answered with {e}"), SERVICE),
        MucFailure::JoinRefused { occupant, creating, error } => {
            let who = if *creating { "the room's creator" } else { "the second user" };
            let condition = error.as_deref().map(stanzas::error_name).unwrap_or_else(|| "no condition".into());
            let fix = match error.as_deref().map(|e| &e.defined_condition) {
                Some(DefinedCondition::ItemNotFound) => "The room is not open to others: a new room stays locked until its owner configures it (XEP-0045 §10.1.1), and this one was configured as an instant room; check the group chat service's room creation and locking settings (Messaging > Group Chat and Persistent Chat) and the Text Conference Manager's logs",
                Some(DefinedCondition::Forbidden | DefinedCondition::NotAllowed) => "The service does not let this user create or enter rooms: check who may create rooms (Messaging > Group Chat: room creation by users) and the user's IM&P assignment",
                Some(DefinedCondition::RegistrationRequired) => "The service makes new rooms members-only: check the default room settings of the group chat service (Messaging > Group Chat)",
                Some(DefinedCondition::ServiceUnavailable | DefinedCondition::RemoteServerNotFound) => "The group chat service does not answer: start the Cisco XCP Text Conference Manager on the node",
                Some(DefinedCondition::Conflict) => "The nickname is in use in the room: another client of the test user is in it",
                _ => SERVICE,
            };
            Outcome::fail(format!("the room refused {occupant} ({who}): {condition}"), fix)
                .with("join_error", condition)
        }
        MucFailure::ConfigRefused(e) => Outcome::fail(
            format!("the new room could not be configured as an instant room (XEP-0045 §10.1.2): {e}"),
            "Check that room owners may configure their rooms on the group chat service",
        ),
        MucFailure::DestroyRefused(e) => Outcome::fail(format!("the room could not be destroyed: {e}"), SERVICE),
        MucFailure::Session(e) => Outcome::fail(format!("a session failed: {e}"), SERVICE),
    }
}

/// The verdict.
pub fn judge(
    a_id: &str,
    b_id: &str,
    node: &str,
    e: Ended<MucFacts, MucStage>,
    w: Workflow,
) -> Outcome {
    let o = match e {
        Ended::Done(f) => Outcome::pass(format!(
            "{a_id} and {b_id} chat in a new room of {} ({:.1} ms to both); the room is destroyed",
            f.service,
            f.rtt.as_secs_f64() * 1000.0
        ))
        .with("service", f.service)
        .with(
            "room_configured",
            if f.configured {
                "instant room (XEP-0045 §10.1.2)"
            } else {
                "not locked"
            },
        )
        .metric("groupchat_ms", ms(f.rtt)),
        Ended::Failed(o) => o,
        // A failed step was judged by judge_failure, its task included.
        Ended::TimedOut { stage, budget, .. } => with_task(
            Outcome::fail(
                format!(
                    "group chat on {node} did not complete within {} ms: stuck {}",
                    budget.as_millis(),
                    stage.describe()
                ),
                "Check the node's group chat service",
            ),
            w,
        ),
    };
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::parsers::stanza_error::ErrorType;

    #[test]
    fn a_refused_join_names_the_servers_condition_and_its_cause() {
        let f = MucFailure::JoinRefused {
            occupant: "r@conference.lab.test/bob".parse().unwrap(),
            creating: false,
            error: Some(Box::new(StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::ItemNotFound,
                "en",
                "",
            ))),
        };
        let o = judge_failure(&f, Workflow::C);
        assert!(
            o.message.contains(
                "the room refused r@conference.lab.test/bob (the second user): item-not-found"
            ),
            "{}",
            o.message
        );
        let fix = o.remediation.unwrap();
        assert!(
            fix.contains("locked until its owner configures it")
                && !fix.contains("persistent chat settings"),
            "{fix}"
        );
        let forbidden = judge_failure(
            &MucFailure::JoinRefused {
                occupant: "r@c/a".parse().unwrap(),
                creating: true,
                error: Some(Box::new(StanzaError::new(
                    ErrorType::Auth,
                    DefinedCondition::Forbidden,
                    "en",
                    "",
                ))),
            },
            Workflow::C,
        );
        assert!(forbidden
            .message
            .contains("(the room's creator): forbidden"));
        assert!(forbidden
            .remediation
            .unwrap()
            .contains("who may create rooms"));
    }
}
