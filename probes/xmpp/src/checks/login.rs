//! `xmpp.login` and `xmpp.ha`: a test user logs in on its home node, or on the
//! redundancy peer of it (the failover target); a refusal is explained by the
//! directory; a `see-other-host` redirect is followed once, and the node that served the
//! user is named (another node of its redundancy group warns, naming both).

use crate::connector::ConnectFailure;
use crate::login::{self, Accounting, LoginFailure, LoginResult, SaslCondition, MECHANISMS};
use crate::stanzas::ms;
use crate::wire::stream::{Steps, StreamFailure};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Spec, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome, Reason};
use imp_verify_net::ConnectError;

/// Which login a check makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `xmpp.login`: on the user's home node.
    Home,
    /// `xmpp.ha`: on the redundancy-group peer of the home node.
    Failover,
}

/// What a login that came online showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The bound full JID.
    pub bound: String,
    /// The SASL mechanism.
    pub mechanism: &'static str,
    /// The node that served the session.
    pub by: String,
    /// The node that sent the user on with `see-other-host`, if one did.
    pub redirected_by: Option<String>,
}

/// The check: `uid` logs in on `node`, as `role` says.
pub async fn check(
    c: &XmppCtx,
    key: &CheckKey,
    uid: &str,
    node: &str,
    role: Role,
    cx: CheckCtx,
) -> Outcome {
    let user = c.user(uid);
    let jid = c.spec.jid_of(user);
    let steps = Steps::of_check(&cx);
    let acct = Accounting::of(&cx, key);
    let result = login::login_test_user(c, user, node, &acct, &steps).await;
    match result {
        LoginResult::Online(online) => {
            let served = Served {
                bound: online.session.jid().to_string(),
                mechanism: online.mechanism,
                by: online.served_by.clone(),
                redirected_by: online.redirected_by.clone(),
            };
            online.session.close(steps.deadline()).await;
            judge_online(&c.spec, uid, &user.home_node, node, role, &served)
                .metric("login_ms", ms(online.took))
        }
        LoginResult::Failed(e) => {
            let o = failure_outcome(&jid, node, &e, c.spec.workflow);
            match e {
                LoginFailure::Refused {
                    condition,
                    accepted_before,
                    ..
                } => {
                    crate::directory::explain_refusal(
                        c,
                        user,
                        node,
                        condition,
                        accepted_before,
                        o,
                        &cx,
                    )
                    .await
                }
                _ => o,
            }
        }
    }
}

/// The redundancy group holding both `a` and `b`, if one does.
fn group_of<'a>(spec: &'a Spec, a: &str, b: &str) -> Option<&'a str> {
    spec.clusters
        .iter()
        .flat_map(|c| c.redundancy_groups.iter())
        .find(|g| {
            let has = |n: &str| g.nodes.iter().any(|m| m.eq_ignore_ascii_case(n));
            has(a) && has(b)
        })
        .map(|g| g.name.as_str())
}

/// The verdict on a login that came online: where it was served, against where the
/// spec says it should be (`home`: the user's home node; `node`: where it connected).
pub fn judge_online(
    spec: &Spec,
    uid: &str,
    home: &str,
    node: &str,
    role: Role,
    s: &Served,
) -> Outcome {
    let w = spec.workflow;
    let o = match &s.redirected_by {
        None => Outcome::pass(format!(
            "{uid} logs in on {node} with {} and binds {}",
            s.mechanism, s.bound
        )),
        Some(from) => {
            let by = &s.by;
            let said = format!("{from} sent {uid} on to {by} (see-other-host)");
            let expected = match role {
                Role::Home => node,
                Role::Failover => home,
            };
            let assign = format!(
                "Check the user's node assignment on CUCM (User Management > Assign Presence Users) against the spec's home_node{}",
                cite(w, &[Task::EndUsers, Task::HighAvailability])
            );
            if by.eq_ignore_ascii_case(expected) {
                match role {
                    Role::Failover => Outcome::pass(format!(
                        "{said}, its home node, and {uid} logs in there with {} and binds {}: {node} knows the user; failover to it shows only with {home} down",
                        s.mechanism, s.bound
                    )),
                    Role::Home => Outcome::pass(format!(
                        "{uid} logs in with {} and binds {}, after {said}",
                        s.mechanism, s.bound
                    )),
                }
            } else if let Some(group) = group_of(spec, by, home) {
                Outcome::warn(
                    format!(
                        "{uid} is served by {by}, not by its home node {home}: {said}, the other node of redundancy group {group}; it logs in there with {} and binds {}",
                        s.mechanism, s.bound
                    ),
                    assign,
                )
                .with("redundancy_group", group)
            } else {
                Outcome::fail(
                    format!(
                        "{uid} is served by {by}, which is not in the redundancy group of its home node {home}: {said}",
                    ),
                    assign,
                )
            }
        }
    };
    let o = o
        .with("jid", &s.bound)
        .with("node", node)
        .with("served_by", &s.by)
        .with("sasl_mechanism", s.mechanism);
    match &s.redirected_by {
        Some(r) => o.with("redirected_by", r),
        None => o,
    }
}

/// The verdict on a failed login of `jid` on `node`, naming the tasks of workflow `w`;
/// a step that ran out of time is the outcome's reason.
pub fn failure_outcome(jid: &str, node: &str, e: &LoginFailure, w: Workflow) -> Outcome {
    let (msg, fix) = failure_words(jid, node, e, w);
    let mut o = Outcome::fail(msg, fix)
        .with("jid", jid)
        .with("node", node)
        .with("error", e);
    if let Some(stage) = e.timed_out() {
        let after = match e {
            LoginFailure::Stream {
                failure: StreamFailure::Timeout { after, .. },
                ..
            }
            | LoginFailure::Connect(ConnectFailure::Stream {
                failure: StreamFailure::Timeout { after, .. },
                ..
            }) => *after,
            _ => std::time::Duration::ZERO,
        };
        o = o.because(Reason::TimedOut {
            after,
            stage: Some(stage),
        });
    }
    match e {
        LoginFailure::Refused {
            condition,
            offered,
            text,
            ..
        } => {
            o = o
                .with("sasl_condition", condition.name())
                .with("offered_mechanisms", offered.join(" "));
            if let Some(t) = text {
                o = o.with("sasl_text", t);
            }
        }
        LoginFailure::NoMechanism { offered } => {
            o = o.with(
                "offered_mechanisms",
                imp_verify_core::text::peer_text(&offered.join(" ")),
            )
        }
        LoginFailure::NotSent(r) => o = o.with("refused_by", &r.by_check),
        _ => {}
    }
    o
}

/// The message and the fix of a failed login.
fn failure_words(jid: &str, node: &str, e: &LoginFailure, w: Workflow) -> (String, String) {
    let task = crate::tasks(w).0;
    match e {
        LoginFailure::Refused { condition, .. } => refusal_words(jid, node, *condition, w),
        LoginFailure::NotSent(r) => (
            format!(
                "{jid} on {node}: not logged in: the password was refused earlier in this run by {} ({}), and is not sent again (a second refusal can lock the account)",
                r.by_check, r.words
            ),
            format!("See {}: correct the password or the account first (task {task})", r.by_check),
        ),
        LoginFailure::LedgerBusy(d) => (
            format!("{jid} on {node}: another check was logging the same user in for {} ms, and this one waited for its verdict", d.as_millis()),
            format!("Check the node's authentication service (task {task})"),
        ),
        LoginFailure::BadJid(..) => (e.to_string(), "Correct the JID in the spec".to_string()),
        LoginFailure::NoMechanism { .. } => (
            format!("{node} offers none of {} to clients over TLS", MECHANISMS.join(", ")),
            format!("Enable PLAIN or SCRAM-SHA-1/256 for clients (task {task})"),
        ),
        // The node could not be found (the spec, DNS): not a connection's failure.
        LoginFailure::Connect(
            c @ (ConnectFailure::NotInSpec(_)
            | ConnectFailure::NoService { .. }
            | ConnectFailure::Reach(
                ConnectError::Resolve { .. }
                | ConnectError::NoAddress { .. }
                | ConnectError::ResolveTimeout { .. },
            )),
        ) => (c.to_string(), format!("See dns.node and xmpp.connect (task {task})")),
        LoginFailure::Connect(c) => (
            format!("{jid} on {node}: {c}"),
            format!("See xmpp.connect and the tls.* checks of this node (task {task})"),
        ),
        LoginFailure::ServerSignature(e) => (
            format!("{jid} on {node}: the server's SCRAM signature does not verify ({e}): it does not know the user's password"),
            format!("Check that the node authenticates against the right user store (task {task})"),
        ),
        LoginFailure::Stream { failure, authenticated } => {
            stream_words(jid, node, failure, *authenticated, task)
        }
        LoginFailure::Client(e) => (
            format!("{jid} on {node}: the login could not go on: {e}"),
            format!("Check the node's SASL configuration (task {task})"),
        ),
        LoginFailure::BindRefused(c) => (
            format!("{jid} on {node}: the server refused to bind a resource ({c})"),
            format!("Check the node's XMPP services (task {task})"),
        ),
        LoginFailure::WrongBinding(b) => (
            format!("{jid} on {node}: the server bound the session to {b}, not to the user"),
            format!("Check the node's authentication: a session must be bound to the user who authenticated (task {task})"),
        ),
        LoginFailure::RedirectedAgain { .. } => (
            format!("{jid} on {node}: {e}"),
            format!("Check the user's node assignment on CUCM: a redirect must name the node that serves the user{}", cite(w, &[Task::EndUsers])),
        ),
    }
}

fn refusal_words(jid: &str, node: &str, condition: SaslCondition, w: Workflow) -> (String, String) {
    use SaslCondition as C;
    let task = crate::tasks(w).0;
    let (what, fix) = match condition {
        C::NotAuthorized => (
            "the password is wrong, or the account does not exist or is not enabled for IM and Presence".to_string(),
            format!("Check the user's password (LDAP user authentication), that the user is synced, licensed for IM&P and assigned to this node ({})", crate::login_tasks(w, &[Task::EndUsers])),
        ),
        C::TemporaryAuthFailure => (
            "the server could not check the credentials (a server-side error, not the password): its authentication back end is failing".to_string(),
            format!("Check the node's Cisco Client Profile Agent and authentication services and their connection to CUCM and the LDAP directory ({})", crate::login_tasks(w, &[Task::SecureLdap, Task::LdapClients])),
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
            format!("Check the node's SASL mechanisms and TLS settings for clients ({})", crate::login_tasks(w, &[Task::VerifyCertificates])),
        ),
        other => (
            format!("the server refuses the authentication exchange itself ({other:?})"),
            format!("Check the node's SASL configuration and its logs (task {task})"),
        ),
    };
    (
        format!(
            "{jid} is refused on {node}: SASL {}: {what}",
            condition.name()
        ),
        fix,
    )
}

fn stream_words(
    jid: &str,
    node: &str,
    failure: &StreamFailure,
    authenticated: bool,
    task: &str,
) -> (String, String) {
    let services = format!("Check the node's XMPP services (Cisco XCP Connection Manager, Authentication Service) and their logs (task {task})");
    match failure {
        StreamFailure::Timeout { stage, after, seen } if !authenticated => (
            format!("{jid} on {node}: authentication not completed within {} ms: stalled in {stage} (the server had sent {})", after.as_millis(), seen.describe()),
            format!("Check the node's XMPP services and its LDAP authentication (task {task})"),
        ),
        StreamFailure::Timeout { stage: imp_verify_core::Stage::Stanza, .. } => (
            format!("{jid} on {node}: the server did not acknowledge the session's availability"),
            format!("Check the node's presence engine (task {task})"),
        ),
        StreamFailure::Timeout { stage, after, .. } => (
            format!("{jid} on {node}: not online within {} ms: stalled in {stage}", after.as_millis()),
            format!("Check that the Cisco XCP Connection Manager and Router answer on the node (task {task})"),
        ),
        StreamFailure::Closed { .. } => (format!("{jid} on {node}: the server closed the connection during login"), services),
        StreamFailure::StreamError { condition, text, .. } => (
            format!(
                "{jid} on {node}: the server ended the stream during login with the stream error {condition:?}{}",
                text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
            ),
            services,
        ),
        StreamFailure::OverBound { limit, .. } => (
            format!("{jid} on {node}: the stream broke during login: the server sent more than {} MiB on one connection (an enormous stanza?)", limit >> 20),
            services,
        ),
        other => (format!("{jid} on {node}: the stream broke during login: {other}"), services),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::capped::Seen;
    use imp_verify_core::{Stage, Status};
    use std::time::Duration;
    use tokio_xmpp::parsers::stream_error::DefinedCondition as StreamCondition;

    #[test]
    fn a_refusal_names_the_condition_and_what_it_means() {
        let e = LoginFailure::Refused {
            condition: SaslCondition::NotAuthorized,
            offered: vec!["PLAIN".into()],
            text: None,
            accepted_before: false,
        };
        let o = failure_outcome("bob@lab.test", "imp1", &e, Workflow::A);
        assert!(
            o.message.starts_with(
                "bob@lab.test is refused on imp1: SASL not-authorized: the password is wrong"
            ),
            "{}",
            o.message
        );
        assert!(o
            .evidence
            .iter()
            .any(|(k, v)| k == "sasl_condition" && v == "not-authorized"));
        let o = failure_outcome(
            "bob@lab.test",
            "imp1",
            &LoginFailure::Refused {
                condition: SaslCondition::TemporaryAuthFailure,
                offered: vec![],
                text: Some("LDAP down".into()),
                accepted_before: false,
            },
            Workflow::C,
        );
        assert!(o.message.contains("not the password"), "{}", o.message);
        assert!(o.remediation.unwrap().contains("C.10"));
        assert!(o
            .evidence
            .iter()
            .any(|(k, v)| k == "sasl_text" && v == "LDAP down"));
    }

    fn spec() -> Spec {
        struct AnyPassword;
        impl imp_verify_core::spec::Env for AnyPassword {
            fn var(&self, _: &str) -> Option<String> {
                Some("x".into())
            }
        }
        let node = |n: &str| format!("[[clusters.nodes]]\nfqdn = \"{n}.d.test\"\nrole = \"imp\"\n");
        let text = format!(
            "workflow = \"C\"\ndomains = [\"d.test\"]\n[[clusters]]\nname = \"c\"\ndomain = \"d.test\"\n{}{}{}[[clusters.redundancy_groups]]\nname = \"prg\"\nnodes = [\"a.d.test\", \"b.d.test\"]\n",
            node("a"),
            node("b"),
            node("c")
        );
        Spec::parse(&text, std::path::Path::new("x.toml"), &AnyPassword).unwrap()
    }

    #[test]
    fn a_redirect_names_the_serving_node_against_the_spec() {
        let served = |by: &str, from: Option<&str>| Served {
            bound: "u@d.test/r".into(),
            mechanism: "PLAIN",
            by: by.into(),
            redirected_by: from.map(String::from),
        };
        let s = spec();
        let home = |by, from| {
            judge_online(
                &s,
                "u",
                "a.d.test",
                "a.d.test",
                Role::Home,
                &served(by, from),
            )
        };
        assert_eq!(home("a.d.test", None).status, Status::Pass);
        let peer = home("b.d.test", Some("a.d.test"));
        assert_eq!(peer.status, Status::Warn);
        assert!(
            peer.message
                .contains("the other node of redundancy group prg"),
            "{}",
            peer.message
        );
        let outside = home("c.d.test", Some("a.d.test"));
        assert_eq!(outside.status, Status::Fail);
        assert!(
            outside
                .message
                .contains("which is not in the redundancy group of its home node a.d.test"),
            "{}",
            outside.message
        );
        // The failover login sent home: the peer knows the user.
        let ha = judge_online(
            &s,
            "u",
            "a.d.test",
            "b.d.test",
            Role::Failover,
            &served("a.d.test", Some("b.d.test")),
        );
        assert_eq!(ha.status, Status::Pass);
        assert!(
            ha.message.contains("its home node, and u logs in there"),
            "{}",
            ha.message
        );
    }

    #[test]
    fn a_password_refused_earlier_is_not_sent_and_names_the_first_refusal() {
        let e = LoginFailure::NotSent(imp_verify_core::Refusal {
            by_check: "xmpp.login [bob on imp1.lab.test]".into(),
            at: "bob@lab.test at imp1.lab.test".into(),
            words: "SASL not-authorized".into(),
            locked: false,
        });
        let o = failure_outcome("bob@lab.test", "imp2.lab.test", &e, Workflow::C);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("refused earlier in this run by xmpp.login [bob on imp1.lab.test] (SASL not-authorized), and is not sent again"), "{}", o.message);
        assert!(o
            .remediation
            .unwrap()
            .starts_with("See xmpp.login [bob on imp1.lab.test]"));
    }

    #[test]
    fn anonymous_alone_is_no_mechanism_and_timeouts_name_their_stage() {
        let o = failure_outcome(
            "a@d",
            "n",
            &LoginFailure::NoMechanism {
                offered: vec!["ANONYMOUS".into()],
            },
            Workflow::A,
        );
        assert!(o
            .message
            .contains("offers none of SCRAM-SHA-256, SCRAM-SHA-1, PLAIN"));
        let d = Duration::from_millis(800);
        let timeout = |stage, authenticated| LoginFailure::Stream {
            failure: StreamFailure::Timeout {
                stage,
                after: d,
                seen: Seen::default(),
            },
            authenticated,
        };
        let auth = failure_outcome("a@d", "n", &timeout(Stage::Sasl, false), Workflow::A);
        assert!(auth
            .message
            .contains("authentication not completed within 800 ms: stalled in the SASL authentication (the server had sent nothing)"), "{}", auth.message);
        assert_eq!(
            auth.reason,
            Reason::TimedOut {
                after: d,
                stage: Some(Stage::Sasl)
            }
        );
        let bind = failure_outcome(
            "a@d",
            "n",
            &timeout(Stage::ResourceBinding, true),
            Workflow::A,
        );
        assert!(bind
            .message
            .contains("not online within 800 ms: stalled in resource binding"));
        let closed = LoginFailure::Stream {
            failure: StreamFailure::Closed {
                stage: Stage::Sasl,
                seen: Seen::default(),
            },
            authenticated: false,
        };
        let closed = failure_outcome("a@d", "n", &closed, Workflow::A);
        assert!(closed
            .message
            .contains("the server closed the connection during login"));
        let se = LoginFailure::Stream {
            failure: StreamFailure::StreamError {
                stage: Stage::Sasl,
                condition: StreamCondition::InternalServerError,
                text: None,
            },
            authenticated: false,
        };
        let se = failure_outcome("a@d", "n", &se, Workflow::A);
        assert!(se
            .message
            .contains("with the stream error InternalServerError"));
        assert_eq!(se.reason, Reason::Verdict);
    }
}
