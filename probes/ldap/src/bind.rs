//! Per-server checks: `ldap.connect` (LDAPS or StartTLS with a verified certificate)
//! and `ldap.bind` (the service account), with the judgement of a refused bind.

use crate::codes::{AdReason, Refusal, ResultCode};
use crate::session::{only_entries, parse_entry, tasks, Ctx, SessionError};
use imp_verify_core::spec::LdapSecurity;
use imp_verify_core::{CheckCtx, Outcome};
use ldap3::Scope;
use std::time::Instant;

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

/// True when a refusal is about the account's state, not its password.
pub fn is_account_state(r: &Refusal) -> bool {
    r.ad.is_some_and(|a| a != AdReason::WrongPassword && a != AdReason::NoSuchUser)
}

pub(crate) async fn check_connect(c: &Ctx, i: usize, cx: CheckCtx) -> Outcome {
    let server = &c.ldap().servers[i];
    let (secure, integrate) = tasks(c.spec.workflow);
    let mode = match server.security {
        LdapSecurity::Ldaps => "LDAPS",
        LdapSecurity::StartTls => "StartTLS",
        LdapSecurity::Cleartext => "cleartext (allowed by the spec)",
    };
    let budget = cx.budget();
    let run = async {
        let mut session = c.session(server, budget).await?;
        let r = session
            .ldap
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["namingContexts", "supportedLDAPVersion"],
            )
            .await
            .map_err(|e| session.error(&e))?;
        if let Some(refusal) = Refusal::of(&r.1) {
            return Err(SessionError::Refused(refusal));
        }
        let contexts = only_entries(r.0)
            .next()
            .and_then(parse_entry)
            .and_then(|e| e.attrs.get("namingContexts").cloned())
            .unwrap_or_default()
            .join(", ");
        session.close().await;
        Ok::<_, SessionError>(contexts)
    };
    let out = match tokio::time::timeout(budget, run).await {
        Ok(r) => r,
        Err(_) => Err(SessionError::NoAnswer),
    };
    let o = match out {
        Ok(contexts) if server.security.is_tls() => Outcome::pass(format!(
            "{} answers over {mode} with a certificate that verifies for {}",
            server.url,
            server.host
        ))
        .with("naming_contexts", contexts),
        Ok(contexts) => Outcome::warn(
            format!("{} answers in cleartext: credentials sent to it are readable on the network", server.url),
            format!("Enable LDAPS or StartTLS on the directory and in the spec: secure the CUCM-LDAP and IM&P-LDAP connections (task {secure})"),
        )
        .with("naming_contexts", contexts),
        Err(e) => {
            let fix = if e.is_certificate() {
                format!("Install on the directory server a certificate signed by the deployment's CA and naming {}, and upload that CA to CUCM and IM&P as a directory trust certificate (task {integrate})", server.host)
            } else if matches!(e, SessionError::Handshake(_)) {
                format!("Check the directory server's TLS settings: CUCM and IM&P need TLS 1.2 or 1.3 with AES-GCM or ChaCha20-Poly1305 suites; a server offering only CBC suites or older versions is refused (task {secure})")
            } else if matches!(e, SessionError::Undecodable) {
                format!("Check that {}:{} is an LDAP server ({mode}) (task {secure})", server.host, server.port)
            } else {
                format!("Check that the directory server answers {mode} on {}:{} (task {secure})", server.host, server.port)
            };
            let o = Outcome::fail(format!("{}: {e}", server.url), fix);
            match &e {
                SessionError::Refused(r) => r.evidence(o),
                _ => o,
            }
        }
    };
    o.with("server", &server.url)
        .with("transport", mode)
        .with("trust_anchors", &c.trust)
}

pub(crate) async fn check_bind(c: &Ctx, i: usize, cx: CheckCtx) -> Outcome {
    let s = c.ldap();
    let server = &s.servers[i];
    let budget = cx.budget();
    let started = Instant::now();
    match tokio::time::timeout(budget, c.bound(server, budget, &cx.auth)).await {
        Ok(Ok(session)) => {
            session.close().await;
            Outcome::pass(format!("the service account {} binds", s.bind_dn))
                .with("server", &server.url)
                .with("bind_dn", &s.bind_dn)
                .metric("bind_ms", imp_verify_core::ms(started.elapsed()))
        }
        Ok(Err(o)) => o.with("server", &server.url),
        Err(_) => Outcome::fail(
            format!("the bind got no answer within {} ms", budget.as_millis()),
            "Check the directory server's load",
        )
        .with("server", &server.url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(o: &'a Outcome, key: &str) -> &'a str {
        o.evidence
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {key} in {:?}", o.evidence))
    }

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
}
