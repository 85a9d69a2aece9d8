//! `uds.cuplogin`: Jabber's other discovery path. Without `_cisco-uds._tcp`, the
//! client finds the IM and Presence server, its authenticator, through
//! `_cuplogin._tcp`: its records must lead to the test user's IM&P node. With
//! `_cisco-uds._tcp`, Jabber takes UDS's path and the same is judged as the fallback
//! (a miss only warns). The record is judged; its target's port is not asked (what the
//! IM and Presence login service answers there is not in the documents read).

use crate::discovery::{self, Lookup};
use crate::Ctx;
use imp_verify_core::catalog::{cite, Task};
use imp_verify_core::spec::{Role, Spec, Workflow};
use imp_verify_core::{CheckCtx, Outcome, Reason, Stage};
use imp_verify_net::Srv;
use std::time::Duration;

/// The two lookups.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The services domain.
    pub domain: String,
    /// `_cisco-uds._tcp.<domain>`.
    pub uds: Lookup,
    /// `_cuplogin._tcp.<domain>`.
    pub cuplogin: Lookup,
}

/// The check.
pub async fn check(c: &Ctx, user: &str, domain: &str, cx: CheckCtx) -> Outcome {
    let (uds, cuplogin) = tokio::join!(c.uds(domain, &cx), c.cuplogin(domain, &cx));
    let facts = Facts {
        domain: domain.to_string(),
        uds,
        cuplogin,
    };
    judge(&facts, user, &c.spec, cx.budget(), cx.workflow)
}

/// Where the records lead the user.
enum Leads<'a> {
    /// To the user's home node.
    Home(&'a Srv),
    /// To other IM&P nodes of the user's cluster only.
    Cluster(Vec<&'a Srv>),
    /// To no IM&P node of the user's cluster.
    Elsewhere,
}

fn leads<'a>(records: &'a [Srv], user: &str, spec: &Spec) -> (Leads<'a>, String) {
    let Some(u) = spec.test_users.iter().find(|u| u.user_id == user) else {
        return (Leads::Elsewhere, String::new());
    };
    let home = u.home_node.trim_end_matches('.').to_ascii_lowercase();
    if let Some(r) = records.iter().find(|r| r.target == home) {
        return (Leads::Home(r), home);
    }
    let cluster: Vec<&Srv> = match spec.node(&home) {
        Some((c, _)) => records
            .iter()
            .filter(|r| {
                c.nodes
                    .iter()
                    .any(|n| n.role == Role::Imp && n.fqdn.eq_ignore_ascii_case(&r.target))
            })
            .collect(),
        None => Vec::new(),
    };
    if cluster.is_empty() {
        (Leads::Elsewhere, home)
    } else {
        (Leads::Cluster(cluster), home)
    }
}

fn dns_failure(name: &str, l: &Lookup, budget: Duration) -> Option<Outcome> {
    let fix = "Check that the DNS servers of the spec answer";
    match l {
        Lookup::Failed(e) => Some(Outcome::fail(
            format!("{name}: {e}: which path Jabber takes cannot be told"),
            fix,
        )),
        Lookup::TimedOut => Some(
            Outcome::fail(
                format!("{name}: no DNS answer within {} ms", budget.as_millis()),
                fix,
            )
            .because(Reason::TimedOut {
                after: budget,
                stage: Some(Stage::DnsQuery),
            }),
        ),
        _ => None,
    }
}

/// The verdict.
pub fn judge(f: &Facts, user: &str, spec: &Spec, budget: Duration, w: Workflow) -> Outcome {
    let uds = discovery::uds_record(&f.domain);
    let cup = discovery::cuplogin_record(&f.domain);
    if let Some(o) =
        dns_failure(&uds, &f.uds, budget).or_else(|| dns_failure(&cup, &f.cuplogin, budget))
    {
        return o;
    }
    let services = cite(w, &[Task::VerifyServices]);
    let primary = f.uds.records().is_none();
    let o = match (f.cuplogin.records(), primary) {
        (None, false) => {
            return Outcome::skip(format!(
                "not used: Jabber discovers through {uds}; there is no {cup} record (Jabber's path without {uds})"
            ))
            .with("cisco_uds", records(&f.uds))
        }
        (None, true) => Outcome::fail(
            format!("Jabber finds neither {uds} nor {cup}: it cannot discover the services of {} (\"Cannot find services automatically\")", f.domain),
            format!("Publish {uds} (the CUCM nodes, port 8443), or {cup} (the IM&P nodes, port 8443){services}"),
        ),
        (Some(r), primary) => {
            let (to, home) = leads(r, user, spec);
            let path = if primary {
                format!("without {uds}, Jabber finds IM and Presence through {cup}")
            } else {
                format!("Jabber discovers through {uds}; without it, {cup}")
            };
            let fix = format!("List {home}, {user}'s IM&P node, among the targets of {cup}{services}");
            match to {
                Leads::Home(srv) => Outcome::pass(format!("{path} leads {user} to {}:{}, the user's home node", srv.target, srv.port)),
                Leads::Cluster(v) => Outcome::warn(
                    format!("{path} leads {user} to {} of the user's cluster, not to its home node {home}", names(&v)),
                    fix,
                ),
                Leads::Elsewhere if primary => Outcome::fail(
                    format!("{path} leads {user} to {}, none an IM&P node of the user's cluster (home node {home})", names(&r.iter().collect::<Vec<_>>())),
                    fix,
                ),
                Leads::Elsewhere => Outcome::warn(
                    format!("{path} would lead {user} to {}, none an IM&P node of the user's cluster (home node {home})", names(&r.iter().collect::<Vec<_>>())),
                    fix,
                ),
            }
        }
    };
    o.with("cisco_uds", records(&f.uds))
        .with("cuplogin", records(&f.cuplogin))
}

fn names(v: &[&Srv]) -> String {
    v.iter()
        .map(|s| format!("{}:{}", s.target, s.port))
        .collect::<Vec<_>>()
        .join(", ")
}

fn records(l: &Lookup) -> String {
    match l {
        Lookup::Records(r) => r
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        Lookup::Absent(e) | Lookup::Failed(e) => e.to_string(),
        Lookup::TimedOut => "no answer in time".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::cluster_user::tests::spec;
    use crate::checks::https::tests::srv;
    use imp_verify_core::Status;
    use imp_verify_net::DnsError;

    fn absent(name: &str) -> Lookup {
        Lookup::Absent(DnsError::NxDomain {
            name: name.into(),
            via: Vec::new(),
        })
    }

    fn run(uds: Lookup, cuplogin: Lookup) -> Outcome {
        let f = Facts {
            domain: "lab.test".into(),
            uds,
            cuplogin,
        };
        judge(&f, "alice", &spec(), Duration::from_secs(8), Workflow::B)
    }

    #[test]
    fn without_cisco_uds_the_login_record_must_lead_to_the_users_node() {
        let home = run(
            absent("_cisco-uds._tcp.lab.test"),
            Lookup::Records(vec![srv("imp1.lab.test")]),
        );
        assert_eq!(home.status, Status::Pass, "{home:?}");
        assert!(home.message.contains("without _cisco-uds._tcp.lab.test, Jabber finds IM and Presence through _cuplogin._tcp.lab.test leads alice to imp1.lab.test:8443, the user's home node"), "{}", home.message);

        let elsewhere = run(
            absent("_cisco-uds._tcp.lab.test"),
            Lookup::Records(vec![srv("imp3.lab.test")]),
        );
        assert_eq!(elsewhere.status, Status::Fail);
        assert!(
            elsewhere
                .message
                .contains("none an IM&P node of the user's cluster (home node imp1.lab.test)"),
            "{}",
            elsewhere.message
        );
        assert!(elsewhere.remediation.unwrap().contains("task B.10"));

        let nothing = run(
            absent("_cisco-uds._tcp.lab.test"),
            absent("_cuplogin._tcp.lab.test"),
        );
        assert_eq!(nothing.status, Status::Fail);
        assert!(nothing
            .message
            .contains("Cannot find services automatically"));
    }

    #[test]
    fn with_cisco_uds_the_login_record_is_the_fallback() {
        let uds = || Lookup::Records(vec![srv("cucm.lab.test")]);
        assert_eq!(
            run(uds(), Lookup::Records(vec![srv("imp1.lab.test")])).status,
            Status::Pass
        );
        let off = run(uds(), Lookup::Records(vec![srv("imp3.lab.test")]));
        assert_eq!(off.status, Status::Warn);
        assert!(off.message.contains("would lead alice"), "{}", off.message);
        let none = run(uds(), absent("_cuplogin._tcp.lab.test"));
        assert_eq!(none.status, Status::Skip);
        assert_eq!(none.reason, Reason::Verdict);
        let slow = run(Lookup::TimedOut, absent("x"));
        assert_eq!(slow.status, Status::Fail);
        assert!(matches!(
            slow.reason,
            Reason::TimedOut {
                stage: Some(Stage::DnsQuery),
                ..
            }
        ));
    }
}
