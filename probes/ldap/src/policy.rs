//! The verdict on a test user's own bind, password policy included: the bind's result,
//! the password policy response control (OpenLDAP's ppolicy and others) and Netscape's
//! expired and expiring controls, Active Directory's reason codes, and a lockout with
//! when it ends. A user who must change the password fails (Jabber sign-in is refused
//! once CUCM or the client acts on it), an expiring password warns with the time left,
//! grace logins are named, a lockout is a verdict and is never retried.

use crate::bind::user_bind_failure;
use crate::codes::{AdReason, Refusal, ResultCode};
use crate::lockout::Lock;
use crate::wire::controls::{PolicyError, PolicyState};
use imp_verify_core::Outcome;
use std::time::Duration;

/// Whether a refused bind says the account is locked: Active Directory's data 775,
/// the policy control's accountLocked, or constraintViolation (19) to a bind (389
/// Directory Server's "Exceed password retry limit").
pub fn is_lockout(r: &Refusal, policy: &PolicyState) -> bool {
    r.ad == Some(AdReason::Locked)
        || policy.error == Some(PolicyError::AccountLocked)
        || r.code == ResultCode::ConstraintViolation
}

/// A span of seconds as a person reads it: "3 d 4 h", "5 h 12 min", "40 min".
pub fn span(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{} min", s.div_ceil(60)),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// What a user's bind showed, for the judge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserBind<'a> {
    pub uid: &'a str,
    pub dn: &'a str,
    pub refusal: Option<&'a Refusal>,
    pub policy: &'a PolicyState,
    pub lock: Option<&'a Lock>,
    pub took: Duration,
    /// The time now (Unix seconds): how long a lock has to run.
    pub now: i64,
}

/// The verdict on a user's bind.
pub(crate) fn judge(b: &UserBind<'_>, task: &str) -> Outcome {
    let (uid, dn) = (b.uid, b.dn);
    let o = match b.refusal {
        None => accepted(b, task),
        Some(r) if is_lockout(r, b.policy) => {
            let lock = b
                .lock
                .map(|l| format!(": {}", l.describe(b.now)))
                .unwrap_or_default();
            let why = match (r.ad, b.policy.error) {
                (Some(AdReason::Locked), _) => "Active Directory data 775",
                (_, Some(PolicyError::AccountLocked)) => "password policy accountLocked",
                _ => "constraintViolation (19): the password retry limit",
            };
            r.evidence(Outcome::fail(
                format!("{uid}'s account is locked out ({why}){lock}"),
                format!("Unlock {uid} in the directory, and find what sent the wrong passwords (this run sent {uid}'s password once and does not retry it): until then IM&P's LDAP user authentication refuses the user (task {task})"),
            ))
        }
        Some(r) if b.policy.error == Some(PolicyError::PasswordExpired) => r.evidence(Outcome::fail(
            format!("{uid}'s password has expired and no grace login is left (password policy passwordExpired): {}", r.describe()),
            format!("Set a new password for {uid} in the directory: IM&P's LDAP user authentication refuses the user until then (task {task})"),
        )),
        Some(r) => {
            let (msg, fix) = user_bind_failure(uid, r, task);
            r.evidence(Outcome::fail(msg, fix))
        }
    };
    o.with("user_dn", dn)
}

fn accepted(b: &UserBind<'_>, task: &str) -> Outcome {
    let (uid, dn, p) = (b.uid, b.dn, b.policy);
    let bind_ms = imp_verify_core::ms(b.took);
    if p.error == Some(PolicyError::ChangeAfterReset) || p.netscape_expired {
        let said = if p.error == Some(PolicyError::ChangeAfterReset) {
            "password policy changeAfterReset: an administrator reset it, and the policy's pwdMustChange requires a new one"
        } else {
            "the password expired control (2.16.840.1.113730.3.4.4)"
        };
        return Outcome::fail(
            format!("{uid} must change the password before using the directory ({said}): the bind succeeds, but the directory refuses every other operation as {uid} until then"),
            format!("Set a new password as {uid} (or have an administrator set one without requiring a change): Jabber sign-in will be refused once CUCM or the client acts on the policy (task {task})"),
        )
        .with("password_policy", said)
        .metric("bind_ms", bind_ms);
    }
    if let Some(left) = p.grace_left {
        return Outcome::fail(
            format!("{uid}'s password has expired: the bind was one of the policy's grace logins ({left} left), after which IM&P's LDAP user authentication refuses the user"),
            format!("Set a new password for {uid} in the directory now (task {task})"),
        )
        .with("grace_logins_left", left)
        .metric("bind_ms", bind_ms);
    }
    if let Some(secs) = p.expires_in {
        return Outcome::warn(
            format!("{uid} authenticates with its own password as {dn}, but the password expires in {} (password policy warning)", span(secs)),
            format!("Have {uid} set a new password before it expires, or IM&P's LDAP user authentication will refuse the user (task {task})"),
        )
        .metric("password_expires_in_s", secs as f64)
        .metric("bind_ms", bind_ms);
    }
    Outcome::pass(format!("{uid} authenticates with its own password as {dn}"))
        .metric("bind_ms", bind_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockout::LockEnd;
    use imp_verify_core::Status;

    fn bind<'a>(
        refusal: Option<&'a Refusal>,
        policy: &'a PolicyState,
        lock: Option<&'a Lock>,
    ) -> UserBind<'a> {
        UserBind {
            uid: "alice",
            dn: "uid=alice,ou=people,dc=lab,dc=test",
            refusal,
            policy,
            lock,
            took: Duration::from_millis(3),
            now: 1_795_620_600,
        }
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
    fn a_password_reset_by_an_administrator_must_be_changed_and_fails() {
        let p = PolicyState {
            error: Some(PolicyError::ChangeAfterReset),
            ..Default::default()
        };
        let o = judge(&bind(None, &p, None), "C.6");
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("alice must change the password before using the directory (password policy changeAfterReset"), "{}", o.message);
        assert!(o
            .remediation
            .unwrap()
            .contains("Jabber sign-in will be refused"));
        let p = PolicyState {
            netscape_expired: true,
            ..Default::default()
        };
        assert!(judge(&bind(None, &p, None), "C.6")
            .message
            .contains("2.16.840.1.113730.3.4.4"));
    }

    #[test]
    fn an_expiring_password_warns_with_the_time_left_and_grace_logins_are_named() {
        let p = PolicyState {
            expires_in: Some(3 * 86_400 + 4 * 3600),
            ..Default::default()
        };
        let o = judge(&bind(None, &p, None), "C.6");
        assert_eq!(o.status, Status::Warn);
        assert!(
            o.message
                .ends_with("the password expires in 3 d 4 h (password policy warning)"),
            "{}",
            o.message
        );
        assert_eq!(o.metrics["password_expires_in_s"], 273_600.0);
        let p = PolicyState {
            grace_left: Some(2),
            ..Default::default()
        };
        let o = judge(&bind(None, &p, None), "C.6");
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("grace logins (2 left)"), "{}", o.message);
        let o = judge(&bind(None, &PolicyState::default(), None), "C.6");
        assert_eq!(o.status, Status::Pass);
    }

    #[test]
    fn a_lockout_is_named_with_when_it_ends_whatever_the_server() {
        let lock = Lock {
            since: Some(1_795_620_000),
            ends: LockEnd::At(1_795_620_000 + 3600),
        };
        for (r, p, why) in [
            (refusal(49, ""), PolicyState { error: Some(PolicyError::AccountLocked), ..Default::default() }, "password policy accountLocked"),
            (refusal(19, "Exceed password retry limit. Please try later."), PolicyState::default(), "constraintViolation (19)"),
            (refusal(49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775, v3839"), PolicyState::default(), "Active Directory data 775"),
        ] {
            let o = judge(&bind(Some(&r), &p, Some(&lock)), "C.6");
            assert_eq!(o.status, Status::Fail);
            assert!(o.message.starts_with(&format!("alice's account is locked out ({why}")), "{}", o.message);
            assert!(o.message.ends_with("until 2026-11-25T16:20:00Z (in 50 min)"), "{}", o.message);
            assert!(o.remediation.as_deref().unwrap().contains("does not retry it"));
        }
        let p = PolicyState {
            error: Some(PolicyError::PasswordExpired),
            ..Default::default()
        };
        let o = judge(&bind(Some(&refusal(49, "")), &p, None), "C.6");
        assert!(
            o.message.contains("has expired and no grace login is left"),
            "{}",
            o.message
        );
    }
}
