//! Connections to a node: UDP, TCP, or TLS (with a client certificate or without), each
//! step through `imp_verify_net` within the check's deadline, naming the step it enters.

use crate::conn::{Conn, Deadline};
use crate::ctx::{SipCtx, Trunk, TrunkTarget};
use crate::error::ReachError;
use imp_verify_core::spec::Transport;
use imp_verify_core::{CheckCtx, Stage};
use imp_verify_net::tls::{ClientIdentity, TlsFacts};
use imp_verify_net::ConnectError;
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TLS session with a node: the stream, what the handshake showed, and both ends.
pub(crate) struct TlsSession {
    pub stream: TlsStream<TcpStream>,
    pub facts: TlsFacts,
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl TlsSession {
    /// The session as a SIP connection.
    pub fn into_conn(self) -> Conn {
        Conn::stream(Box::new(self.stream), "tls", self.local, self.peer)
    }
}

/// A TCP connection to `addr` before the deadline, and its local address.
pub(crate) async fn tcp(
    addr: SocketAddr,
    deadline: Deadline,
    cx: &CheckCtx,
) -> Result<(TcpStream, SocketAddr), ReachError> {
    cx.enter(Stage::TcpConnect);
    let tcp = imp_verify_net::connect(addr, deadline.tokio()).await?;
    let local = tcp
        .local_addr()
        .map_err(|error| ConnectError::Connect { addr, error })?;
    Ok((tcp, local))
}

/// A TLS session with `host` at `addr`, presenting `client` if given; it completes
/// whatever the certificate (the facts say whether it verified).
pub(crate) async fn tls(
    c: &SipCtx,
    host: &str,
    addr: SocketAddr,
    client: Option<&ClientIdentity>,
    deadline: Deadline,
    cx: &CheckCtx,
) -> Result<TlsSession, ReachError> {
    let (tcp, local) = tcp(addr, deadline, cx).await?;
    cx.enter(Stage::TlsHandshake);
    match tokio::time::timeout_at(deadline.tokio(), c.net.tls.handshake(tcp, host, client)).await {
        Err(_) => Err(ReachError::TlsTimeout { addr }),
        Ok(Err(error)) => Err(ReachError::Tls {
            addr,
            error: Box::new(error),
        }),
        Ok(Ok((stream, facts))) => Ok(TlsSession {
            stream,
            facts,
            local,
            peer: addr,
        }),
    }
}

/// Why a session's certificate is not trusted, in the inspector's words.
pub(crate) fn untrusted_why(facts: &TlsFacts) -> String {
    facts
        .verify_error
        .clone()
        .or(facts.handshake_error.clone())
        .unwrap_or_default()
}

/// A connection to a trunk target; over TLS with the trunk's client certificate, and
/// refused unless the node's certificate verifies (nothing is sent to a node that is
/// not who it must be).
pub(crate) async fn connect(
    c: &SipCtx,
    trunk: &Trunk,
    t: &TrunkTarget,
    deadline: Deadline,
    cx: &CheckCtx,
) -> Result<Conn, ReachError> {
    cx.enter(Stage::Resolve);
    let addr = c.addr(&t.host, t.port, deadline).await?;
    match t.transport {
        Transport::Udp => Conn::udp(addr).await,
        Transport::Tcp => {
            let (tcp, local) = tcp(addr, deadline, cx).await?;
            Ok(Conn::stream(Box::new(tcp), "tcp", local, addr))
        }
        Transport::Tls => {
            let client = trunk.client.identity()?;
            let session = tls(c, &t.host, addr, client, deadline, cx).await?;
            if !session.facts.verified() {
                let why = untrusted_why(&session.facts);
                return Err(ReachError::Untrusted(format!("{why} (see sip.tls-peer)")));
            }
            Ok(session.into_conn())
        }
    }
}

/// A TLS connection to the node without a client certificate (the presence gateway is
/// asked so: the trunk's certificate is CUCM's own, not IM&P's).
pub(crate) async fn connect_bare_tls(
    c: &SipCtx,
    t: &TrunkTarget,
    deadline: Deadline,
    cx: &CheckCtx,
) -> Result<Conn, ReachError> {
    cx.enter(Stage::Resolve);
    let addr = c.addr(&t.host, t.port, deadline).await?;
    verified(tls(c, &t.host, addr, None, deadline, cx).await?)
}

fn verified(session: TlsSession) -> Result<Conn, ReachError> {
    if !session.facts.verified() {
        return Err(ReachError::Untrusted(untrusted_why(&session.facts)));
    }
    Ok(session.into_conn())
}
