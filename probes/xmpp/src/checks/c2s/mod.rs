//! What a node's client port must refuse, read from what it offers and never by
//! sending a credential: `xmpp.c2s-tls` (STARTTLS required before authentication, no
//! SASL mechanism before TLS, no mechanism sending the password in a reversible form
//! after it unless the spec allows it), `xmpp.c2s-registration` (in-band registration,
//! XEP-0077, not open to anyone: the registration form is asked for, never filled in),
//! `xmpp.c2s-domain` (a stream for a domain the node does not serve is refused).
//! One observation a node and attempt ([`observe`]) serves the three checks, judged by
//! pure functions ([`judge`]).

mod judge;
mod observe;

pub use judge::{judge_domain, judge_registration, judge_tls};
pub use observe::observe;

use crate::connector::{self, ClientEndpoint, ConnectFailure, Io};
use crate::login::sasl;
use crate::wire::capped::{Capped, Received, MAX_STREAM_BYTES};
use crate::wire::features::Features;
use crate::wire::stream::{self, condition_name, Opener, Steps, StreamFailure};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{PlainAfterTls, Service, Workflow};
use imp_verify_core::{keys, CheckCtx, CheckKey, Outcome, PerAttempt, Reason, Stage};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::BufStream;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::xmlstream::{XmppStream, XmppStreamElement};
use tokio_xmpp::Stanza;

/// A domain no server serves (RFC 2606): the `to` of the stream a node must refuse.
pub const UNSERVED_DOMAIN: &str = "imp-verify.invalid";

/// XEP-0077's namespace.
const NS_REGISTER: &str = "jabber:iq:register";

/// The three checks of the client port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C2sCheck {
    /// `xmpp.c2s-tls`.
    Tls,
    /// `xmpp.c2s-registration`.
    Registration,
    /// `xmpp.c2s-domain`.
    Domain,
}

impl C2sCheck {
    /// Every one, in the catalog's order.
    pub const ALL: [C2sCheck; 3] = [C2sCheck::Tls, C2sCheck::Registration, C2sCheck::Domain];

    /// The catalog id.
    pub fn id(self) -> &'static str {
        match self {
            C2sCheck::Tls => "xmpp.c2s-tls",
            C2sCheck::Registration => "xmpp.c2s-registration",
            C2sCheck::Domain => "xmpp.c2s-domain",
        }
    }
}

/// Why part of the port could not be seen: the failure's words, and the step that ran
/// out of time when one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unseen {
    /// What went wrong, in words.
    pub why: String,
    /// The step that ran out of time, and the time it had.
    pub stalled: Option<(Stage, Duration)>,
}

impl Unseen {
    fn of(e: &ConnectFailure) -> Self {
        let stalled = match e {
            ConnectFailure::Stream {
                failure: StreamFailure::Timeout { stage, after, .. },
                ..
            } => Some((*stage, *after)),
            _ => e.timed_out().map(|s| (s, Duration::ZERO)),
        };
        Unseen {
            why: e.to_string(),
            stalled,
        }
    }
}

/// How the node answered a request for the registration form (XEP-0077 §3.1), made
/// after TLS and before any authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// It handed out a form: anyone may create an account. The fields it asks for.
    Form(Vec<String>),
    /// It refused: the stanza error's condition.
    Refused(String),
    /// It ended the stream instead of answering (`None`: closed without an error).
    Ended(Option<String>),
}

/// What the client port offered after TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterTls {
    /// The features after TLS.
    pub features: Features,
    /// Whether the certificate verified (nothing secret goes over it either way).
    pub verified: bool,
    /// The answer to the registration request.
    pub registration: Result<Registration, Unseen>,
}

/// How the node answered a stream for [`UNSERVED_DOMAIN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unserved {
    /// It ended the stream with an error: its condition and text.
    Refused(String, Option<String>),
    /// It closed the connection without one.
    Closed,
    /// It accepted the stream: the features it offered for that domain.
    Accepted(Features),
}

/// What the client port of a node showed, read without a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct C2sFacts {
    /// Where (`127.0.0.22:5222`), when the endpoint was found.
    pub addr: Option<String>,
    /// The features before TLS.
    pub before_tls: Result<Features, Unseen>,
    /// What came after TLS.
    pub after_tls: Result<AfterTls, Unseen>,
    /// The answer to a stream for a domain the node does not serve.
    pub unserved: Result<Unserved, Unseen>,
}

/// The observation shared by a node's three checks, once per attempt.
pub type Shared = PerAttempt<Arc<C2sFacts>>;

/// The check `kind` on `node`, from the node's shared observation.
pub async fn check(
    c: &XmppCtx,
    kind: C2sCheck,
    node: &str,
    shared: &Shared,
    cx: CheckCtx,
) -> Outcome {
    let steps = Steps::of_check(&cx);
    let facts = shared
        .get_or_init(cx.attempt, || async {
            Arc::new(observe(c, node, &steps).await)
        })
        .await;
    let connect = c.spec.node(node).map(|(_, n)| keys::xmpp_connect(n));
    let w = c.spec.workflow;
    let o = match kind {
        C2sCheck::Tls => judge_tls(&facts, c.spec.xmpp.plain_after_tls, w),
        C2sCheck::Registration => judge_registration(&facts, w),
        C2sCheck::Domain => judge_domain(&facts, w),
    };
    not_observable(o, connect).with("node", node)
}

/// A skip for want of a connection is explained by the node's `xmpp.connect`.
fn not_observable(o: Outcome, connect: Option<CheckKey>) -> Outcome {
    match (o.status, o.reason.clone(), connect) {
        (imp_verify_core::Status::Skip, Reason::Verdict, Some(k)) => {
            o.because(Reason::NotObservable { because: k })
        }
        _ => o,
    }
}
