//! imp-verify probe `xmpp`: what Jabber and third-party XMPP clients do against the
//! IM&P nodes, with tokio-xmpp over the project's own TLS (the spec's CA, names
//! verified; no credential is sent over a connection whose certificate did not verify).
//!
//! Checks: `xmpp.connect` (each node's c2s opens a stream for the domain, offers
//! STARTTLS and presents a certificate that verifies), `xmpp.login` (each test user on
//! its home node; a SASL `not-authorized` is explained by the spec's directory through
//! `imp_probe_ldap::look_up_test_user`), `xmpp.im` (a message between two test users of a node arrives, with
//! its round-trip time), `xmpp.ha` (each test user also logs in on the redundancy-group
//! peer of its home node: the failover target), `xmpp.presence` (a watcher sees a test
//! user's availability change), `xmpp.muc` (an ad hoc room: created, joined, a message
//! to both, destroyed), `xmpp.intercluster` (with several clusters, a user of each
//! exchanges messages with one of every other, both ways, and each sees the other's
//! availability change), `xmpp.federation` (the same with each federated domain's
//! contact, over s2s).

use futures::StreamExt;
use imp_verify_core::spec::{Service, Spec, TestUser, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome, PlannedCheck, Probe};
use imp_verify_net::tls::{starttls, TlsInspector};
use imp_verify_net::Resolver;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_xmpp::connect::{ServerConnector, ServerConnectorError};
use tokio_xmpp::error::AuthError;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::xmlstream::{initiate_stream, PendingFeaturesRecv, StreamHeader, Timeouts};
use tokio_xmpp::{Client, Event, Stanza};

/// Why the connector could not hand tokio-xmpp a verified stream.
#[derive(Debug)]
pub struct ConnectError(pub String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConnectError {}
impl ServerConnectorError for ConnectError {}

/// The most a server may send on one connection: far more than a check's stanzas (a
/// login, a roster, a few messages and presences), and a bound on what an enormous or
/// endless stanza can make the client buffer.
pub const MAX_STREAM_BYTES: u64 = 8 * 1024 * 1024;

/// A stream that refuses to read more than [`MAX_STREAM_BYTES`] in all: tokio-xmpp keeps
/// a stanza in memory until it ends, so an endless one would grow without bound.
pub struct Capped<S> {
    inner: S,
    read: u64,
}

impl<S> Capped<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Capped { inner, read: 0 }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Capped<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.read >= MAX_STREAM_BYTES {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the server sent more than {} MiB on one connection (an enormous stanza?)",
                    MAX_STREAM_BYTES >> 20
                ),
            )));
        }
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read += n;
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connects to one node's c2s port: STARTTLS, the spec's trust, then the stream.
#[derive(Clone)]
pub struct NodeConnector {
    pub addr: SocketAddr,
    pub domain: String,
    pub inspector: Arc<TlsInspector>,
}

impl std::fmt::Debug for NodeConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeConnector({} for {})", self.addr, self.domain)
    }
}

impl ServerConnector for NodeConnector {
    type Stream =
        tokio::io::BufStream<Capped<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>;

    async fn connect(
        &self,
        _jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<
        (
            PendingFeaturesRecv<Self::Stream>,
            sasl::common::ChannelBinding,
        ),
        tokio_xmpp::Error,
    > {
        let err = |m: String| tokio_xmpp::Error::Connection(Box::new(ConnectError(m)));
        let mut tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| err(format!("cannot connect to {}: {e}", self.addr)))?;
        starttls::xmpp(&mut tcp, &self.domain, "jabber:client")
            .await
            .map_err(|e| err(format!("STARTTLS: {e}")))?;
        let (tls, facts) = self
            .inspector
            .handshake(tcp, &self.domain, None)
            .await
            .map_err(|e| err(format!("TLS: {e}")))?;
        if !facts.verified() {
            return Err(err(format!(
                "the certificate of {} does not verify ({}): no password is sent over this connection",
                self.domain,
                facts.verify_error.or(facts.handshake_error).unwrap_or_default()
            )));
        }
        let pending = initiate_stream(
            tokio::io::BufStream::new(Capped::new(tls)),
            ns,
            StreamHeader {
                to: Some(Cow::Owned(self.domain.clone())),
                from: None,
                id: None,
            },
            timeouts,
        )
        .await
        .map_err(tokio_xmpp::Error::Io)?;
        Ok((pending, sasl::common::ChannelBinding::None))
    }
}

fn tasks(w: Workflow) -> (&'static str, &'static str) {
    // (verify clients can log in, configure HA)
    match w {
        Workflow::A => ("A.9", "A.8"),
        Workflow::B => ("B.10", "B.9"),
        Workflow::C => ("C.10", "C.9"),
        Workflow::D => ("D.1", "D.1"),
    }
}

struct Ctx {
    spec: Arc<Spec>,
    resolver: Resolver,
    inspector: Arc<TlsInspector>,
}

impl Ctx {
    async fn connector(&self, node_fqdn: &str) -> Result<NodeConnector, String> {
        let (cluster, node) = self
            .spec
            .node(node_fqdn)
            .ok_or_else(|| format!("{node_fqdn} is not in the spec"))?;
        let ip = match node.address {
            Some(ip) => ip,
            None => *self
                .resolver
                .lookup_ip(node_fqdn)
                .await
                .map_err(|e| format!("cannot resolve {node_fqdn}: {e}"))?
                .first()
                .ok_or_else(|| format!("{node_fqdn} has no address"))?,
        };
        Ok(NodeConnector {
            addr: SocketAddr::new(ip, node.port(Service::XmppC2s)),
            domain: cluster.domain.clone(),
            inspector: self.inspector.clone(),
        })
    }

    /// The c2s endpoint of a federated domain, from its `_xmpp-client._tcp` records.
    async fn peer_connector(&self, domain: &str) -> Result<NodeConnector, String> {
        let srv = self
            .resolver
            .lookup_srv(&format!("_xmpp-client._tcp.{domain}"))
            .await
            .map_err(|e| format!("cannot find the XMPP server of {domain}: {e}"))?;
        let first = srv
            .first()
            .ok_or_else(|| format!("{domain} publishes no XMPP client service"))?;
        let ip = *self
            .resolver
            .lookup_ip(&first.target)
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", first.target))?
            .first()
            .ok_or_else(|| format!("{} has no address", first.target))?;
        Ok(NodeConnector {
            addr: SocketAddr::new(ip, first.port),
            domain: domain.to_string(),
            inspector: self.inspector.clone(),
        })
    }

    /// Logs `user` in on `node`: the online client and how long it took, or why not.
    async fn login(
        &self,
        user: &TestUser,
        node: &str,
        budget: Duration,
    ) -> Result<(Session, Jid, Duration, String), Outcome> {
        let (login_task, _) = tasks(self.spec.workflow);
        let connector = self.connector(node).await.map_err(|e| {
            Outcome::fail(
                e,
                format!("See dns.node and xmpp.connect (task {login_task})"),
            )
        })?;
        self.login_as(
            &self.spec.jid_of(user),
            user.password().expose(),
            connector,
            node,
            budget,
        )
        .await
    }

    /// Logs `jid_text` in through `connector` (labelled `node` in messages).
    async fn login_as(
        &self,
        jid_text: &str,
        password: &str,
        connector: NodeConnector,
        node: &str,
        budget: Duration,
    ) -> Result<(Session, Jid, Duration, String), Outcome> {
        let (login_task, _) = tasks(self.spec.workflow);
        let jid: BareJid = jid_text.parse().map_err(|e| {
            Outcome::fail(
                format!("`{jid_text}` is not a JID: {e}"),
                "Correct the JID in the spec",
            )
        })?;
        let started = Instant::now();
        let timeouts = Timeouts {
            read_timeout: budget,
            response_timeout: budget,
        };
        // Authenticate once by hand first: tokio-xmpp's client retries a refused login
        // quietly, while the administrator needs the server's reason.
        let local = jid
            .node()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let mut offered: Vec<String> = Vec::new();
        let preflight = async {
            let (pending, binding) = connector
                .connect(&Jid::from(jid.clone()), "jabber:client", timeouts)
                .await?;
            let (features, stream) = pending.recv_features().await?;
            offered = features.sasl_mechanisms.iter().cloned().collect();
            // The strongest mechanism both sides have, as tokio-xmpp orders them; never
            // ANONYMOUS, which would "log in" without the user's credentials.
            let Some(mechanism) = MECHANISMS
                .iter()
                .find(|m| features.sasl_mechanisms.contains(**m))
            else {
                return Err(tokio_xmpp::Error::Auth(AuthError::NoMechanism));
            };
            let creds = sasl::common::Credentials::default()
                .with_username(local)
                .with_password(password)
                .with_channel_binding(binding);
            tokio_xmpp::client_login(stream, [mechanism.to_string()].into(), creds)
                .await
                .map(|_| mechanism.to_string())
        };
        let mechanism = match tokio::time::timeout(budget, preflight).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return Err(login_failure(jid_text, node, &e, login_task).with("offered_mechanisms", offered.join(" "))),
            Err(_) => {
                return Err(Outcome::fail(
                    format!("{jid_text} on {node}: authentication not completed within {} ms", budget.as_millis()),
                    format!("Check the node's XMPP services and its LDAP authentication (task {login_task})"),
                ))
            }
        };
        let jid_bare = jid.clone();
        let mut client = Session(Some(Client::new_with_connector(
            jid, password, connector, timeouts,
        )));
        let first = tokio::time::timeout(budget, client.next()).await;
        match first {
            Ok(Some(Event::Online { bound_jid, .. })) => {
                let took = started.elapsed();
                // Available, as a client is: the server routes messages to available sessions.
                client
                    .send_stanza(Stanza::Presence(Presence::new(PresenceType::None)))
                    .await
                    .map_err(|e| {
                        Outcome::fail(
                            format!("{jid_text} on {node}: sending presence failed: {e}"),
                            "Check the node",
                        )
                    })?;
                // The server reflects the presence back once the session is available.
                let reflected = tokio::time::timeout(budget, async {
                    while let Some(ev) = client.next().await {
                        if let Event::Stanza(Stanza::Presence(p)) = ev {
                            if p.from.as_ref() == Some(&bound_jid) {
                                return true;
                            }
                        }
                    }
                    false
                })
                .await;
                if reflected != Ok(true) {
                    client.end().await;
                    return Err(Outcome::fail(
                        format!("{jid_text} on {node}: the server did not acknowledge the session's availability"),
                        format!("Check the node's presence engine (task {login_task})"),
                    ));
                }
                if bound_jid.to_bare() != jid_bare {
                    client.end().await;
                    return Err(Outcome::fail(
                        format!("{jid_text} on {node}: the server bound the session to {bound_jid}, not to the user"),
                        format!("Check the node's authentication: a session must be bound to the user who authenticated (task {login_task})"),
                    ));
                }
                Ok((client, bound_jid, took, mechanism))
            }
            Ok(Some(Event::Disconnected(e))) => {
                client.end().await;
                Err(login_failure(jid_text, node, &e, login_task))
            }
            Ok(Some(Event::Stanza(_))) | Ok(None) => {
                client.end().await;
                Err(Outcome::fail(
                    format!("{jid_text} on {node}: the stream ended before the session was online"),
                    format!("Check the node's XMPP services (task {login_task})"),
                ))
            }
            Err(_) => {
                // Ended, not dropped: tokio-xmpp's worker panics when its client vanishes.
                client.end().await;
                Err(Outcome::fail(
                    format!("{jid_text} on {node}: not online within {} ms", budget.as_millis()),
                    format!("Check that the Cisco XCP Connection Manager and Router answer on the node (task {login_task})"),
                ))
            }
        }
    }
}

fn login_failure(jid: &str, node: &str, e: &tokio_xmpp::Error, task: &str) -> Outcome {
    let (msg, fix) = match e {
        tokio_xmpp::Error::Auth(AuthError::Fail(cond)) => {
            use tokio_xmpp::parsers::sasl::DefinedCondition as C;
            let (what, fix) = match cond {
                C::NotAuthorized => (
                    "the password is wrong, or the account does not exist or is not enabled for IM and Presence".to_string(),
                    format!("Check the user's password (LDAP user authentication), that the user is synced, licensed for IM&P and assigned to this node (tasks {task}, A.4)"),
                ),
                C::TemporaryAuthFailure => (
                    "the server could not check the credentials (a server-side error, not the password): its authentication back end is failing".to_string(),
                    format!("Check the node's Cisco Client Profile Agent and authentication services and their connection to CUCM and the LDAP directory (tasks {task}, A.3, A.6)"),
                ),
                C::AccountDisabled => (
                    "the account is disabled".to_string(),
                    format!("Enable the user (on CUCM and in the directory) and its IM and Presence capability (task {task})"),
                ),
                C::CredentialsExpired => (
                    "the user's credentials have expired".to_string(),
                    format!("Reset the test user's password in the directory and in the spec's password source (task {task})"),
                ),
                C::EncryptionRequired | C::MechanismTooWeak => (
                    "the server wants a stronger mechanism or more encryption than this login used".to_string(),
                    format!("Check the node's SASL mechanisms and TLS settings for clients (tasks {task}, A.11)"),
                ),
                other => (
                    format!("the server refuses the authentication exchange itself ({other:?})"),
                    format!("Check the node's SASL configuration and its logs (task {task})"),
                ),
            };
            (
                format!(
                    "{jid} is refused on {node}: SASL {}: {what}",
                    sasl_name(cond)
                ),
                fix,
            )
        }
        tokio_xmpp::Error::Auth(AuthError::NoMechanism) => (
            format!(
                "{node} offers none of {} to clients over TLS",
                MECHANISMS.join(", ")
            ),
            format!("Enable PLAIN or SCRAM-SHA-1/256 for clients (task {task})"),
        ),
        tokio_xmpp::Error::Connection(c) => (
            format!("{jid} on {node}: {c}"),
            format!("See xmpp.connect and the tls.* checks of this node (task {task})"),
        ),
        tokio_xmpp::Error::Io(io) => {
            let text = io.to_string();
            let what = if io.kind() == std::io::ErrorKind::UnexpectedEof
                || text.contains("close_notify")
                || text.contains("closed")
            {
                "the server closed the connection during login".to_string()
            } else if let Some(i) = text.find("StreamError") {
                // tokio-xmpp's debug form of a received <stream:error/>: name the condition.
                let cond = text[i..]
                    .split("condition: ")
                    .nth(1)
                    .and_then(|c| c.split([',', ' ', '}']).next())
                    .unwrap_or("?");
                format!("the server ended the stream during login with the stream error {cond}")
            } else {
                format!("the stream broke during login: {text}")
            };
            (format!("{jid} on {node}: {what}"), format!("Check the node's XMPP services (Cisco XCP Connection Manager, Authentication Service) and their logs (task {task})"))
        }
        other => (
            format!("{jid} on {node}: {other}"),
            format!("Check the node's XMPP services (task {task})"),
        ),
    };
    let mut o = Outcome::fail(msg, fix)
        .with("jid", jid)
        .with("node", node)
        .with("error", e);
    if let tokio_xmpp::Error::Auth(AuthError::Fail(cond)) = e {
        o = o.with("sasl_condition", sasl_name(cond));
    }
    o
}

/// The SASL condition a login failure carries (from [`login_failure`]), if the server
/// refused the authentication.
fn sasl_condition(o: &Outcome) -> Option<&str> {
    o.evidence
        .iter()
        .find(|(k, _)| k == "sasl_condition")
        .map(|(_, v)| v.as_str())
}

/// A client that ends its stream when it goes: a check cut off by its timeout drops its
/// clients mid-exchange, and tokio-xmpp's worker panics when its client vanishes
/// without `send_end`.
struct Session(Option<Client>);

impl Session {
    /// Closes the stream (waiting at most a second for the server).
    async fn end(mut self) {
        if let Some(c) = self.0.take() {
            close(c).await;
        }
    }
}

/// Ends `c`'s stream. Events nobody read are taken first: the worker blocks on a full
/// queue (16 events) and would never see the request to end.
async fn close(mut c: Client) {
    use futures::FutureExt;
    for _ in 0..1024 {
        if !matches!(c.next().now_or_never(), Some(Some(_))) {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), c.send_end()).await;
}

impl std::ops::Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
            .as_ref()
            .expect("a session is used only until it ends")
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Client {
        self.0
            .as_mut()
            .expect("a session is used only until it ends")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(c), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(close(c));
        }
    }
}

/// The SASL mechanisms a test user logs in with, strongest first (tokio-xmpp's order).
const MECHANISMS: [&str; 3] = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];

/// A SASL failure condition as RFC 6120 spells it on the wire.
fn sasl_name(c: &tokio_xmpp::parsers::sasl::DefinedCondition) -> &'static str {
    use tokio_xmpp::parsers::sasl::DefinedCondition as C;
    match c {
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

/// A login refused with not-authorized says nothing of why (servers do not tell a wrong
/// password from a missing account). When the spec has the directory IM&P authenticates
/// against, ask it: is the user there, and does it take the same password?
async fn explain_refusal(
    c: &Ctx,
    user: &TestUser,
    node: &str,
    o: Outcome,
    budget: Duration,
) -> Outcome {
    if sasl_condition(&o) != Some("not-authorized") || c.spec.ldap.is_none() {
        return o;
    }
    let uid = &user.user_id;
    let (login_task, _) = tasks(c.spec.workflow);
    let (secure, integrate) = imp_probe_ldap::tasks(c.spec.workflow);
    let head = format!("{} is refused on {node}", c.spec.jid_of(user));
    use imp_probe_ldap::DirectoryUser;
    let (msg, fix, seen) = match imp_probe_ldap::look_up_test_user(&c.spec, uid, budget).await {
        Ok(DirectoryUser::Missing { base, filter }) => (
            format!("{head}: SASL not-authorized: the account does not exist: the directory has no {uid} under {base} with {filter}"),
            format!("Add the user to the directory and let CUCM sync it (or correct the user id in the spec), then enable it for IM and Presence (tasks {integrate}, {login_task})"),
            format!("no entry for {uid}"),
        ),
        Ok(DirectoryUser::Found { dn, bind_rc: 49, .. }) => (
            format!("{head}: SASL not-authorized: the password is wrong: the directory refuses it too for {dn} (invalidCredentials)"),
            format!("Correct the test user's password in the spec's password source, or reset it in the directory (tasks {integrate}, {login_task})"),
            format!("{dn} refuses the password: invalidCredentials (49)"),
        ),
        Ok(DirectoryUser::Found { dn, bind_rc: 0, .. }) => (
            format!("{head}: SASL not-authorized, though the directory accepts the same password for {dn}: IM and Presence refuses the user itself"),
            format!("On CUCM, check that the user is synced from this directory, licensed and enabled for IM and Presence and assigned to this node, and that LDAP user authentication points at this directory (tasks {integrate}, {login_task}, A.4)"),
            format!("{dn} accepts the password"),
        ),
        Ok(DirectoryUser::Found { dn, bind_rc, bind_text, .. }) => (
            format!("{head}: SASL not-authorized: the directory refuses {dn} too: {} ({bind_rc}) {bind_text}", imp_probe_ldap::rc_name(bind_rc)),
            format!("Check the user's account in the directory (locked, expired, disabled) (tasks {integrate}, {login_task})"),
            format!("{dn} refuses the bind: {} ({bind_rc})", imp_probe_ldap::rc_name(bind_rc)),
        ),
        Err(e) => (
            format!("{head}: SASL not-authorized, and the directory could not be asked ({e}): if IM and Presence authenticates users against it, that is why"),
            format!("See ldap.connect and ldap.bind: LDAP user authentication needs the directory reachable over TLS with a working service account (tasks {secure}, {integrate}, {login_task})"),
            format!("not asked: {e}"),
        ),
    };
    Outcome {
        message: msg,
        remediation: Some(fix),
        ..o
    }
    .with("directory", seen)
}

/// The probe.
pub struct XmppProbe;

impl Probe for XmppProbe {
    fn name(&self) -> &'static str {
        "xmpp"
    }

    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        let ctx = Arc::new(Ctx {
            spec: spec.clone(),
            resolver: Resolver::from_spec(spec),
            inspector: Arc::new(TlsInspector::from_spec(spec)),
        });
        let mut checks = Vec::new();
        let imp_nodes: Vec<String> = spec
            .nodes()
            .filter(|(_, n)| {
                n.role == imp_verify_core::spec::Role::Imp
                    && n.service_ports()
                        .iter()
                        .any(|(s, _)| *s == Service::XmppC2s)
            })
            .map(|(_, n)| n.fqdn().to_string())
            .collect();
        for node in &imp_nodes {
            let (c, n) = (ctx.clone(), node.clone());
            let port = spec
                .node(node)
                .map(|(_, nd)| nd.port(Service::XmppC2s))
                .unwrap_or(5222);
            checks.push(
                PlannedCheck::new("xmpp.connect", node.clone(), move |cx| {
                    let (c, n) = (c.clone(), n.clone());
                    async move { check_connect(&c, &n, cx).await }
                })
                .after(imp_verify_core::keys::services_port(node, port, "xmpp-c2s")),
            );
        }
        for user in &spec.test_users {
            let home = user.home_node.clone();
            if !imp_nodes.iter().any(|n| n.eq_ignore_ascii_case(&home)) {
                continue;
            }
            let target = format!("{} on {}", user.user_id, home);
            let (c, uid, h) = (ctx.clone(), user.user_id.clone(), home.clone());
            checks.push(
                PlannedCheck::new("xmpp.login", target.clone(), move |cx| {
                    let (c, uid, h) = (c.clone(), uid.clone(), h.clone());
                    async move { check_login(&c, &uid, &h, cx).await }
                })
                .after(CheckKey::new("xmpp.connect", home.clone())),
            );
            // The failover target: the peer of the home node in its redundancy group.
            let peer = spec
                .clusters
                .iter()
                .flat_map(|c| c.redundancy_groups.iter())
                .find_map(|g| {
                    let names = g.node_names();
                    names
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(&home))
                        .map(|i| names[1 - i.min(1)].to_string())
                        .filter(|p| !p.eq_ignore_ascii_case(&home))
                });
            if let Some(peer) = peer {
                let (c, uid, p) = (ctx.clone(), user.user_id.clone(), peer.clone());
                checks.push(
                    PlannedCheck::new(
                        "xmpp.ha",
                        format!("{} on {}", user.user_id, peer),
                        move |cx| {
                            let (c, uid, p) = (c.clone(), uid.clone(), p.clone());
                            async move { check_login(&c, &uid, &p, cx).await }
                        },
                    )
                    // Not after the home login: failover must work when the home node is down.
                    .after(CheckKey::new("xmpp.connect", peer.clone())),
                );
            }
        }
        // IM: the first two test users of each node, one to the other.
        for node in &imp_nodes {
            let users: Vec<&TestUser> = spec
                .test_users
                .iter()
                .filter(|u| u.home_node.eq_ignore_ascii_case(node))
                .collect();
            if let [a, b, ..] = users.as_slice() {
                let (c, from, to, n) = (
                    ctx.clone(),
                    a.user_id.clone(),
                    b.user_id.clone(),
                    node.clone(),
                );
                checks.push(
                    PlannedCheck::new(
                        "xmpp.im",
                        format!("{} to {} on {}", a.user_id, b.user_id, node),
                        move |cx| {
                            let (c, from, to, n) = (c.clone(), from.clone(), to.clone(), n.clone());
                            async move { check_im(&c, &from, &to, &n, cx).await }
                        },
                    )
                    .after(CheckKey::new(
                        "xmpp.login",
                        format!("{} on {}", a.user_id, node),
                    ))
                    .after(CheckKey::new(
                        "xmpp.login",
                        format!("{} on {}", b.user_id, node),
                    )),
                );
                let (c, ua, ub, n) = (
                    ctx.clone(),
                    a.user_id.clone(),
                    b.user_id.clone(),
                    node.clone(),
                );
                checks.push(
                    PlannedCheck::new(
                        "xmpp.muc",
                        format!("{} and {} on {}", a.user_id, b.user_id, node),
                        move |cx| {
                            let (c, ua, ub, n) = (c.clone(), ua.clone(), ub.clone(), n.clone());
                            async move { check_muc(&c, &ua, &ub, &n, cx).await }
                        },
                    )
                    .after(CheckKey::new(
                        "xmpp.login",
                        format!("{} on {}", a.user_id, node),
                    ))
                    .after(CheckKey::new(
                        "xmpp.login",
                        format!("{} on {}", b.user_id, node),
                    )),
                );
                let (c, watched, watcher, n) = (
                    ctx.clone(),
                    a.user_id.clone(),
                    b.user_id.clone(),
                    node.clone(),
                );
                checks.push(
                    PlannedCheck::new(
                        "xmpp.presence",
                        format!("{} sees {} on {}", b.user_id, a.user_id, node),
                        move |cx| {
                            let (c, watched, watcher, n) =
                                (c.clone(), watched.clone(), watcher.clone(), n.clone());
                            async move { check_presence(&c, &watched, &watcher, &n, cx).await }
                        },
                    )
                    .after(CheckKey::new(
                        "xmpp.login",
                        format!("{} on {}", a.user_id, node),
                    ))
                    .after(CheckKey::new(
                        "xmpp.login",
                        format!("{} on {}", b.user_id, node),
                    )),
                );
            }
        }
        // Intercluster (B.13/C.13): the first test user of each cluster with the first of
        // every other cluster.
        let first_of = |cluster: &imp_verify_core::spec::Cluster| -> Option<String> {
            spec.test_users
                .iter()
                .find(|u| {
                    let home = &u.home_node;
                    cluster
                        .nodes
                        .iter()
                        .any(|n| n.fqdn().eq_ignore_ascii_case(home))
                        && imp_nodes.iter().any(|n| n.eq_ignore_ascii_case(home))
                })
                .map(|u| u.user_id.clone())
        };
        for (i, ci) in spec.clusters.iter().enumerate() {
            for cj in spec.clusters.iter().skip(i + 1) {
                let (Some(a), Some(b)) = (first_of(ci), first_of(cj)) else {
                    continue;
                };
                let login_key = |id: &str| {
                    let u = spec
                        .test_users
                        .iter()
                        .find(|u| u.user_id == id)
                        .expect("a test user");
                    CheckKey::new("xmpp.login", format!("{} on {}", u.user_id, u.home_node))
                };
                let (ka, kb) = (login_key(&a), login_key(&b));
                let (c, ua, ub) = (ctx.clone(), a.clone(), b.clone());
                checks.push(
                    PlannedCheck::new(
                        "xmpp.intercluster",
                        format!("{a} ({}) and {b} ({})", ci.name, cj.name),
                        move |cx| {
                            let (c, ua, ub) = (c.clone(), ua.clone(), ub.clone());
                            async move { check_intercluster(&c, &ua, &ub, cx).await }
                        },
                    )
                    .after(ka)
                    .after(kb),
                );
            }
        }
        for peer in &spec.federation {
            let (c, d) = (ctx.clone(), peer.domain.clone());
            let mut check = PlannedCheck::new("xmpp.federation", peer.domain.clone(), move |cx| {
                let (c, d) = (c.clone(), d.clone());
                async move { check_federation(&c, &d, cx).await }
            })
            .after(CheckKey::new("dns.srv.federation", peer.domain.clone()));
            let local = peer
                .local_user
                .clone()
                .or_else(|| spec.test_users.first().map(|u| u.user_id.clone()));
            if let Some(u) = local.and_then(|u| spec.test_users.iter().find(|t| t.user_id == u)) {
                check = check.after(CheckKey::new(
                    "xmpp.login",
                    format!("{} on {}", u.user_id, u.home_node),
                ));
            }
            checks.push(check);
        }
        checks
    }
}

async fn check_connect(c: &Ctx, node: &str, cx: CheckCtx) -> Outcome {
    let (login_task, _) = tasks(c.spec.workflow);
    let budget = cx.timeout.mul_f32(0.8);
    let run = async {
        let conn = c.connector(node).await?;
        let mut tcp = tokio::net::TcpStream::connect(conn.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", conn.addr))?;
        let features = starttls::xmpp(&mut tcp, &conn.domain, "jabber:client")
            .await
            .map_err(|e| format!("{}: {e}", conn.addr))?;
        let (_tls, facts) = c
            .inspector
            .handshake(tcp, &conn.domain, None)
            .await
            .map_err(|e| format!("{}: TLS after STARTTLS: {e}", conn.addr))?;
        Ok::<_, String>((conn, features, facts))
    };
    match tokio::time::timeout(budget, run).await {
        Err(_) => Outcome::fail(format!("{node}: no stream and STARTTLS within {} ms", budget.as_millis()), format!("Check the node's XMPP connection manager (task {login_task})")),
        Ok(Err(e)) => Outcome::fail(e, format!("Clients need a stream for the IM domain with STARTTLS offered before any authentication (tasks {login_task}, A.11)")),
        Ok(Ok((conn, features, facts))) => {
            let subject = facts
                .chain
                .first()
                .and_then(|c| imp_verify_net::tls::view(c).ok())
                .map(|v| v.subject)
                .unwrap_or_default();
            let o = if facts.verified() {
                Outcome::pass(format!("{} opens a stream for {}, STARTTLS to a certificate that verifies", conn.addr, conn.domain))
            } else {
                Outcome::fail(
                    format!(
                        "{} offers STARTTLS, but its certificate does not verify for {}: {}",
                        conn.addr,
                        conn.domain,
                        facts.verify_error.clone().or(facts.handshake_error.clone()).unwrap_or_default()
                    ),
                    "Clients refuse this certificate: see the tls.* checks of xmpp-c2s on this node (tasks A.10, A.11)",
                )
            };
            o.with("node", node)
                .with("stream_features", features)
                .with("certificate_subject", subject)
                .with("tls", format!("{} {}", facts.version, facts.cipher))
        }
    }
}

async fn check_login(c: &Ctx, uid: &str, node: &str, cx: CheckCtx) -> Outcome {
    let user = c
        .spec
        .test_users
        .iter()
        .find(|u| u.user_id == uid)
        .expect("planned from the spec");
    let budget = cx.timeout.mul_f32(0.8);
    let started = Instant::now();
    match c.login(user, node, budget).await {
        Ok((client, bound, took, mechanism)) => {
            client.end().await;
            Outcome::pass(format!(
                "{uid} logs in on {node} with {mechanism} and binds {bound}"
            ))
            .with("jid", bound)
            .with("node", node)
            .with("sasl_mechanism", mechanism)
            .metric("login_ms", (took.as_secs_f64() * 10_000.0).round() / 10.0)
        }
        Err(o) => {
            let left = budget
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(500));
            explain_refusal(c, user, node, o, left).await
        }
    }
}

async fn check_im(c: &Ctx, from: &str, to: &str, node: &str, cx: CheckCtx) -> Outcome {
    let budget = cx.timeout.mul_f32(0.8);
    // Each login has a third of the time, so that a slow one ends on its own terms.
    let step = budget / 3;
    let user = |id: &str| {
        c.spec
            .test_users
            .iter()
            .find(|u| u.user_id == id)
            .expect("planned from the spec")
    };
    let (a, b) = (user(from), user(to));
    // Every session is ended, whatever happens (tokio-xmpp's worker panics on a dropped client).
    let mut sessions: Vec<Session> = Vec::new();
    let run = async {
        let (sender, _, _, _) = c.login(a, node, step).await?;
        sessions.push(sender);
        let (receiver, _, _, _) = c.login(b, node, step).await?;
        sessions.push(receiver);
        let to_jid: Jid = c
            .spec
            .jid_of(b)
            .parse()
            .map_err(|e| Outcome::fail(format!("{e}"), "Correct the spec"))?;
        // Unique per run, so that concurrent or repeated runs never see each other's message.
        let token = format!(
            "imp-verify-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let mut msg = Message::new_with_type(MessageType::Chat, Some(to_jid));
        msg.id = Some(Id(token.clone()));
        msg.bodies.insert(Lang(String::new()), token.clone());
        let sent = Instant::now();
        sessions[0]
            .send_stanza(Stanza::Message(msg))
            .await
            .map_err(|e| Outcome::fail(format!("sending failed: {e}"), "Check the node"))?;
        loop {
            match sessions[1].next().await {
                Some(Event::Stanza(Stanza::Message(m)))
                    if m.id.as_ref().map(|i| i.0.as_str()) == Some(token.as_str()) =>
                {
                    return Ok((m.bodies.values().any(|b| *b == token), sent.elapsed()));
                }
                Some(_) => continue,
                None => {
                    return Err(Outcome::fail(
                        format!("{to}'s stream ended before the message arrived"),
                        "Check the node's XMPP router",
                    ))
                }
            }
        }
    };
    let result = tokio::time::timeout(budget, run).await;
    for session in sessions {
        session.end().await;
    }
    match result {
        Ok(Ok((true, rtt))) => Outcome::pass(format!("a message from {from} reached {to} on {node} in {:.1} ms", rtt.as_secs_f64() * 1000.0))
            .metric("im_rtt_ms", (rtt.as_secs_f64() * 10_000.0).round() / 10.0),
        Ok(Ok((false, _))) => Outcome::fail(format!("the message from {from} reached {to} with another body"), "Check the node's message handling (task A.7)"),
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!("a message from {from} did not reach {to} on {node} within {} ms", budget.as_millis()),
            "Check that IM is routed within the cluster (Cisco XCP Router) and that both users are assigned and online (task A.7)",
        ),
    }
}

/// Sends `token` from `sender` to `to` and waits until `receiver` has it; a bounce
/// (an error message carrying the token's id) comes back as the server's condition.
/// A chat message to `to` whose id and body are `token`.
fn token_message(to: Jid, token: &str) -> Message {
    let mut msg = Message::new_with_type(MessageType::Chat, Some(to));
    msg.id = Some(Id(token.to_string()));
    msg.bodies.insert(Lang(String::new()), token.to_string());
    msg
}

async fn deliver(
    sender: &mut Client,
    receiver: &mut Client,
    to: Jid,
    token: &str,
) -> Result<Duration, String> {
    let sent = Instant::now();
    sender
        .send_stanza(Stanza::Message(token_message(to, token)))
        .await
        .map_err(|e| format!("sending failed: {e}"))?;
    let ours = |m: &Message| m.id.as_ref().map(|i| i.0.as_str()) == Some(token);
    loop {
        tokio::select! {
            ev = receiver.next() => match ev {
                Some(Event::Stanza(Stanza::Message(m))) if ours(&m) && m.type_ != MessageType::Error => return Ok(sent.elapsed()),
                Some(_) => {}
                None => return Err("the receiving stream ended".into()),
            },
            ev = sender.next() => match ev {
                Some(Event::Stanza(Stanza::Message(m))) if ours(&m) && m.type_ == MessageType::Error => {
                    return Err(format!("the server bounced it: {}", error_condition(&m)));
                }
                Some(_) => {}
                None => return Err("the sending stream ended".into()),
            },
        }
    }
}

/// Sends `to` a message from `sender` and waits up to `wait` for the server to bounce it:
/// the error condition, or None when nothing came back in time.
async fn bounce_of(sender: &mut Client, to: Jid, token: &str, wait: Duration) -> Option<String> {
    if let Err(e) = sender
        .send_stanza(Stanza::Message(token_message(to, token)))
        .await
    {
        return Some(format!("nothing: sending failed ({e})"));
    }
    let wait_for = async {
        while let Some(ev) = sender.next().await {
            if let Event::Stanza(Stanza::Message(m)) = ev {
                if m.id.as_ref().map(|i| i.0.as_str()) == Some(token)
                    && m.type_ == MessageType::Error
                {
                    return Some(error_condition(&m));
                }
            }
        }
        Some("nothing: the local stream ended".to_string())
    };
    tokio::time::timeout(wait, wait_for).await.unwrap_or(None)
}

/// The defined condition of a bounced message's `<error/>`.
fn error_condition(m: &Message) -> String {
    m.payloads
        .iter()
        .find(|p| p.name() == "error")
        .and_then(|e| {
            e.children()
                .find(|c| c.name() != "text")
                .map(|c| c.name().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn unique_token(tag: &str) -> String {
    format!(
        "imp-verify-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// What two users of different clusters or domains saw of each other.
struct Conversation {
    out: Duration,
    back: Duration,
    /// (away, back) as seen by the second user, then by the first.
    b_sees_a: (Duration, Duration),
    a_sees_b: (Duration, Duration),
}

/// Messages both ways between `a` and `b`, then each watches the other's availability.
/// An error names the leg that failed: `outbound`, `inbound`, or whose presence.
/// Both rosters are cleared first (a leftover subscription would keep a request from
/// reaching its contact) and afterwards.
async fn converse(
    a: &mut Client,
    b: &mut Client,
    a_jid: &BareJid,
    b_jid: &BareJid,
    set: &(dyn Fn(&'static str) + Sync),
) -> Result<Conversation, (String, String)> {
    unroster(a, b_jid).await;
    unroster(b, a_jid).await;
    set("waiting for a message to cross outbound");
    let out = deliver(a, b, b_jid.clone().into(), &unique_token("out"))
        .await
        .map_err(|e| ("outbound".to_string(), e))?;
    set("waiting for a message to cross inbound");
    let back = deliver(b, a, a_jid.clone().into(), &unique_token("in"))
        .await
        .map_err(|e| ("inbound".to_string(), e))?;
    let b_sees_a = watch(a, b, a_jid, b_jid, set)
        .await
        .map_err(|e| (format!("{b_jid} watching {a_jid}'s presence"), e))?;
    let a_sees_b = watch(b, a, b_jid, a_jid, set)
        .await
        .map_err(|e| (format!("{a_jid} watching {b_jid}'s presence"), e))?;
    Ok(Conversation {
        out,
        back,
        b_sees_a,
        a_sees_b,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

impl Conversation {
    fn metrics(&self, o: Outcome, prefix: &str) -> Outcome {
        o.metric(format!("{prefix}_out_ms"), ms(self.out))
            .metric(format!("{prefix}_back_ms"), ms(self.back))
            .metric(format!("{prefix}_presence_away_ms"), ms(self.b_sees_a.0))
            .metric(format!("{prefix}_presence_back_ms"), ms(self.b_sees_a.1))
            .metric(
                format!("{prefix}_presence_away_reverse_ms"),
                ms(self.a_sees_b.0),
            )
            .metric(
                format!("{prefix}_presence_back_reverse_ms"),
                ms(self.a_sees_b.1),
            )
    }
}

/// `xmpp.intercluster`: a test user of one cluster and one of another exchange messages
/// both ways and see each other's availability change (task B.13/C.13).
async fn check_intercluster(c: &Ctx, a_id: &str, b_id: &str, cx: CheckCtx) -> Outcome {
    let task = if c.spec.workflow == Workflow::B {
        "B.13"
    } else {
        "C.13"
    };
    let budget = cx.timeout.mul_f32(0.8);
    let step = budget / 4;
    let user = |id: &str| {
        c.spec
            .test_users
            .iter()
            .find(|u| u.user_id == id)
            .expect("planned from the spec")
    };
    let (a, b) = (user(a_id), user(b_id));
    let (a_node, b_node) = (a.home_node.clone(), b.home_node.clone());
    let cluster_of = |node: &str| {
        c.spec
            .node(node)
            .map(|(cl, _)| cl.name.clone())
            .unwrap_or_default()
    };
    let (a_cluster, b_cluster) = (cluster_of(&a_node), cluster_of(&b_node));
    let mut sessions: Vec<Session> = Vec::new();
    let stage = std::sync::Mutex::new("logging in");
    let set = |s: &'static str| *stage.lock().expect("not poisoned") = s;
    let run = async {
        let (ca, ja, _, _) = c.login(a, &a_node, step).await?;
        sessions.push(ca);
        let (cb, jb, _, _) = c.login(b, &b_node, step).await?;
        sessions.push(cb);
        let (x, y) = sessions.split_at_mut(1);
        converse(&mut x[0], &mut y[0], &ja.to_bare(), &jb.to_bare(), &set).await.map_err(|(leg, why)| {
            Outcome::fail(
                format!("between {} ({a_cluster}) and {} ({b_cluster}): {leg} failed: {why}", ja.to_bare(), jb.to_bare()),
                format!("Check the intercluster peering of both clusters (Presence > Inter-Clustering: peer address, AXL credentials, sync status) and that the Cisco XCP Router runs on every node; both clusters must know each other's users (task {task})"),
            )
        })
        .map(|conv| (ja.to_bare(), jb.to_bare(), conv))
    };
    let (result, seen) = recording(tokio::time::timeout(budget, run)).await;
    let stuck = *stage.lock().expect("not poisoned");
    if let [x, y] = sessions.as_mut_slice() {
        if let (Ok(ja), Ok(jb)) = (
            c.spec.jid_of(a).parse::<BareJid>(),
            c.spec.jid_of(b).parse::<BareJid>(),
        ) {
            unroster(x, &jb).await;
            unroster(y, &ja).await;
        }
    }
    for s in sessions {
        s.end().await;
    }
    match result {
        Ok(Ok((ja, jb, conv))) => conv.metrics(
            Outcome::pass(format!(
                "{ja} ({a_cluster}) and {jb} ({b_cluster}) exchange messages ({:.1} ms, {:.1} ms) and see each other's availability change",
                conv.out.as_secs_f64() * 1000.0,
                conv.back.as_secs_f64() * 1000.0
            )),
            "intercluster",
        ),
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!("{a_id} ({a_cluster}) and {b_id} ({b_cluster}) did not complete within {} ms: stuck {stuck}", budget.as_millis()),
            format!("Check the intercluster peering of both clusters and the Cisco XCP Router on their nodes (task {task})"),
        )
        .with("presence_seen", seen_evidence(&seen)),
    }
    .with("clusters", format!("{a_cluster}, {b_cluster}"))
    .with("nodes", format!("{a_node}, {b_node}"))
}

async fn check_federation(c: &Ctx, domain: &str, cx: CheckCtx) -> Outcome {
    let budget = cx.timeout.mul_f32(0.8);
    let step = budget / 4;
    let peer = c
        .spec
        .federation
        .iter()
        .find(|p| p.domain == domain)
        .expect("planned from the spec");
    let local = match &peer.local_user {
        Some(u) => c.spec.test_users.iter().find(|t| t.user_id == *u),
        None => c.spec.test_users.first(),
    };
    let Some(local) = local else {
        return Outcome::skip("no local test user to exchange messages with the federated contact");
    };
    let contact = peer.test_contact.clone();
    let contact_pw = peer.password();
    let home = local.home_node.clone();
    let mut sessions: Vec<Session> = Vec::new();
    let stage = std::sync::Mutex::new("logging in");
    let set = |s: &'static str| *stage.lock().expect("not poisoned") = s;
    let run = async {
        let (a, a_jid, _, _) = c.login(local, &home, step).await?;
        sessions.push(a);
        let connector = c.peer_connector(domain).await.map_err(|e| {
            Outcome::fail(e, "Check the federated domain's DNS records (task C.14)")
        })?;
        let (b, b_jid, _, _) = match c.login_as(&contact, contact_pw.expose(), connector, domain, step).await {
            Ok(b) => b,
            Err(o) if sasl_condition(&o).is_some() => {
                return Err(Outcome::fail(
                    format!("cannot log in as the federated contact: {}", o.message),
                    format!("Check the contact's account and its password source in the spec with {domain}'s administrator"),
                ))
            }
            Err(o) => {
                // The peer's server does not take clients: ask the local server whether it
                // can reach that domain over s2s, by a message it must deliver or bounce.
                set("asking the local server to reach the peer over s2s");
                let to: Jid = contact.parse().map_err(|e| Outcome::fail(format!("`{contact}` is not a JID: {e}"), "Correct the contact in the spec"))?;
                let bounce = bounce_of(&mut sessions[0], to, &unique_token("fed-probe"), step).await;
                let (s2s, seen) = match &bounce {
                    Some(condition) => (format!("{home}'s server cannot reach it over s2s either: a message to {contact} bounced with {condition}"), format!("bounced: {condition}")),
                    None => (
                        format!("a message from {home}'s server to {contact} was not bounced within {} ms (s2s may be up: only client access to the peer fails)", step.as_millis()),
                        format!("no bounce within {} ms", step.as_millis()),
                    ),
                };
                return Err(Outcome::fail(
                    format!("{domain}'s XMPP server does not take the federated contact's login ({}), and {s2s}", o.message),
                    format!("The federated server is down or unreachable: check with {domain}'s administrator that it runs, that its _xmpp-client._tcp and _xmpp-server._tcp records point at it, and that port 5269 is open between it and the IM&P nodes (tasks C.14, C.15)"),
                )
                .with("s2s_probe", seen));
            }
        };
        sessions.push(b);
        let (first, second) = sessions.split_at_mut(1);
        let conv = converse(
            &mut first[0],
            &mut second[0],
            &a_jid.to_bare(),
            &b_jid.to_bare(),
            &set,
        )
        .await
        .map_err(|(leg, why)| {
            fed_failure(domain, &a_jid.to_string(), &contact)((leg.as_str(), why))
        })?;
        Ok((a_jid, conv))
    };
    let (result, seen) = recording(tokio::time::timeout(budget, run)).await;
    let stuck = *stage.lock().expect("not poisoned");
    if let [x, y] = sessions.as_mut_slice() {
        if let (Ok(ja), Ok(jb)) = (
            c.spec.jid_of(local).parse::<BareJid>(),
            contact.parse::<BareJid>(),
        ) {
            unroster(x, &jb).await;
            unroster(y, &ja).await;
        }
    }
    for s in sessions {
        s.end().await;
    }
    match result {
        Ok(Ok((a_jid, conv))) => conv.metrics(
            Outcome::pass(format!(
                "messages cross both ways between {} and {contact} over s2s ({:.1} ms out, {:.1} ms back), and each sees the other's availability change",
                a_jid.to_bare(),
                conv.out.as_secs_f64() * 1000.0,
                conv.back.as_secs_f64() * 1000.0
            )),
            "federation",
        ),
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!("the exchange with {domain} did not complete within {} ms: stuck {stuck}", budget.as_millis()),
            if stuck.contains("subscription") || stuck.contains("change") {
                format!("{} Over federation, also check the federation policy for presence subscriptions on both sides (tasks C.14, C.15)", presence_hint(stuck, "C.15"))
            } else {
                "Check the s2s connection both ways: the _xmpp-server._tcp records, port 5269 reachable, certificates trusted by both sides, and the federation policy (tasks C.14, C.15)".to_string()
            },
        )
        .with("presence_seen", seen_evidence(&seen)),
    }
    .with("peer", domain)
    .with("contact", contact.clone())
}

fn fed_failure<'a>(
    domain: &'a str,
    local: &'a str,
    contact: &'a str,
) -> impl Fn((&str, String)) -> Outcome + 'a {
    move |(direction, why)| {
        let (from, to) = if direction == "outbound" {
            (local, contact)
        } else {
            (contact, local)
        };
        if direction != "outbound" && direction != "inbound" {
            return Outcome::fail(
                format!("messages cross, but presence does not: {direction}: {why}"),
                "Check that the federation policy allows presence subscriptions with the domain and that presence is routed over s2s (tasks C.14, C.15)",
            );
        }
        Outcome::fail(
            format!("a message from {from} to {to} did not cross to {domain}'s side ({direction}): {why}"),
            "Check the s2s connection: the _xmpp-server._tcp records of both domains, port 5269, certificates (SASL EXTERNAL or dialback) and the federation policy (tasks C.14, C.15)",
        )
    }
}

/// Waits on `client` for a presence from `from` (bare JID match) that `accept` takes.
async fn presence_from(
    client: &mut Client,
    from: &BareJid,
    accept: impl Fn(&Presence) -> bool,
) -> Result<(), String> {
    while let Some(ev) = client.next().await {
        if let Event::Stanza(Stanza::Presence(p)) = ev {
            let sender = p.from.as_ref().map(|j| j.to_bare());
            if sender.as_ref() == Some(from) && accept(&p) {
                return Ok(());
            }
            // Not the one awaited: kept as evidence if it concerns the same contact or a
            // subscription (others' availability, from concurrent checks, is noise).
            if sender.as_ref() == Some(from)
                || !matches!(p.type_, PresenceType::None | PresenceType::Unavailable)
            {
                let me = client
                    .bound_jid()
                    .map(|j| j.to_bare().to_string())
                    .unwrap_or_default();
                let show = p
                    .show
                    .as_ref()
                    .map(|s| format!(" {s:?}").to_lowercase())
                    .unwrap_or_default();
                let from = p
                    .from
                    .as_ref()
                    .map(|j| j.to_string())
                    .unwrap_or_else(|| "the server".into());
                let _ = SEEN.try_with(|seen| {
                    let mut seen = seen.lock().expect("not poisoned");
                    if seen.len() < 12 {
                        let kind = match p.type_ {
                            PresenceType::None => "available".to_string(),
                            t => format!("{t:?}"),
                        };
                        seen.push(format!("{me} got {kind}{show} from {from}"));
                    }
                });
            }
        }
    }
    Err("the stream ended".into())
}

tokio::task_local! {
    /// The presences a check's clients received while waiting for another one.
    static SEEN: std::sync::Mutex<Vec<String>>;
}

/// Runs `fut` keeping the presences that [`presence_from`] passed over, for the evidence
/// of a stalled exchange.
async fn recording<F: std::future::Future>(fut: F) -> (F::Output, Vec<String>) {
    SEEN.scope(std::sync::Mutex::new(Vec::new()), async {
        let out = fut.await;
        let seen = SEEN.with(|s| s.lock().expect("not poisoned").clone());
        (out, seen)
    })
    .await
}

/// The evidence value of [`recording`]'s list.
fn seen_evidence(seen: &[String]) -> String {
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join("; ")
    }
}

/// Removes `contact` from the roster of `client` (the subscriptions go with it).
async fn unroster(client: &mut Client, contact: &BareJid) {
    use tokio_xmpp::parsers::iq::Iq;
    use tokio_xmpp::parsers::roster::{Item, Roster, Subscription};
    let roster = Roster {
        ver: None,
        items: vec![Item {
            jid: contact.clone(),
            name: None,
            subscription: Subscription::Remove,
            ask: Default::default(),
            groups: vec![],
            approved: None,
        }],
    };
    let _ = client
        .send_stanza(Stanza::Iq(Iq::from_set(unique_token("unroster"), roster)))
        .await;
}

/// The cluster-communication task of the workflow (A.7, B.7, C.7; D.1 for IM-only).
fn comm_task(w: Workflow) -> String {
    match w {
        Workflow::D => "D.1".into(),
        w => format!("{w:?}.7"),
    }
}

/// What to fix when a presence exchange stalls at `stage` (a step named by [`watch`]).
fn presence_hint(stage: &str, task: &str) -> String {
    if stage.contains("subscription request") {
        format!("The server never delivered the subscription request to the watched user: check the presence subscription policy (Presence > Settings: whether users must approve, privacy and blocked contacts of the watched user) and the Cisco Presence Engine (task {task})")
    } else if stage.contains("approved subscription") {
        format!("The watched user approved, but the watcher never got their presence: check the Cisco Presence Engine and the Cisco XCP Router on the node (task {task})")
    } else if stage.contains("change") {
        format!("The subscription works, but availability changes do not reach the watcher: check the Cisco Presence Engine (task {task})")
    } else {
        format!("Check the presence engine and the users' presence subscriptions on the node (task {task})")
    }
}

/// The watcher `b` subscribes to `a`'s presence, `a` approves, and `b` sees `a` become
/// available, go away and come back; returns the two propagation times. `set` names the
/// step under way, for the message of a timeout.
async fn watch(
    a: &mut Client,
    b: &mut Client,
    a_bare: &BareJid,
    b_bare: &BareJid,
    set: &(dyn Fn(&'static str) + Sync),
) -> Result<(Duration, Duration), String> {
    use tokio_xmpp::parsers::presence::Show;
    set("waiting for the subscription request to reach the watched user");
    b.send_stanza(Stanza::Presence(
        Presence::new(PresenceType::Subscribe).with_to(a_bare.clone()),
    ))
    .await
    .map_err(|e| e.to_string())?;
    presence_from(a, b_bare, |p| p.type_ == PresenceType::Subscribe).await?;
    set("waiting for the approved subscription to bring the watched user's presence");
    a.send_stanza(Stanza::Presence(
        Presence::new(PresenceType::Subscribed).with_to(b_bare.clone()),
    ))
    .await
    .map_err(|e| e.to_string())?;
    presence_from(b, a_bare, |p| p.type_ == PresenceType::None).await?;
    set("waiting for the watcher to see the change to away");
    let t0 = Instant::now();
    a.send_stanza(Stanza::Presence(
        Presence::new(PresenceType::None).with_show(Show::Away),
    ))
    .await
    .map_err(|e| e.to_string())?;
    presence_from(b, a_bare, |p| {
        p.type_ == PresenceType::None && p.show == Some(Show::Away)
    })
    .await?;
    let to_away = t0.elapsed();
    set("waiting for the watcher to see the change back to available");
    let t1 = Instant::now();
    a.send_stanza(Stanza::Presence(Presence::new(PresenceType::None)))
        .await
        .map_err(|e| e.to_string())?;
    presence_from(b, a_bare, |p| {
        p.type_ == PresenceType::None && p.show.is_none()
    })
    .await?;
    Ok((to_away, t1.elapsed()))
}

async fn check_presence(
    c: &Ctx,
    watched: &str,
    watcher: &str,
    node: &str,
    cx: CheckCtx,
) -> Outcome {
    let budget = cx.timeout.mul_f32(0.8);
    let step = budget / 4;
    let user = |id: &str| {
        c.spec
            .test_users
            .iter()
            .find(|u| u.user_id == id)
            .expect("planned from the spec")
    };
    let (a_user, b_user) = (user(watched), user(watcher));
    let a_bare: BareJid = match c.spec.jid_of(a_user).parse() {
        Ok(j) => j,
        Err(e) => return Outcome::fail(format!("{e}"), "Correct the spec"),
    };
    let b_bare: BareJid = match c.spec.jid_of(b_user).parse() {
        Ok(j) => j,
        Err(e) => return Outcome::fail(format!("{e}"), "Correct the spec"),
    };
    let mut sessions: Vec<Session> = Vec::new();
    let stage = std::sync::Mutex::new("logging in");
    let set = |s: &'static str| *stage.lock().expect("not poisoned") = s;
    let run = async {
        let (a, _, _, _) = c.login(a_user, node, step).await?;
        sessions.push(a);
        let (b, _, _, _) = c.login(b_user, node, step).await?;
        sessions.push(b);
        let (a, b) = sessions.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        watch(a, b, &a_bare, &b_bare, &set)
            .await
            .map_err(|e| Outcome::fail(e, "Check the node's presence engine (task A.7)"))
    };
    let (result, seen) = recording(tokio::time::timeout(budget, run)).await;
    let stuck = *stage.lock().expect("not poisoned");
    // Clean up what the check created: the roster items on both sides.
    if let [a, b] = sessions.as_mut_slice() {
        unroster(a, &b_bare).await;
        unroster(b, &a_bare).await;
    }
    for s in sessions {
        s.end().await;
    }
    match result {
        Ok(Ok((away, back))) => Outcome::pass(format!(
            "{watcher} sees {watched} go away and come back ({:.1} ms and {:.1} ms)",
            away.as_secs_f64() * 1000.0,
            back.as_secs_f64() * 1000.0
        ))
        .metric(
            "presence_away_ms",
            (away.as_secs_f64() * 10_000.0).round() / 10.0,
        )
        .metric(
            "presence_back_ms",
            (back.as_secs_f64() * 10_000.0).round() / 10.0,
        ),
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!(
                "{watcher} did not see {watched}'s availability within {} ms: stuck {stuck}",
                budget.as_millis()
            ),
            presence_hint(stuck, &comm_task(c.spec.workflow)),
        )
        .with("presence_seen", seen_evidence(&seen)),
    }
    .with("node", node)
}

const NS_MUC: &str = "http://jabber.org/protocol/muc";
const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

async fn iq_get(
    client: &mut Client,
    to: Jid,
    payload: tokio_xmpp::minidom::Element,
) -> Result<tokio_xmpp::minidom::Element, String> {
    use tokio_xmpp::{IqRequest, IqResponse};
    match client
        .send_iq(Some(to.clone()), IqRequest::Get(payload))
        .await
        .await
    {
        Ok(IqResponse::Result(Some(e))) => Ok(e),
        Ok(IqResponse::Result(None)) => Err(format!("{to} answered with an empty result")),
        Ok(IqResponse::Error(e)) => Err(format!(
            "{to} answered with an error: {:?}",
            e.defined_condition
        )),
        Err(e) => Err(format!("no answer from {to}: {e:?}")),
    }
}

/// The group chat service of `domain`, found through service discovery.
async fn find_muc(client: &mut Client, domain: &str) -> Result<String, String> {
    use tokio_xmpp::minidom::Element;
    let domain_jid: Jid = domain.parse().map_err(|e| format!("{e}"))?;
    let items = iq_get(
        client,
        domain_jid,
        Element::builder("query", NS_DISCO_ITEMS).build(),
    )
    .await?;
    let mut seen = Vec::new();
    for item in items.children().filter(|c| c.name() == "item") {
        let Some(jid) = item.attr("jid") else {
            continue;
        };
        seen.push(jid.to_string());
        let Ok(item_jid) = jid.parse::<Jid>() else {
            continue;
        };
        let info = iq_get(
            client,
            item_jid,
            Element::builder("query", NS_DISCO_INFO).build(),
        )
        .await?;
        let is_muc = info.children().any(|c| {
            c.name() == "identity"
                && c.attr("category") == Some("conference")
                && c.attr("type") == Some("text")
        });
        if is_muc {
            return Ok(jid.to_string());
        }
    }
    Err(format!(
        "service discovery of {domain} lists no group chat service (items: {})",
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    ))
}

async fn join(client: &mut Client, occupant: &Jid) -> Result<(), String> {
    let mut p = Presence::new(PresenceType::None).with_to(occupant.clone());
    p.payloads
        .push(tokio_xmpp::minidom::Element::builder("x", NS_MUC).build());
    client
        .send_stanza(Stanza::Presence(p))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(ev) = client.next().await {
        if let Event::Stanza(Stanza::Presence(p)) = ev {
            if p.from.as_ref() == Some(occupant) {
                return if p.type_ == PresenceType::Error {
                    Err(format!("the room refused {occupant}"))
                } else {
                    Ok(())
                };
            }
        }
    }
    Err("the stream ended".into())
}

async fn destroy(client: &mut Client, room: &Jid) -> Result<(), String> {
    use tokio_xmpp::minidom::Element;
    use tokio_xmpp::{IqRequest, IqResponse};
    let q = Element::builder("query", NS_MUC_OWNER)
        .append(Element::builder("destroy", NS_MUC_OWNER).build())
        .build();
    match client
        .send_iq(Some(room.clone()), IqRequest::Set(q))
        .await
        .await
    {
        Ok(IqResponse::Result(_)) => Ok(()),
        Ok(IqResponse::Error(e)) => Err(format!("{:?}", e.defined_condition)),
        Err(e) => Err(format!("{e:?}")),
    }
}

async fn check_muc(c: &Ctx, a_id: &str, b_id: &str, node: &str, cx: CheckCtx) -> Outcome {
    let budget = cx.timeout.mul_f32(0.8);
    let step = budget / 4;
    let user = |id: &str| {
        c.spec
            .test_users
            .iter()
            .find(|u| u.user_id == id)
            .expect("planned from the spec")
    };
    let domain = c
        .spec
        .node(node)
        .map(|(cl, _)| cl.domain.clone())
        .unwrap_or_default();
    let mut sessions: Vec<Session> = Vec::new();
    let room_cell: std::sync::Mutex<Option<Jid>> = std::sync::Mutex::new(None);
    let stage = std::sync::Mutex::new("logging in");
    let set = |s: &'static str| *stage.lock().expect("not poisoned") = s;
    let run = async {
        let (a, _, _, _) = c.login(user(a_id), node, step).await?;
        sessions.push(a);
        let (b, _, _, _) = c.login(user(b_id), node, step).await?;
        sessions.push(b);
        let (a, b) = sessions.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        let fail = |e: String| {
            Outcome::fail(e, "Check the node's group chat (Text Conference Manager) service and its persistent chat settings (task A.7)")
        };
        set("discovering the group chat service");
        let service = find_muc(a, &domain).await.map_err(fail)?;
        let token = unique_token("room").to_ascii_lowercase();
        let room: Jid = format!("{token}@{service}")
            .parse()
            .map_err(|e| fail(format!("{e}")))?;
        *room_cell.lock().expect("not poisoned") = Some(room.clone());
        let occupant = |nick: &str| -> Result<Jid, Outcome> {
            format!("{token}@{service}/{nick}")
                .parse()
                .map_err(|e| fail(format!("{e}")))
        };
        let (a_nick, b_nick) = (occupant(a_id)?, occupant(b_id)?);
        set("creating the room");
        join(a, &a_nick).await.map_err(fail)?;
        set("the second user joining");
        join(b, &b_nick).await.map_err(fail)?;
        set("waiting for the group message");
        let mut m = Message::new_with_type(MessageType::Groupchat, Some(room.clone()));
        m.id = Some(Id(token.clone()));
        m.bodies.insert(Lang(String::new()), token.clone());
        let sent = Instant::now();
        a.send_stanza(Stanza::Message(m))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut seen_by = 0;
        while seen_by < 2 {
            let ev = tokio::select! { e = a.next() => e, e = b.next() => e };
            match ev {
                Some(Event::Stanza(Stanza::Message(m)))
                    if m.type_ == MessageType::Groupchat
                        && m.bodies.values().any(|v| *v == token) =>
                {
                    seen_by += 1
                }
                Some(_) => {}
                None => return Err(fail("a stream ended".into())),
            }
        }
        let rtt = sent.elapsed();
        set("destroying the room");
        destroy(a, &room)
            .await
            .map_err(|e| fail(format!("the room could not be destroyed: {e}")))?;
        *room_cell.lock().expect("not poisoned") = None;
        Ok((service, rtt))
    };
    let result = tokio::time::timeout(budget, run).await;
    let stuck = *stage.lock().expect("not poisoned");
    // A room left behind by a failure is destroyed all the same.
    let leftover = room_cell.lock().expect("not poisoned").take();
    if let (Some(room), Some(a)) = (leftover, sessions.first_mut()) {
        let _ = tokio::time::timeout(Duration::from_secs(2), destroy(a, &room)).await;
    }
    for s in sessions {
        s.end().await;
    }
    match result {
        Ok(Ok((service, rtt))) => Outcome::pass(format!(
            "{a_id} and {b_id} chat in a new room of {service} ({:.1} ms to both); the room is destroyed",
            rtt.as_secs_f64() * 1000.0
        ))
        .with("service", service)
        .metric("groupchat_ms", (rtt.as_secs_f64() * 10_000.0).round() / 10.0),
        Ok(Err(o)) => o,
        Err(_) => Outcome::fail(
            format!("group chat on {node} did not complete within {} ms: stuck {stuck}", budget.as_millis()),
            "Check the node's group chat service (task A.7)",
        ),
    }
    .with("node", node)
}
