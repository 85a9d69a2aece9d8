//! `xmpp.login` and `xmpp.ha`: a test user logs in on its home node, or on the
//! redundancy peer of it (the failover target); a refusal is explained by the directory.

use crate::connector::ConnectFailure;
use crate::login::{
    login_test_user, LoginFailure, LoginResult, LoginStage, SaslCondition, MECHANISMS,
};
use crate::scene::budget;
use crate::stanzas::ms;
use crate::Ctx;
use imp_verify_core::catalog::Task;
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, Outcome};
use std::time::{Duration, Instant};
#[cfg(test)]
use tokio_xmpp::parsers::stream_error::DefinedCondition as StreamCondition;

/// The check: `uid` logs in on `node`.
pub async fn check(c: &Ctx, uid: &str, node: &str, cx: CheckCtx) -> Outcome {
    let user = c.user(uid);
    let deadline = Instant::now() + budget(&cx);
    let result = login_test_user(c, user, node, deadline).await;
    result.record(&cx.auth, &c.spec.jid_of(user));
    match result {
        LoginResult::Online(online) => {
            let bound = online.session.jid().clone();
            let left = deadline.saturating_duration_since(Instant::now());
            online
                .session
                .close(left.clamp(Duration::from_millis(100), Duration::from_secs(1)))
                .await;
            Outcome::pass(format!(
                "{uid} logs in on {node} with {} and binds {bound}",
                online.mechanism
            ))
            .with("jid", bound)
            .with("node", node)
            .with("sasl_mechanism", online.mechanism)
            .metric("login_ms", ms(online.took))
        }
        LoginResult::Failed(e) => {
            let o = failure_outcome(&c.spec.jid_of(user), node, &e, c.spec.workflow);
            match e {
                LoginFailure::Refused { condition, .. } => {
                    let left = deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(500));
                    crate::directory::explain_refusal(c, user, node, condition, o, left, &cx).await
                }
                _ => o,
            }
        }
    }
}

/// The verdict on a failed login of `jid` on `node` (`task`: the workflow's login task).
pub fn failure_outcome(jid: &str, node: &str, e: &LoginFailure, w: Workflow) -> Outcome {
    let task = crate::tasks(w).0;
    let (msg, fix) = match e {
        LoginFailure::Refused { condition, .. } => {
            use SaslCondition as C;
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
            (format!("{jid} is refused on {node}: SASL {}: {what}", condition.name()), fix)
        }
        LoginFailure::BadJid(..) => (e.to_string(), "Correct the JID in the spec".to_string()),
        LoginFailure::NoMechanism { .. } => (
            format!("{node} offers none of {} to clients over TLS", MECHANISMS.join(", ")),
            format!("Enable PLAIN or SCRAM-SHA-1/256 for clients (task {task})"),
        ),
        LoginFailure::Connect(
            c @ (ConnectFailure::NotInSpec(_)
            | ConnectFailure::Resolve { .. }
            | ConnectFailure::NoAddress(_)
            | ConnectFailure::NoClientService { .. }),
        ) => (c.to_string(), format!("See dns.node and xmpp.connect (task {task})")),
        LoginFailure::Connect(c) => (
            format!("{jid} on {node}: {c}"),
            format!("See xmpp.connect and the tls.* checks of this node (task {task})"),
        ),
        LoginFailure::ServerSignature(e) => (
            format!("{jid} on {node}: the server's SCRAM signature does not verify ({e}): it does not know the user's password"),
            format!("Check that the node authenticates against the right user store (task {task})"),
        ),
        LoginFailure::Closed | LoginFailure::StreamError(_) | LoginFailure::Broken(_) => {
            let what = match e {
                LoginFailure::Closed => "the server closed the connection during login".to_string(),
                LoginFailure::StreamError(c) => {
                    format!("the server ended the stream during login with the stream error {c:?}")
                }
                other => format!("the stream broke during login: {other}"),
            };
            (format!("{jid} on {node}: {what}"), format!("Check the node's XMPP services (Cisco XCP Connection Manager, Authentication Service) and their logs (task {task})"))
        }
        LoginFailure::BindRefused(c) => (
            format!("{jid} on {node}: the server refused to bind a resource ({c})"),
            format!("Check the node's XMPP services (task {task})"),
        ),
        LoginFailure::Timeout(LoginStage::Connecting | LoginStage::Authenticating, d) => (
            format!("{jid} on {node}: authentication not completed within {} ms", d.as_millis()),
            format!("Check the node's XMPP services and its LDAP authentication (task {task})"),
        ),
        LoginFailure::Timeout(LoginStage::Binding, d) => (
            format!("{jid} on {node}: not online within {} ms", d.as_millis()),
            format!("Check that the Cisco XCP Connection Manager and Router answer on the node (task {task})"),
        ),
        LoginFailure::Timeout(LoginStage::Presence, _) => (
            format!("{jid} on {node}: the server did not acknowledge the session's availability"),
            format!("Check the node's presence engine (task {task})"),
        ),
        LoginFailure::WrongBinding(b) => (
            format!("{jid} on {node}: the server bound the session to {b}, not to the user"),
            format!("Check the node's authentication: a session must be bound to the user who authenticated (task {task})"),
        ),
    };
    let mut o = Outcome::fail(msg, fix)
        .with("jid", jid)
        .with("node", node)
        .with("error", e);
    match e {
        LoginFailure::Refused { condition, offered } => {
            o = o
                .with("sasl_condition", condition.name())
                .with("offered_mechanisms", offered.join(" "))
        }
        LoginFailure::NoMechanism { offered } => {
            o = o.with("offered_mechanisms", offered.join(" "))
        }
        _ => {}
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_condition_and_what_it_means() {
        let e = LoginFailure::Refused {
            condition: SaslCondition::NotAuthorized,
            offered: vec!["PLAIN".into()],
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
            },
            Workflow::C,
        );
        assert!(o.message.contains("not the password"), "{}", o.message);
        assert!(o.remediation.unwrap().contains("C.10"));
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
        assert!(o
            .evidence
            .iter()
            .any(|(k, v)| k == "offered_mechanisms" && v == "ANONYMOUS"));
        let d = Duration::from_millis(800);
        let auth = failure_outcome(
            "a@d",
            "n",
            &LoginFailure::Timeout(LoginStage::Authenticating, d),
            Workflow::A,
        );
        assert!(auth
            .message
            .contains("authentication not completed within 800 ms"));
        let bind = failure_outcome(
            "a@d",
            "n",
            &LoginFailure::Timeout(LoginStage::Binding, d),
            Workflow::A,
        );
        assert!(bind.message.contains("not online within 800 ms"));
        let closed = failure_outcome("a@d", "n", &LoginFailure::Closed, Workflow::A);
        assert!(closed
            .message
            .contains("the server closed the connection during login"));
        let se = failure_outcome(
            "a@d",
            "n",
            &LoginFailure::StreamError(StreamCondition::InternalServerError),
            Workflow::A,
        );
        assert!(se
            .message
            .contains("with the stream error InternalServerError"));
    }
}
