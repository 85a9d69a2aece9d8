//! After the handshake: did the server accept the client?

use super::facts::{HandshakeFailure, TlsFacts};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::client::TlsStream;

/// Under TLS 1.3 a server that refuses the client's certificate says so only after the
/// client has finished its side of the handshake, so the handshake succeeds and the
/// refusal arrives with the first exchange. Where a client certificate was presented,
/// this makes that exchange: it sends `request` (a request of the endpoint's protocol,
/// e.g. a SIP OPTIONS) and reads until the first answer; an answer (any bytes) means
/// the server accepted the client, an alert or a close that it refused it, recorded in
/// `facts` (then [`TlsFacts::verified`] is false). No fixed wait: it returns as soon as
/// the server answers, and the caller bounds it with the check's deadline. A close
/// without an alert is recorded as what it is ([`CLOSED_AFTER_HANDSHAKE`]), not as a
/// refusal the server did not state. Under TLS 1.2,
/// where a refusal fails the handshake itself, it returns at once.
pub async fn confirm_client_accepted<S>(
    stream: &mut TlsStream<S>,
    facts: &mut TlsFacts,
    request: &[u8],
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if facts.protocol != Some(super::legacy::Version::Tls1_3) || facts.handshake_error.is_some() {
        return;
    }
    let mut refused = |message: String, kind| {
        facts.handshake_error = Some(message);
        facts.handshake_failure = Some(kind);
    };
    if let Err(e) = stream.write_all(request).await {
        let (kind, _, message) = super::facts::classify(&e);
        return refused(message, refusal_kind(kind));
    }
    let _ = stream.flush().await;
    let mut buf = [0u8; 512];
    match stream.read(&mut buf).await {
        Ok(0) => refused(
            CLOSED_AFTER_HANDSHAKE.into(),
            HandshakeFailure::ClosedAfterHandshake,
        ),
        Ok(_) => {}
        Err(e) => {
            let (kind, _, message) = super::facts::classify(&e);
            refused(message, refusal_kind(kind))
        }
    }
}

/// What a close right after the handshake tells, and no more: under TLS 1.3 it is how
/// a server refuses a client certificate, but a server that fails or drops the session
/// for any other reason closes alike.
pub const CLOSED_AFTER_HANDSHAKE: &str = "the server closed the connection after the handshake, without answering the first request; the node may refuse the client certificate: see its log";

/// After a completed handshake, a close or an unexplained error is the server
/// refusing the client.
fn refusal_kind(kind: HandshakeFailure) -> HandshakeFailure {
    match kind {
        HandshakeFailure::ClosedDuringHandshake | HandshakeFailure::Other => {
            HandshakeFailure::ClosedAfterHandshake
        }
        k => k,
    }
}
