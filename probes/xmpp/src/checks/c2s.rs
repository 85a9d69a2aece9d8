//! What a node's client port must refuse, read from what it offers and never by
//! sending a credential: `xmpp.c2s-tls` (STARTTLS required before authentication, no
//! SASL mechanism before TLS, no mechanism sending the password in a reversible form
//! after it unless the spec allows it), `xmpp.c2s-registration` (in-band registration,
//! XEP-0077, not open to anyone: the registration form is asked for, never filled in),
//! `xmpp.c2s-domain` (a stream for a domain the node does not serve is refused).
//! One observation a node and attempt serves the three checks.

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

/// Connects twice to `node`'s client port: once for its domain (features before and
/// after TLS, then the registration form asked for), once for [`UNSERVED_DOMAIN`].
pub async fn observe(c: &XmppCtx, node: &str, steps: &Steps) -> C2sFacts {
    let at = match c
        .connector
        .node(&c.spec, node, Service::XmppC2s, steps)
        .await
    {
        Ok(at) => at,
        Err(e) => {
            let u = Unseen::of(&e);
            return C2sFacts {
                addr: None,
                before_tls: Err(u.clone()),
                after_tls: Err(u.clone()),
                unserved: Err(u),
            };
        }
    };
    let (before_tls, after_tls) = Box::pin(own_domain(c, &at, steps)).await;
    let unserved = Box::pin(unserved(c, &at, steps)).await;
    C2sFacts {
        addr: Some(at.addr.to_string()),
        before_tls,
        after_tls,
        unserved,
    }
}

async fn own_domain(
    c: &XmppCtx,
    at: &ClientEndpoint,
    steps: &Steps,
) -> (Result<Features, Unseen>, Result<AfterTls, Unseen>) {
    let (features, xml, received) =
        match Box::pin(c.connector.open_plain(at, Opener::Client, steps)).await {
            Ok(open) => open,
            Err(e) => {
                let u = Unseen::of(&e);
                return (Err(u.clone()), Err(u));
            }
        };
    if let Some(e) = connector::without_tls(at, &features) {
        return (Ok(features), Err(Unseen::of(&e)));
    }
    let after = match Box::pin(c.connector.starttls(at, xml, &received, steps)).await {
        Err(e) => Err(Unseen::of(&e)),
        Ok((tls, facts)) => {
            let received = Received::default();
            let io: Io = BufStream::new(Capped::new(tls, MAX_STREAM_BYTES, received.clone()));
            match Box::pin(stream::open(
                io,
                Opener::Client,
                &at.domain,
                steps,
                &received,
            ))
            .await
            {
                Err(failure) => Err(Unseen::of(&ConnectFailure::Stream {
                    addr: at.addr,
                    failure,
                })),
                Ok((after, mut xml)) => Ok(AfterTls {
                    features: after,
                    verified: facts.verified(),
                    registration: ask_registration(&mut xml, steps, &received).await.map_err(
                        |failure| {
                            Unseen::of(&ConnectFailure::Stream {
                                addr: at.addr,
                                failure,
                            })
                        },
                    ),
                }),
            }
        }
    };
    (Ok(features), after)
}

/// Asks for the registration form (an IQ get: nothing is registered), and reads the
/// answer.
async fn ask_registration(
    xml: &mut XmppStream<Io>,
    steps: &Steps,
    received: &Received,
) -> Result<Registration, StreamFailure> {
    const ID: &str = "imp-verify-register";
    let stage = Stage::Stanza;
    let query = Element::builder("query", NS_REGISTER).build();
    let ask = async {
        let get = Stanza::Iq(Iq::Get {
            from: None,
            to: None,
            id: ID.to_string(),
            payload: query,
        });
        sasl::send(xml, XmppStreamElement::Stanza(get), stage, received).await?;
        loop {
            match sasl::next(xml, stage, received).await {
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { id, payload, .. })))
                    if id == ID =>
                {
                    return Ok(Registration::Form(form_fields(payload.as_ref())))
                }
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id, error, .. })))
                    if id == ID =>
                {
                    return Ok(Registration::Refused(crate::stanzas::error_name(&error)))
                }
                Ok(_) => continue,
                Err(StreamFailure::StreamError {
                    condition, text, ..
                }) => {
                    let said = condition_name(&condition);
                    return Ok(Registration::Ended(Some(match text {
                        Some(t) => format!("<{said}/>: {t}"),
                        None => format!("<{said}/>"),
                    })));
                }
                Err(StreamFailure::Closed { .. }) => return Ok(Registration::Ended(None)),
                Err(e) => return Err(e),
            }
        }
    };
    steps.stream(stage, received, ask).await
}

/// The fields a registration form asks for (XEP-0077 §3.1, or its data form).
fn form_fields(payload: Option<&Element>) -> Vec<String> {
    let Some(q) = payload else {
        return Vec::new();
    };
    let mut fields: Vec<String> = q
        .children()
        .filter(|c| c.name() != "instructions" && c.name() != "x")
        .map(|c| c.name().to_string())
        .collect();
    for form in q.children().filter(|c| c.name() == "x") {
        fields.extend(
            form.children()
                .filter(|f| f.name() == "field" && f.attr("type") != Some("hidden"))
                .filter_map(|f| f.attr("var").map(String::from)),
        );
    }
    // A server may send the legacy fields and a data form of the same ones.
    let mut seen = Vec::new();
    for f in fields {
        let f = imp_verify_core::text::peer_text(&f);
        if !seen.contains(&f) {
            seen.push(f);
        }
    }
    seen
}

async fn unserved(c: &XmppCtx, at: &ClientEndpoint, steps: &Steps) -> Result<Unserved, Unseen> {
    let other = ClientEndpoint {
        domain: UNSERVED_DOMAIN.to_string(),
        ..at.clone()
    };
    match Box::pin(c.connector.open_plain(&other, Opener::Client, steps)).await {
        Ok((features, _, _)) => Ok(Unserved::Accepted(features)),
        Err(ConnectFailure::Stream {
            failure: StreamFailure::StreamError {
                condition, text, ..
            },
            ..
        }) => Ok(Unserved::Refused(condition_name(&condition), text)),
        Err(ConnectFailure::Stream {
            failure: StreamFailure::Closed { .. },
            ..
        }) => Ok(Unserved::Closed),
        Err(e) => Err(Unseen::of(&e)),
    }
}

/// "(task C.11)": the secure-communication task of `w`, where XMPP security is set.
fn security(w: Workflow) -> String {
    cite(w, &[Task::SecureCommunication, Task::LicenseUsers])
}

/// What a part of the port that could not be seen makes of a check: a timeout is a
/// failure with its stage, anything else a skip that `xmpp.connect` explains.
fn unseen_outcome(what: &str, u: &Unseen) -> Outcome {
    match u.stalled {
        Some((stage, after)) => Outcome::fail(
            format!("{what} could not be seen: {}", u.why),
            "Check the node's Cisco XCP Connection Manager: see xmpp.connect",
        )
        .because(Reason::TimedOut {
            after,
            stage: Some(stage),
        }),
        None => Outcome::skip(format!(
            "{what} could not be seen: {} (see xmpp.connect)",
            u.why
        )),
    }
}

const SECURE_MODE: &str = "On IM and Presence, System > Security > Settings: check Enable XMPP Client To IM/P Service Secure Mode (clients must use TLS), then restart the Cisco XCP Connection Manager";

/// `xmpp.c2s-tls`: no password can go before TLS, TLS is required, and after it no
/// reversible mechanism unless `plain` allows it.
pub fn judge_tls(f: &C2sFacts, plain: PlainAfterTls, w: Workflow) -> Outcome {
    let at = f.addr.clone().unwrap_or_default();
    let before = match &f.before_tls {
        Err(u) => return unseen_outcome("what the client port offers", u),
        Ok(b) => b,
    };
    let fix = format!("{SECURE_MODE}{}", security(w));
    if !before.mechanisms.is_empty() {
        return Outcome::fail(
            format!(
                "{at} offers SASL {} before TLS{}: a client may send its password in the clear",
                before.mechanisms.join(" "),
                if before.starttls == Some(true) {
                    ""
                } else {
                    ", and does not require STARTTLS"
                }
            ),
            fix,
        )
        .with("before_tls", before);
    }
    match before.starttls {
        None => {
            return Outcome::fail(
                format!("{at} offers no STARTTLS: clients cannot encrypt their stream"),
                fix,
            )
            .with("before_tls", before)
        }
        Some(false) => {
            return Outcome::warn(
                format!("{at} offers STARTTLS but does not require it: clients may go on without TLS (no SASL mechanism is offered before it)"),
                fix,
            )
            .with("before_tls", before)
        }
        Some(true) => {}
    }
    let after = match &f.after_tls {
        Err(u) => {
            return unseen_outcome("what the client port offers after TLS", u)
                .with("before_tls", before)
        }
        Ok(a) => a,
    };
    let reversible = after.features.reversible();
    let o = if !reversible.is_empty() && !plain.allowed() {
        Outcome::warn(
            format!(
                "{at} requires STARTTLS and offers no SASL before it, but after TLS offers {}, which sends the password itself in a reversible form ({})",
                reversible.join(" "),
                plain.describe()
            ),
            format!("Offer clients SCRAM-SHA-1 or SCRAM-SHA-256 instead, or allow PLAIN in the spec (`[xmpp] allow_plain = true`) if IM and Presence authenticates users against LDAP{}", security(w)),
        )
    } else {
        let after_words = if reversible.is_empty() {
            String::new()
        } else {
            format!(
                "; after TLS: {} ({})",
                reversible.join(" "),
                plain.describe()
            )
        };
        Outcome::pass(format!(
            "{at} requires STARTTLS before authentication and offers no SASL mechanism before TLS{after_words}"
        ))
    };
    o.with("before_tls", before)
        .with("after_tls", &after.features)
        .with("plain_after_tls", plain.describe())
}

/// `xmpp.c2s-registration`: nobody may create an account by in-band registration.
pub fn judge_registration(f: &C2sFacts, w: Workflow) -> Outcome {
    let at = f.addr.clone().unwrap_or_default();
    let after = match &f.after_tls {
        Err(u) => return unseen_outcome("the client port after TLS", u),
        Ok(a) => a,
    };
    let advertised = if after.features.register {
        " although it advertises <register/>"
    } else {
        ""
    };
    let o = match &after.registration {
        Err(u) => unseen_outcome("the answer to a registration request", u),
        Ok(Registration::Form(fields)) => Outcome::fail(
            format!(
                "{at} hands anyone a registration form (XEP-0077) before authentication, asking for {}: anyone can create an account",
                if fields.is_empty() { "nothing".into() } else { imp_verify_core::text::cut_list(fields, ", ") }
            ),
            format!("Turn in-band registration off on the node's XMPP service: IM and Presence takes its users from CUCM only (Prosody: allow_registration = false){}", security(w)),
        ),
        Ok(Registration::Refused(condition)) => Outcome::pass(format!(
            "{at} refuses in-band registration before authentication ({condition}){advertised}"
        )),
        Ok(Registration::Ended(said)) => Outcome::pass(format!(
            "{at} ends the stream on a registration request ({}){advertised}",
            said.clone().unwrap_or_else(|| "closed".into())
        )),
    };
    o.with("after_tls", &after.features)
}

/// `xmpp.c2s-domain`: a stream for a domain the node does not serve is refused.
pub fn judge_domain(f: &C2sFacts, w: Workflow) -> Outcome {
    let at = f.addr.clone().unwrap_or_default();
    match &f.unserved {
        Err(u) => unseen_outcome(&format!("the answer to a stream for {UNSERVED_DOMAIN}"), u),
        Ok(Unserved::Refused(condition, text)) => Outcome::pass(format!(
            "{at} refuses a stream for {UNSERVED_DOMAIN}, a domain it does not serve (<{condition}/>{})",
            text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
        )),
        Ok(Unserved::Closed) => Outcome::pass(format!(
            "{at} closes the connection on a stream for {UNSERVED_DOMAIN}, a domain it does not serve"
        )),
        Ok(Unserved::Accepted(features)) => Outcome::warn(
            format!("{at} accepts a stream for {UNSERVED_DOMAIN}, a domain it does not serve, and offers {features}"),
            format!("Have the node answer only for its IM domains (host-unknown for any other): check the domains configured on IM and Presence (Presence > Domains){}", security(w)),
        )
        .with("unserved_features", features),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imp_verify_core::Status;

    fn features(starttls: Option<bool>, mechanisms: &[&str]) -> Features {
        Features {
            starttls,
            mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
            ..Features::default()
        }
    }

    fn facts(before: Features, after: Features, reg: Registration, unserved: Unserved) -> C2sFacts {
        C2sFacts {
            addr: Some("127.0.0.22:5222".into()),
            before_tls: Ok(before),
            after_tls: Ok(AfterTls {
                features: after,
                verified: true,
                registration: Ok(reg),
            }),
            unserved: Ok(unserved),
        }
    }

    fn healthy() -> C2sFacts {
        facts(
            features(Some(true), &[]),
            features(None, &["PLAIN"]),
            Registration::Refused("service-unavailable".into()),
            Unserved::Refused("host-unknown".into(), None),
        )
    }

    #[test]
    fn the_healthy_port_passes_all_three() {
        let f = healthy();
        let tls = judge_tls(&f, PlainAfterTls::LdapAuthentication, Workflow::C);
        assert_eq!(tls.status, Status::Pass, "{}", tls.message);
        assert!(tls.message.contains("requires STARTTLS before authentication and offers no SASL mechanism before TLS; after TLS: PLAIN (allowed: the spec has an [ldap] directory"), "{}", tls.message);
        assert_eq!(judge_registration(&f, Workflow::C).status, Status::Pass);
        let d = judge_domain(&f, Workflow::C);
        assert!(d.message.contains("refuses a stream for imp-verify.invalid, a domain it does not serve (<host-unknown/>)"), "{}", d.message);
    }

    #[test]
    fn cleartext_plain_fails_naming_the_setting_and_an_optional_tls_warns() {
        let mut f = healthy();
        f.before_tls = Ok(features(Some(false), &["PLAIN"]));
        let o = judge_tls(&f, PlainAfterTls::LdapAuthentication, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("offers SASL PLAIN before TLS, and does not require STARTTLS: a client may send its password in the clear"), "{}", o.message);
        let fix = o.remediation.unwrap();
        assert!(
            fix.contains("Enable XMPP Client To IM/P Service Secure Mode") && fix.contains("C.11"),
            "{fix}"
        );
        f.before_tls = Ok(features(Some(false), &[]));
        assert_eq!(
            judge_tls(&f, PlainAfterTls::Allowed, Workflow::A).status,
            Status::Warn
        );
        f.before_tls = Ok(features(None, &[]));
        assert_eq!(
            judge_tls(&f, PlainAfterTls::Allowed, Workflow::A).status,
            Status::Fail
        );
    }

    #[test]
    fn plain_after_tls_warns_unless_the_spec_allows_it() {
        let f = healthy();
        for (p, status) in [
            (PlainAfterTls::Allowed, Status::Pass),
            (PlainAfterTls::LdapAuthentication, Status::Pass),
            (PlainAfterTls::Refused, Status::Warn),
            (PlainAfterTls::NotAllowed, Status::Warn),
        ] {
            let o = judge_tls(&f, p, Workflow::C);
            assert_eq!(o.status, status, "{p:?}: {}", o.message);
        }
        let mut scram = healthy();
        scram.after_tls.as_mut().unwrap().features = features(None, &["SCRAM-SHA-1"]);
        assert_eq!(
            judge_tls(&scram, PlainAfterTls::NotAllowed, Workflow::C).status,
            Status::Pass
        );
    }

    #[test]
    fn an_open_registration_fails_and_a_refused_one_passes() {
        let mut f = healthy();
        f.after_tls.as_mut().unwrap().registration = Ok(Registration::Form(vec![
            "username".into(),
            "password".into(),
        ]));
        let o = judge_registration(&f, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("asking for username, password: anyone can create an account"),
            "{}",
            o.message
        );
        assert!(o
            .remediation
            .unwrap()
            .contains("allow_registration = false"));
        f.after_tls.as_mut().unwrap().registration =
            Ok(Registration::Ended(Some("<not-authorized/>".into())));
        assert_eq!(judge_registration(&f, Workflow::C).status, Status::Pass);
    }

    #[test]
    fn a_node_that_serves_any_domain_warns_and_unseen_parts_skip_or_time_out() {
        let mut f = healthy();
        f.unserved = Ok(Unserved::Accepted(features(Some(true), &[])));
        assert_eq!(judge_domain(&f, Workflow::C).status, Status::Warn);
        f.after_tls = Err(Unseen {
            why: "TLS after STARTTLS: x".into(),
            stalled: None,
        });
        assert_eq!(judge_registration(&f, Workflow::C).status, Status::Skip);
        f.before_tls = Err(Unseen {
            why: "stalled".into(),
            stalled: Some((Stage::StreamHeader, Duration::from_secs(1))),
        });
        let o = judge_tls(&f, PlainAfterTls::Allowed, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after: Duration::from_secs(1),
                stage: Some(Stage::StreamHeader)
            }
        );
    }

    #[test]
    fn a_registration_forms_fields_are_read_from_both_shapes() {
        let legacy: Element = "<query xmlns='jabber:iq:register'><instructions>x</instructions><username/><password/></query>".parse().unwrap();
        assert_eq!(form_fields(Some(&legacy)), vec!["username", "password"]);
        let form: Element = "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'/><field var='username'/></x></query>".parse().unwrap();
        assert_eq!(form_fields(Some(&form)), vec!["username"]);
        // Prosody sends both, of the same fields.
        let both: Element = "<query xmlns='jabber:iq:register'><username/><password/><x xmlns='jabber:x:data' type='form'><field var='username'/><field var='password'/></x></query>".parse().unwrap();
        assert_eq!(form_fields(Some(&both)), vec!["username", "password"]);
    }
}
