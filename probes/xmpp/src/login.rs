//! Logging a test user in, once: a verified connection, SASL with the strongest
//! mechanism both sides have (never ANONYMOUS), resource binding, the initial presence
//! and its reflection. One authentication per login, and none repeated: a refusal is
//! final. [`LoginResult`] is the observation; [`failure_outcome`] judges a failure.

use crate::connector::{ConnectFailure, Endpoint, Io, Net};
use crate::session::{Session, SessionError};
use futures::{SinkExt, StreamExt};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio_xmpp::parsers::bind::{BindQuery, BindResponse};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::sasl::{
    Auth, DefinedCondition as Sasl, Mechanism as WireMechanism, Nonza, Response,
};
use tokio_xmpp::parsers::stream_error::DefinedCondition as StreamCondition;
use tokio_xmpp::parsers::stream_features::StreamFeatures;
use tokio_xmpp::xmlstream::{
    initiate_stream, ReadError, RecvFeaturesError, StreamHeader, Timeouts, XmppStream,
    XmppStreamElement,
};
use tokio_xmpp::Stanza;

/// The SASL mechanisms a test user logs in with, strongest first.
pub const MECHANISMS: [&str; 3] = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];

/// A SASL failure condition (RFC 6120 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslCondition {
    /// `aborted`.
    Aborted,
    /// `account-disabled`.
    AccountDisabled,
    /// `credentials-expired`.
    CredentialsExpired,
    /// `encryption-required`.
    EncryptionRequired,
    /// `incorrect-encoding`.
    IncorrectEncoding,
    /// `invalid-authzid`.
    InvalidAuthzid,
    /// `invalid-mechanism`.
    InvalidMechanism,
    /// `malformed-request`.
    MalformedRequest,
    /// `mechanism-too-weak`.
    MechanismTooWeak,
    /// `not-authorized`.
    NotAuthorized,
    /// `temporary-auth-failure`.
    TemporaryAuthFailure,
}

impl SaslCondition {
    /// Whether the server judged the credential itself (wrong, or its account unusable):
    /// a login refused so must not be tried again, or the account may lock.
    pub fn refuses_credentials(self) -> bool {
        matches!(
            self,
            SaslCondition::NotAuthorized
                | SaslCondition::AccountDisabled
                | SaslCondition::CredentialsExpired
        )
    }

    /// The condition as the wire spells it.
    pub fn name(self) -> &'static str {
        use SaslCondition as C;
        match self {
            C::Aborted => "aborted",
            C::AccountDisabled => "account-disabled",
            C::CredentialsExpired => "credentials-expired",
            C::EncryptionRequired => "encryption-required",
            C::IncorrectEncoding => "incorrect-encoding",
            C::InvalidAuthzid => "invalid-authzid",
            C::InvalidMechanism => "invalid-mechanism",
            C::MalformedRequest => "malformed-request",
            C::MechanismTooWeak => "mechanism-too-weak",
            C::NotAuthorized => "not-authorized",
            C::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

impl From<&Sasl> for SaslCondition {
    fn from(c: &Sasl) -> Self {
        use SaslCondition as C;
        match c {
            Sasl::Aborted => C::Aborted,
            Sasl::AccountDisabled => C::AccountDisabled,
            Sasl::CredentialsExpired => C::CredentialsExpired,
            Sasl::EncryptionRequired => C::EncryptionRequired,
            Sasl::IncorrectEncoding => C::IncorrectEncoding,
            Sasl::InvalidAuthzid => C::InvalidAuthzid,
            Sasl::InvalidMechanism => C::InvalidMechanism,
            Sasl::MalformedRequest => C::MalformedRequest,
            Sasl::MechanismTooWeak => C::MechanismTooWeak,
            Sasl::NotAuthorized => C::NotAuthorized,
            Sasl::TemporaryAuthFailure => C::TemporaryAuthFailure,
        }
    }
}

/// Where a login was when it ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStage {
    /// Connecting, STARTTLS, TLS, the first stream features.
    Connecting,
    /// The SASL exchange.
    Authenticating,
    /// The stream restart and resource binding.
    Binding,
    /// The initial presence and its reflection.
    Presence,
}

/// Why a login did not bring a session online.
#[derive(Debug)]
pub enum LoginFailure {
    /// The user's JID in the spec does not parse: the JID and why.
    BadJid(String, String),
    /// No verified connection.
    Connect(ConnectFailure),
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
    },
    /// The server's SCRAM signature did not verify: not the server that knows the user.
    ServerSignature(String),
    /// The server closed the connection.
    Closed,
    /// The server sent a stream error.
    StreamError(StreamCondition),
    /// The stream broke (an I/O error or unreadable XML): its words.
    Broken(String),
    /// The server refused to bind a resource: the condition.
    BindRefused(String),
    /// Out of time at a stage.
    Timeout(LoginStage, Duration),
    /// The session was bound to another user.
    WrongBinding(FullJid),
}

impl std::fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginFailure::BadJid(j, e) => write!(f, "`{j}` is not a JID: {e}"),
            LoginFailure::Connect(c) => write!(f, "{c}"),
            LoginFailure::NoMechanism { offered } => {
                write!(
                    f,
                    "no usable SASL mechanism (offered: {})",
                    offered.join(" ")
                )
            }
            LoginFailure::Refused { condition, .. } => write!(f, "SASL {}", condition.name()),
            LoginFailure::ServerSignature(e) => write!(f, "the server's SCRAM signature: {e}"),
            LoginFailure::Closed => f.write_str("the server closed the connection"),
            LoginFailure::StreamError(c) => write!(f, "stream error {c:?}"),
            LoginFailure::Broken(e) => write!(f, "{e}"),
            LoginFailure::BindRefused(c) => write!(f, "resource binding refused: {c}"),
            LoginFailure::Timeout(s, d) => write!(f, "{s:?} not done within {} ms", d.as_millis()),
            LoginFailure::WrongBinding(j) => write!(f, "bound to {j}"),
        }
    }
}

/// A session online, and what its login showed.
pub struct Online {
    /// The session.
    pub session: Session,
    /// From the first connection attempt to the reflected presence.
    pub took: Duration,
    /// The SASL mechanism used.
    pub mechanism: &'static str,
}

/// What a login came to.
pub enum LoginResult {
    /// Online.
    Online(Online),
    /// Not online.
    Failed(LoginFailure),
}

impl From<SessionError> for LoginFailure {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Ended => LoginFailure::Closed,
            SessionError::StreamError(c) => LoginFailure::StreamError(c),
            SessionError::Broken(e) => LoginFailure::Broken(e),
        }
    }
}

fn io_failure(e: std::io::Error) -> LoginFailure {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        LoginFailure::Closed
    } else {
        LoginFailure::Broken(e.to_string())
    }
}

fn features_failure(e: RecvFeaturesError) -> LoginFailure {
    match e {
        RecvFeaturesError::Io(e) => io_failure(e),
        RecvFeaturesError::StreamError(e) => LoginFailure::StreamError(e.0.condition),
    }
}

/// The next stream-level element during login.
async fn next(stream: &mut XmppStream<Io>) -> Result<XmppStreamElement, LoginFailure> {
    loop {
        match stream.next().await {
            None | Some(Err(ReadError::StreamFooterReceived)) => return Err(LoginFailure::Closed),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(io_failure(e)),
            Some(Err(ReadError::ParseError(e))) => return Err(LoginFailure::Broken(e.to_string())),
            Some(Ok(el)) => match el.into_read_error() {
                Ok(XmppStreamElement::StreamError(e)) => {
                    return Err(LoginFailure::StreamError(e.0.condition))
                }
                Ok(el) => return Ok(el),
                Err(ReadError::HardError(e)) => return Err(io_failure(e)),
                Err(e) => return Err(LoginFailure::Broken(e.to_string())),
            },
        }
    }
}

async fn send(stream: &mut XmppStream<Io>, el: XmppStreamElement) -> Result<(), LoginFailure> {
    stream.send(&el).await.map_err(io_failure)
}

fn header(domain: &str) -> StreamHeader<'static> {
    StreamHeader {
        to: Some(Cow::Owned(domain.to_string())),
        from: None,
        id: None,
    }
}

/// Runs `step` within `deadline`, naming `stage` if it runs out.
async fn step<T>(
    deadline: Instant,
    budget: Duration,
    stage: LoginStage,
    fut: impl std::future::Future<Output = Result<T, LoginFailure>>,
) -> Result<T, LoginFailure> {
    tokio::time::timeout_at(deadline.into(), fut)
        .await
        .unwrap_or(Err(LoginFailure::Timeout(stage, budget)))
}

impl LoginResult {
    /// Records in `auth` what this login did with `account`'s credential: accepted, or
    /// refused by the server (a refusal is final: never retried in the run).
    pub fn record(&self, auth: &imp_verify_core::AuthLog, account: &str) {
        match self {
            LoginResult::Online(_) => auth.record(account, false),
            LoginResult::Failed(LoginFailure::Refused { condition, .. })
                if condition.refuses_credentials() =>
            {
                auth.record(account, true)
            }
            // Refused for another reason (a server-side failure, a mechanism): the
            // credential was sent and not judged wrong.
            LoginResult::Failed(LoginFailure::Refused { .. }) => auth.record(account, false),
            LoginResult::Failed(_) => {}
        }
    }
}

/// Logs `jid` in at `at` with `password`, all within `deadline`.
pub async fn login(
    net: &Net,
    at: &Endpoint,
    jid: &BareJid,
    password: &str,
    deadline: Instant,
) -> LoginResult {
    match attempt(net, at, jid, password, deadline).await {
        Ok(o) => LoginResult::Online(o),
        Err(e) => LoginResult::Failed(e),
    }
}

async fn attempt(
    net: &Net,
    at: &Endpoint,
    jid: &BareJid,
    password: &str,
    deadline: Instant,
) -> Result<Online, LoginFailure> {
    use LoginStage as S;
    let started = Instant::now();
    let budget = deadline.saturating_duration_since(started);
    let (features, mut stream) = step(deadline, budget, S::Connecting, async {
        let io = net.open_verified(at).await.map_err(LoginFailure::Connect)?;
        let pending = initiate_stream(io, "jabber:client", header(&at.domain), Timeouts::default())
            .await
            .map_err(io_failure)?;
        pending.recv_features::<_>().await.map_err(features_failure)
    })
    .await?;
    let features: StreamFeatures = features;
    let offered: Vec<String> = features.sasl_mechanisms.iter().cloned().collect();
    let Some(mechanism) = MECHANISMS
        .iter()
        .find(|m| features.sasl_mechanisms.contains(**m))
    else {
        return Err(LoginFailure::NoMechanism { offered });
    };
    let local = jid
        .node()
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    step(deadline, budget, S::Authenticating, async {
        authenticate(&mut stream, mechanism, &local, password, &offered).await
    })
    .await?;
    let (features, mut stream) = step(deadline, budget, S::Binding, async {
        let pending = stream
            .initiate_reset()
            .send_header(header(&at.domain))
            .await
            .map_err(io_failure)?;
        pending.recv_features::<_>().await.map_err(features_failure)
    })
    .await?;
    let _: StreamFeatures = features;
    let bound = step(deadline, budget, S::Binding, bind(&mut stream)).await?;
    if bound.to_bare() != *jid {
        return Err(LoginFailure::WrongBinding(bound));
    }
    let mut session = Session::new(stream, bound.clone());
    let own = Jid::from(bound);
    step(deadline, budget, S::Presence, async {
        // Available, as a client is: the server routes messages to available sessions,
        // and reflects the presence back once the session is.
        session.send(Presence::new(PresenceType::None)).await?;
        session.presence_from(&own, |_| true).await?;
        Ok(())
    })
    .await?;
    Ok(Online {
        session,
        took: started.elapsed(),
        mechanism,
    })
}

async fn authenticate(
    stream: &mut XmppStream<Io>,
    mechanism: &str,
    user: &str,
    password: &str,
    offered: &[String],
) -> Result<(), LoginFailure> {
    use sasl::client::mechanisms::{Plain, Scram};
    use sasl::client::Mechanism;
    use sasl::common::scram::{Sha1, Sha256};
    let creds = sasl::common::Credentials::default()
        .with_username(user)
        .with_password(password)
        .with_channel_binding(sasl::common::ChannelBinding::None);
    let built: Result<Box<dyn Mechanism + Send>, _> = match mechanism {
        "SCRAM-SHA-256" => Scram::<Sha256>::from_credentials(creds).map(|m| Box::new(m) as _),
        "SCRAM-SHA-1" => Scram::<Sha1>::from_credentials(creds).map(|m| Box::new(m) as _),
        _ => Plain::from_credentials(creds).map(|m| Box::new(m) as _),
    };
    let mut m = built.map_err(|e| LoginFailure::Broken(format!("SASL {mechanism}: {e:?}")))?;
    let wire = WireMechanism::from_str(mechanism)
        .map_err(|e| LoginFailure::Broken(format!("SASL {mechanism}: {e}")))?;
    let initial = m.initial();
    send(
        stream,
        XmppStreamElement::Sasl(Nonza::Auth(Auth {
            mechanism: wire,
            data: initial,
        })),
    )
    .await?;
    // Whether the client answered the server's first challenge, and the verdict on the
    // server's signature when it came as a challenge.
    let mut answered = false;
    let mut verified: Option<Result<(), LoginFailure>> = None;
    loop {
        match next(stream).await? {
            // RFC 6120 §6.3.10: a server may send its final SCRAM message as a last
            // challenge (answered with an empty response) instead of with its success.
            XmppStreamElement::Sasl(Nonza::Challenge(c))
                if verified.is_none() && c.data.starts_with(b"v=") && answered =>
            {
                verified = Some(
                    m.success(&c.data)
                        .map_err(|e| LoginFailure::ServerSignature(format!("{e:?}"))),
                );
                send(
                    stream,
                    XmppStreamElement::Sasl(Nonza::Response(Response { data: vec![] })),
                )
                .await?;
            }
            XmppStreamElement::Sasl(Nonza::Challenge(c)) => {
                let data = m
                    .response(&c.data)
                    .map_err(|e| LoginFailure::Broken(format!("SASL {mechanism}: {e:?}")))?;
                answered = true;
                send(
                    stream,
                    XmppStreamElement::Sasl(Nonza::Response(Response { data })),
                )
                .await?;
            }
            XmppStreamElement::Sasl(Nonza::Success(s)) => {
                return match verified {
                    Some(v) => v,
                    None => m
                        .success(&s.data)
                        .map_err(|e| LoginFailure::ServerSignature(format!("{e:?}"))),
                };
            }
            XmppStreamElement::Sasl(Nonza::Failure(f)) => {
                return Err(LoginFailure::Refused {
                    condition: SaslCondition::from(&f.defined_condition),
                    offered: offered.to_vec(),
                })
            }
            other => {
                return Err(LoginFailure::Broken(format!(
                    "an unexpected element during SASL: {other:?}"
                )))
            }
        }
    }
}

/// RFC 6120 §7: asks the server for a resource; the bound full JID.
async fn bind(stream: &mut XmppStream<Io>) -> Result<FullJid, LoginFailure> {
    const ID: &str = "imp-verify-bind";
    send(
        stream,
        XmppStreamElement::Stanza(Stanza::Iq(Iq::from_set(ID, BindQuery::new(None)))),
    )
    .await?;
    loop {
        if let XmppStreamElement::Stanza(Stanza::Iq(iq)) = next(stream).await? {
            match iq {
                Iq::Result {
                    id,
                    payload: Some(p),
                    ..
                } if id == ID => {
                    return BindResponse::try_from(p).map(FullJid::from).map_err(|e| {
                        LoginFailure::BindRefused(format!("an unreadable answer ({e})"))
                    })
                }
                Iq::Error { id, error, .. } if id == ID => {
                    return Err(LoginFailure::BindRefused(crate::stanzas::error_name(
                        &error,
                    )))
                }
                Iq::Result { id, .. } if id == ID => {
                    return Err(LoginFailure::BindRefused("an empty answer".into()))
                }
                _ => {}
            }
        }
    }
}

/// Logs test user `user` in on its node `node` of the spec, within `deadline`.
pub async fn login_test_user(
    c: &crate::Ctx,
    user: &imp_verify_core::spec::TestUser,
    node: &str,
    deadline: Instant,
) -> LoginResult {
    let jid_text = c.spec.jid_of(user);
    let jid: BareJid = match jid_text.parse() {
        Ok(j) => j,
        Err(e) => return LoginResult::Failed(LoginFailure::BadJid(jid_text, e.to_string())),
    };
    let budget = deadline.saturating_duration_since(Instant::now());
    let at = match tokio::time::timeout_at(deadline.into(), c.net.node(&c.spec, node)).await {
        Ok(Ok(at)) => at,
        Ok(Err(e)) => return LoginResult::Failed(LoginFailure::Connect(e)),
        Err(_) => {
            return LoginResult::Failed(LoginFailure::Timeout(LoginStage::Connecting, budget))
        }
    };
    login(&c.net, &at, &jid, user.password().expose(), deadline).await
}
