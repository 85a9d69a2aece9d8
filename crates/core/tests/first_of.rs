//! Alternatives in order (`PlannedCheck::after_first_of`, declared in the catalog's
//! `FIRST_OF`): a check runs once the first of its alternatives that passes has,
//! waiting for no later one; it is blocked only when none passes, naming each; an
//! alternative edge the catalog does not declare is refused by `build_plan`.

use imp_verify_core::plan::{Plan, PlanError};
use imp_verify_core::spec::Workflow;
use imp_verify_core::{
    build_plan, run, CheckKey, Outcome, PlannedCheck, Probe, Reason, RunOptions, Selection, Spec,
    Status,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bind(server: &'static str, verdict: &'static str) -> PlannedCheck {
    PlannedCheck::new("ldap.bind", server, move |_| async move {
        match verdict {
            "pass" => Outcome::pass("binds"),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Outcome::pass("binds, late")
            }
            _ => Outcome::fail("refused", "fix it"),
        }
    })
}

fn base() -> PlannedCheck {
    PlannedCheck::new("ldap.base", "ou=people", |_| async {
        Outcome::pass("read")
    })
    .after_first_of([
        CheckKey::new("ldap.bind", "a"),
        CheckKey::new("ldap.bind", "b"),
    ])
}

async fn go(checks: Vec<PlannedCheck>) -> Vec<imp_verify_core::CheckResult> {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let plan = Plan {
        workflow: Workflow::A,
        checks,
    };
    run(
        plan,
        PathBuf::from("s.toml"),
        RunOptions::default(),
        vec![],
        Default::default(),
        tx,
    )
    .await
    .results
}

#[tokio::test]
async fn the_first_alternative_that_passes_serves_and_later_ones_are_not_waited_for() {
    let started = Instant::now();
    let r = go(vec![bind("a", "pass"), bind("b", "slow"), base()]).await;
    let read = r.iter().find(|c| c.key.id == "ldap.base").unwrap();
    assert_eq!(read.outcome.status, Status::Pass);
    let b = r.iter().find(|c| c.key.target == "b").unwrap();
    assert!(
        read.duration < Duration::from_secs(1),
        "{:?}",
        read.duration
    );
    assert!(started.elapsed() >= b.duration);

    let r = go(vec![bind("a", "fail"), bind("b", "pass"), base()]).await;
    assert_eq!(
        r[2].outcome.status,
        Status::Pass,
        "{}",
        r[2].outcome.message
    );
}

#[tokio::test]
async fn with_no_alternative_passing_the_check_is_blocked_naming_each() {
    let r = go(vec![bind("a", "fail"), bind("b", "fail"), base()]).await;
    let o = &r[2].outcome;
    assert_eq!(o.status, Status::Skip);
    assert_eq!(
        o.message,
        "blocked: none of its alternatives passed: ldap.bind [a], which failed; ldap.bind [b], which failed"
    );
    assert_eq!(
        o.reason,
        Reason::Blocked {
            by: CheckKey::new("ldap.bind", "a"),
            status: Status::Fail
        }
    );
    let named: Vec<&str> = o
        .evidence
        .iter()
        .filter(|(k, _)| k == "blocked_by")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(named, vec!["ldap.bind [a]", "ldap.bind [b]"]);
}

/// A probe whose `ldap.bind` waits for `ldap.connect`s as alternatives: the catalog's
/// `requires` has the edge, its `FIRST_OF` does not.
struct Undeclared;

impl Probe for Undeclared {
    fn name(&self) -> &'static str {
        "undeclared"
    }
    fn plan(&self, _spec: &Arc<Spec>) -> Vec<PlannedCheck> {
        vec![
            PlannedCheck::new("ldap.connect", "a", |_| async { Outcome::pass("ok") }),
            PlannedCheck::new("ldap.bind", "x", |_| async { Outcome::pass("ok") })
                .after_first_of([CheckKey::new("ldap.connect", "a")]),
        ]
    }
}

#[test]
fn an_alternative_the_catalog_does_not_declare_is_refused() {
    let text = "workflow = \"A\"\ndomains = [\"example.com\"]\n\n[[clusters]]\nname = \"c1\"\ndomain = \"example.com\"\n\n[[clusters.nodes]]\nfqdn = \"imp1.example.com\"\nrole = \"imp\"\n";
    let spec = Arc::new(Spec::parse(text, Path::new("t.toml"), &BTreeMap::new()).unwrap());
    let probes: Vec<Box<dyn Probe>> = vec![Box::new(Undeclared)];
    match build_plan(&spec, &probes, &Selection::default()).err() {
        Some(PlanError::UndeclaredAlternative {
            check,
            prerequisite,
        }) => {
            assert_eq!(check, CheckKey::new("ldap.bind", "x"));
            assert_eq!(prerequisite, CheckKey::new("ldap.connect", "a"));
        }
        other => panic!("not refused: {:?}", other.map(|e| e.to_string())),
    }
}
