//! Per-server checks: `ldap.connect` (LDAPS or StartTLS with a verified certificate)
//! and `ldap.bind` (the service account), with the judgement of a refused bind.

use crate::client::search::Item;
use crate::client::{OpenError, Transport};
use crate::codes::{AdReason, Refusal, ResultCode};
use crate::error::LdapError;
use crate::session::{task_labels, LdapCtx, ServiceBind, Steps};
use crate::wire::message::SearchRequest;
use crate::wire::{Filter, Scope};
use imp_verify_core::credentials;
use imp_verify_core::spec::{LdapServer, Workflow};
use imp_verify_core::{CheckCtx, CheckKey, Outcome};
use std::time::Duration;

/// The service account's bind was refused: what the server said, named, with its fix.
/// Active Directory's reason (locked, disabled, expired, must change password...) wins
/// over the bare result code: a locked account is not fixed by correcting a password.
pub fn service_bind_failure(dn: &str, r: &Refusal, task: &str) -> Outcome {
    let (msg, fix) = match (r.code, r.ad) {
        (_, Some(ad)) if !ad.is_wrong_password() => (
            format!("the bind as {dn} was refused: {ad}"),
            format!("In the directory, {} for the service account {dn}; CUCM's directory sync and IM&P's LDAP authentication use it (task {task})", ad.fix()),
        ),
        (ResultCode::InvalidCredentials, Some(_)) => (
            format!("the bind as {dn} was refused: invalidCredentials (49): the password is wrong (Active Directory data 52e)"),
            format!("Correct the service account's password in the LDAP directory configuration of CUCM and IM&P, and in the spec (task {task})"),
        ),
        (ResultCode::InvalidCredentials, None) => (
            format!("the bind as {dn} was refused: invalidCredentials (49): the password is wrong, or the DN does not exist (the server does not say which)"),
            format!("Correct the service account's DN and password in the LDAP directory configuration of CUCM and IM&P, and in the spec (task {task})"),
        ),
        (ResultCode::NoSuchObject, _) => (
            format!("the bind DN {dn} does not exist: noSuchObject (32)"),
            format!("Correct the service account's distinguished name (task {task})"),
        ),
        (ResultCode::Referral, _) => (
            format!("the server does not hold {dn} and refers the bind elsewhere: {}", r.describe()),
            format!("Point CUCM and IM&P (and the spec) at a directory server that holds the service account, e.g. a domain controller of its domain (task {task})"),
        ),
        (
            ResultCode::ConfidentialityRequired
            | ResultCode::StrongerAuthRequired
            | ResultCode::InappropriateAuthentication
            | ResultCode::UnwillingToPerform,
            _,
        ) => (
            format!("the server refuses the bind: {}", r.describe()),
            format!("Use LDAPS or StartTLS, and an account the server lets bind (task {task})"),
        ),
        _ => (
            format!("the bind as {dn} failed: {}", r.describe()),
            format!("Check the service account (task {task})"),
        ),
    };
    r.evidence(Outcome::fail(msg, fix).with("bind_dn", dn))
}

/// A test user's own bind was refused: message and fix.
pub fn user_bind_failure(uid: &str, r: &Refusal, task: &str) -> (String, String) {
    match (r.code, r.ad) {
        (_, Some(ad)) if !ad.is_wrong_password() => (
            format!("{uid} cannot log in to the directory: {ad}"),
            format!("In the directory, {} for {uid}: IM&P's LDAP user authentication refuses the user until then (task {task})", ad.fix()),
        ),
        (ResultCode::InvalidCredentials, Some(_)) => (
            format!("{uid}'s password is refused: invalidCredentials (49): the password is wrong (Active Directory data 52e)"),
            format!("The test user's password in the spec does not match the directory: LDAP user authentication of IM&P would refuse this user too (task {task})"),
        ),
        (ResultCode::InvalidCredentials, None) => (
            format!("{uid}'s password is refused: invalidCredentials (49)"),
            format!("The test user's password in the spec does not match the directory (or the account is locked): LDAP user authentication of IM&P would refuse this user too (task {task})"),
        ),
        _ => (
            format!("{uid} cannot bind: {}", r.describe()),
            format!("Check the user's account in the directory (task {task})"),
        ),
    }
}

/// A refusal met earlier in the run, named instead of sending the service account's
/// password again.
pub(crate) fn not_sent_again(dn: &str, r: &credentials::Refusal, task: &str) -> Outcome {
    Outcome::fail(
        format!("the bind as {dn} was not tried: the directory refused the account's password earlier in this run ({}: {}); a second refusal could lock the account", r.by_check, r.words),
        format!("Correct the service account's password (or its state) in the directory and the spec, then run again (task {task})"),
    )
    .with("refused_by", &r.by_check)
    .with("bind_dn", dn)
}

/// True when a refusal is about the account's state, not its password.
pub fn is_account_state(r: &Refusal) -> bool {
    r.ad.is_some_and(|a| a != AdReason::WrongPassword && a != AdReason::NoSuchUser)
}

/// What connecting to a server and reading its root DSE showed.
#[derive(Debug)]
pub(crate) enum ConnectFacts {
    /// The server answered the root DSE search: its naming contexts.
    Answered(Vec<String>),
    /// It refused the search.
    Refused(Refusal),
    /// No session, or it broke.
    Failed(LdapError),
}

/// Opens a session with server `i` and reads its root DSE.
pub(crate) async fn observe_connect(c: &LdapCtx, i: usize, steps: &Steps) -> ConnectFacts {
    let server = &c.ldap().servers[i];
    let mut session = match c.open(server, steps).await {
        Ok(s) => s,
        Err(e) => return ConnectFacts::Failed(e),
    };
    let filter = Filter::everything();
    let request = SearchRequest {
        base: "",
        scope: Scope::Base,
        filter: &filter,
        attrs: &["namingContexts", "supportedLDAPVersion"],
        size_limit: 1,
        time_limit: 0,
    };
    let read = async {
        let mut search = session.search(request, &[], 1).await?;
        let mut contexts = Vec::new();
        loop {
            match search.next().await.map_err(|e| steps.wire(e))? {
                Item::Entry(e) => contexts = e.values("namingContexts").to_vec(),
                Item::Reference(_) => {}
                Item::Done(r, _) => {
                    return Ok(Refusal::of(&r)
                        .map_or(ConnectFacts::Answered(contexts), ConnectFacts::Refused))
                }
                Item::Stopped => return Ok(ConnectFacts::Answered(contexts)),
            }
        }
    };
    let facts = read.await.unwrap_or_else(ConnectFacts::Failed);
    session.close().await;
    facts
}

/// `ldap.connect`'s verdict on `server`.
pub(crate) fn judge_connect(
    server: &LdapServer,
    facts: ConnectFacts,
    trust: &str,
    w: Workflow,
) -> Outcome {
    let (secure, integrate) = task_labels(w);
    let mode = Transport::of(server.security).name();
    let o = match facts {
        ConnectFacts::Answered(contexts) if server.security.is_tls() => Outcome::pass(format!(
            "{} answers over {mode} with a certificate that verifies for {}",
            server.url, server.host
        ))
        .with("naming_contexts", contexts.join(", ")),
        ConnectFacts::Answered(contexts) => Outcome::warn(
            format!("{} answers in cleartext: credentials sent to it are readable on the network", server.url),
            format!("Enable LDAPS or StartTLS on the directory and in the spec: secure the CUCM-LDAP and IM&P-LDAP connections (task {secure})"),
        )
        .with("naming_contexts", contexts.join(", ")),
        ConnectFacts::Refused(r) => r.evidence(Outcome::fail(
            format!("{}: {}", server.url, r.describe()),
            format!("Check that the directory server answers {mode} on {}:{} (task {secure})", server.host, server.port),
        )),
        ConnectFacts::Failed(e) => {
            let fix = if e.is_certificate() {
                format!("Install on the directory server a certificate signed by the deployment's CA and naming {}, and upload that CA to CUCM and IM&P as a directory trust certificate (task {integrate})", server.host)
            } else if matches!(e, LdapError::Open(OpenError::Handshake(_))) {
                format!("Check the directory server's TLS settings: CUCM and IM&P need TLS 1.2 or 1.3 with AES-GCM or ChaCha20-Poly1305 suites; a server offering only CBC suites or older versions is refused (task {secure})")
            } else if matches!(e, LdapError::Wire(_) | LdapError::Open(OpenError::Wire(_))) {
                format!("Check that {}:{} is an LDAP server ({mode}) (task {secure})", server.host, server.port)
            } else {
                format!("Check that the directory server answers {mode} on {}:{} (task {secure})", server.host, server.port)
            };
            let o = e.fail(&server.url, fix);
            match &e {
                LdapError::Open(OpenError::StartTlsRefused(r)) => match Refusal::of(r) {
                    Some(r) => r.evidence(o),
                    None => o,
                },
                _ => o,
            }
        }
    };
    o.with("server", &server.url)
        .with("transport", mode)
        .with("trust_anchors", trust)
}

pub(crate) async fn check_connect(c: &LdapCtx, i: usize, cx: CheckCtx, key: CheckKey) -> Outcome {
    let facts = observe_connect(c, i, &Steps::of(&cx, &key)).await;
    judge_connect(&c.ldap().servers[i], facts, &c.trust, c.spec.workflow)
}

/// What the service account's bind on one server showed.
#[derive(Debug)]
pub(crate) enum BindFacts {
    /// It bound, in this time.
    Bound(Duration),
    /// The server refused it.
    Refused(Refusal),
    /// Not sent: refused earlier in the run.
    NotSent(credentials::Refusal),
    /// No answer to judge.
    Failed(LdapError),
}

/// Binds as the service account on server `i`.
pub(crate) async fn observe_bind(c: &LdapCtx, i: usize, steps: &Steps) -> BindFacts {
    let server = &c.ldap().servers[i];
    match c.bind_service(server, steps).await {
        Ok(ServiceBind::Bound(session, took)) => {
            session.close().await;
            BindFacts::Bound(took)
        }
        Ok(ServiceBind::Refused(r)) => BindFacts::Refused(r),
        Ok(ServiceBind::NotSent(r)) => BindFacts::NotSent(r),
        Err(e) => BindFacts::Failed(e),
    }
}

/// `ldap.bind`'s verdict.
pub(crate) fn judge_bind(server: &LdapServer, dn: &str, facts: BindFacts, w: Workflow) -> Outcome {
    let (secure, _) = task_labels(w);
    match facts {
        BindFacts::Bound(took) => Outcome::pass(format!("the service account {dn} binds"))
            .with("server", &server.url)
            .with("bind_dn", dn)
            .metric("bind_ms", imp_verify_core::ms(took)),
        BindFacts::Refused(r) => service_bind_failure(dn, &r, secure).with("server", &server.url),
        BindFacts::NotSent(r) => not_sent_again(dn, &r, secure).with("server", &server.url),
        BindFacts::Failed(e) => e
            .fail(
                &format!("the bind as {dn} got no answer"),
                format!("Check the directory server and its load (task {secure})"),
            )
            .with("server", &server.url),
    }
}

pub(crate) async fn check_bind(c: &LdapCtx, i: usize, cx: CheckCtx, key: CheckKey) -> Outcome {
    let facts = observe_bind(c, i, &Steps::of(&cx, &key)).await;
    c.set_bound(i, matches!(facts, BindFacts::Bound(_)));
    let s = c.ldap();
    judge_bind(&s.servers[i], &s.bind_dn, facts, c.spec.workflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::open::HandshakeProblem;
    use crate::client::WireError;
    use crate::testing::{ev, spec};
    use crate::wire::{DecodeError, FrameError};
    use imp_verify_core::{Reason, Stage, Status};

    fn refusal(code: u32, text: &str) -> Refusal {
        Refusal {
            code: ResultCode::from_u32(code),
            ad: AdReason::parse(text),
            diagnostic: text.into(),
            referrals: vec![],
        }
    }

    #[test]
    fn an_ad_account_state_is_named_with_its_own_fix() {
        let dn = "CN=svc,OU=services,DC=corp,DC=test";
        for (data, words, fix) in [
            ("775", "locked out", "unlock the account"),
            ("533", "disabled", "enable the account"),
            ("773", "must be changed", "set a new password"),
            ("532", "password has expired", "set a new password"),
            ("701", "account has expired", "extend the account's expiry"),
            ("530", "logon hours", "log on at all hours"),
            ("531", "workstation", "all computers"),
        ] {
            let text = format!("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {data}, v1db1");
            let o = service_bind_failure(dn, &refusal(49, &text), "C.3");
            assert!(o.message.contains(words), "{data}: {}", o.message);
            assert!(!o.message.contains("password is wrong"), "{}", o.message);
            let r = o.remediation.clone().unwrap();
            assert!(r.contains(fix), "{data}: {r}");
            assert!(!r.contains("Correct the service account's"), "{r}");
            assert_eq!(ev(&o, "diagnostic_message"), text);
            assert!(ev(&o, "ad_reason").starts_with(&format!("data {data}")));
            let (m, f) = user_bind_failure("alice", &refusal(49, &text), "C.6");
            assert!(m.contains(words) && f.contains(fix), "{m} / {f}");
        }
        let o = service_bind_failure(dn, &refusal(49, "... data 52e, v1db1"), "C.3");
        assert!(o
            .message
            .contains("the password is wrong (Active Directory data 52e)"));
        let o = service_bind_failure(dn, &refusal(49, ""), "C.3");
        assert!(o.message.contains("or the DN does not exist"));
    }

    #[test]
    fn a_referral_is_named_with_where_it_points() {
        let r = Refusal {
            code: ResultCode::Referral,
            ad: None,
            diagnostic: String::new(),
            referrals: vec!["ldap://dc1.other.test/DC=other,DC=test".into()],
        };
        let o = service_bind_failure("CN=svc,DC=other,DC=test", &r, "A.3");
        assert!(
            o.message
                .contains("referral (10) to ldap://dc1.other.test/DC=other,DC=test"),
            "{}",
            o.message
        );
        assert!(!o.message.contains("unknown"));
        assert_eq!(ev(&o, "referral"), "ldap://dc1.other.test/DC=other,DC=test");
    }

    fn servers() -> Vec<LdapServer> {
        spec("userid@domain", "mail").ldap.unwrap().servers
    }

    #[test]
    fn a_verified_session_passes_cleartext_warns_and_each_failure_names_its_fix() {
        let s = servers();
        let o = judge_connect(
            &s[0],
            ConnectFacts::Answered(vec!["DC=corp,DC=test".into()]),
            "ca.pem",
            Workflow::A,
        );
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        assert_eq!(o.message, "ldaps://dc1.corp.test answers over LDAPS with a certificate that verifies for dc1.corp.test");
        assert_eq!(ev(&o, "naming_contexts"), "DC=corp,DC=test");
        assert_eq!(ev(&o, "transport"), "LDAPS");
        let mut clear = s[1].clone();
        clear.security = imp_verify_core::spec::LdapSecurity::Cleartext;
        let o = judge_connect(
            &clear,
            ConnectFacts::Answered(vec![]),
            "ca.pem",
            Workflow::A,
        );
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.contains("answers in cleartext"), "{}", o.message);
        for (e, words, fix) in [
            (
                LdapError::Open(OpenError::Handshake(HandshakeProblem::UnknownIssuer)),
                "not signed by the deployment's CA",
                "Install on the directory server a certificate",
            ),
            (
                LdapError::Open(OpenError::Handshake(HandshakeProblem::Alert(
                    "handshake_failure (40)".into(),
                ))),
                "the TLS handshake",
                "only CBC suites",
            ),
            (
                LdapError::Wire(WireError::Frame(FrameError::NotLdap(0x48))),
                "not an LDAP message",
                "is an LDAP server",
            ),
            (
                LdapError::Wire(WireError::Decode(DecodeError::UnexpectedOp(0x60))),
                "no client expects",
                "is an LDAP server",
            ),
            (
                LdapError::Wire(WireError::Frame(FrameError::TooLarge {
                    announced: 2147483647,
                    limit: 4194304,
                })),
                "the server announced a message of 2147483647 bytes (limit 4194304)",
                "is an LDAP server",
            ),
        ] {
            let o = judge_connect(&s[0], ConnectFacts::Failed(e), "ca.pem", Workflow::A);
            assert_eq!(o.status, Status::Fail);
            assert!(o.message.contains(words), "{}", o.message);
            assert!(
                o.remediation.as_deref().unwrap().contains(fix),
                "{:?}",
                o.remediation
            );
            assert_eq!(o.reason, Reason::Verdict);
        }
    }

    #[test]
    fn a_timeout_is_a_typed_reason_naming_its_stage() {
        let s = servers();
        let after = Duration::from_millis(2400);
        let e = LdapError::TimedOut {
            stage: Stage::TlsHandshake,
            after,
        };
        let o = judge_connect(&s[0], ConnectFacts::Failed(e), "ca.pem", Workflow::A);
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after,
                stage: Some(Stage::TlsHandshake)
            }
        );
        assert!(
            o.message
                .ends_with("no answer within 2400 ms, in the TLS handshake"),
            "{}",
            o.message
        );
        let e = LdapError::TimedOut {
            stage: Stage::LdapBind,
            after,
        };
        let o = judge_bind(&s[0], "CN=svc", BindFacts::Failed(e), Workflow::A);
        assert_eq!(
            o.reason,
            Reason::TimedOut {
                after,
                stage: Some(Stage::LdapBind)
            }
        );
        assert_eq!(ev(&o, "stage"), "ldap_bind");
    }

    #[test]
    fn a_bind_passes_is_refused_or_is_not_sent_again() {
        let s = servers();
        let o = judge_bind(
            &s[0],
            "CN=svc",
            BindFacts::Bound(Duration::from_millis(4)),
            Workflow::A,
        );
        assert_eq!(o.status, Status::Pass);
        assert_eq!(o.message, "the service account CN=svc binds");
        let o = judge_bind(
            &s[0],
            "CN=svc",
            BindFacts::Refused(refusal(49, "")),
            Workflow::A,
        );
        assert!(
            o.message.contains("invalidCredentials (49)"),
            "{}",
            o.message
        );
        let earlier = credentials::Refusal {
            by_check: "ldap.bind [ldaps://dc1.corp.test]".into(),
            at: "CN=svc at ldaps://dc1.corp.test".into(),
            words: "invalidCredentials (49)".into(),
            locked: false,
        };
        let o = judge_bind(&s[1], "CN=svc", BindFacts::NotSent(earlier), Workflow::A);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("was not tried: the directory refused the account's password earlier in this run (ldap.bind [ldaps://dc1.corp.test]: invalidCredentials (49))"), "{}", o.message);
        assert_eq!(ev(&o, "refused_by"), "ldap.bind [ldaps://dc1.corp.test]");
    }
}
