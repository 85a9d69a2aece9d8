//! An LDAP client of the probe's own, over a connection reached through
//! `imp_verify_net` ([`open`]): requests written whole, responses read one message at a
//! time through the bounded framer (a message announced over the limit ends the session
//! at its header; a large one waits for room in the run's shared [`Pool`]), every read
//! and write before the check's deadline, searches counted as their entries arrive
//! ([`search`]).
//!
//! Nothing is read that the probe did not ask for: the client reads a socket only when
//! the caller wants the next message, so a server sending endless entries costs one
//! message of buffer, and the search's own count stops it.

pub mod open;
pub mod search;

pub use open::{open, OpenError, Transport};

use crate::wire::message::{self, Control, Message, Op, Request};
use crate::wire::{frame, DecodeError, Frame, FrameError, LdapResult};
use std::sync::Arc;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// What a connection reads at a time, and keeps as its own buffer; a message larger
/// than this is held in room taken from the [`Pool`].
const CHUNK: usize = 16 * 1024;

/// How large the server's messages and values may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message content accepted (bytes).
    pub message: usize,
    /// The largest attribute value accepted (bytes).
    pub value: usize,
}

impl Limits {
    /// The largest attribute value accepted: far above any name, mail or number, and
    /// below the message limit.
    pub const VALUE: usize = 256 * 1024;

    /// The limits for a message limit of `message` bytes.
    pub fn new(message: usize) -> Limits {
        Limits {
            message,
            value: Limits::VALUE.min(message),
        }
    }
}

/// Room for large messages shared by every connection of a run, so that the memory of
/// many sessions with large answers stays bounded however many run at once.
#[derive(Debug, Clone)]
pub struct Pool {
    room: Arc<Semaphore>,
    kib: usize,
}

impl Pool {
    /// A pool of `bytes` (at least `message_limit`, so that any accepted message fits).
    pub fn new(bytes: usize, message_limit: usize) -> Pool {
        let kib = bytes.max(message_limit).div_ceil(1024);
        Pool {
            room: Arc::new(Semaphore::new(kib)),
            kib,
        }
    }

    /// Room for a message of `bytes`, waited for until `deadline`.
    async fn take(
        &self,
        bytes: usize,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, WireError> {
        let kib = bytes.div_ceil(1024).min(self.kib) as u32;
        tokio::time::timeout_at(deadline, self.room.clone().acquire_many_owned(kib))
            .await
            .map_err(|_| WireError::TimedOut)?
            .map_err(|_| WireError::Closed)
    }
}

/// Why an exchange on an open connection failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The server announced a message over the limit, or sent bytes that are not LDAP.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A framed message could not be read.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The connection broke.
    #[error("the connection broke ({0})")]
    Io(std::io::ErrorKind),
    /// The deadline passed.
    #[error("no answer in time")]
    TimedOut,
    /// The server ended the session with a notice of disconnection.
    #[error("the server ended the session: {} ({})", .0.diagnostic, .0.code)]
    Disconnected(LdapResult),
    /// An answer that does not fit the request (e.g. a modify response to a bind).
    #[error("the server answered with another operation than the one asked")]
    Unexpected,
}

/// The connection's byte stream: TCP, or TLS over it.
pub enum Io {
    /// Cleartext.
    Plain(TcpStream),
    /// TLS (LDAPS, or after StartTLS).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An open LDAP connection.
pub struct Conn {
    io: Io,
    /// Bytes read; those before `pos` were handed out as messages already.
    buf: Vec<u8>,
    pos: usize,
    next_id: i32,
    limits: Limits,
    pool: Pool,
    deadline: Instant,
}

impl Conn {
    /// A connection over `io` whose every step ends by `deadline`.
    pub(crate) fn new(io: Io, limits: Limits, pool: Pool, deadline: Instant) -> Conn {
        Conn {
            io,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            next_id: 1,
            limits,
            pool,
            deadline,
        }
    }

    /// Sends a request; returns its message id.
    pub async fn send(&mut self, op: &Request<'_>, controls: &[Control]) -> Result<i32, WireError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let bytes = message::encode(id, op, controls);
        let write = async {
            self.io.write_all(&bytes).await?;
            self.io.flush().await
        };
        tokio::time::timeout_at(self.deadline, write)
            .await
            .map_err(|_| WireError::TimedOut)?
            .map_err(|e| io_error(&e))?;
        Ok(id)
    }

    /// The next message from the server (a notice of disconnection is an error).
    pub async fn recv(&mut self) -> Result<Message, WireError> {
        if Instant::now() >= self.deadline {
            return Err(WireError::TimedOut);
        }
        let mut room = None;
        loop {
            match frame(&self.buf[self.pos..], self.limits.message)? {
                Frame::Complete(n) => {
                    let m = message::decode(&self.buf[self.pos..self.pos + n], self.limits.value);
                    self.pos += n;
                    if self.pos == self.buf.len() {
                        self.buf.clear();
                        self.pos = 0;
                    }
                    if room.take().is_some() {
                        self.buf.shrink_to(CHUNK);
                    }
                    let m = m?;
                    if let (0, Op::Extended { result, name }) = (m.id, &m.op) {
                        if name.as_deref() == Some(message::NOTICE_OF_DISCONNECTION)
                            || result.code != 0
                        {
                            return Err(WireError::Disconnected(result.clone()));
                        }
                    }
                    return Ok(m);
                }
                Frame::Partial(total) => {
                    // What is left is the start of one message: keep only it.
                    self.buf.drain(..self.pos);
                    self.pos = 0;
                    if let Some(total) = total.filter(|t| *t > CHUNK) {
                        if room.is_none() {
                            room = Some(self.pool.take(total, self.deadline).await?);
                            self.buf.reserve_exact(total - self.buf.len());
                        }
                    }
                    self.fill().await?;
                }
            }
        }
    }

    /// Reads what the server sent, into the room there is (a chunk, or the rest of a
    /// large message's room), before the deadline.
    async fn fill(&mut self) -> Result<(), WireError> {
        // A server that always has more to send never leaves a read pending, where the
        // timer would fire: the deadline is looked at before each read too.
        if Instant::now() >= self.deadline {
            return Err(WireError::TimedOut);
        }
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve_exact(CHUNK);
        }
        let n = tokio::time::timeout_at(self.deadline, self.io.read_buf(&mut self.buf))
            .await
            .map_err(|_| WireError::TimedOut)?
            .map_err(|e| io_error(&e))?;
        if n == 0 {
            return Err(WireError::Closed);
        }
        Ok(())
    }

    /// Whether bytes the server sent are waiting, not yet read as a message.
    pub(crate) fn has_unread(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// The response to request `id`: messages of other (abandoned) operations are
    /// passed over.
    pub async fn answer(&mut self, id: i32) -> Result<Message, WireError> {
        loop {
            let m = self.recv().await?;
            if m.id == id {
                return Ok(m);
            }
        }
    }

    /// Ends the session politely (an unbind, then closing the stream), within what is
    /// left of the deadline; errors do not matter any more.
    pub async fn close(mut self) {
        let _ = self.send(&Request::Unbind, &[]).await;
        let _ = tokio::time::timeout_at(self.deadline, self.io.shutdown()).await;
    }

    /// Takes the TCP stream back for a TLS handshake (StartTLS).
    pub(crate) fn into_tcp(self) -> Option<TcpStream> {
        match self.io {
            Io::Plain(s) => Some(s),
            Io::Tls(_) => None,
        }
    }
}

fn io_error(e: &std::io::Error) -> WireError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => WireError::Closed,
        k => WireError::Io(k),
    }
}

/// A result whose code is not success, as an error of the operation.
pub fn result_of(op: Op) -> Result<(LdapResult, Option<String>), WireError> {
    match op {
        Op::Bind(r) | Op::Modify(r) | Op::SearchDone(r) => Ok((r, None)),
        Op::Extended { result, name } => Ok((result, name)),
        _ => Err(WireError::Unexpected),
    }
}
