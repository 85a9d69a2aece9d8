//! The XML stream's negotiation, one step at a time (RFC 6120 §4, §5): the stream
//! header, the features, STARTTLS; each step enters its [`Stage`] for the runner and
//! ends by the check's deadline, and every failure says what the server did.

use super::capped::{over_bound, Received, Seen};
use super::features::Features;
use futures::{SinkExt, StreamExt};
use imp_verify_core::{Stage, StageCell};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio_xmpp::parsers::starttls::{self, Request};
use tokio_xmpp::parsers::stream_error::DefinedCondition as StreamCondition;
use tokio_xmpp::xmlstream::{
    initiate_stream, ReadError, RecvFeaturesError, StreamHeader, Timeouts, XmppStream,
    XmppStreamElement,
};

/// Who opens a stream: a client (`jabber:client`), or a server (`jabber:server`, with
/// the domain it claims to be in `from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener<'a> {
    /// A client.
    Client,
    /// A server claiming `from`.
    Server {
        /// The domain it claims.
        from: &'a str,
    },
}

impl Opener<'_> {
    fn namespace(self) -> &'static str {
        match self {
            Opener::Client => "jabber:client",
            Opener::Server { .. } => "jabber:server",
        }
    }

    fn header(self, to: &str) -> StreamHeader<'static> {
        StreamHeader {
            to: Some(Cow::Owned(to.to_string())),
            from: match self {
                Opener::Client => None,
                Opener::Server { from } => Some(Cow::Owned(from.to_string())),
            },
            id: None,
        }
    }
}

/// Why a step of the stream failed, as the server made it fail.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFailure {
    /// The server closed the connection.
    Closed {
        /// The step.
        stage: Stage,
        /// What it had sent.
        seen: Seen,
    },
    /// The server sent more than the connection's bound without finishing.
    OverBound {
        /// The step.
        stage: Stage,
        /// The bound, in bytes.
        limit: u64,
        /// What it had sent.
        seen: Seen,
    },
    /// What the server sent is not the XML of an XMPP stream: the parser's words.
    NotXml {
        /// The step.
        stage: Stage,
        /// The parser's words.
        error: String,
        /// What it had sent.
        seen: Seen,
    },
    /// The server ended the stream with a stream error.
    StreamError {
        /// The step.
        stage: Stage,
        /// The condition (`see-other-host` carries the host it names).
        condition: StreamCondition,
        /// The server's text, escaped and cut.
        text: Option<String>,
    },
    /// The server refused STARTTLS (`<failure/>`).
    StarttlsRefused,
    /// A socket error: its words.
    Io {
        /// The step.
        stage: Stage,
        /// The error's words.
        error: String,
    },
    /// The step did not end by the deadline.
    Timeout {
        /// The step.
        stage: Stage,
        /// The check's time.
        after: Duration,
        /// What the server had sent on the connection by then.
        seen: Seen,
    },
}

impl StreamFailure {
    /// The step it failed at.
    pub fn stage(&self) -> Stage {
        match self {
            StreamFailure::Closed { stage, .. }
            | StreamFailure::OverBound { stage, .. }
            | StreamFailure::NotXml { stage, .. }
            | StreamFailure::StreamError { stage, .. }
            | StreamFailure::Io { stage, .. }
            | StreamFailure::Timeout { stage, .. } => *stage,
            StreamFailure::StarttlsRefused => Stage::StartTls,
        }
    }
}

/// A condition as the wire names it: `host-unknown`, `see-other-host`.
pub fn condition_name(c: &StreamCondition) -> String {
    let debug = format!("{c:?}");
    let base = debug.split('(').next().unwrap_or(&debug);
    let mut name = String::new();
    for (i, ch) in base.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(ch.to_ascii_lowercase());
    }
    name
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFailure::Closed { stage, seen } => write!(
                f,
                "the server closed the connection during {stage} (it had sent {})",
                seen.describe()
            ),
            StreamFailure::OverBound { stage, limit, seen } if seen.only_space => write!(
                f,
                "the server sent {limit} bytes of white space during {stage} without the expected answer"
            ),
            StreamFailure::OverBound { stage, limit, .. } => write!(
                f,
                "the server sent {limit} bytes during {stage} without the expected answer"
            ),
            StreamFailure::NotXml { error, seen, .. } => write!(
                f,
                "the server's answer is not the protocol's: {} ({})",
                imp_verify_core::text::peer_text(error),
                seen.describe()
            ),
            StreamFailure::StreamError {
                condition, text, ..
            } => {
                write!(f, "the server ended the stream with <{}/>", condition_name(condition))?;
                if let StreamCondition::SeeOtherHost(host) = condition {
                    write!(f, " to {}", imp_verify_core::text::peer_text(host))?;
                }
                match text {
                    Some(t) => write!(f, ": {t}"),
                    None => Ok(()),
                }
            }
            StreamFailure::StarttlsRefused => f.write_str("the server refused STARTTLS (<failure/>)"),
            StreamFailure::Io { error, .. } => f.write_str(error),
            StreamFailure::Timeout { stage, after, seen } => write!(
                f,
                "{stage}: not completed within {} ms (the server had sent {})",
                after.as_millis(),
                seen.describe()
            ),
        }
    }
}

/// The steps of one check's exchange: each enters its stage (so that the runner's
/// timeout names it) and must end by the check's deadline.
#[derive(Debug, Clone)]
pub struct Steps {
    deadline: Instant,
    budget: Duration,
    stage: StageCell,
}

impl Steps {
    /// Steps ending by `deadline`, reporting their stage to `stage`.
    pub fn new(deadline: Instant, stage: StageCell) -> Self {
        Steps {
            deadline,
            budget: deadline.saturating_duration_since(Instant::now()),
            stage,
        }
    }

    /// The steps of the check called with `cx`: by its budget's deadline, reporting
    /// their stage to the runner.
    pub fn of_check(cx: &imp_verify_core::CheckCtx) -> Self {
        Steps {
            deadline: cx.budget_deadline(),
            budget: cx.budget(),
            stage: cx.stage.clone(),
        }
    }

    /// When every step must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time the steps had.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Records that a step of `stage` begins.
    pub fn enter(&self, stage: Stage) {
        self.stage.set(stage);
    }

    /// The step entered last, if any.
    pub fn stage(&self) -> Option<Stage> {
        self.stage.get()
    }

    /// Runs `fut` as the step `stage`, by the deadline: `None` when it ran out.
    pub async fn run<T>(
        &self,
        stage: Stage,
        fut: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        self.enter(stage);
        tokio::time::timeout_at(self.deadline.into(), fut)
            .await
            .ok()
    }

    /// [`Steps::run`] of a step that can fail with a [`StreamFailure`]; running out is
    /// [`StreamFailure::Timeout`], with what `received` shows the server had sent.
    pub async fn stream<T>(
        &self,
        stage: Stage,
        received: &Received,
        fut: impl std::future::Future<Output = Result<T, StreamFailure>>,
    ) -> Result<T, StreamFailure> {
        self.run(stage, fut).await.unwrap_or_else(|| {
            Err(StreamFailure::Timeout {
                stage,
                after: self.budget,
                seen: received.seen(),
            })
        })
    }
}

/// What an I/O error of the stream at `stage` means.
pub fn io_failure(stage: Stage, e: std::io::Error, received: &Received) -> StreamFailure {
    if let Some(b) = over_bound(&e) {
        return StreamFailure::OverBound {
            stage,
            limit: b.limit,
            seen: received.seen(),
        };
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => StreamFailure::Closed {
            stage,
            seen: received.seen(),
        },
        std::io::ErrorKind::InvalidData => StreamFailure::NotXml {
            stage,
            error: e.to_string(),
            seen: received.seen(),
        },
        _ => StreamFailure::Io {
            stage,
            error: e.to_string(),
        },
    }
}

/// A received stream error as a failure at `stage`.
pub fn stream_error(
    stage: Stage,
    e: tokio_xmpp::parsers::stream_error::StreamError,
) -> StreamFailure {
    let text = e
        .texts
        .values()
        .next()
        .map(|t| imp_verify_core::text::peer_text(t));
    StreamFailure::StreamError {
        stage,
        condition: e.condition,
        text,
    }
}

/// Opens a stream to `to` over `io` as `opener`, and reads the server's header and
/// features: the stream header and stream features steps.
pub async fn open<Io: AsyncBufRead + AsyncWrite + Unpin>(
    io: Io,
    opener: Opener<'_>,
    to: &str,
    steps: &Steps,
    received: &Received,
) -> Result<(Features, XmppStream<Io>), StreamFailure> {
    let header = opener.header(to);
    let pending = steps
        .stream(Stage::StreamHeader, received, async {
            initiate_stream(io, opener.namespace(), header, Timeouts::default())
                .await
                .map_err(|e| io_failure(Stage::StreamHeader, e, received))
        })
        .await?;
    features(pending, steps, received).await
}

/// Restarts the stream after SASL (RFC 6120 §6.4.6): a new header, the server's header
/// and its new features.
pub async fn restart<Io: AsyncBufRead + AsyncWrite + Unpin>(
    stream: XmppStream<Io>,
    opener: Opener<'_>,
    to: &str,
    steps: &Steps,
    received: &Received,
) -> Result<(Features, XmppStream<Io>), StreamFailure> {
    let header = opener.header(to);
    let pending = steps
        .stream(Stage::StreamHeader, received, async {
            stream
                .initiate_reset()
                .send_header(header)
                .await
                .map_err(|e| io_failure(Stage::StreamHeader, e, received))
        })
        .await?;
    features(pending, steps, received).await
}

async fn features<Io: AsyncBufRead + AsyncWrite + Unpin>(
    pending: tokio_xmpp::xmlstream::PendingFeaturesRecv<Io>,
    steps: &Steps,
    received: &Received,
) -> Result<(Features, XmppStream<Io>), StreamFailure> {
    steps
        .stream(Stage::StreamFeatures, received, async {
            match pending.recv_features::<_>().await {
                Ok((f, stream)) => Ok((Features::from(&f), stream)),
                Err(RecvFeaturesError::Io(e)) => {
                    Err(io_failure(Stage::StreamFeatures, e, received))
                }
                Err(RecvFeaturesError::StreamError(e)) => {
                    Err(stream_error(Stage::StreamFeatures, e.0))
                }
            }
        })
        .await
}

/// Asks for STARTTLS and waits for `<proceed/>`: the STARTTLS step. The stream is done
/// with: the caller takes its connection for the TLS handshake.
pub async fn starttls<Io: AsyncBufRead + AsyncWrite + Unpin>(
    stream: &mut XmppStream<Io>,
    steps: &Steps,
    received: &Received,
) -> Result<(), StreamFailure> {
    steps
        .stream(Stage::StartTls, received, async {
            stream
                .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                    Request,
                )))
                .await
                .map_err(|e| io_failure(Stage::StartTls, e, received))?;
            loop {
                match stream.next().await {
                    None | Some(Err(ReadError::StreamFooterReceived)) => {
                        return Err(StreamFailure::Closed {
                            stage: Stage::StartTls,
                            seen: received.seen(),
                        })
                    }
                    Some(Err(ReadError::SoftTimeout)) => continue,
                    Some(Err(ReadError::HardError(e))) => {
                        return Err(io_failure(Stage::StartTls, e, received))
                    }
                    Some(Err(ReadError::ParseError(e))) => {
                        return Err(StreamFailure::NotXml {
                            stage: Stage::StartTls,
                            error: e.to_string(),
                            seen: received.seen(),
                        })
                    }
                    Some(Ok(el)) => match el.into_read_error() {
                        Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_))) => {
                            return Ok(())
                        }
                        Ok(XmppStreamElement::Starttls(starttls::Nonza::Failure(_))) => {
                            return Err(StreamFailure::StarttlsRefused)
                        }
                        Ok(XmppStreamElement::StreamError(e)) => {
                            return Err(stream_error(Stage::StartTls, e.0))
                        }
                        Ok(_) => continue,
                        Err(_) => continue,
                    },
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_named_as_the_wire_names_them() {
        assert_eq!(
            condition_name(&StreamCondition::HostUnknown),
            "host-unknown"
        );
        assert_eq!(
            condition_name(&StreamCondition::SeeOtherHost("imp2".into())),
            "see-other-host"
        );
        assert_eq!(
            condition_name(&StreamCondition::NotAuthorized),
            "not-authorized"
        );
    }

    #[test]
    fn failures_say_what_the_server_did() {
        let seen = Seen {
            bytes: 3,
            head: "   ".into(),
            only_space: true,
        };
        let t = StreamFailure::Timeout {
            stage: Stage::StreamHeader,
            after: Duration::from_millis(1600),
            seen: seen.clone(),
        };
        assert_eq!(
            t.to_string(),
            "waiting for the XMPP stream header: not completed within 1600 ms (the server had sent 3 bytes of white space)"
        );
        let o = StreamFailure::OverBound {
            stage: Stage::StreamFeatures,
            limit: 65536,
            seen,
        };
        assert!(o.to_string().contains("65536 bytes of white space during waiting for the XMPP stream features without the expected answer"), "{o}");
        let r = StreamFailure::StreamError {
            stage: Stage::Sasl,
            condition: StreamCondition::SeeOtherHost("imp2.lab.test".into()),
            text: None,
        };
        assert_eq!(
            r.to_string(),
            "the server ended the stream with <see-other-host/> to imp2.lab.test"
        );
    }
}
