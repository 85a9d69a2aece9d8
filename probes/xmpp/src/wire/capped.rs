//! A bound on what a server may send on one connection, and a record of what it sent:
//! how many bytes, the first of them, and whether they were only white space. A
//! hostile or broken server costs a bounded amount of memory, and a verdict can say
//! what it did ("sent 65536 bytes of white space and no stream header").

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most a server may send after TLS on one connection: far more than a check's
/// stanzas (a login, a roster, a few messages and presences), and a bound on what an
/// enormous or endless stanza can make the client buffer.
pub const MAX_STREAM_BYTES: u64 = 8 * 1024 * 1024;

/// The most a server may send before TLS: its stream header, features and the answer
/// to STARTTLS are a few hundred bytes.
pub const MAX_PRELUDE_BYTES: u64 = 64 * 1024;

/// How many of the first bytes a record keeps, to show them.
const HEAD: usize = 256;

/// The I/O error a [`Capped`] stream gives once its bound is reached (found by type,
/// with [`over_bound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBound {
    /// The bound, in bytes.
    pub limit: u64,
}

impl std::fmt::Display for OverBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server sent more than {} bytes", self.limit)
    }
}

impl std::error::Error for OverBound {}

/// The bound an I/O error says was reached, if it is a [`Capped`] stream's.
pub fn over_bound(e: &std::io::Error) -> Option<OverBound> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<OverBound>() {
            return Some(*b);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            source = io.get_ref().map(|e| e as _);
            continue;
        }
        source = s.source();
    }
    None
}

#[derive(Debug, Default)]
struct Record {
    bytes: u64,
    head: Vec<u8>,
    only_space: bool,
}

/// What a server sent on a connection so far (shared: it outlives a step that ran out
/// of time).
#[derive(Debug, Clone)]
pub struct Received(Arc<Mutex<Record>>);

impl Default for Received {
    fn default() -> Self {
        Received(Arc::new(Mutex::new(Record {
            only_space: true,
            ..Record::default()
        })))
    }
}

/// A snapshot of [`Received`], for a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    /// How many bytes arrived.
    pub bytes: u64,
    /// The first of them, escaped and cut for a report (see [`imp_verify_core::text`]).
    pub head: String,
    /// Whether everything that arrived was white space.
    pub only_space: bool,
}

impl Seen {
    /// "nothing", "12 bytes of white space" or "34 bytes (`<?xml ...`)".
    pub fn describe(&self) -> String {
        match (self.bytes, self.only_space) {
            (0, _) => "nothing".into(),
            (n, true) => format!("{n} bytes of white space"),
            (n, false) => format!("{n} bytes ({})", self.head),
        }
    }
}

impl Received {
    fn note(&self, bytes: &[u8]) {
        let mut r = self.0.lock().expect("not poisoned");
        r.bytes += bytes.len() as u64;
        r.only_space &= bytes.iter().all(u8::is_ascii_whitespace);
        let room = HEAD.saturating_sub(r.head.len());
        r.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What arrived so far.
    pub fn seen(&self) -> Seen {
        let r = self.0.lock().expect("not poisoned");
        Seen {
            bytes: r.bytes,
            head: imp_verify_core::text::peer_bytes(&r.head),
            only_space: r.only_space,
        }
    }
}

/// A stream that refuses to read more than its bound in all, and records what it read:
/// the XML parser keeps an element in memory until it ends, so an endless one would
/// grow without bound.
pub struct Capped<S> {
    inner: S,
    limit: u64,
    received: Received,
}

impl<S> Capped<S> {
    /// Wraps `inner`, reading at most `limit` bytes, recording them in `received`.
    pub fn new(inner: S, limit: u64, received: Received) -> Self {
        Capped {
            inner,
            limit,
            received,
        }
    }

    /// The stream inside.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let limit = self.limit;
        if self.received.seen_bytes() >= limit {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                OverBound { limit },
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let fresh = &buf.filled()[before..];
        if !fresh.is_empty() {
            self.received.note(fresh);
        }
        r
    }
}

impl Received {
    fn seen_bytes(&self) -> u64 {
        self.0.lock().expect("not poisoned").bytes
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_bound_is_an_error_of_its_own_type_and_what_came_is_recorded() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        let received = Received::default();
        let mut capped = Capped::new(client, 10, received.clone());
        server.write_all(b"  \n ").await.unwrap();
        let mut buf = [0u8; 4];
        capped.read_exact(&mut buf).await.unwrap();
        assert_eq!(received.seen().describe(), "4 bytes of white space");
        server.write_all(b"<x\x1b>abcdefgh").await.unwrap();
        let mut rest = vec![0u8; 64];
        let _ = capped.read(&mut rest).await.unwrap();
        let e = capped.read(&mut rest).await.unwrap_err();
        assert_eq!(over_bound(&e), Some(OverBound { limit: 10 }));
        let seen = received.seen();
        assert!(!seen.only_space);
        assert!(seen.head.contains("<x\\u{1b}>"), "{}", seen.head);
        assert!(over_bound(&std::io::Error::other("x")).is_none());
    }
}
