//! `uds.user`: the user's own resource, `GET /cucm-uds/user/<id>` on the home cluster
//! that clusterUser named, answers the user's credentials (HTTP Basic). The password is
//! sent only to a CUCM node of the spec or a `_cisco-uds._tcp` target, only over a
//! connection whose certificate verified for that host, and only when the run's ledger
//! allows it; a 401 is recorded as a refusal, final for the run.

use super::cluster_user::{self, own_cluster};
use super::words;
use crate::fetch::{self, https_host_port, Endpoint, FetchError, TlsSeen};
use crate::http::{encode, Response};
use crate::resources::{self, flag, ClusterUser, UserInfo};
use crate::{xml, Ctx};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Spec, Workflow};
use imp_verify_core::{
    keys, CheckCtx, CheckKey, CredentialUse, Outcome, Principal, Reason, Refusal,
};
use std::time::Duration;
use tokio::time::Instant;

/// The port UDS's documented requests use (`https://{host}:8443/cucm-uds/...`), when
/// clusterUser gives no URL for the user's resource.
const UDS_PORT: u16 = 8443;

/// What asking for the user's own resource showed.
#[derive(Debug, Clone)]
pub enum Seen {
    /// clusterUser gave no home cluster to ask (`uds.cluster-user` says why).
    NoHome,
    /// clusterUser named a host that is neither a CUCM node of the user's cluster nor a
    /// `_cisco-uds._tcp` target: the password was not sent there.
    NotAllowed(String, u16),
    /// A server refused this password earlier in the run: it was not sent again.
    RefusedEarlier(Refusal),
    /// No answer (with `Untrusted`, nothing was sent).
    Failed(Endpoint, FetchError),
    /// The home cluster answered.
    Answered(Endpoint, TlsSeen, Response),
}

/// Why the user's resource is not asked.
enum NoGo {
    NoHome,
    NotAllowed(String, u16),
}

impl From<NoGo> for Seen {
    fn from(n: NoGo) -> Seen {
        match n {
            NoGo::NoHome => Seen::NoHome,
            NoGo::NotAllowed(h, p) => Seen::NotAllowed(h, p),
        }
    }
}

/// The user's resource.
pub fn path(user: &str) -> String {
    format!("/cucm-uds/user/{}", encode(user))
}

/// Where the user's resource is: the host of clusterUser's `<result uri>`, else its
/// `<homeCluster>` on UDS's port; and whether the password may go there.
fn home(c: &Ctx, cu: &cluster_user::Seen) -> Result<Endpoint, NoGo> {
    let Some((_, _, r)) = &cu.answer else {
        return Err(NoGo::NoHome);
    };
    let Ok(ClusterUser::Found {
        user_uri,
        home_cluster,
    }) = cluster_user::read(r)
    else {
        return Err(NoGo::NoHome);
    };
    let (host, port) = match (user_uri.as_deref().and_then(https_host_port), home_cluster) {
        (Some(hp), _) => hp,
        (None, Some(h)) => (h.to_ascii_lowercase(), UDS_PORT),
        (None, None) => return Err(NoGo::NoHome),
    };
    let cucm = own_cluster(&c.spec, &cu.user).is_some_and(|cl| cl.is_cucm_host(&host));
    let target = cu
        .lookup
        .records()
        .unwrap_or_default()
        .iter()
        .any(|s| s.target.eq_ignore_ascii_case(&host));
    if !(cucm || target) {
        return Err(NoGo::NotAllowed(host, port));
    }
    Ok(Endpoint {
        pinned: c.pinned(&host),
        host,
        port,
    })
}

/// Sends the user's credentials, as the ledger allows, and records what came of it.
async fn ask(c: &Ctx, user: &str, ep: Endpoint, cx: &CheckCtx) -> Seen {
    let Some(password) = c
        .spec
        .test_users
        .iter()
        .find(|u| u.user_id == user)
        .map(|u| u.password.clone())
    else {
        return Seen::NoHome;
    };
    let guard = match cx.credentials.acquire(&Principal::user(user)).await {
        CredentialUse::Refused(r) => return Seen::RefusedEarlier(r),
        CredentialUse::Send(g) => g,
    };
    let deadline = Instant::from_std(cx.budget_deadline());
    let path = path(user);
    let answer = fetch::get(
        &c.net,
        &ep,
        &path,
        Some((user, password.expose())),
        deadline,
        cx,
    )
    .await;
    match answer {
        Err(e) => Seen::Failed(ep, e),
        Ok((tls, r)) => {
            match r.status {
                401 => {
                    cx.auth.record(user, true);
                    guard.refused(Refusal {
                        by_check: format!("uds.user [{user}]"),
                        at: format!("{user} at https://{ep}{path}"),
                        words: format!("HTTP {}", r.status_line()),
                        locked: false,
                    });
                }
                200 => {
                    cx.auth.record(user, false);
                    guard.accepted();
                }
                // Authenticated, not authorised (Cisco document 221845: a role is
                // missing): the password was not refused.
                403 => cx.auth.record(user, false),
                // Anything else says nothing of the password: it stays unjudged.
                _ => {}
            }
            Seen::Answered(ep, tls, r)
        }
    }
}

/// The check.
pub async fn check(c: &Ctx, user: &str, domain: &str, cx: CheckCtx) -> Outcome {
    let cu = cluster_user::observe(c, user, domain, &cx).await;
    let seen = match home(c, &cu) {
        Err(n) => n.into(),
        Ok(ep) => ask(c, user, ep, &cx).await,
    };
    judge(
        &seen,
        user,
        &c.spec,
        cx.budget(),
        cx.workflow,
        keys::uds_cluster_user(user),
    )
}

/// What a 200 answer says, or why it is not the user's resource.
pub fn read(r: &Response) -> Result<UserInfo, super::NotUds> {
    let root = xml::parse(&r.body)?;
    Ok(resources::user(&root)?)
}

/// What a readable user resource leaves to look at: each a line, empty when nothing.
fn concerns(u: &UserInfo, user: &str, spec: &Spec, at: &Endpoint) -> Vec<String> {
    let mut v = Vec::new();
    if flag(u.home_cluster.as_deref()) == Some(false) {
        v.push(format!(
            "UDS on {at} says it is not {user}'s home cluster (<homeCluster>false</homeCluster>)"
        ));
    }
    if flag(u.im_and_presence.as_deref()) == Some(false) {
        v.push(format!(
            "UDS says {user} is not enabled for IM and Presence (enableImAndPresence=\"false\")"
        ));
    }
    let home = spec
        .test_users
        .iter()
        .find(|t| t.user_id == user)
        .map(|t| t.home_node.as_str());
    if let (Some(home), false) = (home, u.imp_servers.is_empty()) {
        let pinned = spec
            .node(home)
            .and_then(|(_, n)| n.address)
            .map(|a| a.to_string());
        let names_home = u.imp_servers.iter().any(|s| {
            s.trim_end_matches('.').eq_ignore_ascii_case(home)
                || pinned.as_deref() == Some(s.as_str())
        });
        if !names_home {
            v.push(format!(
                "UDS names {} as {user}'s IM and Presence server, the spec's home node is {home}",
                u.imp_servers.join(", ")
            ));
        }
    }
    v
}

/// The verdict; `cluster_user` is the check whose answer named the home cluster.
pub fn judge(
    s: &Seen,
    user: &str,
    spec: &Spec,
    budget: Duration,
    w: Workflow,
    cluster_user: CheckKey,
) -> Outcome {
    let sign_in = cite(w, &[Task::VerifyServices]);
    let users = cite(w, &[Task::EndUsers]);
    match s {
        Seen::NoHome => Outcome::fail(
            format!("clusterUser named no home cluster for {user} in this attempt"),
            format!("See {cluster_user}"),
        )
        .because(Reason::NotObservable { because: cluster_user.clone() }),
        Seen::NotAllowed(host, port) => Outcome::fail(
            format!("clusterUser names {host}:{port} for {user}'s own resource, which is neither a CUCM node of the user's cluster in the spec nor a _cisco-uds._tcp target: the password was not sent there"),
            format!("If {host} is a CUCM node of {user}'s home cluster, add it to the spec (or as the cluster's cucm_publisher){users}"),
        )
        .with("home", format!("{host}:{port}")),
        Seen::RefusedEarlier(r) => Outcome::fail(
            format!("{user}'s password was not sent: it was refused earlier in this run by {} ({} at {}), and a refused password is not tried again", r.by_check, r.words, r.at),
            format!("Give the spec {user}'s current password{sign_in}"),
        ),
        Seen::Failed(at, e) => {
            let (m, fix) = words::failure(at, e, w);
            let m = match e {
                FetchError::Untrusted(_) => format!("{m}: {user}'s password was not sent"),
                _ => m,
            };
            let o = Outcome::fail(format!("{}{}: {m}", at, path(user)), fix);
            match words::timed_out(e) {
                Some(stage) => o.because(Reason::TimedOut { after: budget, stage: Some(stage) }),
                None => o,
            }
        }
        Seen::Answered(at, tls, r) => answered(at, tls, r, user, spec, w).with("url", format!("https://{at}{}", path(user))),
    }
}

fn answered(
    at: &Endpoint,
    tls: &TlsSeen,
    r: &Response,
    user: &str,
    spec: &Spec,
    w: Workflow,
) -> Outcome {
    let sign_in = cite(w, &[Task::VerifyServices]);
    let url = format!("https://{at}{}", path(user));
    let o = match r.status {
        200 => match read(r) {
            Err(why) => Outcome::fail(format!("{url} {why}"), format!("{at} does not answer the user resource as UDS does{sign_in}")),
            Ok(u) if !u.user_name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(user)) => Outcome::fail(
                format!("{url} answers for user {}, not {user}", u.user_name.as_deref().unwrap_or("(no <userName>)")),
                format!("UDS on {at} does not answer as CUCM does for {user}{sign_in}"),
            ),
            Ok(u) => {
                let c = concerns(&u, user, spec, at);
                let o = if c.is_empty() {
                    Outcome::pass(format!("{url} answers {user}'s own credentials over verified TLS: {}", summary(&u)))
                } else {
                    Outcome::warn(
                        format!("{url} answers {user}'s own credentials, but {}", c.join("; ")),
                        format!("Jabber signs {user} in with what UDS says: check the user's End User Configuration in its home cluster (Home Cluster, IM and Presence) and the spec's home_node{}", cite(w, &[Task::EndUsers])),
                    )
                };
                with_user(o, &u)
            }
        },
        401 => Outcome::fail(
            format!("{url}: {}: UDS refused {user}'s password (not tried again in this run)", r.status_line()),
            format!("Check {user}'s password in the spec; if it is right, check that the user can log in to CUCM's end user pages and that CUCM reaches its authenticating LDAP directory (LDAP authentication, user search base){sign_in}"),
        ),
        403 => Outcome::fail(
            format!("{url}: {}: UDS took {user}'s password but does not let the user read its own data", r.status_line()),
            format!("Give {user} the \"Standard CCM End Users\" role (End User Configuration, Permissions) in CUCM{}", cite(w, &[Task::EndUsers])),
        ),
        _ => Outcome::fail(format!("{url} answers {}", r.status_line()), format!("Check Cisco User Data Services on {at}{sign_in}")),
    };
    words::with_tls(o.with("status", r.status_line()), tls)
}

fn summary(u: &UserInfo) -> String {
    let mut v = vec![format!("userName {}", u.user_name.as_deref().unwrap_or(""))];
    if let Some(d) = &u.display_name {
        v.push(format!("display name {d}"));
    }
    if let Some(h) = &u.home_cluster {
        v.push(format!("home cluster {h}"));
    }
    if let Some(i) = &u.im_and_presence {
        v.push(format!("enableImAndPresence {i}"));
    }
    if !u.imp_servers.is_empty() {
        v.push(format!("IM&P server {}", u.imp_servers.join(", ")));
    }
    v.join(", ")
}

fn with_user(o: Outcome, u: &UserInfo) -> Outcome {
    let mut o = o
        .with("user_name", u.user_name.as_deref().unwrap_or(""))
        .with("display_name", u.display_name.as_deref().unwrap_or(""))
        .with("email", u.email.as_deref().unwrap_or(""))
        .with("home_cluster", u.home_cluster.as_deref().unwrap_or(""))
        .with(
            "enable_im_and_presence",
            u.im_and_presence.as_deref().unwrap_or(""),
        );
    if let Some((t, ldap)) = &u.account_type {
        o = o.with(
            "account_type",
            format!("{t} (useLdapAuth {})", ldap.as_deref().unwrap_or("?")),
        );
    }
    for s in &u.imp_servers {
        o = o.with("imp_server", s);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::cluster_user::tests::spec;
    use crate::checks::https::tests::{ep, tls};
    use crate::resources::tests::lab_fixture;
    use imp_verify_core::Status;
    use imp_verify_net::tls::ChainError;

    fn answer(status: u16, reason: &str, body: &str) -> Seen {
        Seen::Answered(
            ep("cucm.lab.test"),
            tls(Ok(()), true),
            Response {
                status,
                reason: reason.into(),
                headers: vec![],
                body: body.as_bytes().to_vec(),
            },
        )
    }

    fn run(s: &Seen) -> Outcome {
        judge(
            s,
            "alice",
            &spec(),
            Duration::from_secs(8),
            Workflow::A,
            keys::uds_cluster_user("alice"),
        )
    }

    #[test]
    fn the_documented_user_resource_passes_and_its_concerns_warn() {
        let doc = lab_fixture("user.xml");
        let ok = run(&answer(200, "OK", &doc));
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(ok.message.contains("answers alice's own credentials over verified TLS: userName alice, display name Alice Liddell, home cluster true, enableImAndPresence true, IM&P server imp1.lab.test"), "{}", ok.message);

        let elsewhere = run(&answer(
            200,
            "OK",
            &doc.replace(
                "<server>imp1.lab.test</server>",
                "<server>imp3.lab.test</server>",
            ),
        ));
        assert_eq!(elsewhere.status, Status::Warn);
        assert!(elsewhere.message.contains("UDS names imp3.lab.test as alice's IM and Presence server, the spec's home node is imp1.lab.test"), "{}", elsewhere.message);

        let not_home = run(&answer(
            200,
            "OK",
            &doc.replace(
                r#"enableImAndPresence="true" enableCalendarPresence="false">true<"#,
                r#"enableImAndPresence="false" enableCalendarPresence="false">false<"#,
            ),
        ));
        assert_eq!(not_home.status, Status::Warn);
        assert!(
            not_home.message.contains("not alice's home cluster")
                && not_home.message.contains("not enabled for IM and Presence"),
            "{}",
            not_home.message
        );

        let bob = run(&answer(
            200,
            "OK",
            &doc.replace("<userName>alice</userName>", "<userName>bob</userName>"),
        ));
        assert_eq!(bob.status, Status::Fail);
        assert!(bob.message.contains("answers for user bob, not alice"));
    }

    #[test]
    fn refusals_are_named_and_no_password_goes_where_it_must_not() {
        let refused = run(&answer(401, "Unauthorized", ""));
        assert_eq!(refused.status, Status::Fail);
        assert!(
            refused.message.contains(
                "401 Unauthorized: UDS refused alice's password (not tried again in this run)"
            ),
            "{}",
            refused.message
        );
        assert!(refused
            .remediation
            .unwrap()
            .contains("authenticating LDAP directory"));

        let role = run(&answer(403, "Forbidden", ""));
        assert!(role.remediation.unwrap().contains("Standard CCM End Users"));

        let untrusted = run(&Seen::Failed(
            ep("cucm.lab.test"),
            FetchError::Untrusted(tls(Ok(()), false)),
        ));
        assert!(
            untrusted.message.ends_with("alice's password was not sent"),
            "{}",
            untrusted.message
        );
        let foreign = run(&Seen::Failed(
            ep("cucm.lab.test"),
            FetchError::Untrusted(tls(Err(ChainError::UnknownIssuer("x".into())), true)),
        ));
        assert!(
            foreign.message.contains("does not chain"),
            "{}",
            foreign.message
        );

        let elsewhere = run(&Seen::NotAllowed("evil.example".into(), 8443));
        assert!(elsewhere
            .message
            .contains("the password was not sent there"));

        let earlier = run(&Seen::RefusedEarlier(Refusal {
            by_check: "ldap.user-auth [alice]".into(),
            at: "uid=alice at ldaps://ldap.lab.test:636".into(),
            words: "invalidCredentials (49)".into(),
            locked: false,
        }));
        assert!(
            earlier
                .message
                .contains("refused earlier in this run by ldap.user-auth [alice]"),
            "{}",
            earlier.message
        );
    }
}
