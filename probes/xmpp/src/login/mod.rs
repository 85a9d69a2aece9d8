//! Logging a user in, once: a verified connection, the run's ledger asked before the
//! password is sent (a password a server refused earlier in the run is never sent
//! again; one no server has judged yet is sent by one check at a time), SASL ([`sasl`]),
//! resource binding, the initial presence and its reflection. One authentication per
//! connection, and none repeated: a refusal is final. A `see-other-host` stream error
//! (RFC 6120 §4.9.3.19) is followed once, to the host it names, with the same checks on
//! that connection: the same domain asked for and verified, the password sent only once
//! its certificate verified. [`LoginResult`] is the observation; the checks judge it.

pub mod sasl;

pub use sasl::{SaslCondition, MECHANISMS};

use crate::connector::{ClientEndpoint, ConnectFailure, Connector, Io};
use crate::session::Session;
use crate::wire::capped::Received;
use crate::wire::stream::{self, Opener, Steps, StreamFailure};
use imp_verify_core::spec::Spec;
use imp_verify_core::{
    AuthLog, CheckCtx, CheckKey, CredentialGuard, CredentialUse, Credentials, Principal, Refusal,
    Secret, Stage,
};
use std::time::{Duration, Instant};
use tokio_xmpp::parsers::bind::{BindQuery, BindResponse};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stream_error::DefinedCondition as StreamCondition;
use tokio_xmpp::xmlstream::{XmppStream, XmppStreamElement};
use tokio_xmpp::Stanza;

/// Who logs in: the JID, the password and the credential's name in the run's ledger.
pub struct Credential<'a> {
    /// The user's bare JID.
    pub jid: BareJid,
    /// The password.
    pub password: &'a Secret,
    /// The credential in the run's ledger ([`Principal::user`]).
    pub principal: Principal,
}

/// What a check hands its logins: the run's ledger of credentials, the check's record of
/// authentications, and the check's own key (the ledger names the check that met a
/// refusal).
#[derive(Debug, Clone)]
pub struct Accounting {
    /// The run's ledger.
    pub ledger: Credentials,
    /// The check's authentications.
    pub auth: AuthLog,
    /// The check.
    pub check: CheckKey,
}

impl Accounting {
    /// The accounting of check `check` called with `cx`.
    pub fn of(cx: &CheckCtx, check: &CheckKey) -> Self {
        Accounting {
            ledger: cx.credentials.clone(),
            auth: cx.auth.clone(),
            check: check.clone(),
        }
    }
}

/// Why a login did not bring a session online.
#[derive(Debug)]
pub enum LoginFailure {
    /// The user's JID in the spec does not parse: the JID and why.
    BadJid(String, String),
    /// The password was not sent: a server refused it earlier in the run.
    NotSent(Refusal),
    /// Another check was sending the same unjudged password until the deadline.
    LedgerBusy(Duration),
    /// No verified connection.
    Connect(ConnectFailure),
    /// A step of the stream failed (before or after authentication).
    Stream {
        /// What the server did.
        failure: StreamFailure,
        /// Whether the server had accepted the credential by then.
        authenticated: bool,
    },
    /// None of [`MECHANISMS`] is offered.
    NoMechanism {
        /// The mechanisms the server offered.
        offered: Vec<String>,
    },
    /// The server refused the authentication.
    Refused {
        /// The server's condition.
        condition: SaslCondition,
        /// The mechanisms the server offered.
        offered: Vec<String>,
        /// The server's text, escaped and cut.
        text: Option<String>,
        /// Whether a server had accepted the same password earlier in the run (then the
        /// refusal is of the account by this server, not of the password).
        accepted_before: bool,
    },
    /// The server's SCRAM signature did not verify: not the server that knows the user.
    ServerSignature(String),
    /// The client's own SASL code failed (a bug, or a challenge it cannot answer).
    Client(String),
    /// The server refused to bind a resource: the condition.
    BindRefused(String),
    /// The session was bound to another user.
    WrongBinding(FullJid),
    /// The node the first redirect named redirected again (followed once only).
    RedirectedAgain {
        /// The host the first redirect named.
        first: String,
        /// The host the second one named.
        then: String,
    },
}

impl LoginFailure {
    /// The step that ran out of time, when one did.
    pub fn timed_out(&self) -> Option<Stage> {
        match self {
            LoginFailure::Connect(c) => c.timed_out(),
            LoginFailure::Stream {
                failure: StreamFailure::Timeout { stage, .. },
                ..
            } => Some(*stage),
            _ => None,
        }
    }

    /// The host a `see-other-host` names, when the server sent one.
    pub fn redirect(&self) -> Option<&str> {
        let failure = match self {
            LoginFailure::Stream { failure, .. } => failure,
            LoginFailure::Connect(ConnectFailure::Stream { failure, .. }) => failure,
            _ => return None,
        };
        match failure {
            StreamFailure::StreamError {
                condition: StreamCondition::SeeOtherHost(host),
                ..
            } => Some(host),
            _ => None,
        }
    }
}

impl std::fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginFailure::BadJid(j, e) => write!(f, "`{j}` is not a JID: {e}"),
            LoginFailure::NotSent(r) => write!(
                f,
                "the password was not sent: {} refused it earlier in this run ({})",
                r.by_check, r.words
            ),
            LoginFailure::LedgerBusy(d) => write!(
                f,
                "another check was logging the same user in for {} ms",
                d.as_millis()
            ),
            LoginFailure::Connect(c) => write!(f, "{c}"),
            LoginFailure::Stream { failure, .. } => write!(f, "{failure}"),
            LoginFailure::NoMechanism { offered } => write!(
                f,
                "no usable SASL mechanism (offered: {})",
                imp_verify_core::text::peer_text(&offered.join(" "))
            ),
            LoginFailure::Refused { condition, .. } => write!(f, "SASL {}", condition.name()),
            LoginFailure::ServerSignature(e) => write!(f, "the server's SCRAM signature: {e}"),
            LoginFailure::Client(e) => write!(f, "{e}"),
            LoginFailure::BindRefused(c) => write!(f, "resource binding refused: {c}"),
            LoginFailure::WrongBinding(j) => write!(f, "bound to {j}"),
            LoginFailure::RedirectedAgain { first, then } => write!(
                f,
                "redirected to {} and from there again to {} (followed once only)",
                imp_verify_core::text::peer_text(first),
                imp_verify_core::text::peer_text(then)
            ),
        }
    }
}

/// A session online, and what its login showed.
pub struct Online {
    /// The session.
    pub session: Session,
    /// From asking the ledger to the reflected presence.
    pub took: Duration,
    /// The SASL mechanism used.
    pub mechanism: &'static str,
    /// The host that served the session (the one connected to, or the one a redirect
    /// named).
    pub served_by: String,
    /// The host that sent the session on with `see-other-host`, if one did.
    pub redirected_by: Option<String>,
}

/// What a login came to.
pub enum LoginResult {
    /// Online.
    Online(Online),
    /// Not online.
    Failed(LoginFailure),
}

/// Logs `who` in at `at`, all by the steps' deadline (following one redirect).
pub async fn login(
    c: &Connector,
    spec: &Spec,
    at: &ClientEndpoint,
    who: &Credential<'_>,
    acct: &Accounting,
    steps: &Steps,
) -> LoginResult {
    let started = Instant::now();
    let mut guard = None;
    let first = Box::pin(attempt(c, at, who, acct, &mut guard, steps)).await;
    let result = match first {
        Err(e) => match e.redirect().map(str::to_string) {
            Some(named) => {
                Box::pin(follow(c, spec, at, &named, who, acct, &mut guard, steps)).await
            }
            None => Err(e),
        },
        ok => ok,
    };
    match result {
        Ok(mut o) => {
            o.took = started.elapsed();
            LoginResult::Online(o)
        }
        Err(e) => LoginResult::Failed(e),
    }
}

/// Follows the redirect of `from` to `named`, once.
#[allow(clippy::too_many_arguments)]
async fn follow(
    c: &Connector,
    spec: &Spec,
    from: &ClientEndpoint,
    named: &str,
    who: &Credential<'_>,
    acct: &Accounting,
    guard: &mut Option<CredentialGuard>,
    steps: &Steps,
) -> Result<Online, LoginFailure> {
    let next = c
        .redirect(spec, from, named, steps)
        .await
        .map_err(LoginFailure::Connect)?;
    match Box::pin(attempt(c, &next, who, acct, guard, steps)).await {
        Ok(mut o) => {
            o.redirected_by = Some(from.host.clone());
            Ok(o)
        }
        Err(e) => match e.redirect() {
            Some(then) => Err(LoginFailure::RedirectedAgain {
                first: named.to_string(),
                then: then.to_string(),
            }),
            None => Err(e),
        },
    }
}

/// The right to send `who`'s password, or the refusal it met earlier in the run.
async fn acquire(
    who: &Credential<'_>,
    acct: &Accounting,
    steps: &Steps,
) -> Result<CredentialGuard, LoginFailure> {
    let asked =
        tokio::time::timeout_at(steps.deadline().into(), acct.ledger.acquire(&who.principal))
            .await
            .map_err(|_| LoginFailure::LedgerBusy(steps.budget()))?;
    match asked {
        CredentialUse::Send(g) => Ok(g),
        CredentialUse::Refused(r) => Err(LoginFailure::NotSent(r)),
    }
}

/// Tells the ledger and the check's record what the server said of the password.
fn settle(
    guard: &mut Option<CredentialGuard>,
    sasl: &Result<(), LoginFailure>,
    who: &Credential<'_>,
    at: &ClientEndpoint,
    acct: &Accounting,
) {
    let account = who.jid.to_string();
    match sasl {
        Ok(()) => {
            acct.auth.record(&account, false);
            if let Some(g) = guard.take() {
                g.accepted();
            }
        }
        Err(LoginFailure::Refused {
            condition,
            text,
            accepted_before,
            ..
        }) => {
            let refused = condition.refuses_credentials();
            acct.auth.record(&account, refused);
            // A password another server accepted in this run is right: this server
            // refuses the account, and the ledger keeps the password usable.
            if refused && !accepted_before {
                if let Some(g) = guard.take() {
                    let words = match text {
                        Some(t) => format!("SASL {}: {t}", condition.name()),
                        None => format!("SASL {}", condition.name()),
                    };
                    g.refused(Refusal {
                        by_check: acct.check.to_string(),
                        at: format!("{account} at {} ({})", at.host, at.addr),
                        words,
                        locked: false,
                    });
                }
            }
        }
        // The password may not have reached a judge: the ledger keeps it unjudged.
        Err(_) => {}
    }
}

/// One connection's login.
async fn attempt(
    c: &Connector,
    at: &ClientEndpoint,
    who: &Credential<'_>,
    acct: &Accounting,
    guard: &mut Option<CredentialGuard>,
    steps: &Steps,
) -> Result<Online, LoginFailure> {
    let before = |failure| LoginFailure::Stream {
        failure,
        authenticated: false,
    };
    let (io, received) = Box::pin(c.open_verified(at, steps))
        .await
        .map_err(LoginFailure::Connect)?;
    let (features, mut xml) = Box::pin(stream::open(
        io,
        Opener::Client,
        &at.domain,
        steps,
        &received,
    ))
    .await
    .map_err(before)?;
    let offered = features.mechanisms.clone();
    let Some(mechanism) = MECHANISMS.iter().find(|m| offered.iter().any(|o| o == *m)) else {
        return Err(LoginFailure::NoMechanism { offered });
    };
    let local = who
        .jid
        .node()
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    // The ledger is asked only now, with the connection verified and a mechanism
    // chosen: a server that stalls before this point holds no other check up.
    if guard.is_none() {
        *guard = Some(acquire(who, acct, steps).await?);
    }
    let password = who.password.expose();
    let accepted_before = guard.as_ref().is_some_and(CredentialGuard::accepted_before);
    let exchange = Box::pin(sasl::authenticate(
        &mut xml, mechanism, &local, password, &offered, &received,
    ));
    let sasl = steps.run(Stage::Sasl, exchange).await.unwrap_or_else(|| {
        Err(before(StreamFailure::Timeout {
            stage: Stage::Sasl,
            after: steps.budget(),
            seen: received.seen(),
        }))
    });
    let sasl = sasl.map_err(|e| match e {
        LoginFailure::Refused {
            condition,
            offered,
            text,
            ..
        } => LoginFailure::Refused {
            condition,
            offered,
            text,
            accepted_before,
        },
        other => other,
    });
    settle(guard, &sasl, who, at, acct);
    sasl?;
    let session = Box::pin(go_online(xml, at, who, steps, &received)).await?;
    Ok(Online {
        session,
        took: Duration::ZERO,
        mechanism,
        served_by: at.host.clone(),
        redirected_by: None,
    })
}

/// After SASL: the stream restart, resource binding (to the user who authenticated) and
/// the initial presence.
async fn go_online(
    xml: XmppStream<Io>,
    at: &ClientEndpoint,
    who: &Credential<'_>,
    steps: &Steps,
    received: &Received,
) -> Result<Session, LoginFailure> {
    let after = |failure| LoginFailure::Stream {
        failure,
        authenticated: true,
    };
    let restart = stream::restart(xml, Opener::Client, &at.domain, steps, received);
    let (_, mut xml) = Box::pin(restart).await.map_err(after)?;
    let binding = Box::pin(bind(&mut xml, received));
    let bound = match steps.run(Stage::ResourceBinding, binding).await {
        Some(Ok(jid)) => jid,
        Some(Err(BindError::Stream(f))) => return Err(after(f)),
        Some(Err(BindError::Refused(c))) => return Err(LoginFailure::BindRefused(c)),
        None => {
            return Err(after(StreamFailure::Timeout {
                stage: Stage::ResourceBinding,
                after: steps.budget(),
                seen: received.seen(),
            }))
        }
    };
    if bound.to_bare() != who.jid {
        return Err(LoginFailure::WrongBinding(bound));
    }
    let session = Session::new(xml, bound, received.clone());
    Box::pin(announce(session, steps, received)).await
}

/// Available, as a client is: the server routes messages to available sessions, and
/// reflects the presence back once the session is (the stanza step).
async fn announce(
    mut session: Session,
    steps: &Steps,
    received: &Received,
) -> Result<Session, LoginFailure> {
    let own = Jid::from(session.jid().clone());
    let reflected = steps
        .run(Stage::Stanza, async {
            session.send(Presence::new(PresenceType::None)).await?;
            session.presence_from(&own, |_| true).await
        })
        .await;
    match reflected {
        Some(Ok(())) => Ok(session),
        Some(Err(lost)) => Err(LoginFailure::Stream {
            failure: lost.into_failure(Stage::Stanza, received),
            authenticated: true,
        }),
        None => Err(LoginFailure::Stream {
            failure: StreamFailure::Timeout {
                stage: Stage::Stanza,
                after: steps.budget(),
                seen: received.seen(),
            },
            authenticated: true,
        }),
    }
}

enum BindError {
    Stream(StreamFailure),
    Refused(String),
}

impl From<StreamFailure> for BindError {
    fn from(f: StreamFailure) -> Self {
        BindError::Stream(f)
    }
}

/// RFC 6120 §7: asks the server for a resource; the bound full JID.
async fn bind<Io: tokio::io::AsyncBufRead + tokio::io::AsyncWrite + Unpin>(
    xml: &mut XmppStream<Io>,
    received: &Received,
) -> Result<FullJid, BindError> {
    const ID: &str = "imp-verify-bind";
    let stage = Stage::ResourceBinding;
    let request = Stanza::Iq(Iq::from_set(ID, BindQuery::new(None)));
    sasl::send(xml, XmppStreamElement::Stanza(request), stage, received).await?;
    loop {
        if let XmppStreamElement::Stanza(Stanza::Iq(iq)) = sasl::next(xml, stage, received).await? {
            match iq {
                Iq::Result {
                    id,
                    payload: Some(p),
                    ..
                } if id == ID => {
                    return BindResponse::try_from(p)
                        .map(FullJid::from)
                        .map_err(|e| BindError::Refused(format!("an unreadable answer ({e})")))
                }
                Iq::Error { id, error, .. } if id == ID => {
                    return Err(BindError::Refused(crate::stanzas::error_name(&error)))
                }
                Iq::Result { id, .. } if id == ID => {
                    return Err(BindError::Refused("an empty answer".into()))
                }
                _ => {}
            }
        }
    }
}

impl From<StreamFailure> for LoginFailure {
    fn from(failure: StreamFailure) -> Self {
        LoginFailure::Stream {
            failure,
            authenticated: false,
        }
    }
}

/// The credential of test user `user` of `spec`, or why its JID does not parse.
pub fn test_user_credential<'a>(
    spec: &Spec,
    user: &'a imp_verify_core::spec::TestUser,
) -> Result<Credential<'a>, LoginFailure> {
    let text = spec.jid_of(user);
    let jid: BareJid = text
        .parse()
        .map_err(|e: tokio_xmpp::parsers::jid::Error| LoginFailure::BadJid(text, e.to_string()))?;
    Ok(Credential {
        jid,
        password: user.password(),
        principal: Principal::user(&user.user_id),
    })
}

/// Logs test user `user` of `c`'s spec in on node `node` (its client port), by the
/// steps' deadline.
pub async fn login_test_user(
    c: &crate::XmppCtx,
    user: &imp_verify_core::spec::TestUser,
    node: &str,
    acct: &Accounting,
    steps: &Steps,
) -> LoginResult {
    let who = match test_user_credential(&c.spec, user) {
        Ok(who) => who,
        Err(e) => return LoginResult::Failed(e),
    };
    let service = imp_verify_core::spec::Service::XmppC2s;
    match c.connector.node(&c.spec, node, service, steps).await {
        Err(e) => LoginResult::Failed(LoginFailure::Connect(e)),
        Ok(at) => Box::pin(login(&c.connector, &c.spec, &at, &who, acct, steps)).await,
    }
}
