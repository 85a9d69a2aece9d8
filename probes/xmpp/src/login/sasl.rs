//! SASL as a client (RFC 6120 §6): the strongest mechanism both sides have (never
//! ANONYMOUS), one exchange, the server's SCRAM signature verified; the failure
//! conditions typed.

use super::LoginFailure;
use crate::wire::capped::Received;
use crate::wire::stream::{io_failure, stream_error, StreamFailure};
use futures::{SinkExt, StreamExt};
use imp_verify_core::Stage;
use std::str::FromStr;
use tokio_xmpp::parsers::sasl::{
    Auth, DefinedCondition as Sasl, Mechanism as WireMechanism, Nonza, Response,
};
use tokio_xmpp::xmlstream::{ReadError, XmppStream, XmppStreamElement};

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

/// The next stream-level element at `stage`; a stream error, the footer, the end of
/// the connection and unreadable XML are failures of that stage.
pub(crate) async fn next<Io: tokio::io::AsyncBufRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut XmppStream<Io>,
    stage: Stage,
    received: &Received,
) -> Result<XmppStreamElement, StreamFailure> {
    loop {
        match stream.next().await {
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(StreamFailure::Closed {
                    stage,
                    seen: received.seen(),
                })
            }
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(io_failure(stage, e, received)),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(StreamFailure::NotXml {
                    stage,
                    error: e.to_string(),
                    seen: received.seen(),
                })
            }
            Some(Ok(el)) => match el.into_read_error() {
                Ok(XmppStreamElement::StreamError(e)) => return Err(stream_error(stage, e.0)),
                Ok(el) => return Ok(el),
                Err(ReadError::HardError(e)) => return Err(io_failure(stage, e, received)),
                Err(e) => {
                    return Err(StreamFailure::NotXml {
                        stage,
                        error: e.to_string(),
                        seen: received.seen(),
                    })
                }
            },
        }
    }
}

pub(crate) async fn send<Io: tokio::io::AsyncBufRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut XmppStream<Io>,
    el: XmppStreamElement,
    stage: Stage,
    received: &Received,
) -> Result<(), StreamFailure> {
    stream
        .send(&el)
        .await
        .map_err(|e| io_failure(stage, e, received))
}

/// Authenticates `user` with `mechanism` (one of [`MECHANISMS`] the server offers).
pub(crate) async fn authenticate<Io: tokio::io::AsyncBufRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut XmppStream<Io>,
    mechanism: &str,
    user: &str,
    password: &str,
    offered: &[String],
    received: &Received,
) -> Result<(), LoginFailure> {
    use sasl::client::mechanisms::{Plain, Scram};
    use sasl::client::Mechanism;
    use sasl::common::scram::{Sha1, Sha256};
    let stage = Stage::Sasl;
    let lost = |failure| LoginFailure::Stream {
        failure,
        authenticated: false,
    };
    let creds = sasl::common::Credentials::default()
        .with_username(user)
        .with_password(password)
        .with_channel_binding(sasl::common::ChannelBinding::None);
    let built: Result<Box<dyn Mechanism + Send>, _> = match mechanism {
        "SCRAM-SHA-256" => Scram::<Sha256>::from_credentials(creds).map(|m| Box::new(m) as _),
        "SCRAM-SHA-1" => Scram::<Sha1>::from_credentials(creds).map(|m| Box::new(m) as _),
        _ => Plain::from_credentials(creds).map(|m| Box::new(m) as _),
    };
    let mut m = built.map_err(|e| LoginFailure::Client(format!("SASL {mechanism}: {e:?}")))?;
    let wire = WireMechanism::from_str(mechanism)
        .map_err(|e| LoginFailure::Client(format!("SASL {mechanism}: {e}")))?;
    let initial = m.initial();
    send(
        stream,
        XmppStreamElement::Sasl(Nonza::Auth(Auth {
            mechanism: wire,
            data: initial,
        })),
        stage,
        received,
    )
    .await
    .map_err(lost)?;
    // Whether the client answered the server's first challenge, and the verdict on the
    // server's signature when it came as a challenge.
    let mut answered = false;
    let mut verified: Option<Result<(), LoginFailure>> = None;
    loop {
        match next(stream, stage, received).await.map_err(lost)? {
            // RFC 6120 §6.3.10: a server may send its final SCRAM message as a last
            // challenge (answered with an empty response) instead of with its success.
            XmppStreamElement::Sasl(Nonza::Challenge(c))
                if verified.is_none() && c.data.starts_with(b"v=") && answered =>
            {
                verified = Some(
                    m.success(&c.data)
                        .map_err(|e| LoginFailure::ServerSignature(format!("{e:?}"))),
                );
                let empty = XmppStreamElement::Sasl(Nonza::Response(Response { data: vec![] }));
                send(stream, empty, stage, received).await.map_err(lost)?;
            }
            XmppStreamElement::Sasl(Nonza::Challenge(c)) => {
                let data = m
                    .response(&c.data)
                    .map_err(|e| LoginFailure::Client(format!("SASL {mechanism}: {e:?}")))?;
                answered = true;
                let r = XmppStreamElement::Sasl(Nonza::Response(Response { data }));
                send(stream, r, stage, received).await.map_err(lost)?;
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
                    text: f
                        .texts
                        .values()
                        .next()
                        .map(|t| imp_verify_core::text::peer_text(t)),
                    accepted_before: false,
                })
            }
            other => {
                return Err(LoginFailure::Client(format!(
                    "an unexpected element during SASL: {}",
                    imp_verify_core::text::peer_text(&format!("{other:?}"))
                )))
            }
        }
    }
}
