//! Test users in the directory: looking one up with the service account, checking the
//! entry found is that user's, and binding as it with its own password, once per run
//! (through the run's credential ledger) and with the password policy request control
//! (`ldap.user-auth`, and the explanation of a refused XMPP login through
//! [`LdapDirectory`]). Observed into [`UserFacts`], judged by [`judge_user_auth`] and
//! [`crate::policy`].

use crate::bind::user_bind_failure;
use crate::client::search::Item;
use crate::codes::{AdReason, Refusal, ResultCode};
use crate::error::LdapError;
use crate::lockout::Lock;
use crate::policy::{is_lockout, UserBind};
use crate::session::{task_labels, LdapCtx, Steps};
use crate::visibility::{self, Visibility};
use crate::wire::controls::{self, PolicyState};
use crate::wire::message::SearchRequest;
use crate::wire::{Entry, Filter, Scope};
use imp_verify_core::credentials::{self, CredentialUse, Credentials, Principal};
use imp_verify_core::spec::Spec;
use imp_verify_core::{AuthLog, CheckCtx, CheckKey, Outcome, Stage};
use std::sync::Arc;
use std::time::Duration;

/// What the directory says of a test user: the outcome of looking it up with the
/// service account and binding as it with its own password.
#[derive(Debug, Clone, PartialEq)]
pub enum DirectoryUser {
    /// The user's entry, and the LDAP result of binding as it with the spec's password
    /// (0 success, 49 invalidCredentials, ...; [`crate::rc_name`] names it).
    Found {
        /// The user's entry.
        dn: String,
        /// The bind's result code.
        bind_rc: u32,
        /// The server's diagnostic message, as sent.
        bind_text: String,
        /// How long the bind took.
        took: Duration,
        /// The refusal, typed (`None` when the bind succeeded): its result code and, for
        /// Active Directory, the account's state (locked, disabled, expired...).
        refusal: Option<Refusal>,
        /// What the password policy controls of the answer said.
        policy: PolicyState,
        /// When a lockout ends, as far as the directory lets the service account read.
        lock: Option<Lock>,
    },
    /// No entry under `base` matches `filter` and the user id.
    Missing {
        /// The search base.
        base: String,
        /// The user filter.
        filter: String,
    },
}

impl DirectoryUser {
    /// Active Directory's reason for refusing the user's bind, when it gave one.
    pub fn ad_reason(&self) -> Option<AdReason> {
        match self {
            DirectoryUser::Found {
                refusal: Some(r), ..
            } => r.ad,
            _ => None,
        }
    }

    /// The refused bind in words, with its fix (`None` unless the bind was refused):
    /// AD's account states (locked, disabled, expired, must change password) named with
    /// the fix that applies, not "correct the password".
    pub fn refusal_explained(&self, uid: &str, task: &str) -> Option<(String, String)> {
        match self {
            DirectoryUser::Found {
                refusal: Some(r), ..
            } => Some(user_bind_failure(uid, r, task)),
            _ => None,
        }
    }
}

/// What looking a test user up and binding as it showed.
#[derive(Debug, Clone)]
pub(crate) enum UserFacts {
    /// The look-up found no entry: what the service account can see.
    NotVisible(Visibility),
    /// The look-up found more than one entry.
    Ambiguous(Vec<String>),
    /// The entry found does not carry the user id in the mapped attribute.
    WrongEntry {
        /// The entry the directory returned.
        dn: String,
        /// The values of the user id attribute it carries.
        carried: Vec<String>,
    },
    /// The user's entry; its password not sent: refused earlier in the run.
    NotSent {
        /// The user's entry.
        dn: String,
        /// The first refusal.
        refusal: credentials::Refusal,
    },
    /// The user's entry, and its bind.
    Bound(Box<DirectoryUser>),
}

/// Why the directory could not say what it holds of a test user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The spec has no `[ldap]`.
    #[error("the spec has no [ldap] directory")]
    NoDirectory,
    /// The look-up or the bind could not be made (the check's words: unreachable,
    /// the service account refused, not the user's entry...).
    #[error("{0}")]
    NotAsked(String),
}

/// Now, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl LdapCtx {
    /// Looks `uid` up with the service account and binds as the entry found, unless the
    /// run's ledger holds a refusal of the user's password.
    pub(crate) async fn observe_user(
        &self,
        uid: &str,
        steps: &Steps,
    ) -> Result<UserFacts, Outcome> {
        let user = self
            .spec
            .test_users
            .iter()
            .find(|u| u.user_id == uid)
            .ok_or_else(|| {
                Outcome::fail(
                    format!("{uid} is not a test user of the spec"),
                    "Name a test user of the spec",
                )
            })?;
        let dn = match self.user_entry(uid, steps).await? {
            Ok(dn) => dn,
            Err(facts) => return Ok(facts),
        };
        let server = self.serving();
        let mut session = self
            .open(server, steps)
            .await
            .map_err(|e| e.fail(&server.url, "See ldap.connect"))?;
        steps.enter(Stage::LdapBind);
        let principal = Principal::user(uid);
        let guard =
            match tokio::time::timeout_at(steps.deadline, steps.credentials.acquire(&principal))
                .await
            {
                Err(_) => {
                    return Err(steps
                        .timed_out(Stage::LdapBind)
                        .fail("the user's bind", "Check the directory server"))
                }
                Ok(CredentialUse::Refused(refusal)) => {
                    session.close().await;
                    return Ok(UserFacts::NotSent { dn, refusal });
                }
                Ok(CredentialUse::Send(g)) => g,
            };
        let answer = session
            .bind(
                &dn,
                user.password().expose(),
                &[controls::password_policy_request()],
            )
            .await
            .map_err(|e| e.fail("the bind was not answered", "Check the directory server"))?;
        session.close().await;
        let policy = controls::policy_state(&answer.controls).unwrap_or_default();
        let refusal = Refusal::of(&answer.result);
        let refused = refusal.as_ref().is_some_and(Refusal::refuses_credentials);
        steps.auth.record_on_directory(&principal, &dn, refused);
        let locked = refusal.as_ref().is_some_and(|r| is_lockout(r, &policy));
        match &refusal {
            None => guard.accepted(),
            Some(r) if refused || locked => {
                guard.refused(r.for_ledger(&steps.by, &dn, &server.url, locked))
            }
            Some(_) => drop(guard),
        }
        let lock = if locked {
            Some(self.lock_of(&dn, steps).await)
        } else {
            None
        };
        Ok(UserFacts::Bound(Box::new(DirectoryUser::Found {
            dn,
            bind_rc: answer.result.code,
            refusal,
            bind_text: answer.result.diagnostic,
            took: answer.took,
            policy,
            lock,
        })))
    }

    /// When the lock of `dn` ends, read with the service account.
    async fn lock_of(&self, dn: &str, steps: &Steps) -> Lock {
        let unknown = Lock {
            since: None,
            ends: crate::lockout::LockEnd::Unknown,
        };
        let Ok(mut session) = self.bound(self.serving(), steps).await else {
            return unknown;
        };
        let lock = crate::lockout::observe(&mut session, dn).await;
        session.close().await;
        lock
    }

    /// The DN of `uid`'s entry, looked up with the service account and checked to carry
    /// the user id; or the facts that end the check there.
    async fn user_entry(
        &self,
        uid: &str,
        steps: &Steps,
    ) -> Result<Result<String, UserFacts>, Outcome> {
        let s = self.ldap();
        let (_, integrate) = task_labels(self.spec.workflow);
        let uid_attr = s.attributes.user_id.as_str();
        let filter = self
            .filter()
            .map_err(|o| *o)?
            .clone()
            .and(Filter::equal(uid_attr, uid));
        let mut session = self.bound(self.serving(), steps).await?;
        let request = SearchRequest {
            base: &s.base,
            scope: Scope::Subtree,
            filter: &filter,
            attrs: &[uid_attr],
            size_limit: 2,
            time_limit: steps.budget_secs(),
        };
        let looked = async {
            let mut search = session.search(request, &[], 2).await?;
            let mut found: Vec<Entry> = Vec::new();
            loop {
                match search.next().await.map_err(|e| steps.wire(e))? {
                    Item::Entry(e) => found.push(e),
                    Item::Reference(_) => {}
                    Item::Done(r, _) => return Ok::<_, LdapError>((found, Refusal::of(&r))),
                    Item::Stopped => return Ok((found, None)),
                }
            }
        }
        .await;
        let fix = format!("Check the directory (task {integrate})");
        let looked = match looked {
            Ok((found, _)) if found.is_empty() => {
                // Nothing: what can the account see of the base at all?
                let seen = visibility::observe_base(&mut session, &s.base).await;
                let seen = match seen {
                    Ok(b) => visibility::observe(&mut session, &s.base, b).await,
                    Err(e) => Err(e),
                };
                session.close().await;
                return seen
                    .map(|v| Err(UserFacts::NotVisible(v)))
                    .map_err(|e| e.fail(&format!("looking {uid} up failed"), fix));
            }
            other => other,
        };
        session.close().await;
        let (mut found, refusal) =
            looked.map_err(|e| e.fail(&format!("looking {uid} up failed"), fix.clone()))?;
        if let Some(r) = refusal.filter(|r| r.code != ResultCode::SizeLimitExceeded) {
            let o = Outcome::fail(format!("looking {uid} up failed: {}", r.describe()), fix);
            return Err(r.evidence(o));
        }
        Ok(match found.len() {
            1 => {
                let entry = found.remove(0);
                let carried = entry.values(uid_attr).to_vec();
                if carried.iter().any(|v| v.eq_ignore_ascii_case(uid)) {
                    Ok(entry.dn)
                } else {
                    Err(UserFacts::WrongEntry {
                        dn: entry.dn,
                        carried,
                    })
                }
            }
            _ => Err(UserFacts::Ambiguous(
                found.into_iter().map(|e| e.dn).collect(),
            )),
        })
    }
}

/// `ldap.user-auth`'s verdict on `uid`.
pub(crate) fn judge_user_auth(spec: &Spec, uid: &str, facts: UserFacts) -> Outcome {
    let s = spec.ldap.as_ref().expect("planned with [ldap]");
    let (_, integrate) = task_labels(spec.workflow);
    let uid_attr = &s.attributes.user_id;
    match facts {
        UserFacts::Bound(found) => match *found {
            DirectoryUser::Found {
            dn,
            refusal,
            policy,
            lock,
            took,
            ..
        } => crate::policy::judge(
            &UserBind {
                uid,
                dn: &dn,
                refusal: refusal.as_ref(),
                policy: &policy,
                lock: lock.as_ref(),
                took,
                now: now(),
            },
            integrate,
        ),
            DirectoryUser::Missing { .. } => Outcome::fail(
                format!("{uid} is not visible to the service account under {} with {}", s.base, s.user_filter),
                format!("Add the test user to the directory (task {integrate})"),
            ),
        },
        UserFacts::NotVisible(v) => {
            let detail = match v.finding() {
                visibility::Finding::FilterMatchesNothing => String::new(),
                _ => format!(": {}", v.words(&s.base, &s.user_filter)),
            };
            Outcome::fail(
                format!("{uid} is not visible to the service account under {} with {}{detail}", s.base, s.user_filter),
                format!("Add the test user to the directory under the base if it is not there; if it is, {} (task {integrate})", visibility::read_rights(&s.base, &s.bind_dn)),
            )
            .with("visibility", v.words(&s.base, &s.user_filter))
        }
        UserFacts::NotSent { dn, refusal } => Outcome::fail(
            format!("{uid}'s password was not sent to the directory: {} refused it earlier in this run ({}); a second refusal could lock the account", refusal.by_check, refusal.words),
            format!("Correct {uid}'s password in the spec's password source, or the account in the directory, then run again (task {integrate})"),
        )
        .with("user_dn", dn)
        .with("refused_by", refusal.by_check),
        UserFacts::Ambiguous(dns) => Outcome::fail(
            format!("the directory holds more than one entry with {uid_attr}={uid} under {}: {}", s.base, dns.join(" and ")),
            format!("Make the user id unique in the directory: CUCM syncs one user per id, and IM&P's LDAP authentication cannot tell which entry is the user's (task {integrate})"),
        )
        .with("entries", dns.join("; ")),
        UserFacts::WrongEntry { dn, carried } => Outcome::fail(
            format!(
                "the directory answered the look-up of {uid} with {dn}, whose {uid_attr} is {}: not {uid}'s entry, so its password was not sent",
                if carried.is_empty() { "absent".to_string() } else { carried.join(", ") }
            ),
            format!("Check the directory's matching rule and index for {uid_attr} and the attribute mapping of the LDAP directory configuration (task {integrate})"),
        )
        .with("returned_dn", dn)
        .with("user_id_attribute", uid_attr),
    }
}

pub(crate) async fn check_user_auth(
    c: &LdapCtx,
    uid: &str,
    cx: CheckCtx,
    key: CheckKey,
) -> Outcome {
    let server = c.serving();
    match c.observe_user(uid, &Steps::of(&cx, &key)).await {
        Ok(facts) => judge_user_auth(&c.spec, uid, facts),
        Err(o) => o,
    }
    .with("server", &server.url)
}

/// Looks the spec's test user `uid` up on the first directory server (bound as the
/// service account, certificate verified against the spec's CA) and binds as it with
/// its own password, all within `budget`, through the run's `credentials`: when a
/// server refused the user's password earlier in the run, the user is only looked up.
pub async fn look_up_test_user(
    spec: &Arc<Spec>,
    net: &imp_verify_net::Net,
    uid: &str,
    budget: Duration,
    auth: &AuthLog,
    credentials: &Credentials,
) -> Result<imp_verify_core::UserVerdict, LookupError> {
    if spec.ldap.is_none() {
        return Err(LookupError::NoDirectory);
    }
    let steps = Steps::within(
        budget,
        auth,
        credentials,
        format!("the directory look-up of {uid}"),
    );
    let c = LdapCtx::new(spec, net);
    let (_, integrate) = task_labels(spec.workflow);
    match c.observe_user(uid, &steps).await {
        Ok(UserFacts::Bound(found)) => Ok(verdict(&found, uid, integrate)),
        Ok(UserFacts::NotSent { dn, refusal }) => Ok(imp_verify_core::UserVerdict::NotTried {
            dn: Some(dn),
            refusal,
        }),
        Ok(UserFacts::NotVisible(_)) => Ok(imp_verify_core::UserVerdict::Missing {
            base: c.ldap().base.clone(),
            filter: c.ldap().user_filter.clone(),
        }),
        Ok(other) => Err(LookupError::NotAsked(
            judge_user_auth(&c.spec, uid, other).message,
        )),
        Err(o) => Err(LookupError::NotAsked(o.message)),
    }
}

/// The LDAP probe's answer to other probes that must explain a refused login (XMPP):
/// the run's directory, through the same session code as the checks.
pub struct LdapDirectory {
    net: Arc<imp_verify_net::Net>,
}

impl LdapDirectory {
    /// The directory of a run, through its network toolkit.
    pub fn new(net: Arc<imp_verify_net::Net>) -> Self {
        LdapDirectory { net }
    }
}

/// A directory user as the core's [`imp_verify_core::UserVerdict`] says it.
fn verdict(found: &DirectoryUser, uid: &str, integrate: &str) -> imp_verify_core::UserVerdict {
    use imp_verify_core::UserVerdict;
    match found {
        DirectoryUser::Missing { base, filter } => UserVerdict::Missing {
            base: base.clone(),
            filter: filter.clone(),
        },
        DirectoryUser::Found {
            dn,
            refusal: None,
            policy,
            ..
        } if policy.is_empty() => UserVerdict::Accepted { dn: dn.clone() },
        DirectoryUser::Found {
            dn,
            refusal,
            policy,
            lock,
            took,
            ..
        } if refusal.as_ref().is_none_or(|r| {
            r.ad.is_some_and(|a| a != AdReason::WrongPassword) || is_lockout(r, policy)
        }) =>
        {
            // The account's state (AD's reason, a lockout, a password policy): the
            // policy judge's words.
            let o = crate::policy::judge(
                &UserBind {
                    uid,
                    dn,
                    refusal: refusal.as_ref(),
                    policy,
                    lock: lock.as_ref(),
                    took: *took,
                    now: now(),
                },
                integrate,
            );
            if o.status == imp_verify_core::Status::Fail {
                UserVerdict::AccountState {
                    dn: dn.clone(),
                    why: o.message,
                    fix: o.remediation.unwrap_or_default(),
                }
            } else {
                UserVerdict::Accepted { dn: dn.clone() }
            }
        }
        DirectoryUser::Found {
            dn,
            refusal: Some(r),
            ..
        } if r.refuses_credentials() => UserVerdict::WrongPassword { dn: dn.clone() },
        DirectoryUser::Found {
            dn,
            bind_rc,
            bind_text,
            ..
        } => UserVerdict::Refused {
            dn: dn.clone(),
            name: crate::rc_name(*bind_rc).to_string(),
            code: *bind_rc,
            text: bind_text.clone(),
        },
    }
}

impl imp_verify_core::UserDirectory for LdapDirectory {
    fn look_up<'a>(
        &'a self,
        spec: &'a Arc<Spec>,
        uid: &'a str,
        budget: Duration,
        auth: &'a AuthLog,
        credentials: &'a Credentials,
    ) -> imp_verify_core::directory::LookupFuture<'a> {
        Box::pin(async move {
            look_up_test_user(spec, &self.net, uid, budget, auth, credentials)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;
