//! The run's ledger of credentials: at most one refusal per principal per run.
//!
//! A principal is one credential of the spec (a test user's password, the directory's
//! service account). Before a check sends one, it asks the ledger
//! ([`Credentials::acquire`]): a credential no check has yet seen accepted is used by
//! one check at a time; once a server refused it, every later check gets that refusal
//! instead of sending the password again (a second refusal can lock the account:
//! directories lock after 3 to 5). An accepted credential is used freely.
//!
//! The check resolves its [`CredentialGuard`] with what the server said; a guard
//! dropped without a word (the connection failed before the server judged the
//! password) leaves the credential unjudged and lets the next check try.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One credential of the spec, named so that every probe that sends it names it alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

impl Principal {
    /// A test user's password (`[[test_users]]`, by the user's id: `alice`).
    pub fn user(id: &str) -> Principal {
        Principal(format!("user {id}"))
    }

    /// A directory's service account (its bind DN).
    pub fn service(bind_dn: &str) -> Principal {
        Principal(format!("service {bind_dn}"))
    }

    /// The principal as reports name it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A server's refusal of a credential, as the first check that met it saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The check that sent the credential (`ldap.user-auth [alice]`).
    pub by_check: String,
    /// Where it was refused: the account and the server (`uid=alice,... at ldaps://...`).
    pub at: String,
    /// The server's own words (result code, SASL condition, diagnostic message).
    pub words: String,
    /// Whether the refusal says the account is locked (later checks must not add to
    /// the failure count, and the report names when it ends).
    pub locked: bool,
}

#[derive(Debug)]
enum State {
    /// No server has judged it; `busy` while one check is sending it.
    Unjudged {
        busy: bool,
    },
    Accepted,
    Refused(Refusal),
}

/// The ledger of one run (cheap to clone; every clone is the same ledger). A handle
/// also remembers whether it handed out an earlier refusal: the runner gives each
/// attempt its own handle ([`Credentials::for_attempt`]), and an attempt that met one is
/// final, as one that was refused itself (retrying cannot change the ledger).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    states: Arc<Mutex<HashMap<Principal, State>>>,
    changed: Arc<Notify>,
    met_refusal: Arc<AtomicBool>,
}

/// What the ledger says about sending a credential.
#[derive(Debug)]
pub enum CredentialUse {
    /// Send it, and say what the server answered through the guard.
    Send(CredentialGuard),
    /// Do not: a server already refused it in this run.
    Refused(Refusal),
}

/// The right to send a credential; resolve it with [`CredentialGuard::accepted`] or
/// [`CredentialGuard::refused`].
#[derive(Debug)]
pub struct CredentialGuard {
    ledger: Credentials,
    principal: Principal,
    /// Whether this guard holds the one slot of an unjudged credential.
    exclusive: bool,
    done: bool,
}

impl Credentials {
    /// Waits until `principal`'s credential may be sent (at once when it was accepted
    /// before; when no check is sending it unjudged), or returns the refusal a server
    /// gave it earlier in the run.
    pub async fn acquire(&self, principal: &Principal) -> CredentialUse {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut states = self.states.lock().expect("not poisoned");
                let state = states
                    .entry(principal.clone())
                    .or_insert(State::Unjudged { busy: false });
                match state {
                    State::Accepted => return CredentialUse::Send(self.guard(principal, false)),
                    State::Refused(r) => {
                        self.met_refusal.store(true, Ordering::Relaxed);
                        return CredentialUse::Refused(r.clone());
                    }
                    State::Unjudged { busy } if !*busy => {
                        *busy = true;
                        return CredentialUse::Send(self.guard(principal, true));
                    }
                    State::Unjudged { .. } => {}
                }
            }
            notified.await;
        }
    }

    /// The refusal `principal`'s credential met in this run, if any (without waiting).
    pub fn refusal(&self, principal: &Principal) -> Option<Refusal> {
        match self.states.lock().expect("not poisoned").get(principal) {
            Some(State::Refused(r)) => {
                self.met_refusal.store(true, Ordering::Relaxed);
                Some(r.clone())
            }
            _ => None,
        }
    }

    /// The same ledger, through a handle of one attempt's own (see
    /// [`Credentials::met_refusal`]).
    pub fn for_attempt(&self) -> Credentials {
        Credentials {
            states: self.states.clone(),
            changed: self.changed.clone(),
            met_refusal: Arc::default(),
        }
    }

    /// Whether this handle (or a clone of it) met a refusal: one its guard was given
    /// ([`CredentialGuard::refused`]), or one of earlier in the run that
    /// [`Credentials::acquire`] or [`Credentials::refusal`] handed out.
    pub fn met_refusal(&self) -> bool {
        self.met_refusal.load(Ordering::Relaxed)
    }

    /// Every refusal of the run, by principal.
    pub fn refusals(&self) -> Vec<(Principal, Refusal)> {
        let states = self.states.lock().expect("not poisoned");
        let mut v: Vec<_> = states
            .iter()
            .filter_map(|(p, s)| match s {
                State::Refused(r) => Some((p.clone(), r.clone())),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn guard(&self, principal: &Principal, exclusive: bool) -> CredentialGuard {
        CredentialGuard {
            ledger: self.clone(),
            principal: principal.clone(),
            exclusive,
            done: false,
        }
    }

    fn settle(&self, principal: &Principal, new: Option<State>) {
        let mut states = self.states.lock().expect("not poisoned");
        let state = states
            .entry(principal.clone())
            .or_insert(State::Unjudged { busy: false });
        match (&*state, new) {
            // A refusal stands for the rest of the run.
            (State::Refused(_), _) => {}
            (_, Some(new)) => *state = new,
            (State::Unjudged { .. }, None) => *state = State::Unjudged { busy: false },
            (State::Accepted, None) => {}
        }
        drop(states);
        self.changed.notify_waiters();
    }
}

impl CredentialGuard {
    /// Whether a server had accepted the credential earlier in the run when this guard
    /// was given: a later refusal is then of the account by that server (a node that
    /// does not serve the user), not of the password.
    pub fn accepted_before(&self) -> bool {
        !self.exclusive
    }

    /// The server accepted the credential.
    pub fn accepted(mut self) {
        self.done = true;
        self.ledger.settle(&self.principal, Some(State::Accepted));
    }

    /// The server refused the credential: no other check of the run sends it.
    pub fn refused(mut self, refusal: Refusal) {
        self.done = true;
        self.ledger.met_refusal.store(true, Ordering::Relaxed);
        self.ledger
            .settle(&self.principal, Some(State::Refused(refusal)));
    }
}

impl Drop for CredentialGuard {
    fn drop(&mut self) {
        if !self.done && self.exclusive {
            self.ledger.settle(&self.principal, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn refusal() -> Refusal {
        Refusal {
            by_check: "ldap.user-auth [alice]".into(),
            at: "uid=alice at ldaps://ldap:636".into(),
            words: "invalidCredentials (49)".into(),
            locked: false,
        }
    }

    #[tokio::test]
    async fn a_refusal_is_handed_to_every_later_check() {
        let l = Credentials::default();
        let p = Principal::user("alice");
        let CredentialUse::Send(g) = l.acquire(&p).await else {
            panic!("first use sends")
        };
        g.refused(refusal());
        for _ in 0..3 {
            match l.acquire(&p).await {
                CredentialUse::Refused(r) => assert_eq!(r, refusal()),
                CredentialUse::Send(_) => panic!("a refused credential is sent again"),
            }
        }
        assert_eq!(l.refusals().len(), 1);
    }

    #[tokio::test]
    async fn an_unjudged_credential_is_sent_by_one_check_at_a_time() {
        let l = Credentials::default();
        let p = Principal::user("bob");
        let CredentialUse::Send(first) = l.acquire(&p).await else {
            panic!()
        };
        let l2 = l.clone();
        let p2 = p.clone();
        let second = tokio::spawn(async move { l2.acquire(&p2).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "a second check sent it while the first was out"
        );
        first.refused(refusal());
        match second.await.unwrap() {
            CredentialUse::Refused(_) => {}
            CredentialUse::Send(_) => panic!("the waiting check sends a refused credential"),
        }
    }

    #[tokio::test]
    async fn accepted_credentials_are_shared_and_a_dropped_guard_frees_the_slot() {
        let l = Credentials::default();
        let p = Principal::service("cn=svc");
        let CredentialUse::Send(g) = l.acquire(&p).await else {
            panic!()
        };
        drop(g); // the connection failed: nothing judged
        let CredentialUse::Send(g) = l.acquire(&p).await else {
            panic!("a dropped guard leaves the credential unjudged")
        };
        g.accepted();
        let a = l.acquire(&p).await;
        let b = l.acquire(&p).await;
        for g in [&a, &b] {
            assert!(matches!(g, CredentialUse::Send(g) if g.accepted_before()));
        }
        assert!(matches!(
            (a, b),
            (CredentialUse::Send(_), CredentialUse::Send(_))
        ));
        assert!(l.refusal(&p).is_none());
    }
}
