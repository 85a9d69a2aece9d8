//! Test users in the directory: looking one up and binding as it with its own password
//! (`ldap.user-auth`, and the explanation of a refused XMPP login through
//! [`look_up_test_user`]).

use crate::bind::user_bind_failure;
use crate::codes::{AdReason, Refusal};
use crate::session::{only_entries, parse_entry, tasks, Ctx, SessionError};
use imp_verify_core::spec::Spec;
use imp_verify_core::{AuthLog, CheckCtx, Outcome};
use ldap3::Scope;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
) -> Result<DirectoryUser, String> {
    if spec.ldap.is_none() {
        return Err("the spec has no [ldap] directory".into());
    }
    Ctx::new(spec, net)
        .user_bind(uid, budget, auth)
        .await
        .map_err(|o| o.message)
}

impl Ctx {
    /// `uid`'s entry under the base with the user filter, looked up with the service
    /// account (no bind as the user): `None` when there is none.
    async fn find_user(
        &self,
        server: &imp_verify_core::spec::LdapServer,
        uid: &str,
        budget: Duration,
        auth: &AuthLog,
    ) -> Result<Option<String>, Outcome> {
        let s = self.ldap();
        let (_, integrate) = tasks(self.spec.workflow);
        let mut session = self.bound(server, budget, auth).await?;
        let filter = format!(
            "(&{}({}={}))",
            s.user_filter,
            s.attributes.user_id,
            ldap3::ldap_escape(uid)
        );
        let r = session
            .ldap
            .search(&s.base, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(|e| {
                Outcome::fail(
                    format!("looking {uid} up failed: {}", session.error(&e)),
                    format!("Check the directory (task {integrate})"),
                )
            })?;
        if let Some(refusal) = Refusal::of(&r.1) {
            return Err(refusal.evidence(Outcome::fail(
                format!("looking {uid} up failed: {}", refusal.describe()),
                format!("Check the directory (task {integrate})"),
            )));
        }
        let Some(entry) = only_entries(r.0).next() else {
            session.close().await;
            return Ok(None);
        };
        let dn = parse_entry(entry)
            .ok_or_else(|| {
                Outcome::fail(
                    SessionError::Undecodable.to_string(),
                    "Check the directory server",
                )
            })?
            .dn;
        session.close().await;
        Ok(Some(dn))
    }

    /// `uid`'s entry, looked up with the service account only (no bind as the user),
    /// within `budget`.
    pub(crate) async fn user_entry(
        &self,
        uid: &str,
        budget: Duration,
        auth: &AuthLog,
    ) -> Result<Option<String>, Outcome> {
        let server = &self.ldap().servers[0];
        match tokio::time::timeout(budget, self.find_user(server, uid, budget, auth)).await {
            Ok(r) => r,
            Err(_) => Err(Outcome::fail(
                format!("no answer within {} ms", budget.as_millis()),
                "Check the directory server's load",
            )),
        }
    }

    /// `uid`'s entry and the result of binding as it with its password, within `budget`.
    pub(crate) async fn user_bind(
        &self,
        uid: &str,
        budget: Duration,
        auth: &AuthLog,
    ) -> Result<DirectoryUser, Outcome> {
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
        let server = &s.servers[0];
        let run = async {
            let Some(dn) = self.find_user(server, uid, budget, auth).await? else {
                return Ok(DirectoryUser::Missing {
                    base: s.base.clone(),
                    filter: s.user_filter.clone(),
                });
            };
            let mut user_session = self
                .session(server, budget)
                .await
                .map_err(|e| Outcome::fail(e.to_string(), "See ldap.connect"))?;
            let started = Instant::now();
            let r = user_session
                .ldap
                .simple_bind(&dn, user.password().expose())
                .await
                .map_err(|e| {
                    Outcome::fail(
                        format!("the bind was not answered: {}", user_session.error(&e)),
                        "Check the directory server",
                    )
                })?;
            user_session.close().await;
            let refusal = Refusal::of(&r);
            auth.record(
                &dn,
                refusal.as_ref().is_some_and(|f| f.refuses_credentials()),
            );
            Ok(DirectoryUser::Found {
                dn,
                bind_rc: r.rc,
                refusal,
                bind_text: r.text,
                took: started.elapsed(),
            })
        };
        match tokio::time::timeout(budget, run).await {
            Ok(r) => r,
            Err(_) => Err(Outcome::fail(
                format!("no answer within {} ms", budget.as_millis()),
                "Check the directory server's load",
            )),
        }
    }
}

pub(crate) async fn check_user_auth(c: &Ctx, uid: &str, cx: CheckCtx) -> Outcome {
    let s = c.ldap();
    let (_, integrate) = tasks(c.spec.workflow);
    let budget = cx.budget();
    let server = &s.servers[0];
    match c.user_bind(uid, budget, &cx.auth).await {
        Ok(DirectoryUser::Found {
            dn,
            refusal: None,
            took,
            ..
        }) => Outcome::pass(format!("{uid} authenticates with its own password as {dn}"))
            .with("user_dn", dn)
            .metric("bind_ms", imp_verify_core::ms(took)),
        Ok(DirectoryUser::Found {
            dn,
            refusal: Some(r),
            ..
        }) => {
            let (msg, fix) = user_bind_failure(uid, &r, integrate);
            r.evidence(Outcome::fail(msg, fix)).with("user_dn", dn)
        }
        Ok(DirectoryUser::Missing { base, filter }) => Outcome::fail(
            format!("{uid} is not in the directory under {base} with {filter}"),
            format!("Add the test user to the directory (task {integrate})"),
        ),
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

impl imp_verify_core::UserDirectory for LdapDirectory {
    fn look_up<'a>(
        &'a self,
        spec: &'a Arc<Spec>,
        uid: &'a str,
        budget: Duration,
        auth: &'a AuthLog,
        credentials: &'a imp_verify_core::Credentials,
    ) -> imp_verify_core::directory::LookupFuture<'a> {
        use imp_verify_core::UserVerdict;
        Box::pin(async move {
            // A password refused earlier in the run is not sent again (issue 28): the
            // user is only looked up, with the service account.
            if let Some(refusal) = credentials.refusal(&imp_verify_core::Principal::user(uid)) {
                if spec.ldap.is_none() {
                    return Err("the spec has no [ldap] directory".into());
                }
                let s = spec.ldap.as_ref().expect("checked");
                let dn = Ctx::new(spec, &self.net)
                    .user_entry(uid, budget, auth)
                    .await
                    .map_err(|o| o.message)?;
                return Ok(match dn {
                    None => UserVerdict::Missing {
                        base: s.base.clone(),
                        filter: s.user_filter.clone(),
                    },
                    Some(dn) => UserVerdict::NotTried {
                        dn: Some(dn),
                        refusal,
                    },
                });
            }
            let found = look_up_test_user(spec, &self.net, uid, budget, auth).await?;
            let (_, integrate) = tasks(spec.workflow);
            Ok(match &found {
                DirectoryUser::Missing { base, filter } => UserVerdict::Missing {
                    base: base.clone(),
                    filter: filter.clone(),
                },
                DirectoryUser::Found {
                    dn, refusal: None, ..
                } => UserVerdict::Accepted { dn: dn.clone() },
                DirectoryUser::Found { dn, .. }
                    if found
                        .ad_reason()
                        .is_some_and(|r| r != AdReason::WrongPassword) =>
                {
                    let (why, fix) = found
                        .refusal_explained(uid, integrate)
                        .expect("a refusal carries its reason");
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
            })
        })
    }
}
