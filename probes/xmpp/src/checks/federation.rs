//! `xmpp.federation`: a local test user and a federated domain's contact exchange
//! messages over s2s, both ways, and see each other's availability change. When the
//! contact cannot log in, the local server is asked whether it can reach the domain.
//! Directions are named as seen from the local user.

use super::converse::{
    converse, probe_s2s, Conversation, ConverseStage, Direction, Leg, S2sProbe, Trouble,
};
use super::login::failure_outcome;
use super::presence::hint;
use crate::login::{Credential, LoginFailure};
use crate::scene::{by_deadline, seen_evidence, Ended, Scene};
use crate::XmppCtx;
use imp_verify_core::catalog::{cite, first_label, Task};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{CheckCtx, CheckKey, Outcome, Principal};
use tokio_xmpp::parsers::jid::{BareJid, Jid};

/// Who takes part.
pub struct Parties {
    /// The federated domain.
    pub domain: String,
    /// The local user's JID.
    pub local: String,
    /// The local user's domain.
    pub local_domain: String,
    /// The contact's JID.
    pub contact: String,
    /// The local user's home node.
    pub home: String,
}

/// The check.
pub async fn check(c: &XmppCtx, key: &CheckKey, domain: &str, cx: CheckCtx) -> Outcome {
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
    let home = local.home_node.clone();
    let local_jid = c.spec.jid_of(local);
    let parties = Parties {
        domain: domain.to_string(),
        local_domain: local_jid
            .split_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default(),
        local: local_jid,
        contact: contact.clone(),
        home: home.clone(),
    };
    let mut scene = Scene::new(c, &cx, key, ConverseStage::LoggingIn);
    let r = by_deadline(scene.deadline(), async {
        let a = scene.login(c, local, &home).await?;
        let at = c
            .connector
            .srv(domain, "_xmpp-client._tcp", scene.steps())
            .await
            .map_err(|e| {
                Outcome::fail(e.to_string(), format!("Check the federated domain's DNS records{}", cite(Workflow::C, &[Task::Federation])))
            })?;
        let contact_jid: BareJid = contact.parse().map_err(|e| {
            Outcome::fail(format!("`{contact}` is not a JID: {e}"), "Correct the contact in the spec")
        })?;
        let who = Credential {
            jid: contact_jid.clone(),
            password: peer.password(),
            principal: Principal::user(&contact),
        };
        let b = match scene.login_at(&at, &who).await {
            Ok(online) => scene.keep(online),
            Err(e @ (LoginFailure::Refused { .. } | LoginFailure::NotSent(_))) => {
                let o = failure_outcome(&contact, domain, &e, c.spec.workflow);
                return Err(Outcome::fail(
                    format!("cannot log in as the federated contact: {}", o.message),
                    format!("Check the contact's account and its password source in the spec with {domain}'s administrator"),
                ));
            }
            Err(e) => {
                // The peer's server does not take clients: ask the local server whether it
                // can reach that domain over s2s, by a message it must deliver or bounce.
                let o = failure_outcome(&contact, domain, &e, c.spec.workflow);
                scene.note("contact_login", o.message.clone());
                scene.at(ConverseStage::ProbingS2s);
                let probe = probe_s2s(scene.session(a), Jid::from(contact_jid)).await;
                return Err(unreachable_peer(&parties, &o.message, &probe));
            }
        };
        converse(&mut scene, a, b)
            .await
            .map_err(|(leg, why)| leg_failure(&parties, leg, &why))
    })
    .await;
    scene
        .end(r)
        .await
        .judge(|e| judge(&parties, e))
        .with("peer", domain)
        .with("contact", contact.clone())
}

/// The tasks a federation fix names: `xmpp.federation` is planned in workflow C only
/// (its catalog row), whose federation tasks are these.
fn fed() -> String {
    cite(Workflow::C, &[Task::Federation, Task::VerifyEndToEnd])
}

/// The verdict when the contact cannot log in at all (`login`: why), with what the
/// local server said of s2s.
pub fn unreachable_peer(p: &Parties, login: &str, probe: &S2sProbe) -> Outcome {
    let (domain, contact, home) = (&p.domain, &p.contact, &p.home);
    let (s2s, seen) = match probe {
        S2sProbe::Bounced(condition) => (
            format!("{home}'s server cannot reach it over s2s either: a message to {contact} bounced with {condition}"),
            format!("bounced: {condition}"),
        ),
        S2sProbe::NotAsked(e) => (
            format!("the local server could not be asked about s2s ({e})"),
            format!("not asked: {e}"),
        ),
    };
    Outcome::fail(
        format!("{domain}'s XMPP server does not take the federated contact's login ({login}), and {s2s}"),
        format!("The federated server is down or unreachable: check with {domain}'s administrator that it runs, that its _xmpp-client._tcp and _xmpp-server._tcp records point at it, and that port 5269 is open between it and the IM&P nodes{}", fed()),
    )
    .with("s2s_probe", seen)
}

/// The verdict on a failed leg, its direction as seen from the local user.
pub fn leg_failure(p: &Parties, leg: Leg, why: &Trouble) -> Outcome {
    let Parties {
        domain,
        local,
        local_domain,
        contact,
        ..
    } = p;
    match leg {
        Leg::Message(Direction::Outbound) => Outcome::fail(
            format!("a message from {local} to {contact} did not cross to {domain}'s side (outbound): {why}"),
            format!("Check the s2s connection from the IM&P nodes to the federated domain: its _xmpp-server._tcp records, port 5269 reachable, certificates (SASL EXTERNAL or dialback) and the federation policy{}", fed()),
        ),
        Leg::Message(Direction::Inbound) => Outcome::fail(
            format!("a message from {contact} to {local} did not come across from {domain} to {local_domain} (inbound): {why}"),
            format!("Check the s2s connection from {domain} to {local_domain}: {local_domain}'s _xmpp-server._tcp records as {domain} resolves them, port 5269 of the IM&P nodes reachable from {domain}, the IM&P certificates trusted by {domain} (SASL EXTERNAL or dialback) and the federation policy on both sides{}", fed()),
        ),
        Leg::Presence(d) => {
            let what = match d {
                Direction::Outbound => format!("{contact} watching {local}'s presence"),
                Direction::Inbound => format!("{local} watching {contact}'s presence"),
            };
            Outcome::fail(
                format!("messages cross, but presence does not: {what}: {why}"),
                format!("Check that the federation policy allows presence subscriptions with the domain and that presence is routed over s2s{}", fed()),
            )
        }
    }
}

/// The verdict.
pub fn judge(p: &Parties, e: Ended<Conversation, ConverseStage>) -> Outcome {
    match e {
        Ended::Done(conv) => conv.metrics(
            Outcome::pass(format!(
                "messages cross both ways between {} and {} over s2s ({:.1} ms out, {:.1} ms back), and each sees the other's availability change (subscriptions {})",
                p.local,
                p.contact,
                conv.out.as_secs_f64() * 1000.0,
                conv.back.as_secs_f64() * 1000.0,
                conv.approvals()
            )),
            "federation",
        ),
        Ended::Failed(o) => o,
        // The contact could not log in (its words are in the evidence), and the local
        // server neither delivered nor bounced a message to it.
        Ended::TimedOut {
            stage: ConverseStage::ProbingS2s,
            budget,
            ..
        } => Outcome::fail(
            format!(
                "{}'s XMPP server does not take the federated contact's login (see contact_login), and a message from {}'s server to {} was not bounced within {} ms (s2s may be up: only client access to the peer fails)",
                p.domain, p.home, p.contact, budget.as_millis()
            ),
            format!("The federated server is down or unreachable for clients: check with {}'s administrator that it runs and that its _xmpp-client._tcp record points at it{}", p.domain, fed()),
        )
        .with("s2s_probe", format!("no bounce within {} ms", budget.as_millis())),
        Ended::TimedOut { stage, budget, seen } => {
            let fix = match stage {
                ConverseStage::Presence(_, s) if s.in_exchange() => format!(
                    "{} Over federation, also check the federation policy for presence subscriptions on both sides{}",
                    hint(s, first_label(Workflow::C, &[Task::VerifyEndToEnd])),
                    fed()
                ),
                _ => format!("Check the s2s connection both ways: the _xmpp-server._tcp records, port 5269 reachable, certificates trusted by both sides, and the federation policy{}", fed()),
            };
            Outcome::fail(
                format!(
                    "the exchange with {} did not complete within {} ms: stuck {}",
                    p.domain,
                    budget.as_millis(),
                    stage.describe()
                ),
                fix,
            )
            .with("presence_seen", seen_evidence(&seen))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parties() -> Parties {
        Parties {
            domain: "partner.test".into(),
            local: "alice@lab.test".into(),
            local_domain: "lab.test".into(),
            contact: "erin@partner.test".into(),
            home: "imp1.lab.test".into(),
        }
    }

    #[test]
    fn a_message_that_came_from_the_partner_is_not_said_to_cross_to_its_side() {
        let bounce = Trouble::Bounced("remote-server-not-found".into());
        let out = leg_failure(&parties(), Leg::Message(Direction::Outbound), &bounce);
        assert!(out.message.contains("from alice@lab.test to erin@partner.test did not cross to partner.test's side (outbound)"), "{}", out.message);
        let inb = leg_failure(&parties(), Leg::Message(Direction::Inbound), &bounce);
        assert!(inb.message.contains("a message from erin@partner.test to alice@lab.test did not come across from partner.test to lab.test (inbound)"), "{}", inb.message);
        assert!(!inb.message.contains("to partner.test's side"));
        assert!(inb
            .remediation
            .unwrap()
            .contains("from partner.test to lab.test"));
    }

    #[test]
    fn a_stall_in_presence_gets_the_presence_hint_and_one_in_messages_the_s2s_one() {
        let stalled = |stage| {
            judge(
                &parties(),
                Ended::TimedOut {
                    stage,
                    budget: Duration::from_secs(8),
                    seen: vec![],
                },
            )
        };
        let p = stalled(ConverseStage::Presence(
            Direction::Outbound,
            super::super::presence::PresenceStage::Approved,
        ));
        assert!(p
            .remediation
            .unwrap()
            .contains("The subscription was approved, but the watcher never got"));
        let m = stalled(ConverseStage::Message(Direction::Inbound));
        assert!(m
            .message
            .contains("stuck waiting for a message to cross inbound"));
        assert!(m.remediation.unwrap().contains("s2s connection both ways"));
    }
}
