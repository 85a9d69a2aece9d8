//! Connections to a trunk target: UDP, TCP, or TLS with the trunk's client certificate.

use super::{Ctx, Trunk};
use crate::conn::Conn;
use imp_verify_core::spec::Transport;
use imp_verify_net::tls::{confirm_client_accepted, TlsFacts};
use std::net::SocketAddr;

/// A TLS connection to a trunk target with the trunk's client certificate. With
/// `confirm`, a first OPTIONS on the session tells whether the node accepts the client
/// certificate (a TLS 1.3 server refuses it only after the handshake); without, a
/// refusal shows in the first transaction of the caller.
pub(crate) async fn tls_connect(
    c: &Ctx,
    trunk: &Trunk,
    host: &str,
    addr: SocketAddr,
    confirm: bool,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        TlsFacts,
        SocketAddr,
    ),
    String,
> {
    let client = match &trunk.client {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            return Err(format!(
                "the trunk's client certificate cannot be used: {e}"
            ))
        }
        None => None,
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let (mut stream, mut facts) = c
        .net
        .tls
        .handshake(tcp, host, client)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    if confirm && client.is_some() {
        let port = addr.port();
        let request = format!(
            "OPTIONS sip:{host}:{port};transport=tls SIP/2.0\r\n\
             Via: SIP/2.0/TLS {local};branch=z9hG4bK-impv-peer-{port}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:imp-verify@{}>;tag=impv-peer\r\n\
             To: <sip:{host}:{port}>\r\n\
             Call-ID: impv-peer-{port}@{}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            trunk.domain,
            local.ip()
        );
        confirm_client_accepted(&mut stream, &mut facts, request.as_bytes()).await;
    }
    Ok((stream, facts, local))
}

/// A connection to a trunk target on `transport`; over TLS with the trunk's client
/// certificate, and refused unless the node's certificate verifies.
pub(crate) async fn connect(
    c: &Ctx,
    trunk: &Trunk,
    transport: Transport,
    host: &str,
    port: u16,
) -> Result<Conn, String> {
    let addr = c.addr(host, port).await?;
    match transport {
        Transport::Udp => Conn::udp(addr).await,
        Transport::Tcp => {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let local = tcp.local_addr().map_err(|e| e.to_string())?;
            Ok(Conn::stream(Box::new(tcp), "tcp", local, addr))
        }
        Transport::Tls => {
            let (tls, facts, local) = tls_connect(c, trunk, host, addr, false).await?;
            if !facts.verified() {
                return Err(format!(
                    "the TLS connection is not trusted: {} (see sip.tls-peer)",
                    facts
                        .verify_error
                        .clone()
                        .or(facts.handshake_error.clone())
                        .unwrap_or_default()
                ));
            }
            Ok(Conn::stream(Box::new(tls), "tls", local, addr))
        }
    }
}
