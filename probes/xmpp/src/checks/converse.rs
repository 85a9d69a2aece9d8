//! Two users of different clusters or domains: messages both ways, each to the other's
//! very session (full JID), then each watches the other's availability. Shared by
//! `xmpp.intercluster` and `xmpp.federation`.

use super::presence::{prepare_pair, watch, PresenceStage, Watched};
use crate::scene::Scene;
use crate::session::{Session, SessionLost};
use crate::stanzas::{ms, payload_condition, token_message, unique_token};
use imp_verify_core::Outcome;
use std::time::{Duration, Instant};
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::Stanza;

/// Which way, as seen from the local (first) user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local user to the other.
    Outbound,
    /// From the other user to the local one.
    Inbound,
}

impl Direction {
    /// `outbound` or `inbound`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A leg of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// A message crossing.
    Message(Direction),
    /// Presence crossing: `Outbound`, the other user watches the local one's.
    Presence(Direction),
}

/// The step a conversation is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConverseStage {
    /// Logging the users in.
    LoggingIn,
    /// Removing the roster items of an earlier run.
    Clearing,
    /// Asking the local server to reach the peer over s2s (federation).
    ProbingS2s,
    /// Waiting for a message to cross.
    Message(Direction),
    /// A presence exchange.
    Presence(Direction, PresenceStage),
}

impl ConverseStage {
    /// The step, as the verdict of a timeout names it.
    pub fn describe(self) -> String {
        match self {
            ConverseStage::LoggingIn => "logging in".into(),
            ConverseStage::Clearing => "clearing the roster items of an earlier run".into(),
            ConverseStage::ProbingS2s => {
                "asking the local server to reach the peer over s2s".into()
            }
            ConverseStage::Message(d) => format!("waiting for a message to cross {}", d.name()),
            ConverseStage::Presence(_, p) => p.describe().into(),
        }
    }
}

/// Why a leg failed.
#[derive(Debug)]
pub enum Trouble {
    /// A server bounced the message: the condition (`remote-server-not-found`).
    Bounced(String),
    /// The sender's session failed.
    Sending(SessionLost),
    /// The receiver's session failed.
    Receiving(SessionLost),
    /// A presence exchange's session failed.
    Presence(SessionLost),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Bounced(c) => write!(f, "the server bounced it: {c}"),
            Trouble::Sending(e) => write!(f, "the sending session: {e}"),
            Trouble::Receiving(e) => write!(f, "the receiving session: {e}"),
            Trouble::Presence(e) => write!(f, "{e}"),
        }
    }
}

/// Sends a token from `sender` to `receiver`'s session and waits until that session has
/// it; a bounce (an error message with the token's id) is the server's condition.
pub async fn deliver(sender: &mut Session, receiver: &mut Session) -> Result<Duration, Trouble> {
    let token = unique_token("msg");
    let sent = Instant::now();
    let to = Jid::from(receiver.jid().clone());
    sender
        .send(token_message(to, MessageType::Chat, &token))
        .await
        .map_err(Trouble::Sending)?;
    tokio::select! {
        m = receiver.message_with_id(&token) => match m {
            Ok(m) if m.type_ != MessageType::Error => Ok(sent.elapsed()),
            Ok(m) => Err(Trouble::Bounced(condition(&m))),
            Err(e) => Err(Trouble::Receiving(e)),
        },
        m = bounced(sender, &token) => match m {
            Ok(m) => Err(Trouble::Bounced(condition(&m))),
            Err(e) => Err(Trouble::Sending(e)),
        },
    }
}

/// The error message with id `token` that comes back to `sender`.
async fn bounced(sender: &mut Session, token: &str) -> Result<Message, SessionLost> {
    sender
        .wait_for(
            |s| match s {
                Stanza::Message(m)
                    if m.type_ == MessageType::Error
                        && m.id.as_ref().map(|i| i.0.as_str()) == Some(token) =>
                {
                    Some(m.clone())
                }
                _ => None,
            },
            |_, _| {},
        )
        .await
}

fn condition(m: &Message) -> String {
    payload_condition(&m.payloads)
}

/// What the local server said when asked to reach a contact over s2s (its silence is
/// the end of the check's time: the caller's deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S2sProbe {
    /// It bounced the message: the condition.
    Bounced(String),
    /// The local session failed: its words.
    NotAsked(String),
}

/// Sends `to` a message from `sender` and waits for the server to bounce it.
pub async fn probe_s2s(sender: &mut Session, to: Jid) -> S2sProbe {
    let token = unique_token("fed-probe");
    if let Err(e) = sender
        .send(token_message(to, MessageType::Chat, &token))
        .await
    {
        return S2sProbe::NotAsked(e.to_string());
    }
    match bounced(sender, &token).await {
        Ok(m) => S2sProbe::Bounced(condition(&m)),
        Err(e) => S2sProbe::NotAsked(e.to_string()),
    }
}

/// What two users of different clusters or domains saw of each other.
#[derive(Debug, Clone, Copy)]
pub struct Conversation {
    /// The message from the first user to the second.
    pub out: Duration,
    /// The message back.
    pub back: Duration,
    /// The second user watching the first.
    pub b_sees_a: Watched,
    /// The first user watching the second.
    pub a_sees_b: Watched,
}

impl Conversation {
    /// Who approved each subscription: `outbound: approved by ...; inbound: ...`
    /// (outbound: the other user watching the local one).
    pub fn approvals(&self) -> String {
        format!(
            "outbound: {}; inbound: {}",
            self.b_sees_a.approval.describe(),
            self.a_sees_b.approval.describe()
        )
    }

    /// `o` with the conversation's metrics, named `prefix_*`, and who approved the
    /// subscriptions.
    pub fn metrics(&self, o: Outcome, prefix: &str) -> Outcome {
        o.with("subscription_approval", self.approvals())
            .metric(format!("{prefix}_out_ms"), ms(self.out))
            .metric(format!("{prefix}_back_ms"), ms(self.back))
            .metric(format!("{prefix}_presence_away_ms"), ms(self.b_sees_a.away))
            .metric(format!("{prefix}_presence_back_ms"), ms(self.b_sees_a.back))
            .metric(
                format!("{prefix}_presence_away_reverse_ms"),
                ms(self.a_sees_b.away),
            )
            .metric(
                format!("{prefix}_presence_back_reverse_ms"),
                ms(self.a_sees_b.back),
            )
    }
}

/// Messages both ways between sessions `a` (local) and `b`, then each watches the
/// other's availability; an error names the leg that failed.
pub async fn converse(
    scene: &mut Scene<ConverseStage>,
    a: usize,
    b: usize,
) -> Result<Conversation, (Leg, Trouble)> {
    use Direction::{Inbound, Outbound};
    prepare_pair(scene, a, b, ConverseStage::Clearing).await;
    scene.at(ConverseStage::Message(Outbound));
    let (x, y) = scene.two(a, b);
    let out = deliver(x, y)
        .await
        .map_err(|t| (Leg::Message(Outbound), t))?;
    scene.at(ConverseStage::Message(Inbound));
    let (x, y) = scene.two(a, b);
    let back = deliver(y, x)
        .await
        .map_err(|t| (Leg::Message(Inbound), t))?;
    let b_sees_a = watch(scene, a, b, |p| ConverseStage::Presence(Outbound, p))
        .await
        .map_err(|e| (Leg::Presence(Outbound), Trouble::Presence(e)))?;
    let a_sees_b = watch(scene, b, a, |p| ConverseStage::Presence(Inbound, p))
        .await
        .map_err(|e| (Leg::Presence(Inbound), Trouble::Presence(e)))?;
    Ok(Conversation {
        out,
        back,
        b_sees_a,
        a_sees_b,
    })
}
