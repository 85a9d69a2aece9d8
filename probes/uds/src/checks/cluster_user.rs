//! `uds.cluster-user`: `GET /cucm-uds/clusterUser?username=<id>` (no authentication),
//! asked of the `_cisco-uds._tcp` targets in SRV order until one answers, finds the
//! user and names as home cluster a CUCM cluster of the spec: the user's own. What it
//! saw is kept for `uds.user`, which asks the home cluster next.

use super::https::endpoint;
use super::words;
use crate::discovery::{self, Lookup};
use crate::fetch::{self, Endpoint, FetchError, TlsSeen};
use crate::http::{encode, Response};
use crate::resources::{self, ClusterUser};
use crate::{xml, Ctx};
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Cluster, Spec, Workflow};
use imp_verify_core::{keys, CheckCtx, CheckKey, Outcome, Reason};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What asking for the user's home cluster showed.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The user id asked for.
    pub user: String,
    /// `_cisco-uds._tcp.<domain>`.
    pub record: String,
    /// Its lookup.
    pub lookup: Lookup,
    /// The targets that gave no HTTP answer before one did, and why.
    pub unanswered: Vec<(Endpoint, FetchError)>,
    /// The target that answered, and its answer.
    pub answer: Option<(Endpoint, TlsSeen, Response)>,
}

/// The clusterUser request of `user`.
pub fn path(user: &str) -> String {
    format!("/cucm-uds/clusterUser?username={}", encode(user))
}

/// Asks the targets in order (once per attempt, shared with `uds.user`).
pub(crate) async fn observe(c: &Ctx, user: &str, domain: &str, cx: &CheckCtx) -> Arc<Seen> {
    let cell = &c.cluster_users[user];
    cell.get_or_init(cx.attempt, || async {
        let lookup = c.uds(domain, cx).await;
        let deadline = Instant::from_std(cx.budget_deadline());
        let mut unanswered = Vec::new();
        let mut answer = None;
        for srv in lookup.records().unwrap_or_default() {
            let ep = endpoint(c, srv);
            match fetch::get(&c.net, &ep, &path(user), None, deadline, cx).await {
                Ok((tls, r)) => {
                    answer = Some((ep, tls, r));
                    break;
                }
                Err(e) => unanswered.push((ep, e)),
            }
        }
        Arc::new(Seen {
            user: user.to_string(),
            record: discovery::uds_record(domain),
            lookup,
            unanswered,
            answer,
        })
    })
    .await
}

/// The check.
pub async fn check(c: &Ctx, user: &str, domain: &str, cx: CheckCtx) -> Outcome {
    let seen = observe(c, user, domain, &cx).await;
    judge(
        &seen,
        &c.spec,
        cx.budget(),
        cx.workflow,
        keys::uds_version(domain),
    )
}

/// What a clusterUser answer says.
pub fn read(r: &Response) -> Result<ClusterUser, super::NotUds> {
    if r.status != 200 {
        return Err(super::NotUds::Status(r.status_line()));
    }
    let root = xml::parse(&r.body)?;
    Ok(resources::cluster_user(&root)?)
}

/// The user's cluster in the spec (that of its home node).
pub(crate) fn own_cluster<'a>(spec: &'a Spec, user: &str) -> Option<&'a Cluster> {
    let u = spec.test_users.iter().find(|u| u.user_id == user)?;
    spec.node(&u.home_node).map(|(c, _)| c)
}

/// The verdict; `earlier` is the check that asked the same targets before.
pub fn judge(s: &Seen, spec: &Spec, budget: Duration, w: Workflow, earlier: CheckKey) -> Outcome {
    if s.lookup.records().is_none() {
        return words::no_records(&s.record, &s.lookup, budget, earlier, w);
    }
    let Some((at, tls, r)) = &s.answer else {
        let lines: Vec<String> = s
            .unanswered
            .iter()
            .map(|(ep, e)| words::failure(ep, e, w).0)
            .collect();
        let (ep, e) = &s.unanswered[0];
        let o = Outcome::fail(
            format!(
                "clusterUser of {}: no target of {} answered: {}",
                s.user,
                s.record,
                lines.join("; ")
            ),
            words::failure(ep, e, w).1,
        );
        return match words::timed_out(e) {
            Some(stage) => o.because(Reason::TimedOut {
                after: budget,
                stage: Some(stage),
            }),
            None => o,
        };
    };
    let users = cite(w, &[Task::EndUsers]);
    let own = own_cluster(spec, &s.user);
    let o = match read(r) {
        Err(why) => Outcome::fail(
            format!("{at} {} {why}", path(&s.user)),
            format!("{at} does not answer clusterUser as UDS does: check that Cisco User Data Services runs on it{}", cite(w, &[Task::VerifyServices])),
        ),
        Ok(ClusterUser::NotFound) => Outcome::fail(
            format!("UDS on {at} does not know {} (clusterUser: found=\"false\"): Jabber finds no home cluster for the user (NO_HOME_UDS_FOUND)", s.user),
            format!("Add {} to CUCM (synchronise it from the directory, or create it) and check the Home Cluster box on the user's End User Configuration page in its home cluster{users}", s.user),
        ),
        Ok(ClusterUser::Found { home_cluster: None, .. }) => Outcome::fail(
            format!("UDS on {at} finds {}, but its answer names no home cluster (<homeCluster>)", s.user),
            format!("Check the Home Cluster box on the user's End User Configuration page in its home cluster{users}"),
        ),
        Ok(ClusterUser::Found { home_cluster: Some(home), user_uri }) => {
            let named = spec.clusters.iter().find(|c| c.is_cucm_host(&home));
            let o = match (own, named) {
                (Some(own), Some(c)) if c.name == own.name => Outcome::pass(format!(
                    "UDS on {at} finds {}; its home cluster {home} is cluster {} of the spec, the user's",
                    s.user, own.name
                )),
                (Some(own), Some(c)) => Outcome::fail(
                    format!("UDS on {at} homes {} on {home} (cluster {}), the spec on cluster {}", s.user, c.name, own.name),
                    format!("Jabber would take {}'s service profile and IM&P node from cluster {}: a user is homed on one cluster only; check the Home Cluster box in cluster {}'s End User Configuration and clear it in cluster {}'s, or correct the user's home_node in the spec{users}", s.user, c.name, own.name, c.name),
                ),
                (own, _) => Outcome::fail(
                    format!("UDS on {at} homes {} on {home}, which is not a CUCM cluster of the spec", s.user),
                    format!("If {home} is {}'s home cluster, add its CUCM nodes (or its cucm_publisher) to the spec; otherwise check the Home Cluster box of the user in cluster {}'s End User Configuration and clear it on {home}{users}", s.user, own.map(|c| c.name.as_str()).unwrap_or("(none)")),
                ),
            };
            o.with("home_cluster", &home)
                .with("user_uri", user_uri.as_deref().unwrap_or(""))
        }
    };
    let mut o = o
        .with("asked", at)
        .with("address", tls.addr)
        .with("status", r.status_line());
    if let Some(own) = own {
        o = o.with("spec_cluster", &own.name);
    }
    for (ep, e) in &s.unanswered {
        o = o.with("unanswered", format!("{ep}: {e}"));
    }
    o
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checks::https::tests::{ep, srv, tls};
    use crate::fetch::ConnectFailure;
    use crate::resources::tests::lab_fixture;
    use imp_verify_core::spec::ProcessEnv;
    use imp_verify_core::Status;

    pub(crate) const SPEC: &str = r#"
workflow = "C"
domains = ["lab.test"]
[[clusters]]
name = "c1"
domain = "lab.test"
[[clusters.nodes]]
fqdn = "imp1.lab.test"
role = "imp"
[[clusters.nodes]]
fqdn = "cucm.lab.test"
address = "127.0.0.24"
role = "cucm"
[[clusters]]
name = "c2"
domain = "lab.test"
cucm_publisher = "cucm-pub.c2.lab.test"
[[clusters.nodes]]
fqdn = "imp3.lab.test"
role = "imp"
[[test_users]]
user_id = "alice"
home_node = "imp1.lab.test"
password_env = "HOME"
"#;

    pub(crate) fn spec() -> Spec {
        Spec::parse_mode(
            SPEC,
            std::path::Path::new("s.toml"),
            imp_verify_core::LoadMode::Structure,
            &ProcessEnv,
        )
        .unwrap()
    }

    pub(crate) fn answered(body: &str, status: u16) -> Seen {
        Seen {
            user: "alice".into(),
            record: "_cisco-uds._tcp.lab.test".into(),
            lookup: Lookup::Records(vec![srv("cucm.lab.test")]),
            unanswered: vec![],
            answer: Some((
                ep("cucm.lab.test"),
                tls(Ok(()), true),
                Response {
                    status,
                    reason: "OK".into(),
                    headers: vec![],
                    body: body.as_bytes().to_vec(),
                },
            )),
        }
    }

    fn run(s: &Seen) -> Outcome {
        judge(
            s,
            &spec(),
            Duration::from_secs(8),
            Workflow::C,
            keys::uds_version("lab.test"),
        )
    }

    #[test]
    fn the_users_own_cluster_passes_by_node_name_address_or_publisher() {
        let found = lab_fixture("clusterUser-found.xml");
        let o = run(&answered(&found, 200));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(
            o.message
                .contains("home cluster cucm.lab.test is cluster c1 of the spec, the user's"),
            "{}",
            o.message
        );
        let by_address = found.replace(">cucm.lab.test</homeCluster>", ">127.0.0.24</homeCluster>");
        assert_eq!(run(&answered(&by_address, 200)).status, Status::Pass);
    }

    #[test]
    fn another_cluster_an_unknown_cluster_and_an_unknown_user_fail() {
        let found = lab_fixture("clusterUser-found.xml");
        let other = run(&answered(
            &found.replace(
                ">cucm.lab.test</homeCluster>",
                ">CUCM-PUB.c2.lab.test</homeCluster>",
            ),
            200,
        ));
        assert_eq!(other.status, Status::Fail);
        assert!(
            other.message.contains(
                "homes alice on CUCM-PUB.c2.lab.test (cluster c2), the spec on cluster c1"
            ),
            "{}",
            other.message
        );
        assert!(other.remediation.unwrap().contains("task C.4"));

        let stranger = run(&answered(
            &found.replace(
                ">cucm.lab.test</homeCluster>",
                ">cucm.elsewhere.test</homeCluster>",
            ),
            200,
        ));
        assert!(
            stranger
                .message
                .contains("cucm.elsewhere.test, which is not a CUCM cluster of the spec"),
            "{}",
            stranger.message
        );

        let unknown = run(&answered(&lab_fixture("clusterUser-notfound.xml"), 200));
        assert_eq!(unknown.status, Status::Fail);
        assert!(
            unknown
                .message
                .contains("does not know alice (clusterUser: found=\"false\")"),
            "{}",
            unknown.message
        );
        assert!(unknown.remediation.unwrap().contains("Home Cluster box"));

        let no_home = run(&answered(
            r#"<clusterUser><result found="true"/></clusterUser>"#,
            200,
        ));
        assert!(
            no_home.message.contains("names no home cluster"),
            "{}",
            no_home.message
        );

        let error = run(&answered("", 500));
        assert!(
            error.message.contains("answers 500 OK"),
            "{}",
            error.message
        );
    }

    #[test]
    fn targets_that_do_not_answer_are_named() {
        let mut s = answered("", 200);
        s.answer = None;
        s.unanswered = vec![(
            ep("cucm.lab.test"),
            FetchError::Connect(ConnectFailure::Refused("127.0.0.24:8443".parse().unwrap())),
        )];
        let o = run(&s);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message
                .contains("no target of _cisco-uds._tcp.lab.test answered"),
            "{}",
            o.message
        );
        assert!(path("a b").ends_with("username=a%20b"));
    }
}
