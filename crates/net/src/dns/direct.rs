//! A DNS question sent by hand, for what the resolver library answers itself (the
//! reverse names of loopback addresses): UDP, then TCP when the answer is truncated.

use super::answer::interpret;
use super::error::DnsError;
use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::Instant;

fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ (nanos >> 16)) as u16 ^ std::process::id() as u16
}

fn question(id: u16, name: &Name, rtype: RecordType) -> Result<Vec<u8>, DnsError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name.clone(), rtype));
    m.to_vec()
        .map_err(|e| DnsError::malformed(format!("cannot encode the question: {e}")))
}

fn no_answer(server: SocketAddr, what: impl std::fmt::Display) -> DnsError {
    DnsError::NoAnswer {
        detail: format!("{server}: {what}"),
    }
}

/// Asks `server` (two UDP attempts of `timeout` each, TCP if truncated): the records
/// of `rtype` for `name`, or why there are none.
pub(crate) async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Vec<RData>, DnsError> {
    let id = query_id();
    let q = question(id, name, rtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = UdpSocket::bind(bind)
        .await
        .map_err(|e| no_answer(server, e))?;
    sock.connect(server)
        .await
        .map_err(|e| no_answer(server, e))?;
    let mut buf = vec![0u8; 4096];
    for _attempt in 0..2 {
        sock.send(&q).await.map_err(|e| no_answer(server, e))?;
        let deadline = Instant::now() + timeout;
        loop {
            let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(no_answer(server, e)),
                Ok(Ok(n)) => n,
            };
            let m = Message::from_vec(&buf[..n])
                .map_err(|e| DnsError::malformed(format!("{server}: {e}")))?;
            if m.metadata.id != id {
                continue; // a late answer to an earlier question
            }
            if m.metadata.truncation {
                let m = ask_tcp(server, &q, id, Instant::now() + timeout).await?;
                return interpret(&m, name, rtype);
            }
            return interpret(&m, name, rtype);
        }
    }
    Err(no_answer(server, "no reply before the query timeout"))
}

async fn ask_tcp(
    server: SocketAddr,
    q: &[u8],
    id: u16,
    deadline: Instant,
) -> Result<Message, DnsError> {
    let mut s = crate::connect(server, deadline)
        .await
        .map_err(|e| no_answer(server, e))?;
    let exchange = async {
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(q);
        s.write_all(&framed).await?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await?;
        // At most 64 KiB: what the length prefix can say.
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout_at(deadline, exchange)
        .await
        .map_err(|_| no_answer(server, "no reply over TCP before the query timeout"))?
        .map_err(|e| no_answer(server, e))?;
    let m = Message::from_vec(&body).map_err(|e| DnsError::malformed(format!("{server}: {e}")))?;
    if m.metadata.id != id {
        return Err(DnsError::malformed(format!(
            "{server}: the TCP answer carries another query id"
        )));
    }
    Ok(m)
}
