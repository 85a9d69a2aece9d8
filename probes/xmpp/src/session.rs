//! One logged-in client: a bound resource on one connection. It never reconnects (a
//! broken stream is an error of the check that owns it), and it runs no background task:
//! nothing of it survives its check. Stanzas read while waiting for another are kept in
//! a small backlog for a later wait.

use crate::connector::Io;
use crate::stanzas;
use crate::wire::capped::Received;
use crate::wire::stream::{condition_name, StreamFailure};
use futures::{SinkExt, StreamExt};
use imp_verify_core::Stage;
use std::collections::VecDeque;
use std::time::Instant;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::parsers::stream_error::DefinedCondition as StreamCondition;

use tokio_xmpp::xmlstream::{FallibleStreamElement, ReadError, XmppStream, XmppStreamElement};
use tokio_xmpp::Stanza;

/// The most stanzas a session keeps unread for a later wait.
const BACKLOG: usize = 64;
/// The most passed-over presences a session keeps as evidence.
const PASSED: usize = 12;

/// Why a session cannot go on.
#[derive(Debug)]
pub enum SessionLost {
    /// The server ended the stream (footer or end of file).
    Ended,
    /// The server sent a stream error.
    StreamError(StreamCondition),
    /// The connection broke: the I/O error's words.
    Broken(String),
}

impl SessionLost {
    /// The loss as a failure of the stream's step `stage`.
    pub fn into_failure(self, stage: Stage, received: &Received) -> StreamFailure {
        match self {
            SessionLost::Ended => StreamFailure::Closed {
                stage,
                seen: received.seen(),
            },
            SessionLost::StreamError(condition) => StreamFailure::StreamError {
                stage,
                condition,
                text: None,
            },
            SessionLost::Broken(error) => StreamFailure::Io { stage, error },
        }
    }
}

impl std::fmt::Display for SessionLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionLost::Ended => f.write_str("the stream ended"),
            SessionLost::StreamError(c) => {
                write!(
                    f,
                    "the server ended the stream with <{}/>",
                    condition_name(c)
                )
            }
            SessionLost::Broken(e) => write!(f, "the stream broke: {e}"),
        }
    }
}

/// Why an IQ request got no result.
#[derive(Debug)]
pub enum IqFailure {
    /// The entity answered with an error.
    Error(Box<StanzaError>),
    /// The answer was a result without payload where one was needed.
    Empty,
    /// The session failed meanwhile.
    Session(SessionLost),
}

impl std::fmt::Display for IqFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IqFailure::Error(e) => write!(f, "an error: {}", stanzas::error_name(e)),
            IqFailure::Empty => f.write_str("an empty result"),
            IqFailure::Session(e) => write!(f, "no answer ({e})"),
        }
    }
}

/// An IQ request: get or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqKind {
    /// `type='get'`.
    Get,
    /// `type='set'`.
    Set,
}

/// A logged-in client.
pub struct Session {
    stream: Box<XmppStream<Io>>,
    jid: FullJid,
    received: Received,
    backlog: VecDeque<Stanza>,
    passed: Vec<String>,
}

impl Session {
    pub(crate) fn new(stream: XmppStream<Io>, jid: FullJid, received: Received) -> Self {
        Session {
            stream: Box::new(stream),
            jid,
            received,
            backlog: VecDeque::new(),
            passed: Vec::new(),
        }
    }

    /// The session's bound (full) JID.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// What the server sent on the session's connection so far.
    pub fn received(&self) -> &Received {
        &self.received
    }

    /// The user's bare JID.
    pub fn bare(&self) -> BareJid {
        self.jid.to_bare()
    }

    /// Presences this session passed over while waiting for another, for the evidence
    /// of a stalled exchange.
    pub fn passed_over(&self) -> &[String] {
        &self.passed
    }

    /// Sends a stanza.
    pub async fn send(&mut self, stanza: impl Into<Stanza>) -> Result<(), SessionLost> {
        let stanza: Stanza = stanza.into();
        self.stream
            .send(&XmppStreamElement::Stanza(stanza))
            .await
            .map_err(|e| SessionLost::Broken(e.to_string()))
    }

    /// The next stanza from the wire. Requests addressed to the client are answered as
    /// RFC 6120 §8.2.3 and RFC 6121 §2.1.6 say (a roster push with a result, anything
    /// else with service-unavailable) and not returned.
    async fn read(&mut self) -> Result<Stanza, SessionLost> {
        loop {
            let element = match self.stream.next().await {
                None => return Err(SessionLost::Ended),
                Some(Err(ReadError::SoftTimeout)) | Some(Err(ReadError::ParseError(_))) => continue,
                Some(Err(ReadError::StreamFooterReceived)) => return Err(SessionLost::Ended),
                Some(Err(ReadError::HardError(e))) => {
                    return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        SessionLost::Ended
                    } else {
                        SessionLost::Broken(e.to_string())
                    })
                }
                // A stanza the parsers cannot read (a server's extension, a peer's
                // oddity) is skipped: it is not what any check waits for.
                Some(Ok(FallibleStreamElement::Err(_))) => continue,
                Some(Ok(FallibleStreamElement::Ok(el))) => el,
            };
            match element {
                XmppStreamElement::Stanza(Stanza::Iq(iq)) => {
                    let push = matches!(&iq, Iq::Set { payload, .. } if payload.is("query", stanzas::NS_ROSTER));
                    match iq {
                        Iq::Get { from, id, .. } | Iq::Set { from, id, .. } => {
                            let answer = if push {
                                Iq::Result {
                                    from: None,
                                    to: from,
                                    id,
                                    payload: None,
                                }
                            } else {
                                Iq::Error {
                                    from: None,
                                    to: from,
                                    id,
                                    error: StanzaError::new(
                                        ErrorType::Cancel,
                                        DefinedCondition::ServiceUnavailable,
                                        "en",
                                        "",
                                    ),
                                    payload: None,
                                }
                            };
                            self.send(answer).await?;
                        }
                        other => return Ok(Stanza::Iq(other)),
                    }
                }
                XmppStreamElement::Stanza(s) => return Ok(s),
                XmppStreamElement::StreamError(e) => {
                    return Err(SessionLost::StreamError(e.0.condition))
                }
                _ => continue,
            }
        }
    }

    /// Waits (the caller bounds the time) for the first stanza that `pick` takes: from
    /// the backlog first, then from the wire. `passed` sees every stanza from the wire
    /// that `pick` did not take.
    pub async fn wait_for<T>(
        &mut self,
        mut pick: impl FnMut(&Stanza) -> Option<T>,
        mut passed: impl FnMut(&mut Vec<String>, &Stanza),
    ) -> Result<T, SessionLost> {
        if let Some((i, t)) = self
            .backlog
            .iter()
            .enumerate()
            .find_map(|(i, s)| pick(s).map(|t| (i, t)))
        {
            self.backlog.remove(i);
            return Ok(t);
        }
        loop {
            let s = self.read().await?;
            if let Some(t) = pick(&s) {
                return Ok(t);
            }
            passed(&mut self.passed, &s);
            if self.backlog.len() == BACKLOG {
                self.backlog.pop_front();
            }
            self.backlog.push_back(s);
        }
    }

    /// [`Session::wait_for`] for a stanza that arrives from now on: what the backlog
    /// holds (read before, while waiting for something else) is not taken.
    pub async fn wait_for_new<T>(
        &mut self,
        mut pick: impl FnMut(&Stanza) -> Option<T>,
    ) -> Result<T, SessionLost> {
        loop {
            let s = self.read().await?;
            if let Some(t) = pick(&s) {
                return Ok(t);
            }
            if self.backlog.len() == BACKLOG {
                self.backlog.pop_front();
            }
            self.backlog.push_back(s);
        }
    }

    /// Waits for a presence from exactly `from` (a full JID: this session of the
    /// contact, not another of the same user) that `accept` takes. Presences of the same
    /// user or about subscriptions that it passes over are kept as evidence.
    pub async fn presence_from(
        &mut self,
        from: &Jid,
        accept: impl Fn(&Presence) -> bool,
    ) -> Result<(), SessionLost> {
        let me = self.bare();
        let bare = from.to_bare();
        self.wait_for(
            |s| match s {
                Stanza::Presence(p) if p.from.as_ref() == Some(from) && accept(p) => Some(()),
                _ => None,
            },
            |kept, s| {
                let Stanza::Presence(p) = s else { return };
                let sender = p.from.as_ref().map(|j| j.to_bare());
                let relevant = sender.as_ref() == Some(&bare)
                    || !matches!(p.type_, PresenceType::None | PresenceType::Unavailable);
                if relevant && kept.len() < PASSED {
                    kept.push(format!(
                        "{me} got {} from {}",
                        describe(p),
                        stanzas::sender(p)
                    ));
                }
            },
        )
        .await
    }

    /// A message whose id is `id` (a token of the check), error or not.
    pub async fn message_with_id(
        &mut self,
        id: &str,
    ) -> Result<tokio_xmpp::parsers::message::Message, SessionLost> {
        self.wait_for(
            |s| match s {
                Stanza::Message(m) if m.id.as_ref().map(|i| i.0.as_str()) == Some(id) => {
                    Some(m.clone())
                }
                _ => None,
            },
            |_, _| {},
        )
        .await
    }

    /// Sends an IQ request to `to` (`None`: the user's own account) and waits for its
    /// answer: the result's payload.
    pub async fn iq(
        &mut self,
        to: Option<Jid>,
        kind: IqKind,
        payload: Element,
    ) -> Result<Option<Element>, IqFailure> {
        let id = stanzas::unique_token("iq");
        let iq = match kind {
            IqKind::Get => Iq::Get {
                from: None,
                to: to.clone(),
                id: id.clone(),
                payload,
            },
            IqKind::Set => Iq::Set {
                from: None,
                to: to.clone(),
                id: id.clone(),
                payload,
            },
        };
        self.send(iq).await.map_err(IqFailure::Session)?;
        let answer = self
            .wait_for(
                |s| match s {
                    Stanza::Iq(iq @ (Iq::Result { .. } | Iq::Error { .. })) if iq.id() == id => {
                        Some(iq.clone())
                    }
                    _ => None,
                },
                |_, _| {},
            )
            .await
            .map_err(IqFailure::Session)?;
        match answer {
            Iq::Result { payload, .. } => Ok(payload),
            Iq::Error { error, .. } => Err(IqFailure::Error(Box::new(error))),
            _ => unreachable!("only results and errors are picked"),
        }
    }

    /// Ends the stream (waiting for the server until `by` at most) and drops the
    /// connection.
    pub async fn close(mut self, by: Instant) {
        let closing = <XmppStream<Io> as SinkExt<&XmppStreamElement>>::close(&mut *self.stream);
        let _ = tokio::time::timeout_at(by.into(), closing).await;
    }
}

/// A presence's kind as evidence: `available`, `available away`, `Subscribe`...
fn describe(p: &Presence) -> String {
    let kind = match &p.type_ {
        PresenceType::None => "available".to_string(),
        t => format!("{t:?}"),
    };
    let show = p
        .show
        .as_ref()
        .map(|s| format!(" {s:?}").to_lowercase())
        .unwrap_or_default();
    format!("{kind}{show}")
}
