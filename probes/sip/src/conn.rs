//! One SIP connection of the trunk's client side (UDP, TCP or TLS) with the two things
//! the checks need: a non-INVITE client transaction (a request and its final response,
//! matched by Via branch, Call-ID and CSeq; over UDP retransmitted per RFC 3261 timers
//! E/F, the non-INVITE twins of A/B), and the server side for the requests the peer
//! sends back (NOTIFYs of this run's subscriptions are answered 200 and kept; a stray
//! NOTIFY from an older run gets 481, OPTIONS 200, anything else 501; ACK nothing).

use crate::error::{ConnError, ReachError, WaitEnd};
use crate::message::{next_message, Message, MAX_MESSAGE};
use imp_verify_core::text::peer_text;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// RFC 3261 T1.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2.
const T2: Duration = Duration::from_secs(4);
/// RFC 3261 timer F: a non-INVITE client transaction ends after 64*T1.
const TIMER_F: Duration = Duration::from_secs(32);

/// When a check's exchange must be done, and the time the check had in all (for the
/// words of a wait that ran out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The instant.
    pub at: Instant,
    /// The check's whole time.
    pub budget: Duration,
}

impl Deadline {
    /// The deadline of a check's own steps ([`imp_verify_core::CheckCtx::budget_deadline`]).
    pub fn of(cx: &imp_verify_core::CheckCtx) -> Deadline {
        Deadline {
            at: cx.budget_deadline(),
            budget: cx.budget(),
        }
    }

    /// A deadline at `at`, the time left until it being all there is (an undo run by
    /// whoever gives it its deadline, a test).
    pub fn at(at: Instant) -> Deadline {
        Deadline {
            at,
            budget: at.saturating_duration_since(Instant::now()),
        }
    }

    /// The instant for tokio's timers.
    pub fn tokio(&self) -> tokio::time::Instant {
        self.at.into()
    }
}

/// A byte stream: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Wire {
    Udp(tokio::net::UdpSocket),
    Stream(Box<dyn Io>),
}

/// A connection to one SIP peer.
pub struct Conn {
    wire: Wire,
    /// `udp`, `tcp` or `tls`.
    pub transport: &'static str,
    /// Our address, as the peer sees it in Via and Contact.
    pub local: SocketAddr,
    /// The peer.
    pub peer: SocketAddr,
    buf: Vec<u8>,
    /// Call-IDs of this run's subscriptions: their NOTIFYs are answered 200 and kept.
    dialogs: HashSet<String>,
    notifies: VecDeque<(Message, Instant)>,
    /// Requests the peer sent that were not ours, as `METHOD answered CODE` (the first
    /// [`MAX_STRAYS`]; `strays_more` counts the rest).
    pub strays: Vec<String>,
    /// How many stray requests came beyond those kept in `strays`.
    pub strays_more: usize,
    /// NOTIFYs of this run's subscriptions that were not what a check waited for, as
    /// `Subscription-State (basic, note)`.
    pub passed_over: Vec<String>,
    seq: u64,
}

/// How many stray requests a connection keeps for evidence (a peer that floods the
/// connection with requests is answered, and counted, not remembered).
pub const MAX_STRAYS: usize = 16;

/// How many NOTIFYs of this run's subscriptions wait to be read (older ones are
/// dropped beyond it).
const MAX_QUEUED_NOTIFIES: usize = 64;

/// A request to send: the connection adds Via, Max-Forwards, Contact and Content-Length.
pub struct Request {
    /// The method (`OPTIONS`, `PUBLISH`...).
    pub method: &'static str,
    /// The Request-URI.
    pub uri: String,
    /// The From header's value, with its tag.
    pub from: String,
    /// The To header's value (with the peer's tag inside a dialog).
    pub to: String,
    /// The Call-ID.
    pub call_id: String,
    /// The CSeq number.
    pub cseq: u32,
    /// More header fields, each `Name: value`.
    pub extra: Vec<String>,
    /// Content type and body.
    pub body: Option<(&'static str, String)>,
}

impl Request {
    /// The request line, for evidence.
    pub fn line(&self) -> String {
        format!("{} {} SIP/2.0", self.method, self.uri)
    }
}

impl Conn {
    /// A UDP "connection" to `peer` (a connected socket: only the peer's datagrams; its
    /// local address is the one the peer sees).
    pub async fn udp(peer: SocketAddr) -> Result<Conn, ReachError> {
        let bind: SocketAddr = if peer.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let udp = |error| ReachError::Udp { peer, error };
        let sock = tokio::net::UdpSocket::bind(bind).await.map_err(udp)?;
        sock.connect(peer).await.map_err(udp)?;
        let local = sock.local_addr().map_err(udp)?;
        Ok(Conn::new(Wire::Udp(sock), "udp", local, peer))
    }

    /// A stream connection (`tcp`, or `tls` after the handshake).
    pub fn stream(
        io: Box<dyn Io>,
        transport: &'static str,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Conn {
        Conn::new(Wire::Stream(io), transport, local, peer)
    }

    fn new(wire: Wire, transport: &'static str, local: SocketAddr, peer: SocketAddr) -> Conn {
        Conn {
            wire,
            transport,
            local,
            peer,
            buf: Vec::new(),
            dialogs: HashSet::new(),
            notifies: VecDeque::new(),
            strays: Vec::new(),
            strays_more: 0,
            passed_over: Vec::new(),
            seq: 0,
        }
    }

    /// A unique token for tags, Call-IDs and branches of this connection.
    pub fn token(&mut self) -> String {
        self.seq += 1;
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{:x}{:x}{}", n, std::process::id(), self.seq)
    }

    /// Our Contact URI.
    pub fn contact(&self) -> String {
        format!(
            "<sip:imp-verify@{};transport={}>",
            self.local, self.transport
        )
    }

    /// Accepts the NOTIFYs of a subscription with this Call-ID from now on.
    pub fn expect_dialog(&mut self, call_id: &str) {
        self.dialogs.insert(call_id.to_string());
    }

    fn render(&self, req: &Request, branch: &str) -> Vec<u8> {
        let mut text = format!(
            "{} {} SIP/2.0\r\nVia: SIP/2.0/{} {};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: {}\r\n",
            req.method,
            req.uri,
            self.transport.to_ascii_uppercase(),
            self.local,
            req.from,
            req.to,
            req.call_id,
            req.cseq,
            req.method,
            self.contact()
        );
        for h in &req.extra {
            text.push_str(h);
            text.push_str("\r\n");
        }
        match &req.body {
            Some((ty, body)) => text.push_str(&format!(
                "Content-Type: {ty}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )),
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        text.into_bytes()
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        match &mut self.wire {
            Wire::Udp(s) => s.send(bytes).await.map(|_| ()).map_err(ConnError::Send),
            Wire::Stream(s) => {
                s.write_all(bytes).await.map_err(ConnError::Send)?;
                s.flush().await.map_err(ConnError::Send)
            }
        }
    }

    /// The next message from the peer, or `None` at `until`.
    async fn recv(&mut self, until: Instant) -> Result<Option<Message>, ConnError> {
        let until: tokio::time::Instant = until.into();
        match &mut self.wire {
            Wire::Udp(s) => {
                let mut buf = vec![0u8; MAX_MESSAGE];
                match tokio::time::timeout_at(until, s.recv(&mut buf)).await {
                    Err(_) => Ok(None),
                    Ok(Err(error)) => Err(ConnError::UdpRecv {
                        peer: self.peer,
                        error,
                    }),
                    Ok(Ok(n)) => Ok(Some(Message::parse(&buf[..n])?)),
                }
            }
            Wire::Stream(s) => {
                let mut chunk = [0u8; 4096];
                loop {
                    if let Some(raw) = next_message(&mut self.buf)? {
                        return Ok(Some(Message::parse(&raw)?));
                    }
                    match tokio::time::timeout_at(until, s.read(&mut chunk)).await {
                        Err(_) => return Ok(None),
                        Ok(Err(e)) => return Err(ConnError::Recv(e)),
                        Ok(Ok(0)) => return Err(ConnError::Closed),
                        Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                    }
                }
            }
        }
    }

    /// Answers a request of the peer; a NOTIFY of ours is kept for [`Conn::notify`].
    async fn serve(&mut self, req: Message) -> Result<(), ConnError> {
        let method = req.method().unwrap_or("").to_ascii_uppercase();
        let (code, reason) = match method.as_str() {
            "ACK" => return Ok(()),
            "NOTIFY" if self.dialogs.contains(req.call_id()) => (200, "OK"),
            "NOTIFY" => (481, "Subscription Does Not Exist"),
            "OPTIONS" => (200, "OK"),
            _ => (501, "Not Implemented"),
        };
        if code != 200 || method != "NOTIFY" {
            if self.strays.len() < MAX_STRAYS {
                let shown: String = method.chars().take(32).collect();
                self.strays
                    .push(format!("{} answered {code}", peer_text(&shown)));
            } else {
                self.strays_more += 1;
            }
        }
        let mut text = format!("SIP/2.0 {code} {reason}\r\n");
        for v in req.header_all("Via") {
            text.push_str(&format!("Via: {v}\r\n"));
        }
        let mut to = req.header("To").unwrap_or("").to_string();
        if crate::message::tag(&to).is_none() {
            to.push_str(";tag=impv-ans");
        }
        text.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
            req.header("From").unwrap_or(""),
            req.call_id(),
            req.cseq()
        ));
        self.send(text.as_bytes()).await?;
        if code == 200 && method == "NOTIFY" {
            if self.notifies.len() >= MAX_QUEUED_NOTIFIES {
                self.notifies.pop_front();
            }
            self.notifies.push_back((req, Instant::now()));
        }
        Ok(())
    }

    /// Sends `req` and waits for its final response until the deadline or timer F,
    /// whichever comes first; returns it with the number of transmissions. Provisional
    /// responses, other transactions' responses and the peer's own requests (answered)
    /// do not end the wait.
    pub async fn transact(
        &mut self,
        req: &Request,
        deadline: Deadline,
    ) -> Result<(Message, u32), ConnError> {
        let branch = format!("z9hG4bK-impv-{}", self.token());
        let bytes = self.render(req, &branch);
        let cseq = format!("{} {}", req.cseq, req.method);
        let udp = matches!(self.wire, Wire::Udp(_));
        let timer_f = Instant::now() + TIMER_F;
        let (until, ended) = if timer_f < deadline.at {
            (timer_f, WaitEnd::TimerF)
        } else {
            (deadline.at, WaitEnd::Budget(deadline.budget))
        };
        let mut interval = T1;
        let mut sent = 0u32;
        loop {
            self.send(&bytes).await?;
            sent += 1;
            let resend_at = if udp {
                (Instant::now() + interval).min(until)
            } else {
                until
            };
            while let Some(m) = self.recv(resend_at).await? {
                if m.method().is_some() {
                    self.serve(m).await?;
                } else if m.branch() == branch
                    && m.call_id() == req.call_id
                    && m.cseq().split_whitespace().eq(cseq.split_whitespace())
                    && m.code().unwrap_or(0) >= 200
                {
                    return Ok((m, sent));
                }
            }
            if Instant::now() >= until {
                return Err(ConnError::NoFinalResponse {
                    method: req.method,
                    sent,
                    ended,
                });
            }
            interval = (interval * 2).min(T2);
        }
    }

    /// The next NOTIFY of the subscription `call_id` that satisfies `want`, with the time
    /// it arrived, waiting until `until`. NOTIFYs that do not satisfy it are dropped.
    pub async fn notify(
        &mut self,
        call_id: &str,
        until: Instant,
        want: impl Fn(&Message) -> bool,
    ) -> Result<Option<(Message, Instant)>, ConnError> {
        loop {
            while let Some((m, at)) = self.notifies.pop_front() {
                if m.call_id() == call_id && want(&m) {
                    return Ok(Some((m, at)));
                }
                if self.passed_over.len() < 8 {
                    let state = peer_text(m.header("Subscription-State").unwrap_or("?"));
                    self.passed_over.push(format!(
                        "{state}: {}",
                        crate::message::read_pidf(&m.body).summary()
                    ));
                }
            }
            match self.recv(until).await? {
                None => return Ok(None),
                Some(m) if m.method().is_some() => self.serve(m).await?,
                Some(_) => {} // a late response of an ended transaction
            }
        }
    }
}
