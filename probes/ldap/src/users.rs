//! Test users in the directory: looking one up with the service account, checking the
//! entry found is that user's, and binding as it with its own password
//! (`ldap.user-auth`, and the explanation of a refused XMPP login through
//! [`look_up_test_user`]). Observed into [`UserFacts`], judged by [`judge_user_auth`].

use crate::bind::user_bind_failure;
use crate::client::search::Item;
use crate::codes::{AdReason, Refusal, ResultCode};
use crate::error::LdapError;
use crate::session::{task_labels, LdapCtx, Steps};
use crate::wire::message::SearchRequest;
use crate::wire::{Entry, Filter, Scope};
use imp_verify_core::spec::{Spec, Workflow};
use imp_verify_core::{AuthLog, CheckCtx, CheckKey, Outcome};
use std::sync::Arc;
use std::time::Duration;

/// What the directory says of a test user: the outcome of looking it up with the
/// service account and binding as it with its own password. Other probes use it to
/// explain a refused login (see [`look_up_test_user`]).
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
    /// The look-up found no entry.
    Missing,
    /// The look-up found more than one entry.
    Ambiguous(Vec<String>),
    /// The entry found does not carry the user id in the mapped attribute.
    WrongEntry {
        /// The entry the directory returned.
        dn: String,
        /// The values of the user id attribute it carries.
        carried: Vec<String>,
    },
    /// The user's entry, and its bind.
    Bound(DirectoryUser),
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

/// Looks the spec's test user `uid` up on the first directory server (bound as the
/// service account, certificate verified against the spec's CA) and binds as it with
/// its own password, all within `budget`. `Err` says, in words, why the directory could
/// not be asked (no `[ldap]` in the spec, unreachable, service account refused...).
pub async fn look_up_test_user(
    spec: &Arc<Spec>,
    net: &imp_verify_net::Net,
    uid: &str,
    budget: Duration,
    auth: &AuthLog,
) -> Result<DirectoryUser, LookupError> {
    if spec.ldap.is_none() {
        return Err(LookupError::NoDirectory);
    }
    let mut cx = CheckCtx::standalone(budget, spec.workflow);
    cx.auth = auth.clone();
    let key = CheckKey::new("ldap.user-auth", uid);
    let c = LdapCtx::new(spec, net);
    match c.observe_user(uid, &cx, &key).await {
        Ok(UserFacts::Bound(u)) => Ok(u),
        Ok(UserFacts::Missing) => Ok(DirectoryUser::Missing {
            base: c.ldap().base.clone(),
            filter: c.ldap().user_filter.clone(),
        }),
        Ok(other) => Err(LookupError::NotAsked(
            judge_user_auth(&c.spec, uid, other).message,
        )),
        Err(o) => Err(LookupError::NotAsked(o.message)),
    }
}

impl LdapCtx {
    /// Looks `uid` up with the service account and binds as the entry found.
    pub(crate) async fn observe_user(
        &self,
        uid: &str,
        cx: &CheckCtx,
        key: &CheckKey,
    ) -> Result<UserFacts, Outcome> {
        let s = self.ldap();
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
        let dn = match self.user_entry(uid, cx, key).await? {
            Ok(dn) => dn,
            Err(facts) => return Ok(facts),
        };
        let server = &s.servers[0];
        let mut session = self
            .open(server, &Steps::of(cx))
            .await
            .map_err(|e| e.fail(&server.url, "See ldap.connect"))?;
        let answer = session
            .bind(&dn, user.password().expose(), &[])
            .await
            .map_err(|e| e.fail("the bind was not answered", "Check the directory server"))?;
        session.close().await;
        let refusal = Refusal::of(&answer.result);
        cx.auth.record(
            &dn,
            refusal.as_ref().is_some_and(Refusal::refuses_credentials),
        );
        Ok(UserFacts::Bound(DirectoryUser::Found {
            dn,
            bind_rc: answer.result.code,
            refusal,
            bind_text: answer.result.diagnostic,
            took: answer.took,
        }))
    }

    /// The DN of `uid`'s entry, looked up with the service account and checked to carry
    /// the user id; or the facts that end the check there.
    async fn user_entry(
        &self,
        uid: &str,
        cx: &CheckCtx,
        key: &CheckKey,
    ) -> Result<Result<String, UserFacts>, Outcome> {
        let s = self.ldap();
        let (_, integrate) = task_labels(self.spec.workflow);
        let uid_attr = s.attributes.user_id.as_str();
        let filter = self
            .filter()
            .map_err(|o| *o)?
            .clone()
            .and(Filter::equal(uid_attr, uid));
        let mut session = self.bound(&s.servers[0], cx, key).await?;
        let steps = session.steps.clone();
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
        session.close().await;
        let fix = format!("Check the directory (task {integrate})");
        let (mut found, refusal) =
            looked.map_err(|e| e.fail(&format!("looking {uid} up failed"), fix.clone()))?;
        if let Some(r) = refusal.filter(|r| r.code != ResultCode::SizeLimitExceeded) {
            let o = Outcome::fail(format!("looking {uid} up failed: {}", r.describe()), fix);
            return Err(r.evidence(o));
        }
        Ok(match found.len() {
            0 => Err(UserFacts::Missing),
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
        UserFacts::Bound(DirectoryUser::Found {
            dn,
            refusal: None,
            took,
            ..
        }) => Outcome::pass(format!("{uid} authenticates with its own password as {dn}"))
            .with("user_dn", dn)
            .metric("bind_ms", imp_verify_core::ms(took)),
        UserFacts::Bound(DirectoryUser::Found {
            dn,
            refusal: Some(r),
            ..
        }) => {
            let (msg, fix) = user_bind_failure(uid, &r, integrate);
            r.evidence(Outcome::fail(msg, fix)).with("user_dn", dn)
        }
        UserFacts::Missing | UserFacts::Bound(DirectoryUser::Missing { .. }) => Outcome::fail(
            format!("{uid} is not in the directory under {} with {}", s.base, s.user_filter),
            format!("Add the test user to the directory (task {integrate})"),
        ),
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
    let server = &c.ldap().servers[0];
    match c.observe_user(uid, &cx, &key).await {
        Ok(facts) => judge_user_auth(&c.spec, uid, facts),
        Err(o) => o,
    }
    .with("server", &server.url)
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
fn verdict(found: &DirectoryUser, uid: &str, w: Workflow) -> imp_verify_core::UserVerdict {
    use imp_verify_core::UserVerdict;
    let (_, integrate) = task_labels(w);
    match found {
        DirectoryUser::Missing { base, filter } => UserVerdict::Missing {
            base: base.clone(),
            filter: filter.clone(),
        },
        DirectoryUser::Found {
            dn, refusal: None, ..
        } => UserVerdict::Accepted { dn: dn.clone() },
        DirectoryUser::Found {
            dn,
            refusal: Some(r),
            ..
        } if r.ad.is_some_and(|a| a != AdReason::WrongPassword) => {
            let (why, fix) = user_bind_failure(uid, r, integrate);
            UserVerdict::AccountState {
                dn: dn.clone(),
                why,
                fix,
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
        credentials: &'a imp_verify_core::Credentials,
    ) -> imp_verify_core::directory::LookupFuture<'a> {
        Box::pin(async move {
            // A password refused earlier in the run is not sent again (issue 28).
            if let Some(refusal) = credentials.refusal(&imp_verify_core::Principal::user(uid)) {
                return Ok(imp_verify_core::UserVerdict::NotTried { dn: None, refusal });
            }
            let found = look_up_test_user(spec, &self.net, uid, budget, auth)
                .await
                .map_err(|e| e.to_string())?;
            Ok(verdict(&found, uid, spec.workflow))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ev, spec};
    use imp_verify_core::Status;

    fn found(refusal: Option<Refusal>) -> UserFacts {
        UserFacts::Bound(DirectoryUser::Found {
            dn: "CN=Ann,OU=people,DC=corp,DC=test".into(),
            bind_rc: refusal.as_ref().map_or(0, |r| r.code.value()),
            bind_text: String::new(),
            took: Duration::from_millis(2),
            refusal,
        })
    }

    #[test]
    fn the_user_binding_as_its_own_entry_passes() {
        let s = spec("userid@domain", "mail");
        let o = judge_user_auth(&s, "ann", found(None));
        assert_eq!(o.status, Status::Pass);
        assert_eq!(
            o.message,
            "ann authenticates with its own password as CN=Ann,OU=people,DC=corp,DC=test"
        );
        let r = Refusal {
            code: ResultCode::InvalidCredentials,
            ad: Some(AdReason::Disabled),
            diagnostic: "... data 533, v1db1".into(),
            referrals: vec![],
        };
        let o = judge_user_auth(&s, "ann", found(Some(r)));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("the account is disabled (Active Directory data 533)"),
            "{}",
            o.message
        );
    }

    #[test]
    fn another_users_entry_is_named_and_never_bound_as() {
        let s = spec("userid@domain", "mail");
        let o = judge_user_auth(
            &s,
            "ben",
            UserFacts::WrongEntry {
                dn: "CN=Ann,OU=people,DC=corp,DC=test".into(),
                carried: vec!["ann".into()],
            },
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "the directory answered the look-up of ben with CN=Ann,OU=people,DC=corp,DC=test, whose sAMAccountName is ann: not ben's entry, so its password was not sent");
        assert_eq!(ev(&o, "returned_dn"), "CN=Ann,OU=people,DC=corp,DC=test");
        let o = judge_user_auth(
            &s,
            "ann",
            UserFacts::Ambiguous(vec!["CN=a1".into(), "CN=a2".into()]),
        );
        assert!(
            o.message
                .contains("more than one entry with sAMAccountName=ann"),
            "{}",
            o.message
        );
        let o = judge_user_auth(&s, "ann", UserFacts::Missing);
        assert_eq!(o.message, "ann is not in the directory under OU=people,DC=corp,DC=test with (objectClass=inetOrgPerson)");
    }
}
